// Mirrors the per-recipient status calls of Postfix's delivery agents:
// global/sent.c (sent), bounce.c (bounce_append), defer.c (defer_append),
// trace.c (trace_append; defer_append also tells the fast flush service,
// ./flush-client.ts), verify.c (verify_append's logging), log_adhoc.c
// (the "to=<..>, relay=.., delay=.., status=.." line, with util/format_tv.c's
// delay formatting) and deliver_completed.c (the done mark). Where Postfix
// asks its bounce, defer and trace daemons to append a record, this appends
// to defer/ID, bounce/ID or trace/ID directly (status-log.ts). An agent
// calls one of sentRecipient, bounceRecipient or deferRecipient per
// recipient, with a StatusContext that belongs to that one delivery.
// Touches the status logs and the one done-mark byte of the open queue file.
import type { QueueHandle } from './handle.js';
import type { MailLogger } from '../log/logger.js';
import { DSN_NOTIFY_DELAY, DSN_NOTIFY_SUCCESS, dsnValid } from '../mail/dsn.js';
import { quote822Local } from '../address/quote.js';
import { casefold } from '../dict/utf8.js';
import { allAscii, bytesToText, toText } from '../util/bytes.js';
import { errnoText } from '../util/errno.js';
import { type QueueLayout, MAIL_QUEUE_BOUNCE, MAIL_QUEUE_DEFER, MAIL_QUEUE_TRACE, mailQueuePath } from './layout.js';
import { markRecipientDone } from './ops.js';
import { type TimeVal, getTimeOfDay } from './queue-file.js';
import { appendStatusRecord } from './status-log.js';
import { FLUSH_STAT_DENY, FLUSH_STAT_OK, type FlushClient } from './flush-client.js';
import {
  DEL_REQ_FLAG_MTA_VRFY,
  DEL_REQ_FLAG_REC_DLY_SENT,
  DEL_REQ_FLAG_RECORD,
  DEL_REQ_FLAG_SUCCESS,
  DEL_REQ_FLAG_USR_VRFY,
  DEL_STAT_DEFER,
  DEL_STAT_FINAL,
  type DeliveryRecipient,
  type MsgStats,
} from './deliver-request.js';

/** The time profile of a message, as a delivery request carries it. */
export type StatusMsgStats = MsgStats;
/** One recipient, as a delivery request carries it. */
export type StatusRcpt = DeliveryRecipient;

/** What the status calls of one delivery share. */
export interface StatusContext {
  /** queue_directory. */
  queueDir: string;
  layout: QueueLayout;
  /** The agent's logger ("postfix/local[pid]"). */
  log: MailLogger;
  /** The queue the message file is in ("active") and its ID. */
  queueName: string;
  queueId: string;
  stats: StatusMsgStats;
  /** The request's DEL_REQ_FLAG_* bits. */
  flags: number;
  /** The queue file, open for writing: where done marks go. Without it no mark is made. */
  fh?: QueueHandle;
  /** soft_bounce. */
  softBounce: boolean;
  /** backwards_bounce_logfile_compatibility. */
  oldlogCompat: boolean;
  /** delay_logging_resolution_limit (0..6). */
  delayMaxRes: number;
  /** info_log_address_format: "external" (the default) or "internal". */
  infoLogAddressFormat?: string;
  /** The clock used when stats.deliverDone is not set (tests fix it). */
  now?: () => TimeVal;
  /** The fast flush service, told of each deferred recipient's domain (flush_add); absent: not told. */
  flush?: Pick<FlushClient, 'add'>;
  /** flush_service_name, for the warning when the service fails. */
  flushService?: string;
}

/** A recipient's delivery status (Postfix's DSN). Strings are byte strings. */
export interface RcptDsn {
  /** "2.0.0", "5.1.1", ... */
  status: string;
  /** The human-readable reason, logged in parentheses. */
  reason: string;
  /** "delivered", "relayed", ...: a default is supplied per outcome when absent. */
  action?: string;
  /** Diagnostic type and text ("smtp", "550 5.1.1 ..."). */
  dtype?: string;
  dtext?: string;
  /** Reporting MTA type and name ("dns", "mx.example.com"). */
  mtype?: string;
  mname?: string;
}

