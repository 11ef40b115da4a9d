// The queue manager against a fake agent on a unix socket and a fake
// bounce service: a message goes incoming -> active -> removed; deferral
// moves it to deferred/ with Postfix's back-off in its mtime; the
// destination concurrency limit and the recipient limit shape the
// requests; a dead destination defers its other mail at once; an
// unreachable agent defers with "mail transport unavailable"; expiry
// returns the message; a delay warning clears the W record; a large
// deferred queue is fed within qmgr_message_active_limit.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { test } from 'node:test';
import { DEL_STAT_DEFER, DEL_STAT_FINAL, type DeliveryReply } from '../../src/delivery/api.js';
import { readQueueFileSync } from '../../src/queue/reader.js';
import { backoffDelay } from '../../src/qmgr/active.js';
import { FakeAgent, harness, queueId, queuePath, writeQueueFile } from './lib.js';

const FINAL: DeliveryReply = { status: DEL_STAT_FINAL };
const DEFER: DeliveryReply = { status: DEL_STAT_DEFER };

test('qmgr: incoming -> active -> removed, with the log lines', async () => {
  const h = harness();
  const agent = new FakeAgent(h.dir, 'smtp', () => FINAL);
  await agent.ready;
  const id = queueId(1);
  writeQueueFile(h.dir, 'incoming', id, { recipients: ['bob@example.com'], arrival: h.clock.sec - 5 });
  await h.qmgr.start();
  const out = await h.outcomes([id]);
  assert.equal(out.get(id), 'removed');
  assert.equal(fs.existsSync(queuePath(h.dir, 'incoming', id)), false);
  assert.equal(fs.existsSync(queuePath(h.dir, 'active', id)), false);
  assert.deepEqual(h.lines, [
    `postfix/qmgr[4242]: ${id}: from=<sender@example.org>, size=24, nrcpt=1 (queue active)`,
    `postfix/qmgr[4242]: ${id}: removed`,
  ]);
  const req = agent.requests[0]!;
  assert.equal(req.queueName, 'active');
  assert.equal(req.queueId, id);
  assert.equal(req.nexthop, 'example.com');
  assert.equal(req.sender, 'sender@example.org');
  assert.deepEqual(req.recipients.map((r) => r.address), ['bob@example.com']);
  assert.equal(req.stats.incomingArrival.sec, h.clock.sec - 5);
  assert.equal(req.stats.activeArrival.sec, h.clock.sec);
  assert.equal(req.stats.agentHandoff.sec, h.clock.sec);
  await h.qmgr.close();
  await agent.close();
});

test('qmgr: back-off is the time in queue, within minimal and maximal_backoff_time', () => {
  assert.equal(backoffDelay(1000, 990, 300, 4000), 300);
  assert.equal(backoffDelay(10000, 9000, 300, 4000), 1000);
  assert.equal(backoffDelay(100000, 1000, 300, 4000), 4000);
  assert.equal(backoffDelay(1000, 0, 300, 4000), 300);
});

test('qmgr: a deferred message goes to deferred/ with mtime = now + back-off', async () => {
  const h = harness([['minimal_backoff_time', '10s'], ['maximal_backoff_time', '40s']]);
  const agent = new FakeAgent(h.dir, 'smtp', () => DEFER);
  await agent.ready;
  const young = queueId(1);
  const old = queueId(2);
  const older = queueId(3);
  writeQueueFile(h.dir, 'incoming', young, { recipients: ['a@example.com'], arrival: h.clock.sec - 2 });
  writeQueueFile(h.dir, 'incoming', old, { recipients: ['a@example.net'], arrival: h.clock.sec - 25 });
  writeQueueFile(h.dir, 'incoming', older, { recipients: ['a@example.org'], arrival: h.clock.sec - 1000 });
  await h.qmgr.start();
  const out = await h.outcomes([young, old, older]);
  assert.deepEqual([...out.values()], ['deferred', 'deferred', 'deferred']);
  const mtime = (id: string) => Math.round(fs.statSync(queuePath(h.dir, 'deferred', id)).mtimeMs / 1000);
  assert.equal(mtime(young), h.clock.sec + 10);
  assert.equal(mtime(old), h.clock.sec + 25);
  assert.equal(mtime(older), h.clock.sec + 40);
  // Not due yet: a deferred scan leaves them alone; once due, they are tried again.
  agent.handler = () => FINAL;
  h.qmgr.trigger('D');
  h.clock.advance(41);
  h.qmgr.trigger('D');
  const again = await Promise.all([young, old, older].map((id) => new Promise((resolve) => h.qmgr.on('done', (x: string, o: string) => x === id && resolve(o)))));
  assert.deepEqual(again, ['removed', 'removed', 'removed']);
  assert.equal(agent.requests.length, 6);
  await h.qmgr.close();
  await agent.close();
});

