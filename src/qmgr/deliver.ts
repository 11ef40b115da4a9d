// Mirrors Postfix's qmgr/qmgr_deliver.c, qmgr_defer.c and the
// allocation half of qmgr_transport.c: for each transport, while its
// agent service has a free process (the master.cf process limit, when
// qmgr was told it) the job scheduler (./job.ts, qmgr_job.c) picks the
// next entry: the current job's next destination with room in its
// concurrency window and past its rate delay, or a small old job that
// preempts a big one on Postfix's delivery slot rules. Each entry goes
// to its agent; the reply drives the concurrency feedback, a dead
// destination (its waiting entries deferred at once with "delivery
// temporarily suspended: ..."), or an unreachable agent (the whole
// transport deferred with "mail transport unavailable" until
// transport_retry_time has passed). Touches agents through ./agent.ts;
// the defer log through the status library.
import { isUtf8 } from 'node:buffer';
import { allAscii } from '../util/bytes.js';
import { DEL_REQ_FLAG_DEFLT, DEL_STAT_DEFER, DEL_STAT_FINAL, type DeliveryRequest } from '../delivery/api.js';
import type { AgentResult } from './agent.js';
import { deferOne } from './assign.js';
import type { QmgrMessage } from './message.js';
import type { Qmgr } from './qmgr.js';
import type { DestQueue, QmgrDsn, QueueEntry, Transport } from './queue.js';

const SUSPENDED = 'delivery temporarily suspended: ';
const TRANSPORT_UNAVAILABLE: QmgrDsn = { status: '4.3.0', reason: 'mail transport unavailable' };
const CRASH_REASON = 'unknown mail transport error';

type Entry = QueueEntry<QmgrMessage>;

/** dsn_valid(): a status such as 4.2.0 or 5.1.10. */
function dsnValid(s: string): boolean {
  return /^[245]\.\d{1,3}\.\d{1,3}$/.test(s);
}

function nowMs(qm: Qmgr): number {
  const t = qm.clock.now();
  return t.sec * 1000 + Math.floor(t.usec / 1000);
}

/** qmgr_active_drain(): start every delivery the agents, the windows and the scheduler allow now. */
export function pumpDeliveries(qm: Qmgr): void {
  if (qm.isClosing) return;
  const now = qm.clock.now().sec;
  const ready = (q: DestQueue<QmgrMessage>) => q.room() > 0 && rateAllows(qm, q);
  for (const t of qm.transports.values()) {
    while (t.agentFree()) {
      const e = t.jobs.entrySelect(ready, now);
      if (e === null) break;
      dispatch(qm, e);
    }
  }
}

/** With a rate delay, a destination waits between deliveries; a timer comes back for it. */
function rateAllows(qm: Qmgr, q: DestQueue<QmgrMessage>): boolean {
  const delay = q.transport.limits.rateDelay;
  if (delay <= 0) return true;
  const now = nowMs(qm);
  if (q.notBefore <= now) return true;
  if (!q.rateTimerSet) {
    q.rateTimerSet = true;
    qm.clock.setTimer(() => {
      q.rateTimerSet = false;
      // qmgr_queue_resume(): jobs it blocked are looked at again.
      q.transport.jobs.blockerUpdate(q, q.room() > 0);
      qm.kick();
    }, q.notBefore - now);
  }
  return false;
}

/** SMTPUTF8_FLAG_RECIPIENT (global/smtputf8.h): set per delivery request, never in the queue file. */
const SMTPUTF8_FLAG_RECIPIENT = 1 << 3;

/** The message's SMTPUTF8 flags, plus the recipient flag when an address of this request is UTF-8 (qmgr_deliver_send_request). */
function requestSmtputf8(qm: Qmgr, e: Entry): number {
  let flags = e.message.smtputf8;
  if (!qm.params.smtputf8Enable) return flags;
  for (const r of e.recipients) {
    if (r.address !== '' && !allAscii(r.address) && isUtf8(Buffer.from(r.address, 'latin1'))) flags |= SMTPUTF8_FLAG_RECIPIENT;
  }
  return flags;
}

function request(qm: Qmgr, e: Entry): DeliveryRequest {
  const m = e.message;
  return {
    flags: m.tflags | DEL_REQ_FLAG_DEFLT, queueName: m.queueName, queueId: m.queueId, dataOffset: m.dataOffset, dataSize: m.dataSize,
    nexthop: e.queue.nexthop, encoding: m.encoding, smtputf8: requestSmtputf8(qm, e), sender: m.sender, stats: m.stats(qm.clock.now()),
    recipients: e.recipients,
    clientName: m.attr('log_client_name') || m.attr('client_name'),
    clientAddr: m.attr('log_client_address') || m.attr('client_address'),
    clientPort: m.attr('log_client_port') || m.attr('client_port'),
    clientProto: m.attr('log_protocol_name') || m.attr('protocol_name'),
    clientHelo: m.attr('log_helo_name') || m.attr('helo_name'),
    saslMethod: m.attr('sasl_method'), saslUsername: m.attr('sasl_username'), saslSender: m.attr('sasl_sender'),
    logIdent: m.attr('log_ident') || m.queueId, rewriteContext: m.attr('rewrite_context') || 'local',
    dsnEnvid: m.dsnEnvid, dsnRet: m.dsnRet,
  };
}