/** The relay of agents that do not talk to another host (NO_RELAY_AGENT). */
export const NO_RELAY_AGENT = 'none';

/** Postfix's int results inside this file: 0 done, -1 not done (deferred or failed). */
type Result = 0 | -1;

// ---------------------------------------------------------------------------
// The log line (log_adhoc.c).

/**
 * format_tv(): a time difference with sigDig significant digits, large
 * values rounded to whole seconds, never finer than maxDig decimals.
 */
export function formatDelay(sec: number, usec: number, sigDig: number, maxDig: number): string {
  const MILLION = 1000000;
  const wid = 10 ** sigDig;
  let ures = MILLION / 10 ** maxDig;
  if (ures < MILLION) {
    if (sec > 0) {
      let n = 1;
      while (sec >= n && n <= wid / 10) n *= 10;
      ures = (MILLION / wid) * n;
    } else {
      while (usec >= wid * ures) ures *= 10;
    }
  }
  if (ures > 1) {
    usec += Math.floor(ures / 2);
    if (usec >= MILLION) {
      sec += 1;
      usec -= MILLION;
    }
  }
  let out = String(sec);
  if (usec >= ures) {
    out += '.';
    let rem = usec;
    for (let n = MILLION / 10; rem >= ures && n > 0; n = Math.floor(n / 10)) {
      out += String(Math.floor(rem / n));
      rem %= n;
    }
  }
  return out;
}

interface Delta {
  sec: number;
  usec: number;
}

const ZERO: Delta = { sec: 0, usec: 0 };
const stamped = (t: TimeVal | undefined): t is TimeVal => t !== undefined && t.sec > 0;

/** y - z, normalised; a clock that jumped back gives zero. */
function delta(y: TimeVal, z: TimeVal): Delta {
  let sec = y.sec - z.sec;
  let usec = y.usec - z.usec;
  while (usec < 0) {
    usec += 1000000;
    sec -= 1;
  }
  while (usec >= 1000000) {
    usec -= 1000000;
    sec += 1;
  }
  return sec < 0 ? ZERO : { sec, usec };
}

/** strcasecmp_utf8() == 0 on byte strings. */
function sameAddressIgnoringCase(a: string, b: string): boolean {
  if (allAscii(a) && allAscii(b)) return a.toLowerCase() === b.toLowerCase();
  const text = (s: string) => casefold(bytesToText(Buffer.from(s, 'latin1')));
  return text(a) === text(b);
}

export interface LogLineOptions {
  delayMaxRes: number;
  infoLogAddressFormat?: string;
  /** The time of the line when stats.deliverDone is not set. */
  now: TimeVal;
}

/** An address as info_log_address_format wants it in a log line: quoted (external form) unless "internal". */
export function logForm(addr: string, format: string | undefined): string {
  return addr === '' || format === 'internal' ? addr : quote822Local(addr);
}

/** The same for the delivery status line: the address is a byte string, the logger takes text. */
const logAddr = (addr: string, format: string | undefined): string => toText(logForm(addr, format));

/**
 * log_adhoc()'s text (without the logger's tag): "ID: to=<..>[, orig_to=<..>],
 * relay=..[, conn_use=N], delay=D, delays=a/b/c/d, dsn=X.Y.Z, status=S (reason)".
 */