test('qmgr: the destination concurrency limit is never exceeded', async () => {
  const h = harness([['smtp_destination_concurrency_limit', '3'], ['initial_destination_concurrency', '5']]);
  const held: Array<() => void> = [];
  let settle: (() => void) | null = null;
  const agent = new FakeAgent(h.dir, 'smtp', () => new Promise<DeliveryReply>((resolve) => {
    held.push(() => resolve(FINAL));
    settle?.();
  }));
  await agent.ready;
  const ids = Array.from({ length: 12 }, (_, i) => queueId(i + 1));
  for (const id of ids) writeQueueFile(h.dir, 'incoming', id, { recipients: ['x@busy.example'], arrival: h.clock.sec });
  await h.qmgr.start();
  const done = h.outcomes(ids);
  // Release one request at a time, each after qmgr had every chance to send more.
  for (let released = 0; released < ids.length; released++) {
    while (held.length === 0) await new Promise<void>((r) => (settle = r));
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    held.shift()!();
  }
  await done;
  assert.equal(agent.maxInFlight, 3);
  assert.equal(h.qmgr.counters.maxInFlight, 3);
  await h.qmgr.close();
  await agent.close();
});

test('qmgr: the recipient limit splits a message into requests', async () => {
  const h = harness([['smtp_destination_recipient_limit', '2']]);
  const smtp = new FakeAgent(h.dir, 'smtp', () => FINAL);
  const local = new FakeAgent(h.dir, 'local', () => FINAL);
  await Promise.all([smtp.ready, local.ready]);
  const id = queueId(7);
  const rcpts = ['a@example.com', 'b@example.com', 'c@example.com', 'd@example.com', 'e@example.com', 'u1@local.test', 'u2@local.test'];
  writeQueueFile(h.dir, 'incoming', id, { recipients: rcpts, arrival: h.clock.sec });
  await h.qmgr.start();
  assert.equal((await h.outcomes([id])).get(id), 'removed');
  assert.deepEqual(smtp.requests.map((r) => r.recipients.map((x) => x.address)),
    [['a@example.com', 'b@example.com'], ['c@example.com', 'd@example.com'], ['e@example.com']]);
  // local_destination_recipient_limit is 1: one request per recipient.
  assert.deepEqual(local.requests.map((r) => r.recipients.map((x) => x.address)).sort(), [['u1@local.test'], ['u2@local.test']]);
  await h.qmgr.close();
  await Promise.all([smtp.close(), local.close()]);
});

