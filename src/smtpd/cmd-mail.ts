// Mirrors mail_cmd(), rcpt_cmd() and extract_addr() of Postfix's
// smtpd/smtpd.c: the envelope commands with their ESMTP parameters (SIZE,
// BODY, SMTPUTF8, RET, ENVID, AUTH, XVERP on MAIL; NOTIFY, ORCPT on RCPT),
// the syntax replies, the recipient limit, the restriction checks, and
// the records for cleanup, which is opened at the first accepted
// recipient (smtpd_delay_open_until_valid_rcpt).
import { extractEnvelopeAddress, SMTPD_TOK_ERROR, type SmtpdToken } from '../address/smtp-token.js';
import { smtpdChatReply } from './chat.js';
import {
  smtpdCheckAddr, smtpdCheckMail, smtpdCheckQueue, smtpdCheckRcpt, smtpdCheckRewrite, smtpdCheckSize,
} from './check/drivers.js';
import type { SmtpdContext } from './context.js';
import { EHLO_MASK_DSN, EHLO_MASK_SMTPUTF8 } from './ehlo.js';
import { anvilMailRefused, anvilRcptRefused } from './limits.js';
import { mailOpenStream, rec } from './records.js';
import { mailReset } from './reset.js';
import {
  MAIL_ERROR_POLICY, MAIL_ERROR_PROTOCOL, SMTPD_FLAG_SMTPUTF8, type SmtpdState,
} from './state.js';
import { allDigits, allPrint, offCvtString, printable, strcaseEq, toBytes, toText } from './text.js';
import { dsnNotifyMask, dsnRetCode } from '../mail/dsn.js';
import { uxtextUnquote, xtextUnquote } from '../mail/xtext.js';

/**
 * extract_addr(): the address from a MAIL/RCPT/VRFY argument in internal
 * form, or null after "Illegal address syntax" (logged).
 */
export async function extractAddr(
  ctx: SmtpdContext, state: SmtpdState, arg: string, allowEmpty: boolean, strict: boolean, smtputf8: boolean,
): Promise<string | null> {
  const r = extractEnvelopeAddress(arg, allowEmpty, strict);
  const illegal = (): null => {
    ctx.log.warning(toText(`Illegal address syntax from ${state.namaddr} in ${state.where} command: ${printable(arg, '?', ctx.params.smtputf8Enable)}`));
    return null;
  };
  if (r.naddr > 1 || (strict && (r.nonAddr > 0 || arg[0] !== '<'))) return illegal();
  const addr = r.addr;
  if ((addr === '' && !allowEmpty) || (strict && addr[0] === '@')) return illegal();
  const context = state.where === 'MAIL' ? state.recipient : state.sender;
  if (!ctx.standAlone && !(await smtpdCheckAddr(ctx, context, addr, smtputf8))) return illegal();
  return addr;
}

const verifySenders = new WeakMap<SmtpdContext, Promise<string>>();

/** address_verify_sender in canonical form, worked out once per service. */
function verifySenderAddr(ctx: SmtpdContext, conf: string): Promise<string> {
  let p = verifySenders.get(ctx);
  if (!p) {
    p = ctx.resolver.rewrite('local', conf).then(toBytes);
    verifySenders.set(ctx, p);
  }
  return p;
}

/** The address given to verify_sender_addr, or null when it is not our probe sender. */
async function validVerifySender(ctx: SmtpdContext, addr: string): Promise<string | null> {
  const conf = ctx.params.verifySender;
  if (conf === '' || conf === '<>') return addr === '' ? '' : null;
  const mine = await verifySenderAddr(ctx, conf);
  const at = mine.indexOf('@');
  const base = at >= 0 ? mine.slice(0, at) : mine;
  if (!strcaseEq(addr.slice(0, base.length), base)) return null;
  const theirAt = addr.indexOf('@');
  if (theirAt < 0 && at >= 0) return null;
  if (theirAt >= 0 && (at < 0 || !strcaseEq(addr.slice(theirAt), mine.slice(at)))) return null;
  if (ctx.params.verifySenderTtl > 0) return null;
  const after = addr[base.length];
  if (after !== '@' && after !== undefined) return null;
  return mine;
}

