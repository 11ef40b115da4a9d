// Mirrors rset_cmd(), noop_cmd(), vrfy_cmd(), etrn_cmd(), quit_cmd(),
// starttls_cmd() and the AUTH entry of Postfix's smtpd/smtpd.c and
// smtpd_sasl_proto.c. This server offers no SASL, so AUTH answers as
// Postfix does when it is not enabled. ETRN asks the fast flush service
// (public/flush, src/queue/flush-client.ts) and answers by its result.
import type { SmtpdToken } from '../address/smtp-token.js';
import { smtpdChatReply } from './chat.js';
import { smtpdCheckEtrn, smtpdCheckRcpt } from './check/drivers.js';
import { FLUSH_REQ_SEND_SITE, FLUSH_STAT_BAD, FLUSH_STAT_DENY, FLUSH_STAT_OK, MAIL_ATTR_PROTO_FLUSH, mailCommandClient } from '../queue/flush-client.js';
import { collapseArgs } from './cmd-helo.js';
import { extractAddr } from './cmd-mail.js';
import type { SmtpdContext } from './context.js';
import { EHLO_MASK_SMTPUTF8, EHLO_MASK_STARTTLS } from './ehlo.js';
import { anvilCountNewTls, anvilRcptRefused, anvilStarttlsRefused } from './limits.js';
import { validHostname, validMailhostLiteral } from './hostname.js';
import { chatReset, mailReset, rcptReset } from './reset.js';
import { MAIL_ERROR_POLICY, MAIL_ERROR_PROTOCOL, MAIL_ERROR_SOFTWARE, SMTPD_FLAG_SMTPUTF8, type SmtpdState } from './state.js';
import { heloReset } from './cmd-helo.js';
import { SessionExit } from './stream.js';
import { strcaseEq, toText } from './text.js';

async function fail(ctx: SmtpdContext, state: SmtpdState, text: string, errClass = MAIL_ERROR_PROTOCOL): Promise<number> {
  state.errorMask |= errClass;
  await smtpdChatReply(ctx, state, text);
  return -1;
}

export async function rsetCmd(ctx: SmtpdContext, state: SmtpdState, argv: SmtpdToken[]): Promise<number> {
  if (argv.length !== 1) return fail(ctx, state, '501 5.5.4 Syntax: RSET');
  chatReset(state, ctx.params.historyFlushThreshold);
  mailReset(state);
  rcptReset(state);
  await smtpdChatReply(ctx, state, '250 2.0.0 Ok');
  return 0;
}

export async function noopCmd(ctx: SmtpdContext, state: SmtpdState): Promise<number> {
  await smtpdChatReply(ctx, state, '250 2.0.0 Ok');
  return 0;
}

export async function vrfyCmd(ctx: SmtpdContext, state: SmtpdState, argv: SmtpdToken[]): Promise<number> {
  if (ctx.params.disableVrfy) return fail(ctx, state, '502 5.5.1 VRFY command is disabled', MAIL_ERROR_POLICY);
  let argc = argv.length;
  let smtputf8 = false;
  if (ctx.params.smtputf8Enable && !(state.ehloDiscardMask & EHLO_MASK_SMTPUTF8) && argc > 1 && strcaseEq(argv[argc - 1]!.strval, 'SMTPUTF8')) {
    argc--;
    smtputf8 = true;
  }
  if (argc < 2) return fail(ctx, state, `501 5.5.4 Syntax: VRFY address${ctx.params.smtputf8Enable ? ' [SMTPUTF8]' : ''}`);
  if (await anvilRcptRefused(ctx, state)) return -1;
  const arg = argc > 2 ? collapseArgs(argv.slice(0, argc), 1) : argv[1]!.strval;
  const addr = await extractAddr(ctx, state, arg, false, false, smtputf8);
  if (addr === null) return fail(ctx, state, '501 5.1.3 Bad recipient address syntax');
  if (!smtputf8 && ctx.params.strictSmtputf8 && addr !== '' && /[^\x00-\x7f]/.test(addr)) {
    mailReset(state);
    await smtpdChatReply(ctx, state, '553 5.6.7 Must declare SMTPUTF8 to send unicode address');
    return -1;
  }
  const savedFlags = state.flags;
  if (smtputf8) state.flags |= SMTPD_FLAG_SMTPUTF8;
  const err = ctx.standAlone ? null : await smtpdCheckRcpt(ctx, state, addr);
  state.flags = savedFlags;
  if (err !== null) {
    await smtpdChatReply(ctx, state, err);
    return -1;
  }
  await smtpdChatReply(ctx, state, `252 2.0.0 ${arg}`);
  return 0;
}

export async function etrnCmd(ctx: SmtpdContext, state: SmtpdState, argv: SmtpdToken[]): Promise<number> {
  if (ctx.params.heloRequired && state.heloName === null) return fail(ctx, state, '503 Error: send HELO/EHLO first', MAIL_ERROR_POLICY);
  if (state.inMailTransaction) return fail(ctx, state, '503 Error: MAIL transaction in progress');
  if (argv.length !== 2) return fail(ctx, state, '500 Syntax: ETRN domain');
  let site = argv[1]!.strval;
  if (site[0] === '@' || site[0] === '#') site = site.slice(1);
  if (!validHostname(site) && !validMailhostLiteral(site)) return fail(ctx, state, '501 Error: invalid parameter syntax');
  if (ctx.standAlone) {
    ctx.log.warning('do not use ETRN in "sendmail -bs" mode');
    await smtpdChatReply(ctx, state, '458 Unable to queue messages');
    return -1;
  }
  const err = await smtpdCheckEtrn(ctx, state, site);
  if (err !== null) {
    await smtpdChatReply(ctx, state, err);
    return -1;
  }
  const status = await flushSendSite(ctx, site);
  switch (status) {
    case 'ok':
      await smtpdChatReply(ctx, state, '250 Queuing started');
      return 0;
    case 'deny':
      ctx.log.warning(toText(`reject: ETRN ${site.slice(0, 100)}... from ${state.namaddr}`));
      await smtpdChatReply(ctx, state, `459 <${site}>: service unavailable`);
      return -1;
    case 'bad':
      ctx.log.warning(toText(`bad ETRN ${site.slice(0, 100)}... from ${state.namaddr}`));
      await smtpdChatReply(ctx, state, '458 Unable to queue messages');
      return -1;
    default:
      ctx.log.warning('unable to talk to fast flush service');
      await smtpdChatReply(ctx, state, '458 Unable to queue messages');
      return -1;
  }
}