export function deliveryLogLine(
  queueId: string, stats: StatusMsgStats, rcpt: StatusRcpt, relay: string,
  dsn: { status: string; reason: string }, status: string, opts: LogLineOptions,
): string {
  let line = `${queueId}: to=<${logAddr(rcpt.address, opts.infoLogAddressFormat)}>`;
  if (rcpt.orcpt !== '' && !sameAddressIgnoringCase(rcpt.address, rcpt.orcpt)) {
    line += `, orig_to=<${logAddr(rcpt.orcpt, opts.infoLogAddressFormat)}>`;
  }
  line += `, relay=${relay}`;
  if (stats.reuseCount > 0) line += `, conn_use=${stats.reuseCount + 1}`;

  const now = stamped(stats.deliverDone) ? stats.deliverDone : opts.now;
  const total = delta(now, stats.incomingArrival);
  let pdelay: Delta;
  let adelay = ZERO;
  let sdelay = ZERO;
  let xdelay = ZERO;
  if (stamped(stats.activeArrival)) {
    pdelay = delta(stats.activeArrival, stats.incomingArrival);
    if (stamped(stats.agentHandoff)) {
      adelay = delta(stats.agentHandoff, stats.activeArrival);
      if (stamped(stats.connSetupDone)) {
        sdelay = delta(stats.connSetupDone, stats.agentHandoff);
        xdelay = delta(now, stats.connSetupDone);
      } else {
        xdelay = delta(now, stats.agentHandoff);
      }
    } else {
      adelay = delta(now, stats.activeArrival);
    }
  } else {
    pdelay = delta(now, stats.incomingArrival);
  }
  const f = (d: Delta) => formatDelay(d.sec, d.usec, 2, opts.delayMaxRes);
  line += `, delay=${f(total)}, delays=${f(pdelay)}/${f(adelay)}/${f(sdelay)}/${f(xdelay)}`;
  line += `, dsn=${dsn.status}, status=${status} (${dsn.reason})`;
  return line;
}

// ---------------------------------------------------------------------------
// The shared steps.

interface FullDsn extends RcptDsn {
  action: string;
}

function logAdhoc(ctx: StatusContext, rcpt: StatusRcpt, relay: string, dsn: RcptDsn, status: string): void {
  const now = (ctx.now ?? getTimeOfDay)();
  ctx.log.info(deliveryLogLine(ctx.queueId, ctx.stats, rcpt, relay, dsn, status, {
    delayMaxRes: ctx.delayMaxRes, infoLogAddressFormat: ctx.infoLogAddressFormat, now,
  }));
}

/** Appends one record to defer/ID, bounce/ID or trace/ID; a failure is logged and false. */
async function appendRecord(ctx: StatusContext, service: string, rcpt: StatusRcpt, dsn: FullDsn): Promise<boolean> {
  const failed = await appendStatusRecord(ctx.queueDir, ctx.layout, service, ctx.queueId, {
    address: rcpt.address, orcpt: rcpt.orcpt, offset: rcpt.offset, dsnOrcpt: rcpt.dsnOrcpt, notify: rcpt.notify,
  }, dsn, { oldlogCompat: ctx.oldlogCompat });
  if (failed === null) return true;
  ctx.log.warning(`append ${mailQueuePath(ctx.layout, service, ctx.queueId)}: ${errnoText(failed.error)}`);
  return false;
}

/** trace_append(). */
async function traceAppend(ctx: StatusContext, rcpt: StatusRcpt, relay: string, dsn: FullDsn): Promise<Result> {
  const reason = relay !== NO_RELAY_AGENT ? `delivery via ${relay}: ${dsn.reason}` : dsn.reason;
  if (!(await appendRecord(ctx, MAIL_QUEUE_TRACE, rcpt, { ...dsn, reason }))) {
    ctx.log.warning(`${ctx.queueId}: ${MAIL_QUEUE_TRACE} service failure`);
    return -1;
  }
  if (ctx.flags & DEL_REQ_FLAG_USR_VRFY) logAdhoc(ctx, rcpt, relay, dsn, dsn.action);
  return 0;
}

/**
 * verify_append() without a verify service to update: the probe's outcome
 * is logged (status=deliverable or undeliverable), as Postfix logs it once
 * the update succeeded.
 */
function verifyAppend(ctx: StatusContext, rcpt: StatusRcpt, relay: string, dsn: FullDsn): Result {
  logAdhoc(ctx, rcpt, relay, dsn, dsn.action);
  return 0;
}