test('qmgr: a dead destination defers its other mail at once, others go on', async () => {
  const h = harness([['smtp_destination_concurrency_limit', '1'], ['smtp_initial_destination_concurrency', '1']]);
  const agent = new FakeAgent(h.dir, 'smtp', (req) => req.nexthop === 'dead.example'
    ? { status: DEL_STAT_DEFER, hopStatus: { status: '4.4.1', reason: 'connect to dead.example[192.0.2.1]:25: Connection refused' } }
    : FINAL);
  await agent.ready;
  const dead = [1, 2, 3, 4].map(queueId);
  const alive = queueId(9);
  for (const id of dead) writeQueueFile(h.dir, 'incoming', id, { recipients: ['x@dead.example'], arrival: h.clock.sec });
  writeQueueFile(h.dir, 'incoming', alive, { recipients: ['y@alive.example'], arrival: h.clock.sec });
  await h.qmgr.start();
  const out = await h.outcomes([...dead, alive]);
  assert.equal(out.get(alive), 'removed');
  for (const id of dead) assert.equal(out.get(id), 'deferred');
  assert.equal(agent.requests.filter((r) => r.nexthop === 'dead.example').length, 1);
  const reason = 'delivery temporarily suspended: connect to dead.example[192.0.2.1]:25: Connection refused';
  assert.equal(h.status.deferred.length, 3);
  for (const d of h.status.deferred) assert.deepEqual([d.relay, d.dsn.status, d.dsn.reason], ['none', '4.4.1', reason]);
  // The defer log is where Postfix keeps it.
  const logText = fs.readFileSync(queuePath(h.dir, 'defer', h.status.deferred[0]!.id), 'latin1');
  assert.match(logText, /^reason=delivery temporarily suspended: connect to dead\.example/m);
  // F forgets the dead destination.
  agent.handler = () => FINAL;
  h.qmgr.trigger('FA');
  const again = await Promise.all(dead.map((id) => new Promise((resolve) => h.qmgr.on('done', (x: string, o: string) => x === id && resolve(o)))));
  assert.deepEqual(again, ['removed', 'removed', 'removed', 'removed']);
  await h.qmgr.close();
  await agent.close();
});

test('qmgr: an agent that cannot be reached: mail transport unavailable, relay=none', async () => {
  const h = harness([], { transports: { 'nowhere.example': 'nosuch' } });
  const id = queueId(5);
  writeQueueFile(h.dir, 'incoming', id, { recipients: ['a@nowhere.example', 'b@nowhere.example'], arrival: h.clock.sec });
  await h.qmgr.start();
  assert.equal((await h.outcomes([id])).get(id), 'deferred');
  assert.ok(h.lines.includes('postfix/qmgr[4242]: warning: connect to transport private/nosuch: No such file or directory'), h.lines.join('\n'));
  assert.deepEqual(h.status.deferred.map((d) => [d.address, d.relay, d.dsn.status, d.dsn.reason]), [
    ['a@nowhere.example', 'none', '4.3.0', 'mail transport unavailable'],
    ['b@nowhere.example', 'none', '4.3.0', 'mail transport unavailable'],
  ]);
  await h.qmgr.close();
});

test('qmgr: an expired message is returned to its sender (flushDefers) and removed', async () => {
  const h = harness([['maximal_queue_lifetime', '500s'], ['bounce_queue_lifetime', '100s']]);
  const agent = new FakeAgent(h.dir, 'smtp', () => DEFER);
  await agent.ready;
  const expired = queueId(1);
  const nullSender = queueId(2);
  const young = queueId(3);
  writeQueueFile(h.dir, 'incoming', expired, { recipients: ['a@example.com'], arrival: h.clock.sec - 600 });
  writeQueueFile(h.dir, 'incoming', nullSender, { sender: '', recipients: ['a@example.com'], arrival: h.clock.sec - 200 });
  writeQueueFile(h.dir, 'incoming', young, { sender: '', recipients: ['a@example.com'], arrival: h.clock.sec - 50 });
  await h.qmgr.start();
  const out = await h.outcomes([expired, nullSender, young]);
  assert.deepEqual([out.get(expired), out.get(nullSender), out.get(young)], ['removed', 'removed', 'deferred']);
  assert.ok(h.lines.includes(`postfix/qmgr[4242]: ${expired}: from=<sender@example.org>, status=expired, returned to sender`));
  assert.ok(h.lines.includes(`postfix/qmgr[4242]: ${nullSender}: from=<>, status=expired, returned to sender`));
  assert.deepEqual(h.bounce.ops().sort(), [`flushDefers ${expired}`, `flushDefers ${nullSender}`].sort());
  await h.qmgr.close();
  await agent.close();
});

