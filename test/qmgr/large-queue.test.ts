// A deferred queue of 5,000 messages is fed into core no more than
// qmgr_message_active_limit at a time (qmgr's own counters say so), and a
// new message arriving meanwhile is served long before the deferred queue
// is through.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEL_STAT_FINAL } from '../../src/delivery/api.js';
import { FakeAgent, harness, queueId, writeQueueFile } from './lib.js';

const COUNT = 5000;
const ACTIVE_LIMIT = 100;

test('qmgr: 5,000 deferred messages, at most qmgr_message_active_limit in core, new mail first', async () => {
  const h = harness([['qmgr_message_active_limit', String(ACTIVE_LIMIT)], ['qmgr_message_recipient_limit', '1000'],
    ['smtp_destination_concurrency_limit', '20']]);
  const agent = new FakeAgent(h.dir, 'smtp', () => ({ status: DEL_STAT_FINAL }));
  await agent.ready;
  const deferred = Array.from({ length: COUNT }, (_, i) => queueId(i + 1));
  for (const id of deferred) {
    writeQueueFile(h.dir, 'deferred', id, { recipients: [`r@d${id.slice(-3)}.example`], arrival: h.clock.sec - 3600, mtime: h.clock.sec - 10 });
  }
  const order: string[] = [];
  h.qmgr.on('done', (id: string) => order.push(id));
  await h.qmgr.start();
  // New mail arrives while the deferred queue is being worked through.
  await new Promise<void>((resolve) => h.qmgr.once('done', () => resolve()));
  const fresh = queueId(COUNT + 1);
  writeQueueFile(h.dir, 'incoming', fresh, { recipients: ['n@new.example'], arrival: h.clock.sec });
  h.qmgr.trigger('I');
  const out = await h.outcomes([...deferred, fresh]);
  assert.equal([...out.values()].filter((o) => o === 'removed').length, COUNT + 1);
  const c = h.qmgr.counters;
  assert.equal(c.fed, COUNT + 1);
  assert.ok(c.maxMessagesInCore <= ACTIVE_LIMIT, `max in core ${c.maxMessagesInCore}`);
  assert.ok(c.maxRecipientsInCore <= ACTIVE_LIMIT, `max recipients in core ${c.maxRecipientsInCore}`);
  assert.equal(c.messagesInCore, 0);
  assert.equal(c.recipientsInCore, 0);
  assert.ok(order.indexOf(fresh) < 2 * ACTIVE_LIMIT + 10, `new mail finished as number ${order.indexOf(fresh)}`);
  await h.qmgr.close();
  await agent.close();
});