export async function mailCmd(ctx: SmtpdContext, state: SmtpdState, argv: SmtpdToken[]): Promise<number> {
  state.flags &= ~SMTPD_FLAG_SMTPUTF8;
  state.encoding = null;
  state.dsnRet = 0;
  const reply = async (text: string, errClass = MAIL_ERROR_PROTOCOL): Promise<number> => {
    state.errorMask |= errClass;
    await smtpdChatReply(ctx, state, text);
    return -1;
  };
  if (ctx.params.heloRequired && state.heloName === null) return reply('503 5.5.1 Error: send HELO/EHLO first', MAIL_ERROR_POLICY);
  if (state.inMailTransaction) return reply('503 5.5.1 Error: nested MAIL command');
  if (state.processingBdat) return reply('503 5.5.1 Error: MAIL after BDAT');
  if (argv.length < 3 || !strcaseEq(argv[1]!.strval, 'from:')) return reply('501 5.5.4 Syntax: MAIL FROM:<address>');
  if (await anvilMailRefused(ctx, state)) return -1;
  if (argv[2]!.tokval === SMTPD_TOK_ERROR) return reply('501 5.1.7 Bad sender address syntax');
  const utf8Allowed = ctx.params.smtputf8Enable && (state.ehloDiscardMask & EHLO_MASK_SMTPUTF8) === 0;
  if (utf8Allowed && argv.slice(3).some((a) => strcaseEq(a.strval, 'SMTPUTF8'))) state.flags |= SMTPD_FLAG_SMTPUTF8;
  const addr = await extractAddr(ctx, state, argv[2]!.strval, true, ctx.params.strictRfc821, (state.flags & SMTPD_FLAG_SMTPUTF8) !== 0);
  if (addr === null) return reply('501 5.1.7 Bad sender address syntax');
  let verpDelims: string | null = null;
  let envid: string | null = null;
  for (const tok of argv.slice(3)) {
    const arg = tok.strval;
    const upper = arg.toUpperCase();
    if (upper === 'BODY=8BITMIME') {
      state.encoding = '8bit';
    } else if (upper === 'BODY=7BIT') {
      state.encoding = '7bit';
    } else if (upper.startsWith('SIZE=')) {
      if (!allDigits(arg.slice(5))) return reply('501 5.5.4 Bad message size syntax');
      state.msgSize = offCvtString(arg.slice(5));
      if (state.msgSize < 0) return reply('552 5.3.4 Message size exceeds file system imposed limit', MAIL_ERROR_POLICY);
    } else if (utf8Allowed && upper === 'SMTPUTF8') {
      // Handled above: it decides what address syntax is allowed.
    } else if (upper.startsWith('AUTH=')) {
      if (state.saslSender !== null) return reply('503 5.5.4 Error: multiple AUTH= options');
      if (arg.slice(5) !== '<>') state.saslSender = printable(arg.slice(5), '?', ctx.params.smtputf8Enable);
    } else if ((upper === 'XVERP' || upper.startsWith('XVERP=')) && (await ctx.verpClients.match(toText(state.name), state.addr))) {
      if (upper === 'XVERP') {
        verpDelims = ctx.config.get('default_verp_delimiters');
      } else {
        verpDelims = arg.slice(6);
        const filter = ctx.config.get('verp_delimiter_filter');
        if (verpDelims.length !== 2 || ![...verpDelims].every((c) => filter.includes(c))) {
          return reply(`501 5.5.4 Error: XVERP needs two characters from ${filter}`);
        }
      }
    } else if (upper.startsWith('RET=')) {
      if (state.ehloDiscardMask & EHLO_MASK_DSN) return reply('501 5.7.1 DSN support is disabled');
      if (state.dsnRet || (state.dsnRet = dsnRetCode(arg.slice(4))) === 0) return reply('501 5.5.4 Bad RET parameter syntax');
    } else if (upper.startsWith('ENVID=')) {
      if (state.ehloDiscardMask & EHLO_MASK_DSN) return reply('501 5.7.1 DSN support is disabled');
      const v = xtextUnquote(arg.slice(6));
      if (envid !== null || v === null || !allPrint(v)) return reply('501 5.5.4 Bad ENVID parameter syntax');
      envid = v;
    } else {
      return reply(`555 5.5.4 Unsupported option: ${arg}`);
    }
  }
  const savedSender = state.sender;
  state.sender = addr;
  const sizeErr = smtpdCheckSize(ctx, state, state.msgSize);
  state.sender = savedSender;
  if (sizeErr !== null) {
    await smtpdChatReply(ctx, state, sizeErr);
    return -1;
  }
  if (verpDelims !== null && addr === '') {
    await smtpdChatReply(ctx, state, '503 5.5.4 Error: XVERP requires non-null sender');
    return -1;
  }
  const sender = ctx.standAlone ? addr : (await validVerifySender(ctx, addr)) ?? addr;
  const failAndReset = async (err: string): Promise<number> => {
    mailReset(state);
    await smtpdChatReply(ctx, state, err);
    return -1;
  };
  if (!ctx.standAlone && !ctx.params.delayReject) {
    const err = await smtpdCheckMail(ctx, state, sender);
    if (err !== null) return failAndReset(err);
  }
  const rwErr = ctx.standAlone ? null : await smtpdCheckRewrite(ctx, state);
  if (rwErr !== null) return failAndReset(rwErr);
  if (ctx.params.strictSmtputf8 && !(state.flags & SMTPD_FLAG_SMTPUTF8) && sender !== '' && /[^\x00-\x7f]/.test(sender)) {
    await smtpdChatReply(ctx, state, '553 5.6.7 Must declare SMTPUTF8 to send unicode address');
    return -1;
  }
  const qErr = ctx.standAlone ? null : smtpdCheckQueue(ctx, state);
  if (qErr !== null) return failAndReset(qErr);

  const wall = Date.now();
  state.arrivalMs = wall;
  state.arrivalUsec = (wall % 1000) * 1000 + Number((process.hrtime.bigint() / 1000n) % 1000n);
  state.sender = sender;
  state.instance = `${process.pid.toString(16)}.${Math.floor(wall / 1000).toString(16)}.${state.arrivalUsec.toString(16)}.${(state.seqno++).toString(16)}`;
  if (verpDelims !== null) state.verpDelims = verpDelims;
  if (envid !== null) state.dsnEnvid = envid;
  if (!ctx.params.delayOpen) {
    try {
      await mailOpenStream(ctx, state);
    } catch (e) {
      mailReset(state);
      throw e;
    }
  }
  await smtpdChatReply(ctx, state, '250 2.1.0 Ok');
  return 0;
}