test('qmgr: postsuper -e (the expire mode bit) sends the recipients to retry and returns the message', async () => {
  const h = harness();
  const retry = new FakeAgent(h.dir, 'retry', () => DEFER);
  await retry.ready;
  const id = queueId(4);
  writeQueueFile(h.dir, 'incoming', id, { recipients: ['a@example.com'], arrival: h.clock.sec, mode: 0o710 });
  await h.qmgr.start();
  assert.equal((await h.outcomes([id])).get(id), 'removed');
  assert.equal(retry.requests[0]!.nexthop, '4.7.0 message is administratively expired');
  assert.ok(h.lines.includes(`postfix/qmgr[4242]: ${id}: from=<sender@example.org>, status=force-expired, returned to sender`));
  await h.qmgr.close();
  await retry.close();
});

test('qmgr: defer_transports sends the recipients to the retry transport', async () => {
  const h = harness([['defer_transports', 'slow']], { transports: { 'slow.example': 'slow' } });
  const retry = new FakeAgent(h.dir, 'retry', () => DEFER);
  await retry.ready;
  const id = queueId(6);
  writeQueueFile(h.dir, 'incoming', id, { recipients: ['a@slow.example'], arrival: h.clock.sec });
  await h.qmgr.start();
  assert.equal((await h.outcomes([id])).get(id), 'deferred');
  assert.equal(retry.requests[0]!.nexthop, '4.3.2 deferred transport');
  await h.qmgr.close();
  await retry.close();
});

test('qmgr: a delay warning goes out once and the W record is cleared', async () => {
  const h = harness();
  const agent = new FakeAgent(h.dir, 'smtp', () => DEFER);
  await agent.ready;
  const id = queueId(8);
  writeQueueFile(h.dir, 'incoming', id, { recipients: ['a@example.com'], arrival: h.clock.sec - 60, warnTime: h.clock.sec - 1 });
  await h.qmgr.start();
  assert.equal((await h.outcomes([id])).get(id), 'deferred');
  assert.deepEqual(h.bounce.ops(), [`warnDelayed ${id}`]);
  const r = readQueueFileSync(queuePath(h.dir, 'deferred', id));
  assert.ok(r.ok);
  assert.equal(r.file.warnTime, -1);
  await h.qmgr.close();
  await agent.close();
});

test('qmgr: a bounce log is flushed before the message is removed', async () => {
  const h = harness();
  const agent = new FakeAgent(h.dir, 'smtp', () => FINAL);
  await agent.ready;
  const id = queueId(10);
  writeQueueFile(h.dir, 'incoming', id, { recipients: ['a@example.com'], arrival: h.clock.sec });
  fs.mkdirSync(`${h.dir}/bounce`, { recursive: true });
  fs.writeFileSync(queuePath(h.dir, 'bounce', id), 'recipient=x@example.com\nreason=gone\n\n');
  await h.qmgr.start();
  assert.equal((await h.outcomes([id])).get(id), 'removed');
  assert.deepEqual(h.bounce.ops(), [`flushBounces ${id}`]);
  await h.qmgr.close();
  await agent.close();
});

test('qmgr: a file left in active/ is requeued to incoming at start and delivered', async () => {
  const h = harness();
  const agent = new FakeAgent(h.dir, 'smtp', () => FINAL);
  await agent.ready;
  const id = queueId(11);
  writeQueueFile(h.dir, 'active', id, { recipients: ['a@example.com'], arrival: h.clock.sec - 100 });
  await h.qmgr.start();
  assert.equal((await h.outcomes([id])).get(id), 'removed');
  await h.qmgr.close();
  await agent.close();
});

test('qmgr: a file that is not a queue file is saved to corrupt/', async () => {
  const h = harness();
  const id = queueId(12);
  fs.mkdirSync(`${h.dir}/incoming`, { recursive: true });
  fs.writeFileSync(queuePath(h.dir, 'incoming', id), 'this is not a queue file\n', { mode: 0o700 });
  fs.chmodSync(queuePath(h.dir, 'incoming', id), 0o700);
  const idle = new Promise<void>((resolve) => h.qmgr.once('idle', () => resolve()));
  await h.qmgr.start();
  await idle;
  assert.ok(fs.existsSync(queuePath(h.dir, 'corrupt', id)));
  assert.ok(h.lines.includes(`postfix/qmgr[4242]: warning: saving corrupt file "${id}" from queue "active" to queue "corrupt"`), h.lines.join('\n'));
  assert.equal(h.qmgr.counters.corrupt, 1);
  await h.qmgr.close();
});