function dispatch(qm: Qmgr, e: Entry): void {
  const q = e.queue;
  const t = q.transport;
  q.busy++;
  t.busy++;
  const c = qm.counters;
  c.requests++;
  c.inFlight++;
  c.maxInFlight = Math.max(c.maxInFlight, c.inFlight);
  if (t.limits.rateDelay > 0) q.notBefore = nowMs(qm) + t.limits.rateDelay * 1000;
  qm.opts.agents.deliver(t.name, request(qm, e)).then(
    (r) => delivered(qm, e, r),
    (err: Error) => delivered(qm, e, { kind: 'crash', error: err.message }),
  );
}

async function delivered(qm: Qmgr, e: Entry, r: AgentResult): Promise<void> {
  // Stopping: the file stays in active/ and is requeued when qmgr starts again.
  if (qm.isClosing) return;
  const q = e.queue;
  const t = q.transport;
  const msg = e.message;
  // The entry counts as busy until the feedback is in (qmgr_deliver_update).
  const release = () => {
    q.busy--;
    t.busy--;
    qm.counters.inFlight--;
  };
  if (r.kind === 'unreachable') {
    release();
    qm.log.warning(r.error);
    killTransport(qm, t, TRANSPORT_UNAVAILABLE);
    await deferEntry(qm, e, TRANSPORT_UNAVAILABLE);
    return;
  }
  let hop: QmgrDsn | null = null;
  if (r.kind === 'crash') {
    qm.log.warning(r.error);
    msg.flags |= DEL_STAT_DEFER;
    hop = { status: '4.3.0', reason: SUSPENDED + CRASH_REASON };
  } else {
    if (r.reply.status !== DEL_STAT_FINAL) msg.flags |= DEL_STAT_DEFER;
    t.revive();
    const h = r.reply.hopStatus;
    if (h) {
      msg.flags |= DEL_STAT_DEFER;
      hop = { status: dsnValid(h.status) ? h.status : '4.0.0', reason: SUSPENDED + (h.reason || 'unknown error') };
    }
  }
  if (hop === null) q.succeeded();
  else if (q.dead === null && q.failed(hop)) killQueue(qm, q);
  release();
  entryDone(qm, e);
}

/** qmgr_entry_done(): one entry less for its message and its queue. */
function entryDone(qm: Qmgr, e: Entry): void {
  const msg = e.message;
  const q = e.queue;
  qm.countRecipients(-e.recipients.length);
  q.transport.jobs.entryDone(e);
  // Jobs this queue blocked are looked at again now, or when its rate delay has passed (the timer does it).
  if (rateAllows(qm, q)) q.transport.jobs.blockerUpdate(q, q.room() > 0);
  q.transport.prune(q);
  if (--msg.refcount === 0) void qm.finish(msg);
  qm.kick();
}

/** Defers every recipient of an entry that will not be tried now. */
async function deferEntry(qm: Qmgr, e: Entry, dsn: QmgrDsn): Promise<void> {
  for (const rcpt of e.recipients) await deferOne(qm, e.message, rcpt, dsn);
  entryDone(qm, e);
}

/** Takes every waiting entry off a queue, and off its job's peer (they count as selected). */
function dropTodo(q: DestQueue<QmgrMessage>): Entry[] {
  const out = q.todo.splice(0);
  for (const e of out) q.transport.jobs.entryDropped(e);
  return out;
}

/** qmgr_defer_todo(): a dead destination's waiting entries are deferred now; it revives after minimal_backoff_time. */
function killQueue(qm: Qmgr, q: DestQueue<QmgrMessage>): void {
  const dsn = q.dead!;
  for (const e of dropTodo(q)) void deferEntry(qm, e, dsn);
  q.cancelRevive?.();
  q.cancelRevive = qm.clock.setTimer(() => {
    q.cancelRevive = null;
    q.revive();
    q.transport.prune(q);
    qm.kick();
  }, qm.params.minBackoff * 1000);
}

/** qmgr_transport_throttle() + qmgr_defer_transport(): no agent; everything waiting for it is deferred. */
function killTransport(qm: Qmgr, t: Transport<QmgrMessage>, dsn: QmgrDsn): void {
  if (t.dead) return;
  t.dead = dsn;
  for (const q of t.queues.values()) for (const e of dropTodo(q)) void deferEntry(qm, e, dsn);
  t.cancelRevive = qm.clock.setTimer(() => {
    t.cancelRevive = null;
    t.revive();
    qm.kick();
  }, qm.params.transportRetryTime * 1000);
}