export async function rcptCmd(ctx: SmtpdContext, state: SmtpdState, argv: SmtpdToken[]): Promise<number> {
  const reply = async (text: string, errClass = MAIL_ERROR_PROTOCOL): Promise<number> => {
    state.errorMask |= errClass;
    await smtpdChatReply(ctx, state, text);
    return -1;
  };
  if (!state.inMailTransaction) return reply('503 5.5.1 Error: need MAIL command');
  if (state.processingBdat) return reply('503 5.5.1 Error: RCPT after BDAT');
  if (argv.length < 3 || !strcaseEq(argv[1]!.strval, 'to:')) return reply('501 5.5.4 Syntax: RCPT TO:<address>');
  if (await anvilRcptRefused(ctx, state)) return -1;
  if (argv[2]!.tokval === SMTPD_TOK_ERROR) return reply('501 5.1.3 Bad recipient address syntax');
  let addr = await extractAddr(ctx, state, argv[2]!.strval, false, ctx.params.strictRfc821, (state.flags & SMTPD_FLAG_SMTPUTF8) !== 0);
  if (addr === null) return reply('501 5.1.3 Bad recipient address syntax');
  let notify = 0;
  let orcpt: { type: string; addr: string } | null = null;
  for (const tok of argv.slice(3)) {
    const arg = tok.strval;
    const upper = arg.toUpperCase();
    if (upper.startsWith('NOTIFY=')) {
      if (state.ehloDiscardMask & EHLO_MASK_DSN) return reply('501 5.7.1 DSN support is disabled');
      if (notify || (notify = dsnNotifyMask(arg.slice(7), (w) => ctx.log.warning(toText(w)))) === 0) return reply('501 5.5.4 Error: Bad NOTIFY parameter syntax');
    } else if (upper.startsWith('ORCPT=')) {
      if (state.ehloDiscardMask & EHLO_MASK_DSN) return reply('501 5.7.1 DSN support is disabled');
      const value = arg.slice(6);
      const semi = value.indexOf(';');
      const type = semi < 0 ? '' : value.slice(0, semi);
      const coded = semi < 0 ? null : value.slice(semi + 1);
      const decoded = coded === null ? null : type.toLowerCase() === 'utf-8' ? uxtextUnquote(coded) : xtextUnquote(coded);
      if (orcpt !== null || coded === null || type === '' || decoded === null) return reply('501 5.5.4 Error: Bad ORCPT parameter syntax');
      orcpt = { type, addr: decoded };
    } else {
      return reply(`555 5.5.4 Unsupported option: ${arg}`);
    }
  }
  if (ctx.params.recipientLimit && state.rcptCount >= ctx.params.recipientLimit) {
    await smtpdChatReply(ctx, state, '452 4.5.3 Error: too many recipients');
    if (state.rcptOvershoot++ < ctx.params.recipientOvershootLimit) return 0;
    state.errorMask |= MAIL_ERROR_POLICY;
    return -1;
  }
  if (ctx.params.strictSmtputf8 && !(state.flags & SMTPD_FLAG_SMTPUTF8) && addr !== '' && /[^\x00-\x7f]/.test(addr)) {
    await smtpdChatReply(ctx, state, '553 5.6.7 Must declare SMTPUTF8 to send unicode address');
    return -1;
  }
  const verify = ctx.standAlone ? null : await validVerifySender(ctx, addr);
  let err: string | null = null;
  if (verify !== null) addr = verify;
  else if (!ctx.standAlone) err = await smtpdCheckRcpt(ctx, state, addr);
  if (err !== null) {
    await smtpdChatReply(ctx, state, err);
    return -1;
  }
  if (state.cleanup === null) await mailOpenStream(ctx, state);
  state.rcptCount++;
  if (state.recipient === null) state.recipient = addr;
  if (state.cleanup !== null) {
    if (orcpt === null) {
      let raw = argv[2]!.strval;
      if (raw[0] === '<' && raw[raw.length - 1] === '>') raw = raw.slice(1, -1);
      orcpt = { type: 'rfc822', addr: raw };
    }
    if (notify) rec(state, 'A', `notify_flags=${notify}`);
    rec(state, 'A', `dsn_orig_rcpt=${orcpt.type};${orcpt.addr}`);
    rec(state, 'R', addr);
  }
  await smtpdChatReply(ctx, state, '250 2.1.5 Ok');
  return 0;
}
