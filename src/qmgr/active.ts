// Mirrors Postfix's qmgr/qmgr_active.c (qmgr_active_done and its
// continuations) with the time rule of global/mail_queue.c: once every
// recipient of a message in core was tried, a bounce log is turned into a
// notice, a message with more recipients in its file gets its next batch,
// a trace notice goes out when asked for, and then the message either
// leaves (all done: the file is removed, "QID: removed") or waits in
// deferred/ with its mtime set to the next attempt: now plus its time in
// the queue, at least minimal_backoff_time and at most
// maximal_backoff_time. An expired message (maximal_queue_lifetime,
// bounce_queue_lifetime for the null sender, or postsuper -e) is returned
// to its sender from the defer log; a message past its warning time gets
// a delay warning. Touches the message's queue file and the bounce log.
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { DEL_REQ_FLAG_RECORD, DEL_REQ_FLAG_REC_DLY_SENT, DEL_REQ_FLAG_USR_VRFY, DEL_STAT_DEFER } from '../delivery/api.js';
import { mailQueuePath } from '../queue/layout.js';
import { moveQueueFile, removeQueueFile } from '../queue/ops.js';
import { clearWarnTime, type QmgrMessage } from './message.js';
import type { Qmgr } from './qmgr.js';

export type DoneOutcome = 'removed' | 'deferred' | 'more' | 'kept';

/** A bounce log with something in it; an empty one is removed (the bounce failed earlier). */
async function bounceLogPresent(qm: Qmgr, id: string): Promise<boolean> {
  const rel = mailQueuePath(qm.layout, 'bounce', id);
  try {
    // A blocking stat: the log is usually absent, and the answer is immediate.
    const st = fs.statSync(path.join(qm.queueDir, rel));
    if (st.size > 0) return true;
    fs.rmSync(path.join(qm.queueDir, rel), { force: true });
  } catch {
    // No bounce log.
  }
  return false;
}

/** A nonzero notice status keeps the message (DEL_STAT_DEFER), as Postfix ORs it into the flags. */
const asFlags = (status: number) => (status === 0 ? 0 : DEL_STAT_DEFER);

/** qmgr_active_done(). */
export async function activeDone(qm: Qmgr, msg: QmgrMessage): Promise<DoneOutcome> {
  const bounce = qm.opts.bounce;
  if (await bounceLogPresent(qm, msg.queueId)) msg.flags |= asFlags(await bounce.flushBounces(msg.notice()));

  if (msg.rcptOffset > 0 && !msg.readFailed) {
    if (await qm.readMore(msg, false)) return 'more';
    await qm.saveCorrupt(msg.queueId);
    return 'kept';
  }

  if (msg.readFailed) {
    await qm.saveCorrupt(msg.queueId);
    return 'kept';
  }

  const traceFlags = DEL_REQ_FLAG_USR_VRFY | DEL_REQ_FLAG_RECORD | DEL_REQ_FLAG_REC_DLY_SENT;
  if ((msg.tflags & traceFlags) !== 0 || msg.notifySuccess) msg.flags |= asFlags(await bounce.flushTrace({ ...msg.notice(), flags: msg.tflags }));

  const now = qm.clock.now().sec;
  if (msg.flags) {
    const life = msg.sender !== '' ? qm.params.maxQueueLifetime : qm.params.bounceQueueLifetime;
    const expired = msg.forceExpire ? 'force-expired' : now >= msg.createTime + life ? 'expired' : null;
    if (expired !== null) {
      qm.log.info(`${msg.queueId}: from=<${msg.sender}>, status=${expired}, returned to sender`);
      qm.counters.expired++;
      msg.flags = asFlags(await bounce.flushDefers(msg.notice()));
    } else if (msg.warnTime > 0 && now >= msg.warnTime - 1) {
      if ((await bounce.warnDelayed(msg.notice())) === 0) await clearWarnTime(qm.queueDir, qm.layout, msg.queueId);
    }
  }

  if (msg.flags) return deferMessage(qm, msg, now);
  const f = await removeQueueFile(qm.queueDir, qm.layout, msg.queueName, msg.queueId);
  if (f) qm.log.warning(`qmgr_active_done_3_generic: remove ${msg.queueId} from ${msg.queueName}: ${f.error.message}`);
  else qm.log.info(`${msg.queueId}: removed`);
  qm.counters.removed++;
  return 'removed';
}

/** The back-off of a message: its time in the queue, within the minimal and maximal back-off times. */
export function backoffDelay(now: number, createTime: number, minBackoff: number, maxBackoff: number): number {
  if (createTime <= 0) return minBackoff;
  return Math.max(minBackoff, Math.min(maxBackoff, now - createTime));
}

/** qmgr_active_defer(): mtime = next attempt, then into deferred/. */
async function deferMessage(qm: Qmgr, msg: QmgrMessage, now: number): Promise<DoneOutcome> {
  const delay = backoffDelay(now, msg.createTime, qm.params.minBackoff, qm.params.maxBackoff);
  const rel = mailQueuePath(qm.layout, msg.queueName, msg.queueId);
  await fsp.utimes(path.join(qm.queueDir, rel), now + delay, now + delay).catch((e: NodeJS.ErrnoException) => {
    if (e.code !== 'ENOENT') qm.log.warning(`qmgr_active_defer: update ${rel} time stamps: ${e.message}`);
  });
  const f = await moveQueueFile(qm.queueDir, qm.layout, msg.queueId, msg.queueName, 'deferred');
  if (f) qm.log.warning(`qmgr_active_defer: rename ${msg.queueId} from ${msg.queueName} to deferred: ${f.error.message}`);
  qm.counters.deferred++;
  return 'deferred';
}