/** Replaces a status whose class is wrong for the outcome, with Postfix's warning. */
function checkStatus(ctx: StatusContext, who: string, dsn: RcptDsn, klass: string): RcptDsn {
  if (dsn.status[0] === klass && dsnValid(dsn.status) > 0) return dsn;
  ctx.log.warning(`${who}: ignoring dsn code "${dsn.status}"`);
  return { ...dsn, status: `${klass}.0.0` };
}

/** defer_append_intern(). */
async function deferIntern(ctx: StatusContext, rcpt: StatusRcpt, relay: string, dsn: RcptDsn): Promise<Result> {
  if (ctx.flags & DEL_REQ_FLAG_MTA_VRFY) return verifyAppend(ctx, rcpt, relay, { ...dsn, action: 'undeliverable' });
  if (ctx.flags & DEL_REQ_FLAG_USR_VRFY) return traceAppend(ctx, rcpt, relay, { ...dsn, action: 'undeliverable' });
  const my: FullDsn = { ...dsn, action: 'delayed' };
  if (!(await appendRecord(ctx, MAIL_QUEUE_DEFER, rcpt, my))) ctx.log.warning(`${ctx.queueId}: ${MAIL_QUEUE_DEFER} service failure`);
  logAdhoc(ctx, rcpt, relay, my, 'deferred');
  if (ctx.flags & DEL_REQ_FLAG_RECORD) {
    if ((await traceAppend(ctx, rcpt, relay, my)) !== 0) ctx.log.warning(`${ctx.queueId}: ${MAIL_QUEUE_TRACE} service failure`);
  }
  const at = rcpt.address.lastIndexOf('@');
  if (ctx.flush && at >= 0 && at < rcpt.address.length - 1) {
    const status = await ctx.flush.add(rcpt.address.slice(at + 1), ctx.queueId);
    if (status !== FLUSH_STAT_OK && status !== FLUSH_STAT_DENY) ctx.log.warning(`${ctx.queueId}: ${ctx.flushService ?? 'flush'} service failure`);
  }
  return -1;
}

/** bounce_append_intern(). */
async function bounceIntern(ctx: StatusContext, rcpt: StatusRcpt, relay: string, dsn: RcptDsn): Promise<Result> {
  if (ctx.flags & DEL_REQ_FLAG_MTA_VRFY) return verifyAppend(ctx, rcpt, relay, { ...dsn, action: 'undeliverable' });
  if (ctx.flags & DEL_REQ_FLAG_USR_VRFY) return traceAppend(ctx, rcpt, relay, { ...dsn, action: 'undeliverable' });
  // soft_bounce: the same record goes to the defer log as a 4.X.X delay.
  const my: FullDsn = ctx.softBounce
    ? { ...dsn, status: `4${dsn.status.slice(1)}`, action: 'delayed' }
    : { ...dsn, action: 'failed' };
  const ok = (await appendRecord(ctx, ctx.softBounce ? MAIL_QUEUE_DEFER : MAIL_QUEUE_BOUNCE, rcpt, my))
    && ((ctx.flags & DEL_REQ_FLAG_RECORD) === 0 || (await traceAppend(ctx, rcpt, relay, my)) === 0);
  if (ok) {
    logAdhoc(ctx, rcpt, relay, my, ctx.softBounce ? 'SOFTBOUNCE' : 'bounced');
    return ctx.softBounce ? -1 : 0;
  }
  return deferIntern(ctx, rcpt, relay, {
    ...my, status: '4.3.0', reason: `${MAIL_QUEUE_BOUNCE} or ${MAIL_QUEUE_TRACE} service failure`,
  });
}

/**
 * deliver_completed() for a recipient whose status is final, when the
 * request asks for it (DEL_REQ_FLAG_SUCCESS). A mark that cannot be
 * written makes the request deferred: the recipient may be delivered
 * again, but never lost.
 */
