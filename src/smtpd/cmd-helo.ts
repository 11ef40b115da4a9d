// Mirrors helo_cmd(), ehlo_cmd() and helo_reset() of Postfix's
// smtpd/smtpd.c: HELO and EHLO restart the session state, remember the
// (printable, neutered) name, run smtpd_helo_restrictions now when
// smtpd_delay_reject is off, and EHLO lists the extensions in Postfix's
// order minus those smtpd_discard_ehlo_keywords hides. This server has no
// SASL, so it never announces AUTH; STARTTLS is offered when TLS is configured.
import type { SmtpdToken } from '../address/smtp-token.js';
import { smtpdChatReply } from './chat.js';
import { smtpdCheckHelo } from './check/drivers.js';
import type { SmtpdContext } from './context.js';
import {
  EHLO_MASK_8BITMIME, EHLO_MASK_CHUNKING, EHLO_MASK_DSN, EHLO_MASK_ENHANCEDSTATUSCODES, EHLO_MASK_ETRN,
  EHLO_MASK_PIPELINING, EHLO_MASK_SILENT, EHLO_MASK_SIZE, EHLO_MASK_SMTPUTF8, EHLO_MASK_STARTTLS, EHLO_MASK_VERP, EHLO_MASK_VRFY,
  EHLO_MASK_XCLIENT, EHLO_MASK_XFORWARD, strEhloMask,
} from './ehlo.js';
import { chatReset, mailReset, rcptReset } from './reset.js';
import { MAIL_ERROR_PROTOCOL, type SmtpdState } from './state.js';
import { neuter, printable, toText } from './text.js';
import { SessionExit } from './stream.js';

/** Characters replaced by '?' in names that end up in headers (NEUTER_CHARACTERS). */
export const NEUTER_CHARACTERS = ' <>()\\";@';

/** collapse_args(): the arguments joined with single spaces. */
export function collapseArgs(argv: SmtpdToken[], from: number): string {
  return argv.slice(from).map((t) => t.strval).join(' ');
}

/** The shared first half of HELO and EHLO; null when a reply was already sent. */
async function heloCommon(ctx: SmtpdContext, state: SmtpdState, argv: SmtpdToken[], syntax: string): Promise<string | null> {
  if (argv.length < 2) {
    state.errorMask |= MAIL_ERROR_PROTOCOL;
    await smtpdChatReply(ctx, state, syntax);
    return null;
  }
  const name = collapseArgs(argv, 1);
  if (!ctx.standAlone && !ctx.params.delayReject) {
    const err = await smtpdCheckHelo(ctx, state, name);
    if (err !== null) {
      await smtpdChatReply(ctx, state, err);
      return null;
    }
  }
  if (state.heloName !== null) heloReset(state);
  chatReset(state, ctx.params.historyFlushThreshold);
  mailReset(state);
  rcptReset(state);
  state.heloName = neuter(printable(name, '?', ctx.params.smtputf8Enable), NEUTER_CHARACTERS, '?');
  return name;
}

export async function heloCmd(ctx: SmtpdContext, state: SmtpdState, argv: SmtpdToken[]): Promise<number> {
  if ((await heloCommon(ctx, state, argv, '501 Syntax: HELO hostname')) === null) return -1;
  if (state.protocol.toUpperCase() !== 'ESMTP' && state.protocol.toUpperCase() !== 'SMTP') state.protocol = 'SMTP';
  await smtpdChatReply(ctx, state, `250 ${ctx.params.myhostname}`);
  return 0;
}

export async function ehloCmd(ctx: SmtpdContext, state: SmtpdState, argv: SmtpdToken[]): Promise<number> {
  if ((await heloCommon(ctx, state, argv, '501 Syntax: EHLO hostname')) === null) return -1;
  if (state.protocol.toUpperCase() !== 'ESMTP') state.protocol = 'ESMTP';
  const mask = state.ehloDiscardMask;
  if ((mask & EHLO_MASK_ENHANCEDSTATUSCODES) === 0 && mask && !(mask & EHLO_MASK_SILENT)) {
    ctx.log.info(`discarding EHLO keywords: ${strEhloMask(mask)}`);
  }
  const lines = [ctx.params.myhostname];
  if (!(mask & EHLO_MASK_PIPELINING)) lines.push('PIPELINING');
  if (!(mask & EHLO_MASK_SIZE)) lines.push(ctx.params.messageSizeLimit > 0 ? `SIZE ${ctx.params.messageSizeLimit}` : 'SIZE');
  if (!(mask & EHLO_MASK_VRFY) && !ctx.params.disableVrfy) lines.push('VRFY');
  if (!(mask & EHLO_MASK_ETRN)) lines.push('ETRN');
  if (!(mask & EHLO_MASK_STARTTLS) && ctx.tls.useTls && state.stream.tlsSocket === null) lines.push('STARTTLS');
  if (!(mask & EHLO_MASK_VERP)) {
    if (await ctx.verpClients.match(toText(state.name), state.addr)) lines.push('XVERP');
    else if (ctx.verpClients.error) return cantAnnounce(ctx, state, 'XVERP');
  }
  if (!(mask & EHLO_MASK_XCLIENT)) {
    if (state.xclientAllowed) lines.push('XCLIENT NAME ADDR PROTO HELO REVERSE_NAME PORT LOGIN DESTADDR DESTPORT');
    else if (ctx.xclientHosts.error) return cantAnnounce(ctx, state, 'XCLIENT');
  }
  if (!(mask & EHLO_MASK_XFORWARD)) {
    if (state.xforwardAllowed) lines.push('XFORWARD NAME ADDR PROTO HELO SOURCE PORT IDENT');
    else if (ctx.xforwardHosts.error) return cantAnnounce(ctx, state, 'XFORWARD');
  }
  if (!(mask & EHLO_MASK_ENHANCEDSTATUSCODES)) lines.push('ENHANCEDSTATUSCODES');
  if (!(mask & EHLO_MASK_8BITMIME)) lines.push('8BITMIME');
  if (!(mask & EHLO_MASK_DSN)) lines.push('DSN');
  if (ctx.params.smtputf8Enable && !(mask & EHLO_MASK_SMTPUTF8)) lines.push('SMTPUTF8');
  if (!(mask & EHLO_MASK_CHUNKING)) lines.push('CHUNKING');
  for (let i = 0; i < lines.length; i++) {
    await smtpdChatReply(ctx, state, `250${i + 1 < lines.length ? '-' : ' '}${lines[i]}`);
  }
  return 0;
}

/** cant_announce_feature(): a host list could not be searched; the session ends with a local error. */
function cantAnnounce(ctx: SmtpdContext, state: SmtpdState, feature: string): never {
  ctx.log.warning(`don't know if EHLO feature ${feature} should be announced to ${state.namaddr}`);
  throw new SessionExit('data');
}

/** helo_reset(). */
export function heloReset(state: SmtpdState): void {
  state.heloName = null;
}
