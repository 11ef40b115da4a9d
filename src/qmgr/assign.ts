// Mirrors Postfix's qmgr/qmgr_message.c (qmgr_message_resolve,
// qmgr_resolve_one, qmgr_message_assign): each recipient of a batch is
// resolved to transport:nexthop (trivial-rewrite in-process), redirected
// to the error or retry transport where Postfix redirects it (resolver
// failure, bad syntax, null recipient, forced expiry, defer_transports),
// deferred at once when its transport or destination is dead, and
// otherwise added to an entry of its destination queue (no more than the
// transport's recipient limit per entry), under the message's job on that
// transport (./job.ts). Writes nothing itself; the
// status library writes the defer log and the done marks.
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { RESOLVE_CLASS_LOCAL, RESOLVE_FLAG_ERROR, RESOLVE_FLAG_FAIL, type ResolveResult } from '../address/resolve.js';
import { splitAddr } from '../address/split.js';
import { MAIL_SERVICE_ERROR, MAIL_SERVICE_RETRY } from '../address/transport.js';
import { DEL_REQ_FLAG_DEFLT, DEL_STAT_DEFER, type DeliveryRecipient } from '../delivery/api.js';
import { mailQueuePath } from '../queue/layout.js';
import { clogWarning } from './clog.js';
import type { QmgrMessage } from './message.js';
import type { Qmgr } from './qmgr.js';
import { type QmgrDsn, QueueEntry, type Transport } from './queue.js';
import type { QmgrStatusContext } from './status.js';

/** The status library's context for one message. */
export function statusContext(qm: Qmgr, msg: QmgrMessage): QmgrStatusContext {
  const p = qm.params;
  return {
    queueDir: qm.queueDir, layout: qm.layout, log: qm.log, queueName: msg.queueName, queueId: msg.queueId,
    stats: msg.stats({ sec: 0, usec: 0 }), flags: msg.tflags | DEL_REQ_FLAG_DEFLT, softBounce: p.softBounce, oldlogCompat: p.oldlogCompat,
    delayMaxRes: p.delayMaxRes, infoLogAddressFormat: p.infoLogAddressFormat, now: () => qm.clock.now(),
  };
}

/** qmgr_defer_recipient(): one recipient deferred by qmgr itself, relay=none. */
export async function deferOne(qm: Qmgr, msg: QmgrMessage, rcpt: DeliveryRecipient, dsn: QmgrDsn): Promise<void> {
  msg.flags |= DEL_STAT_DEFER;
  await qm.opts.status.deferRecipient(statusContext(qm, msg), rcpt, 'none', { status: dsn.status, reason: dsn.reason, action: 'delayed' });
}

/** "4.3.2 deferred transport" style nexthops of the error and retry transports. */
function redirect(r: ResolveResult, transport: string, nexthop: string): ResolveResult {
  return { ...r, flags: 0, transport, nexthop };
}

function localpart(addr: string): string {
  const at = addr.lastIndexOf('@');
  return at < 0 ? addr : addr.slice(0, at);
}

/** The queue name: the nexthop, or user@nexthop for per-recipient transports (local). */
function queueName(qm: Qmgr, t: Transport<QmgrMessage>, r: ResolveResult): string {
  if (t.name === MAIL_SERVICE_ERROR || t.name === MAIL_SERVICE_RETRY || t.limits.recipientLimit !== 1) return r.nexthop.toLowerCase();
  let user = localpart(r.recipient);
  const delim = qm.params.recipientDelimiter;
  if (delim) user = splitAddr(user, delim, { doubleBounceSender: qm.params.doubleBounceSender })?.localpart ?? user;
  return `${user}@${r.nexthop}`.toLowerCase();
}

async function resolveOne(qm: Qmgr, msg: QmgrMessage, rcpt: DeliveryRecipient): Promise<ResolveResult> {
  let r: ResolveResult;
  try {
    r = await qm.opts.resolver.resolve(rcpt.address, msg.sender);
  } catch {
    r = { transport: '', nexthop: '', recipient: rcpt.address, flags: RESOLVE_FLAG_FAIL };
  }
  if (r.flags & RESOLVE_FLAG_FAIL) return redirect(r, MAIL_SERVICE_RETRY, '4.3.0 address resolver failure');
  if (r.flags & RESOLVE_FLAG_ERROR) return redirect(r, MAIL_SERVICE_ERROR, '5.1.3 bad address syntax');
  return r;
}