test('qmgr: a destination holding much of the active queue is warned about, once', async () => {
  const h = harness([['qmgr_message_active_limit', '10'], ['smtp_destination_concurrency_limit', '1']]);
  const agent = new FakeAgent(h.dir, 'smtp', () => FINAL);
  await agent.ready;
  const ids = [1, 2, 3, 4, 5, 6].map(queueId);
  for (const id of ids) writeQueueFile(h.dir, 'incoming', id, { recipients: ['x@clog.example'], arrival: h.clock.sec });
  await h.qmgr.start();
  await h.outcomes(ids);
  const warnings = h.lines.filter((l) => l.includes('warning:'));
  assert.equal(warnings.filter((l) => /mail for clog\.example is using up \d+ of \d+ active queue entries$/.test(l)).length, 1, warnings.join('\n'));
  assert.ok(warnings.some((l) => l.endsWith('warning: you may need to increase the main.cf smtp_destination_concurrency_limit from 1')));
  assert.ok(warnings[warnings.length - 1]!.endsWith('warning: to turn off these warnings specify: qmgr_clog_warn_time = 0'));
  await h.qmgr.close();
  await agent.close();
});

test('qmgr: a big message is read in batches: qmgr_message_recipient_limit, then the recipient slots of its transport', async () => {
  // First batch: 5 (what is left of qmgr_message_recipient_limit); then the
  // job holds smtp's 4 slots, the message 1 + 4 = 5, and reads up to that.
  const h = harness([['qmgr_message_active_limit', '5'], ['qmgr_message_recipient_limit', '5'], ['qmgr_message_recipient_minimum', '1'],
    ['smtp_recipient_limit', '4']]);
  const agent = new FakeAgent(h.dir, 'smtp', () => FINAL);
  await agent.ready;
  const id = queueId(13);
  const rcpts = Array.from({ length: 30 }, (_, i) => `u${i}@d${i % 3}.example`);
  writeQueueFile(h.dir, 'incoming', id, { recipients: rcpts, arrival: h.clock.sec });
  await h.qmgr.start();
  assert.equal((await h.outcomes([id])).get(id), 'removed');
  assert.deepEqual(agent.requests.flatMap((r) => r.recipients.map((x) => x.address)).sort(), [...rcpts].sort());
  assert.equal(h.qmgr.counters.maxRecipientsInCore, 5);
  assert.equal(h.lines.filter((l) => l.includes('(queue active)')).length, 1);
  await h.qmgr.close();
  await agent.close();
});

test('qmgr: destination_rate_delay spaces deliveries to one destination', async () => {
  const h = harness([['smtp_destination_rate_delay', '10s']]);
  const agent = new FakeAgent(h.dir, 'smtp', () => FINAL);
  await agent.ready;
  const ids = [1, 2, 3].map(queueId);
  for (const id of ids) writeQueueFile(h.dir, 'incoming', id, { recipients: ['x@slow.example'], arrival: h.clock.sec });
  const finished: string[] = [];
  const next = () => new Promise<string>((resolve) => h.qmgr.once('done', (id: string) => resolve(id)));
  await h.qmgr.start();
  finished.push(await next());
  // Nothing more goes out until the clock has moved on by the delay.
  const idle = new Promise<void>((resolve) => h.qmgr.once('idle', () => resolve()));
  const settled = await Promise.race([idle.then(() => 'idle'), new Promise((r) => setImmediate(() => setImmediate(() => r('busy'))))]);
  assert.equal(agent.requests.length, 1, String(settled));
  const second = next();
  h.clock.advance(10);
  finished.push(await second);
  assert.equal(agent.requests.length, 2);
  const third = next();
  h.clock.advance(10);
  finished.push(await third);
  assert.deepEqual(finished.sort(), [...ids].sort());
  await h.qmgr.close();
  await agent.close();
});
