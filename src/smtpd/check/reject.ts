// Mirrors the reply machinery of Postfix's smtpd/smtpd_check.c
// (smtpd_check_reject, defer_if, log_whatsup, smtpd_acl_permit,
// reject_dict_retry, reject_server_error) and smtpd/smtpd_dsn_fix.c: how a
// restriction's verdict becomes the exact reply text and the
// "NOQUEUE: reject: ..." log line. Postfix leaves the restriction
// evaluator with longjmp() on table failures; here that is a thrown
// CheckJump, caught by the smtpd_check_* drivers (check/drivers.ts) and
// turned back into a status value.
import { quote822Local } from '../../address/quote.js';
import { printable, toText } from '../text.js';
import { dsnValid } from '../../mail/dsn.js';
import { MAIL_ERROR_DATA, MAIL_ERROR_RESOURCE, MAIL_ERROR_SOFTWARE, type Defer, type SmtpdState } from '../state.js';
import type { SmtpdContext } from '../context.js';

export const SMTPD_CHECK_DUNNO = 0;
export const SMTPD_CHECK_OK = 1;
export const SMTPD_CHECK_REJECT = 2;

export const NAME_CLIENT = 'Client host';
export const NAME_REV_CLIENT = 'Unverified Client host';
export const NAME_HELO = 'Helo command';
export const NAME_SENDER = 'Sender address';
export const NAME_RECIPIENT = 'Recipient address';
export const NAME_ETRN = 'Etrn command';
export const NAME_DATA = 'Data command';
export const NAME_EOD = 'End-of-data';
export const NAME_SASL_USER = 'SASL login name';

/** The sender DSN for "bad address syntax" style rejects (SND_DSN). */
export const SND_DSN = '4.1.7';

/** The non-local exit out of the restriction evaluator (Postfix's longjmp to smtpd_check_buf). */
export class CheckJump {
  constructor(readonly status: number) {}
}

/** info_log_addr_form_*(): addresses in the log are in external (quoted) form. */
export function logAddr(addr: string): string {
  return addr === '' ? '' : quote822Local(addr);
}

/** log_whatsup(): "QID: what: where from client: text; from=<> to=<> proto=ESMTP helo=<>". */
export function logWhatsup(ctx: SmtpdContext, state: SmtpdState, whatsup: string, text: string): void {
  let line = `${state.queueId ?? 'NOQUEUE'}: ${whatsup}: ${state.where} from ${state.namaddr}: ${text};`;
  if (state.sender !== null) line += ` from=<${logAddr(state.sender)}>`;
  if (state.recipient !== null) line += ` to=<${logAddr(state.recipient)}>`;
  if (state.protocol) line += ` proto=${state.protocol}`;
  if (state.heloName !== null) line += ` helo=<${state.heloName}>`;
  ctx.log.info(toText(line));
}

/**
 * smtpd_check_reject(): formats "code dsn text", validates it, applies a
 * pending defer_if_reject, soft_bounce and the DSN class fix, logs, and
 * returns SMTPD_CHECK_REJECT (0 under warn_if_reject).
 */
export function smtpdCheckReject(ctx: SmtpdContext, state: SmtpdState, errorClass: number, code: number, dsn: string, text: string): number {
  let warnOnly = false;
  let whatsup = 'reject';
  if (state.warnIfReject && errorClass !== MAIL_ERROR_SOFTWARE && errorClass !== MAIL_ERROR_RESOURCE && errorClass !== MAIL_ERROR_DATA) {
    warnOnly = true;
    whatsup = 'reject_warning';
  }
  state.errorMask |= errorClass;
  let reply = `${code} ${dsn} ${text}`;
  if (code < 400 || code > 599) {
    ctx.log.warning(toText(`SMTP reply code configuration error: ${reply}`));
    reply = '450 4.7.1 Service unavailable';
  }
  if (!dsnValid(reply.slice(4))) {
    ctx.log.warning(toText(`DSN detail code configuration error: ${reply}`));
    reply = '450 4.7.1 Service unavailable';
  }
  reply = printable(reply.slice(0, 510), ' ', ctx.params.smtputf8Enable);
  if (!warnOnly && state.deferIfReject.active && reply[0] === '5') {
    const d = state.deferIfReject;
    state.warnIfReject = 0;
    d.active = false;
    return smtpdCheckReject(ctx, state, d.errorClass, d.code, d.dsn, d.reason);
  }
  if (ctx.params.softBounce && reply[0] === '5') reply = '4' + reply.slice(1);
  reply = reply.slice(0, 4) + reply[0] + reply.slice(5);
  state.errorText = reply;
  logWhatsup(ctx, state, whatsup, reply);
  return warnOnly ? SMTPD_CHECK_DUNNO : SMTPD_CHECK_REJECT;
}

