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
import {
  DEL_REQ_FLAG_CONN_LOAD, DEL_REQ_FLAG_CONN_STORE, DEL_REQ_FLAG_DEFLT, DEL_STAT_DEFER, DEL_STAT_FINAL, type DeliveryRequest,
} from '../delivery/api.js';
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


const ready = (q: DestQueue<QmgrMessage>) => q.room() > 0;

/** qmgr_active_drain(): start every delivery the agents, the windows and the scheduler allow now. */
export function pumpDeliveries(qm: Qmgr): void {
  if (qm.isClosing) return;
  const now = qm.clock.now().sec;
  for (const t of qm.transports.values()) {
    if (t.limits.xportRateDelay > 0) {
      paceTransport(qm, t);
      continue;
    }
    while (t.agentFree()) {
      const e = t.jobs.entrySelect(ready, now);
      if (e === null) break;
      dispatch(qm, e);
    }
  }
}

/** Some destination of the transport has a waiting entry and room for it (qmgr_transport_select). */
function hasReadyWork(t: Transport<QmgrMessage>): boolean {
  for (const q of t.queues.values()) if (q.todo.length > 0 && q.room() > 0) return true;
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

/**
 * _transport_rate_delay (qmgr_transport_alloc, qmgr_transport_event): once
 * an agent is free and there is work, the transport is locked, and the
 * entry is chosen and handed over only after the delay; the lock comes off
 * when that delivery ends (Transport.revive), so the delay runs from the
 * end of one delivery to the start of the next.
 */
function paceTransport(qm: Qmgr, t: Transport<QmgrMessage>): void {
  if (!t.agentFree() || !hasReadyWork(t)) return;
  t.rateLock = true;
  t.cancelRate = qm.clock.setTimer(() => {
    t.cancelRate = null;
    if (qm.isClosing) return;
    const e = t.dead === null ? t.jobs.entrySelect(ready, qm.clock.now().sec) : null;
    if (e !== null) dispatch(qm, e);
    else {
      // Nothing to deliver after all: the agent is let go (Postfix's
      // qmgr_deliver closes the stream) and the lock with it.
      t.rateLock = false;
      qm.kick();
    }
  }, t.limits.xportRateDelay * 1000);
}

/**
 * _destination_rate_delay (qmgr_entry_done, qmgr_queue_suspend): after a
 * delivery ends the destination pauses; when the pause is over its
 * blocked jobs are looked at again, or the queue goes if it is empty
 * (qmgr_queue_resume).
 */
function suspendQueue(qm: Qmgr, q: DestQueue<QmgrMessage>, delay: number): void {
  q.suspended = true;
  q.cancelResume = qm.clock.setTimer(() => {
    q.cancelResume = null;
    q.suspended = false;
    q.window = 1;
    if (q.idle()) q.transport.prune(q);
    else q.transport.jobs.blockerUpdate(q, q.room() > 0);
    qm.kick();
  }, delay * 1000);
}

function request(qm: Qmgr, e: Entry): DeliveryRequest {
  const m = e.message;
  return {
    flags: m.tflags | e.queue.dflags | DEL_REQ_FLAG_DEFLT, queueName: m.queueName, queueId: m.queueId, dataOffset: m.dataOffset, dataSize: m.dataSize,
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

/**
 * qmgr_entry_select()'s connection cache hints: once deliveries to a
 * destination come back to back (one starts within a second of the last
 * one's end), its requests ask the agent to use and to keep cached
 * sessions; keeping stops again when it is neither busy with another
 * delivery nor back to back, while use stays on so that cached sessions
 * are not left unused.
 */
function connCacheHints(qm: Qmgr, q: DestQueue<QmgrMessage>): void {
  const backToBack = q.lastDone + 1 >= qm.clock.now().sec;
  if ((q.dflags & DEL_REQ_FLAG_CONN_STORE) === 0) {
    if (backToBack) q.dflags |= DEL_REQ_FLAG_CONN_LOAD | DEL_REQ_FLAG_CONN_STORE;
  } else if (!(q.busy > 1 || backToBack)) {
    q.dflags &= ~DEL_REQ_FLAG_CONN_STORE;
  }
}

function dispatch(qm: Qmgr, e: Entry): void {
  const q = e.queue;
  const t = q.transport;
  q.busy++;
  t.busy++;
  connCacheHints(qm, q);
  const c = qm.counters;
  c.requests++;
  c.inFlight++;
  c.maxInFlight = Math.max(c.maxInFlight, c.inFlight);
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
    // Postfix found no agent before it chose the entry: it was never in delivery.
    await deferEntry(qm, e, TRANSPORT_UNAVAILABLE);
    return;
  }
  let hop: QmgrDsn | null = null;
  if (r.kind === 'crash') {
    qm.log.warning(r.error);
    // Postfix would keep a rate-locked transport locked here until some
    // other event unthrottles it; the lock comes off so that it cannot stall.
    t.rateLock = false;
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
  entryDone(qm, e, true);
}

/** qmgr_entry_done(): one entry less for its message and its queue; busy: it was in delivery. */
function entryDone(qm: Qmgr, e: Entry, busy: boolean): void {
  const msg = e.message;
  const q = e.queue;
  const t = q.transport;
  qm.countRecipients(-e.recipients.length);
  t.jobs.entryDone(e);
  if (busy && t.limits.rateDelay > 0) {
    if (q.dead !== null) q.revive();
    suspendQueue(qm, q, t.limits.rateDelay);
  }
  // Jobs this queue blocked are looked at again now, or when its pause is over (suspendQueue).
  if (!q.suspended) t.jobs.blockerUpdate(q, q.room() > 0);
  if (busy) q.lastDone = qm.clock.now().sec;
  t.prune(q);
  if (--msg.refcount === 0) void qm.finish(msg);
  qm.kick();
}

/** Defers every recipient of an entry that will not be tried now. */
async function deferEntry(qm: Qmgr, e: Entry, dsn: QmgrDsn): Promise<void> {
  for (const rcpt of e.recipients) await deferOne(qm, e.message, rcpt, dsn);
  entryDone(qm, e, false);
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
  q.dflags = 0;
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


