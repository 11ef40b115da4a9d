// discard(8): every recipient "sent" with the next hop as the reason,
// relay=none, 2.0.0; done marks only when the request asks for them; the
// lines match fixtures/delivery/01-aliases once normalised.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as api from '../../src/delivery/api.js';
import { discardAgent } from '../../src/delivery/discard/discard.js';
import { DSN_NOTIFY_SUCCESS } from '../../src/mail/dsn.js';
import { DEFAULT_LAYOUT, mailQueuePath } from '../../src/queue/layout.js';
import { QID, TIMES, exchange, fixtureLine, lines, normalise, options, queueWithMessage, recipientStates, request } from './agent-harness.js';

test('discard: status=sent with the next hop as the reason, as in 01-aliases', async () => {
  const q = queueWithMessage();
  const log: string[] = [];
  const req = request({ nexthop: 'remote.example is discarded by the fixture' });
  req.recipients = [
    { ...req.recipients[0]!, address: 'friend@remote.example', orcpt: '' },
    { ...req.recipients[1]!, address: 'friend@remote.example', orcpt: 'remote@host.example.com' },
  ];
  const x = await exchange(discardAgent, options(q.dir, log, 'postfix/discard'), lines(req), 1);
  assert.deepEqual(x.replies, ['{"status":0}']);
  assert.equal(normalise(log[0]!, '@QID7@'), fixtureLine('01-aliases', 'discard', '@QID7@'));
  assert.equal(normalise(log[1]!, '@QID11@'), fixtureLine('01-aliases', 'discard', '@QID11@'));
  assert.deepEqual(recipientStates(q.file), ['done', 'done']);
  assert.equal(fs.existsSync(path.join(q.dir, 'trace')), false);
});

test('discard: a 2.X.X code in the next hop is used; a recipient with NOTIFY=SUCCESS gets a trace record', async () => {
  const q = queueWithMessage();
  const log: string[] = [];
  const req = request({ nexthop: '2.6.0 thrown away' });
  req.recipients = [{ ...req.recipients[0]!, notify: DSN_NOTIFY_SUCCESS }];
  await exchange(discardAgent, options(q.dir, log, 'postfix/discard'), lines(req), 1);
  assert.deepEqual(log, [`postfix/discard[42]: ${QID}: to=<alice@mx.example.com>, relay=none, ${TIMES}, dsn=2.6.0, status=sent (thrown away)`]);
  assert.equal(fs.readFileSync(path.join(q.dir, mailQueuePath(DEFAULT_LAYOUT, 'trace', QID)), 'latin1'),
    '\n<alice@mx.example.com>: thrown away\nrecipient=alice@mx.example.com\noffset=670\nnotify_flags=2\nstatus=2.6.0\naction=delivered\nreason=thrown away\n\n');
});

test('discard: without DEL_REQ_FLAG_SUCCESS nothing is marked done', async () => {
  const q = queueWithMessage();
  const log: string[] = [];
  const x = await exchange(discardAgent, options(q.dir, log, 'postfix/discard'), lines(request({ nexthop: 'x', flags: api.DEL_REQ_FLAG_BOUNCE })), 1);
  assert.deepEqual(x.replies, ['{"status":0}']);
  assert.equal(log.length, 2);
  assert.deepEqual(recipientStates(q.file), ['pending', 'pending']);
});