/**
 * flush_send_site(): only fast_flush_domains may be flushed; the flush
 * service (public/$flush_service_name) does the work, or the daemon's hook.
 */
async function flushSendSite(ctx: SmtpdContext, site: string): Promise<'ok' | 'deny' | 'bad' | 'fail'> {
  const m = await ctx.fastFlushDomains.match(toText(site));
  if (m === 'error') return 'fail';
  if (m !== 'match') return 'deny';
  if (ctx.params.warnCompatFlushDomains) ctx.log.info(toText(`using backwards-compatible default setting relay_domains=$mydestination to flush mail for domain "${site}"`));
  if (ctx.hooks.flushSite) return ctx.hooks.flushSite(toText(site));
  const status = await mailCommandClient(ctx.params.queueDirectory, 'public', ctx.params.flushServiceName, MAIL_ATTR_PROTO_FLUSH,
    [['request', FLUSH_REQ_SEND_SITE], ['site', toText(site)]], (t) => ctx.log.warning(t));
  switch (status) {
    case FLUSH_STAT_OK: return 'ok';
    case FLUSH_STAT_DENY: return 'deny';
    case FLUSH_STAT_BAD: return 'bad';
    default: return 'fail';
  }
}

export async function quitCmd(ctx: SmtpdContext, state: SmtpdState): Promise<number> {
  await smtpdChatReply(ctx, state, '221 2.0.0 Bye');
  state.stream.flush();
  return 0;
}

export async function starttlsCmd(ctx: SmtpdContext, state: SmtpdState, argv: SmtpdToken[]): Promise<number> {
  if (argv.length !== 1) return fail(ctx, state, '501 5.5.4 Syntax: STARTTLS');
  if (state.stream.tlsSocket !== null) return fail(ctx, state, '554 5.5.1 Error: TLS already active');
  if (!ctx.tls.useTls || state.ehloDiscardMask & EHLO_MASK_STARTTLS) return fail(ctx, state, '502 5.5.1 Error: command not implemented');
  if (ctx.tls.context === null) return fail(ctx, state, '454 4.7.0 TLS not available due to local problem', MAIL_ERROR_SOFTWARE);
  if (await anvilStarttlsRefused(ctx, state)) return -1;
  await smtpdChatReply(ctx, state, '220 2.0.0 Ready to start TLS');
  heloReset(state);
  mailReset(state);
  rcptReset(state);
  await startTls(ctx, state);
  return 0;
}

/** smtpd_start_tls(): the handshake; a failed one leaves nothing to talk about. */
export async function startTls(ctx: SmtpdContext, state: SmtpdState): Promise<void> {
  const why = await state.stream.startTls(ctx.tls.context!, ctx.params.tls.starttlsTimeoutSec * 1000);
  if (why !== null) {
    if (why === 'timeout') {
      ctx.log.info(toText(`SSL_accept error from ${state.namaddr}: Connection timed out`));
    } else {
      ctx.log.info(toText(`SSL_accept error from ${state.namaddr}: -1`));
      ctx.log.warning(toText(`TLS library problem: ${openSslError(why)}`));
    }
    // A failed handshake counts as a new session too.
    await anvilCountNewTls(ctx, state, null);
    throw new SessionExit('eof');
  }
  const t = state.stream.tlsSocket!;
  if (ctx.params.tls.loglevel >= 1) {
    const c = t.getCipher();
    ctx.log.info(toText(`Anonymous TLS connection established from ${state.namaddr}: ${t.getProtocol() ?? ''} with cipher ${c.standardName ?? c.name} (${cipherBits(c.name)}/${cipherBits(c.name)} bits)`));
  }
  await anvilCountNewTls(ctx, state, t);
}

/**
 * An OpenSSL error as Postfix prints it: Node's message carries a thread ID
 * in front, the function name, and the path of its bundled OpenSSL sources.
 */
export function openSslError(message: string): string {
  const m = /^(?:[0-9A-F]+:)?(error:[0-9A-F]+:[^:]*:)[^:]*(:.*)$/m.exec(message.trim());
  if (!m) return message.trim();
  return (m[1]! + m[2]!).replace('../deps/openssl/openssl/', '../');
}

/** The key length of a cipher suite, from its name. */
export function cipherBits(name: string): number {
  if (/CHACHA20|AES_?256|AES256/i.test(name)) return 256;
  if (/AES_?128|AES128/i.test(name)) return 128;
  return 0;
}

export async function authCmd(ctx: SmtpdContext, state: SmtpdState): Promise<number> {
  if (ctx.params.heloRequired && state.heloName === null) return fail(ctx, state, '503 5.5.1 Error: send HELO/EHLO first', MAIL_ERROR_POLICY);
  return fail(ctx, state, '503 5.5.1 Error: authentication not enabled');
}
