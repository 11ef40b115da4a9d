// Delivery slot preemption (src/qmgr/job.ts, Postfix's qmgr_job.c): the
// arithmetic of the preemption test, the job scheduler on its own with
// every queue ready, and the queue manager replaying the order recorded
// from Postfix 3.7.11 by tools/record-qmgr-order.ts (fixtures/qmgr-order/):
// a 60-recipient message and four one-recipient messages on a
// one-process discard transport with destination concurrency 1.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { DEL_STAT_FINAL } from '../../src/delivery/api.js';
import { type SlotSettings, preemptionAllowed } from '../../src/qmgr/job.js';
import type { TransportLimits } from '../../src/qmgr/params.js';
import { type EntryOwner, QueueEntry, Transport } from '../../src/qmgr/queue.js';
import type { QmgrMessage } from '../../src/qmgr/message.js';
import type { Qmgr } from '../../src/qmgr/qmgr.js';
import type { QmgrOrderFixture } from '../../tools/record-qmgr-order.js';
import { repoRoot } from '../lib/cases.js';
import { FakeAgent, harness, queueId, writeQueueFile } from './lib.js';

const DEFAULT_SLOTS: SlotSettings = { cost: 5, loan: 3, loanFactor: 50, minSlots: 3 };

test('preempt: available/cost + loan must reach expected x (100 - discount)%', () => {
  // Defaults: one earned slot is enough for a one-entry job (0 + 3 >= 0.5).
  assert.equal(preemptionAllowed(1, 1, DEFAULT_SLOTS), true);
  // 0 + 3 >= 7 * 0.5 is false; 5 earned slots (1 + 3 >= 3.5) make it.
  assert.equal(preemptionAllowed(4, 7, DEFAULT_SLOTS), false);
  assert.equal(preemptionAllowed(5, 7, DEFAULT_SLOTS), true);
  // No loan, no discount: the whole cost is earned first.
  const strict: SlotSettings = { cost: 5, loan: 0, loanFactor: 100, minSlots: 3 };
  assert.equal(preemptionAllowed(9, 2, strict), false);
  assert.equal(preemptionAllowed(10, 2, strict), true);
});

class Msg implements EntryOwner {
  refcount = 0;
  rcptUnread = 0;
  rcptOffset = 0;
  rcptLimit = 0;
  rcptCount = 0;
  refillTime = 0;
  refillBlocked = false;
  readonly jobs: EntryOwner['jobs'] = [];
  constructor(
    readonly queueId: string,
    readonly queuedTime: number,
  ) {}
}

function limits(slots: SlotSettings, concurrencyLimit = 1): TransportLimits {
  const fb = { base: 1, index: 'none' as const };
  return { concurrencyLimit, recipientLimit: 1, initConcurrency: 1, rateDelay: 0, xportRateDelay: 0, positive: fb, negative: fb, failCohortLimit: 1, slots, rcpt: { limit: 20000, extra: 1000, refillLimit: 100, refillDelay: 5 } };
}

/** Puts one entry per destination on the transport for a message, as assign.ts does. */
function assign(t: Transport<Msg>, m: Msg, dests: string[]): void {
  for (const d of dests) {
    const q = t.queue(d, d);
    const peer = t.jobs.obtain(m).peer(q);
    const e = new QueueEntry(m, q, [{ address: `u@${d}`, orcpt: '', dsnOrcpt: '', notify: 0, offset: 0 }], peer);
    t.jobs.entryCreated(e, peer);
    q.todo.push(e);
  }
  t.jobs.assigned(m);
}

/** Selects and finishes entries one at a time (one agent process), as the queues allow. */
function drain(t: Transport<Msg>, now: number): string[] {
  const out: string[] = [];
  for (let e = t.jobs.entrySelect((q) => q.room() > 0, now); e; e = t.jobs.entrySelect((q) => q.room() > 0, now)) {
    out.push(`${e.message.queueId} ${e.queue.name}`);
    t.jobs.entryDone(e);
  }
  return out;
}

const dests = (n: number, p = 'd') => Array.from({ length: n }, (_, i) => `${p}${i + 1}.test`);

test('preempt: the scheduler lets small jobs in every cost slots, one after the other', () => {
  const t = new Transport<Msg>('discard', limits(DEFAULT_SLOTS));
  assign(t, new Msg('A', 100), dests(20));
  for (const id of ['B', 'C', 'D']) assign(t, new Msg(id, 100), [`${id.toLowerCase()}.test`]);
  const order = drain(t, 100).map((s) => s.split(' ')[0]).join('');
  // One slot earned: B preempts (loan); B's one slot was charged in advance, so A earns 5 more each time.
  assert.equal(order, 'AB' + 'AAAAA' + 'C' + 'AAAAA' + 'D' + 'A'.repeat(9));
});