async function complete(ctx: StatusContext, rcpt: StatusRcpt, result: Result): Promise<number> {
  if (result !== 0) return DEL_STAT_DEFER;
  if ((ctx.flags & DEL_REQ_FLAG_SUCCESS) === 0 || ctx.fh === undefined) return DEL_STAT_FINAL;
  const failed = await markRecipientDone(ctx.fh, rcpt.offset);
  if (failed === null) return DEL_STAT_FINAL;
  ctx.log.warning(`update queue file ${mailQueuePath(ctx.layout, ctx.queueName, ctx.queueId)}: ${errnoText(failed.error)}`);
  return DEL_STAT_DEFER;
}

// ---------------------------------------------------------------------------
// The three outcomes.

/**
 * sent(): the recipient was delivered (or would be, for a probe). Logs
 * status=sent, appends a trace record when the request records all
 * deliveries (or delayed ones) and again when the recipient asked for
 * NOTIFY=SUCCESS, and marks the recipient done. A trace record that cannot
 * be written turns the outcome into a deferral ("ID: trace service failure").
 */
export async function sentRecipient(ctx: StatusContext, rcpt: StatusRcpt, relay: string, dsn: RcptDsn): Promise<number> {
  const checked = checkStatus(ctx, 'sent', dsn, '2');
  let result: Result;
  if (ctx.flags & DEL_REQ_FLAG_MTA_VRFY) {
    result = verifyAppend(ctx, rcpt, relay, { ...checked, action: 'deliverable' });
  } else if (ctx.flags & DEL_REQ_FLAG_USR_VRFY) {
    result = await traceAppend(ctx, rcpt, relay, { ...checked, action: 'deliverable' });
  } else {
    const my: FullDsn = { ...checked, action: checked.action || 'delivered' };
    const recordAll = (ctx.flags & DEL_REQ_FLAG_RECORD) !== 0;
    const recordDelayed = (ctx.flags & DEL_REQ_FLAG_REC_DLY_SENT) !== 0 && (rcpt.notify === 0 || (rcpt.notify & DSN_NOTIFY_DELAY) !== 0);
    const ok = (!(recordAll || recordDelayed) || (await traceAppend(ctx, rcpt, relay, my)) === 0)
      && ((rcpt.notify & DSN_NOTIFY_SUCCESS) === 0 || (await traceAppend(ctx, rcpt, relay, my)) === 0);
    if (ok) {
      logAdhoc(ctx, rcpt, relay, my, 'sent');
      result = 0;
    } else {
      result = await deferRecipientResult(ctx, rcpt, relay, {
        ...my, status: '4.3.0', reason: `${ctx.queueId}: ${MAIL_QUEUE_TRACE} service failure`,
      });
    }
  }
  return complete(ctx, rcpt, result);
}

/**
 * bounce_append(): the recipient failed permanently. Logs status=bounced,
 * appends to bounce/ID and marks the recipient done; under soft_bounce the
 * status becomes 4.X.X, the record goes to defer/ID, the line says
 * status=SOFTBOUNCE and the recipient stays pending.
 */
export async function bounceRecipient(ctx: StatusContext, rcpt: StatusRcpt, relay: string, dsn: RcptDsn): Promise<number> {
  const result = await bounceIntern(ctx, rcpt, relay, checkStatus(ctx, 'bounce_append', dsn, '5'));
  return complete(ctx, rcpt, result);
}

async function deferRecipientResult(ctx: StatusContext, rcpt: StatusRcpt, relay: string, dsn: RcptDsn): Promise<Result> {
  return deferIntern(ctx, rcpt, relay, checkStatus(ctx, 'defer_append', dsn, '4'));
}

/** defer_append(): the recipient failed for now. Logs status=deferred and appends to defer/ID. */
export async function deferRecipient(ctx: StatusContext, rcpt: StatusRcpt, relay: string, dsn: RcptDsn): Promise<number> {
  return complete(ctx, rcpt, await deferRecipientResult(ctx, rcpt, relay, dsn));
}
