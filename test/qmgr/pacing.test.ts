// Pacing and connection-cache hints of the queue manager (src/qmgr/deliver.ts),
// as Postfix 3.7's qmgr_entry.c, qmgr_queue.c and qmgr_transport.c do them:
// _destination_rate_delay runs from the end of one delivery to a
// destination to the start of the next; _transport_rate_delay likewise for
// every delivery of the transport; deliveries that come back to back carry
// DEL_REQ_FLAG_CONN_LOAD and _STORE. A fake agent holds each request until
// the test answers it, and the test moves the clock by hand.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEL_REQ_FLAG_CONN_LOAD, DEL_REQ_FLAG_CONN_STORE, DEL_STAT_FINAL, type DeliveryReply } from '../../src/delivery/api.js';
import { FakeAgent, type Harness, harness, queueId, writeQueueFile } from './lib.js';

const FINAL: DeliveryReply = { status: DEL_STAT_FINAL };
const CONN = DEL_REQ_FLAG_CONN_LOAD | DEL_REQ_FLAG_CONN_STORE;

/** An agent whose requests wait until answer() is called. */
class HeldAgent {
  readonly agent: FakeAgent;
  private readonly held: Array<() => void> = [];
  constructor(h: Harness, name: string) {
    this.agent = new FakeAgent(h.dir, name, () => new Promise<DeliveryReply>((resolve) => this.held.push(() => resolve(FINAL))));
  }
  /** Resolves once n requests have arrived; fails when they have not within 5 seconds. */
  async requests(n: number): Promise<void> {
    const deadline = Date.now() + 5000;
    while (this.agent.requests.length < n) {
      if (Date.now() > deadline) throw new Error(`${this.agent.requests.length} requests, expected ${n}`);
      await new Promise((r) => setImmediate(r));
    }
  }
  answer(): void {
    this.held.shift()!();
  }
}

/** Lets pending I/O and immediate callbacks run, so that anything qmgr would start now has started. */
async function settle(): Promise<void> {
  for (let i = 0; i < 30; i++) await new Promise((r) => setImmediate(r));
}

function done(h: Harness): Promise<string> {
  return new Promise((resolve) => h.qmgr.once('done', (id: string) => resolve(id)));
}

test('pacing: destination_rate_delay counts from the end of the previous delivery', async () => {
  const h = harness([['smtp_destination_rate_delay', '10s']]);
  const a = new HeldAgent(h, 'smtp');
  await a.agent.ready;
  for (const n of [1, 2]) writeQueueFile(h.dir, 'incoming', queueId(n), { recipients: ['x@slow.example'], arrival: h.clock.sec });
  await h.qmgr.start();
  await a.requests(1);
  // The first delivery takes 15 seconds: longer than the delay.
  h.clock.advance(15);
  const first = done(h);
  a.answer();
  await first;
  await settle();
  assert.equal(a.agent.requests.length, 1, 'the pause starts when the delivery ends');
  h.clock.advance(9);
  await settle();
  assert.equal(a.agent.requests.length, 1);
  h.clock.advance(1);
  await a.requests(2);
  const second = done(h);
  a.answer();
  await second;
  await h.qmgr.close();
  await a.agent.close();
});

test('pacing: a paused destination keeps its pause for mail that arrives meanwhile', async () => {
  const h = harness([['smtp_destination_rate_delay', '10s']]);
  const a = new HeldAgent(h, 'smtp');
  await a.agent.ready;
  writeQueueFile(h.dir, 'incoming', queueId(1), { recipients: ['x@slow.example'], arrival: h.clock.sec });
  await h.qmgr.start();
  await a.requests(1);
  const first = done(h);
  a.answer();
  await first;
  // Nothing is waiting for the destination now; new mail for it still waits out the pause.
  writeQueueFile(h.dir, 'incoming', queueId(2), { recipients: ['y@slow.example'], arrival: h.clock.sec });
  h.qmgr.trigger('I');
  await settle();
  assert.equal(a.agent.requests.length, 1);
  h.clock.advance(10);
  await a.requests(2);
  a.answer();
  await h.qmgr.close();
  await a.agent.close();
});

test('pacing: transport_rate_delay spaces every delivery of the transport, from the end of the last', async () => {
  const h = harness([['smtp_transport_rate_delay', '5s'], ['smtp_destination_concurrency_limit', '4']]);
  const a = new HeldAgent(h, 'smtp');
  await a.agent.ready;
  // Two destinations: without the transport delay both would go at once.
  writeQueueFile(h.dir, 'incoming', queueId(1), { recipients: ['x@one.example', 'x@two.example'], arrival: h.clock.sec });
  await h.qmgr.start();
  await settle();
  assert.equal(a.agent.requests.length, 0, 'the first delivery waits for the delay too');
  h.clock.advance(5);
  await a.requests(1);
  h.clock.advance(7);
  await settle();
  assert.equal(a.agent.requests.length, 1, 'one delivery at a time');
  a.answer();
  await settle();
  h.clock.advance(4);
  await settle();
  assert.equal(a.agent.requests.length, 1);
  h.clock.advance(1);
  await a.requests(2);
  const finished = done(h);
  a.answer();
  await finished;
  assert.deepEqual(a.agent.requests.map((r) => r.nexthop), ['one.example', 'two.example']);
  await h.qmgr.close();
  await a.agent.close();
});

test('pacing: back-to-back deliveries to a destination ask the agent to use and keep cached connections', async () => {
  const h = harness([['smtp_destination_concurrency_limit', '1']]);
  const a = new HeldAgent(h, 'smtp');
  await a.agent.ready;
  for (const n of [1, 2, 3]) writeQueueFile(h.dir, 'incoming', queueId(n), { recipients: [`u${n}@cache.example`], arrival: h.clock.sec });
  await h.qmgr.start();
  await a.requests(1);
  // Nothing came before the first delivery; the second starts as the first ends.
  a.answer();
  await a.requests(2);
  // The second takes a while; the third still starts as it ends.
  h.clock.advance(3);
  a.answer();
  await a.requests(3);
  a.answer();
  await settle();
  assert.deepEqual(a.agent.requests.map((r) => r.flags & CONN), [0, CONN, CONN]);
  await h.qmgr.close();
  await a.agent.close();
});

test('pacing: a delivery that is neither concurrent nor back to back stops keeping connections, but still uses them', async () => {
  // The rate delay keeps the destination queue in core between deliveries.
  const h = harness([['smtp_destination_rate_delay', '1s']]);
  const a = new HeldAgent(h, 'smtp');
  await a.agent.ready;
  for (const n of [1, 2, 3]) writeQueueFile(h.dir, 'incoming', queueId(n), { recipients: [`u${n}@cache.example`], arrival: h.clock.sec });
  await h.qmgr.start();
  for (const [n, step] of [[1, 1], [2, 5], [3, 1]] as const) {
    await a.requests(n);
    const finished = done(h);
    a.answer();
    await finished;
    h.clock.advance(step);
  }
  // 1: first; 2: one second after 1 ended; 3: five seconds after 2 ended, nothing else in flight.
  assert.deepEqual(a.agent.requests.map((r) => r.flags & CONN), [0, CONN, DEL_REQ_FLAG_CONN_LOAD]);
  // The queue has gone since: mail for it starts afresh.
  h.clock.advance(60);
  writeQueueFile(h.dir, 'incoming', queueId(4), { recipients: ['u4@cache.example'], arrival: h.clock.sec });
  h.qmgr.trigger('I');
  await a.requests(4);
  a.answer();
  assert.equal(a.agent.requests[3]!.flags & CONN, 0);
  await h.qmgr.close();
  await a.agent.close();
});