/** defer_if(): remembers the first reason to change a later verdict; the restriction itself is DUNNO. */
export function deferIf(defer: Defer, errorClass: number, code: number, dsn: string, reason: string): number {
  if (!defer.active) {
    defer.active = true;
    defer.errorClass = errorClass;
    defer.code = code;
    defer.dsn = dsn;
    defer.reason = reason;
  }
  return SMTPD_CHECK_DUNNO;
}

export const DEFER_ALL_ACT = 0;
export const DEFER_IF_PERMIT_ACT = 1;

/** DEFER_IF_PERMIT*(): a postponed defer, unless warn_if_reject is on or the tempfail action says defer now. */
export function deferIfPermit(ctx: SmtpdContext, state: SmtpdState, type: number, errorClass: number, code: number, dsn: string, text: string): number {
  if (state.warnIfReject === 0 && type !== 0) return deferIf(state.deferIfPermit, errorClass, code, dsn, text);
  return smtpdCheckReject(ctx, state, errorClass, code, dsn, text);
}

/** reject_dict_retry(): a table failed; leave the evaluator with 451 4.3.0. */
export function rejectDictRetry(ctx: SmtpdContext, state: SmtpdState, replyName: string): never {
  throw new CheckJump(smtpdCheckReject(ctx, state, MAIL_ERROR_DATA, 451, '4.3.0', `<${replyName}>: Temporary lookup failure`));
}

/** reject_server_error(): a configuration problem; leave the evaluator with 451 4.3.5. */
export function rejectServerError(ctx: SmtpdContext, state: SmtpdState): never {
  throw new CheckJump(smtpdCheckReject(ctx, state, MAIL_ERROR_SOFTWARE, 451, '4.3.5', 'Server configuration error'));
}

/** smtpd_acl_permit(): OK, logged when smtpd_log_access_permit_actions lists the action. */
export async function aclPermit(ctx: SmtpdContext, state: SmtpdState, action: string, replyClass: string, replyName: string, extra: string): Promise<number> {
  if (!state.deferIfPermit.active && ctx.params.logAccessPermitActions !== '' && (await ctx.permitLog.match(action)) === 'match') {
    let text = `action=${action} for ${replyClass}=${replyName}`;
    if (extra !== '') text += ` ${extra}`;
    state.errorText = text;
    logWhatsup(ctx, state, 'permit', text);
  }
  return SMTPD_CHECK_OK;
}

interface DsnMapRow {
  micro: string | null;
  sender: string;
  rcpt: string;
}

const DSN_MAP: readonly DsnMapRow[] = [
  { micro: '1', sender: SND_DSN, rcpt: '4.1.1' },
  { micro: '2', sender: '4.1.8', rcpt: '4.1.2' },
  { micro: '3', sender: '4.1.7', rcpt: '4.1.3' },
  { micro: '4', sender: SND_DSN, rcpt: '4.1.4' },
  { micro: '5', sender: '4.1.0', rcpt: '4.1.5' },
  { micro: '6', sender: SND_DSN, rcpt: '4.1.6' },
  { micro: '7', sender: '4.1.7', rcpt: '4.1.3' },
  { micro: '8', sender: '4.1.8', rcpt: '4.1.2' },
  { micro: null, sender: '4.1.0', rcpt: '4.1.0' },
];

/** smtpd_dsn_fix(): an address-specific DSN made to fit what is being rejected. */
export function smtpdDsnFix(ctx: SmtpdContext, status: string, replyClass: string): string {
  if (!(/^[0-9]/.test(status) && status.slice(1, 4) === '.1.')) return status;
  let result: string;
  if (replyClass === NAME_SENDER || replyClass === NAME_RECIPIENT) {
    const micro = status.slice(4);
    const row = DSN_MAP.find((r) => r.micro === micro) ?? DSN_MAP[DSN_MAP.length - 1]!;
    result = replyClass === NAME_SENDER ? row.sender : row.rcpt;
  } else {
    result = '4.0.0';
  }
  if (status.slice(2) !== result.slice(2)) {
    ctx.log.info(`mapping DSN status ${status} into ${replyClass} status ${status[0]}${result.slice(1)}`);
  }
  return result;
}