test('preempt: below minimum_delivery_slots x cost entries a job is never preempted', () => {
  const t = new Transport<Msg>('discard', limits(DEFAULT_SLOTS));
  assign(t, new Msg('A', 100), dests(14));
  assign(t, new Msg('B', 100), ['b.test']);
  assert.equal(drain(t, 100).map((s) => s.split(' ')[0]).join(''), 'A'.repeat(14) + 'B');
});

test('preempt: a slot cost below 2 turns preemption off', () => {
  const t = new Transport<Msg>('discard', limits({ ...DEFAULT_SLOTS, cost: 1 }));
  assign(t, new Msg('A', 100), dests(20));
  assign(t, new Msg('B', 100), ['b.test']);
  assert.equal(drain(t, 100).map((s) => s.split(' ')[0]).join(''), 'A'.repeat(20) + 'B');
});

test('preempt: a job needing more entries than the current one can still earn slots for is passed over', () => {
  const t = new Transport<Msg>('discard', limits({ cost: 5, loan: 0, loanFactor: 100, minSlots: 1 }));
  assign(t, new Msg('A', 100), dests(10));
  // B needs 3 entries (more than (10 + 0) / 5 = 2 slots A can ever earn); C needs 1.
  assign(t, new Msg('B', 101), dests(3, 'b'));
  assign(t, new Msg('C', 102), ['c.test']);
  const order = drain(t, 110).map((s) => s.split(' ')[0]).join('');
  assert.equal(order, 'AAAAAC' + 'AAAAA' + 'BBB');
});

test('preempt: a job whose destinations are all busy is a blocker; the next job is served meanwhile', () => {
  const t = new Transport<Msg>('discard', limits({ ...DEFAULT_SLOTS, cost: 1 }));
  assign(t, new Msg('A', 100), ['x.test', 'x.test']);
  assign(t, new Msg('B', 100), ['y.test']);
  const ready = (q: { room(): number }) => q.room() > 0;
  const first = t.jobs.entrySelect(ready, 100)!;
  first.queue.busy++;
  // A's other entry waits for x.test: B goes next, A is marked as blocking.
  const second = t.jobs.entrySelect(ready, 100)!;
  assert.equal(second.message.queueId, 'B');
  assert.equal(t.jobs.entrySelect(ready, 100), null);
  first.queue.busy--;
  t.jobs.entryDone(first);
  t.jobs.blockerUpdate(first.queue, first.queue.room() > 0);
  assert.equal(t.jobs.entrySelect(ready, 100)?.message.queueId, 'A');
});

const orderDir = path.join(repoRoot(), 'fixtures', 'qmgr-order');
for (const file of fs.readdirSync(orderDir).filter((f) => f.endsWith('.json')).sort()) {
  test(`preempt: the order Postfix 3.7.11 recorded in ${file}`, async () => {
    const fx = JSON.parse(fs.readFileSync(path.join(orderDir, file), 'utf8')) as QmgrOrderFixture;
    const domains = Object.values(fx.messages).flat().map((r) => r.slice(r.indexOf('@') + 1));
    let open = false;
    const h = harness(fx.settings, {
      transports: Object.fromEntries(domains.map((d) => [d, 'discard'])),
      agentLimit: (name) => (name !== 'discard' ? 0 : open ? fx.processLimit : -1),
    });
    const agent = new FakeAgent(h.dir, 'discard', () => ({ status: DEL_STAT_FINAL }));
    await agent.ready;
    await h.qmgr.start();
    // Activated one by one in Postfix's order, nothing delivered until all are in.
    const label = new Map<string, string>();
    let n = 0;
    for (const l of fx.activation) {
      const id = queueId(++n);
      label.set(id, l);
      writeQueueFile(h.dir, 'incoming', id, { recipients: fx.messages[l]!, arrival: h.clock.sec });
      h.qmgr.trigger('I');
      await assigned(h.qmgr, n);
    }
    open = true;
    h.qmgr.kick();
    await h.outcomes([...label.keys()]);
    const ours = agent.requests.map((r) => `${label.get(r.queueId)} ${r.recipients.map((x) => x.address).join(',')}`);
    assert.deepEqual(ours, fx.deliveries);
    assert.equal(agent.maxInFlight, 1);
    await h.qmgr.close();
    await agent.close();
  });
}

/** Resolves once the n-th message's job holds an entry for each recipient read into core (checked after each turn of the event loop). */
function assigned(qm: Qmgr, n: number): Promise<void> {
  return new Promise((resolve) => {
    const check = () => {
      const jobs = qm.transports.get('discard')?.jobs.list() ?? [];
      const job = jobs[n - 1];
      if (jobs.length === n && job!.readEntries > 0 && job!.readEntries === (job!.message as QmgrMessage).rcptRead) resolve();
      else setImmediate(check);
    };
    check();
  });
}