/** The double-bounce address on this host: the notice goes nowhere (logged as sent). */
async function discardDoubleBounce(qm: Qmgr, msg: QmgrMessage, rcpt: DeliveryRecipient): Promise<void> {
  let fh: fsp.FileHandle | undefined;
  try {
    fh = await fsp.open(path.join(qm.queueDir, mailQueuePath(qm.layout, msg.queueName, msg.queueId)), 'r+');
    const st = await qm.opts.status.sentRecipient({ ...statusContext(qm, msg), fh }, rcpt, 'none',
      { status: '2.0.0', reason: 'undeliverable postmaster notification discarded', action: 'delivered' });
    msg.flags |= st;
  } catch {
    msg.flags |= DEL_STAT_DEFER;
  } finally {
    await fh?.close().catch(() => undefined);
  }
}

/**
 * Puts a batch of recipients on their destination queues. The message
 * holds a reference while this runs, so that deliveries finishing early
 * cannot finish the message before all its entries exist.
 */
export async function assignRecipients(qm: Qmgr, msg: QmgrMessage, rcpts: DeliveryRecipient[]): Promise<void> {
  msg.refcount++;
  qm.countRecipients(rcpts.length);
  const touched = new Set<Transport<QmgrMessage>>();
  const resolved: Array<{ target: DeliveryRecipient; t: ReturnType<Qmgr["transport"]>; r: ResolveResult; name: string }> = [];
  for (const rcpt of rcpts) {
    let r = await resolveOne(qm, msg, rcpt);
    if (rcpt.address === '') r = redirect(r, MAIL_SERVICE_ERROR, '5.1.3 null recipient address');
    if (msg.forceExpire) r = redirect(r, MAIL_SERVICE_RETRY, '4.7.0 message is administratively expired');
    const target: DeliveryRecipient = { ...rcpt, address: r.recipient };
    if ((r.flags & RESOLVE_CLASS_LOCAL) && localpart(r.recipient).toLowerCase() === qm.params.doubleBounceSender.toLowerCase()) {
      await discardDoubleBounce(qm, msg, target);
      qm.countRecipients(-1);
      continue;
    }
    if (!msg.flushDfxp && qm.params.deferTransports.includes(r.transport)) r = redirect(r, MAIL_SERVICE_RETRY, '4.3.2 deferred transport');
    const t = qm.transport(r.transport);
    if (msg.flushEach && t.dead) t.revive();
    if (t.dead) {
      await deferOne(qm, msg, target, t.dead);
      qm.countRecipients(-1);
      continue;
    }
    resolved.push({ target, t, r, name: queueName(qm, t, r) });
  }
  // qmgr_message_sort: by transport, queue name, recipient domain (case
  // folded) and address, so that the deliveries of one message go out in
  // Postfix's order.
  const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  const domain = (addr: string) => {
    const at = addr.lastIndexOf('@');
    return at < 0 ? null : addr.slice(at).toLowerCase();
  };
  resolved.sort((a, b) => {
    const byQueue = cmp(a.t.name, b.t.name) || cmp(a.name, b.name);
    if (byQueue) return byQueue;
    const da = domain(a.target.address);
    const db = domain(b.target.address);
    if (da === null && db !== null) return 1;
    if (da !== null && db === null) return -1;
    return (da !== null && db !== null ? cmp(da, db) : 0) || cmp(a.target.address, b.target.address);
  });
  for (const { target, t, r, name } of resolved) {
    const q = t.queue(name, r.nexthop);
    if (msg.flushEach && q.dead) q.revive();
    if (q.dead) {
      await deferOne(qm, msg, target, q.dead);
      qm.countRecipients(-1);
      t.prune(q);
      continue;
    }
    // qmgr_message_assign: the message's job on this transport, its peer
    // for this queue, and the peer's last waiting entry while it has room.
    const job = t.jobs.obtain(msg);
    const peer = job.peer(q);
    let entry = peer.entries[peer.entries.length - 1];
    const limit = t.limits.recipientLimit;
    if (!entry || (limit > 0 && entry.recipients.length >= limit)) {
      entry = new QueueEntry(msg, q, [], peer);
      t.jobs.entryCreated(entry, peer);
      touched.add(t);
      q.todo.push(entry);
      msg.refcount++;
      clogWarning(qm, q);
    }
    entry.recipients.push(target);
    t.jobs.recipientAssigned(job);
  }
  for (const t of touched) t.jobs.assigned(msg);
  if (--msg.refcount === 0) void qm.finish(msg);
}
