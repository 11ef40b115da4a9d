// Mirrors the anvil(8) checks scattered over Postfix's smtpd/smtpd.c: the
// connection count and rate at connect (smtpd_proto), the message rate at
// MAIL (mail_cmd), the recipient rate at RCPT and VRFY (rcpt_cmd,
// vrfy_cmd), and the new TLS session rate before a handshake (STARTTLS,
// wrapper mode) and after one (smtpd_start_tls), with Postfix's replies
// and warnings. Clients exempt from anvil (state.anvilExempt: XCLIENT
// hosts, smtpd_client_event_limit_exceptions, or no limit set) never cause
// a request. AUTH is not built, so smtpd_client_auth_rate_limit is not
// checked anywhere.
import type { TLSSocket } from 'node:tls';
import { smtpdChatReply } from './chat.js';
import type { SmtpdContext } from './context.js';
import { MAIL_ERROR_POLICY, type SmtpdState } from './state.js';
import { SessionExit } from './stream.js';
import { toText } from './text.js';

/** Registers the connection with anvil; false after the 421 that ends the session. */
export async function anvilConnect(ctx: SmtpdContext, state: SmtpdState): Promise<boolean> {
  if (state.anvilExempt || state.anvilConnected) return true;
  const r = await ctx.anvil!.connect(state.service, state.addr);
  state.anvilConnected = true;
  state.connCount = r.count;
  state.connRate = r.rate;
  const limits = ctx.anvilLimits;
  const refuse = `421 4.7.0 ${ctx.params.myhostname} Error: too many connections from ${state.addr}`;
  if (limits.connCount > 0 && r.count > limits.connCount) {
    state.errorMask |= MAIL_ERROR_POLICY;
    ctx.log.warning(toText(`Connection concurrency limit exceeded: ${r.count} from ${state.namaddr} for service ${state.service}`));
    await smtpdChatReply(ctx, state, refuse);
    return false;
  }
  if (limits.connRate > 0 && r.rate > limits.connRate) {
    ctx.log.warning(toText(`Connection rate limit exceeded: ${r.rate} from ${state.namaddr} for service ${state.service}`));
    await smtpdChatReply(ctx, state, refuse);
    return false;
  }
  return true;
}

/** MAIL: true after the 450 for a client over smtpd_client_message_rate_limit. */
export async function anvilMailRefused(ctx: SmtpdContext, state: SmtpdState): Promise<boolean> {
  const limit = ctx.anvilLimits.mail;
  if (state.anvilExempt || limit <= 0) return false;
  const rate = await ctx.anvil!.mail(state.service, state.addr);
  if (rate <= limit) return false;
  state.errorMask |= MAIL_ERROR_POLICY;
  await smtpdChatReply(ctx, state, `450 4.7.1 Error: too much mail from ${state.addr}`);
  ctx.log.warning(toText(`Message delivery request rate limit exceeded: ${rate} from ${state.namaddr} for service ${state.service}`));
  return true;
}

/** RCPT and VRFY: true after the 450 for a client over smtpd_client_recipient_rate_limit. */
export async function anvilRcptRefused(ctx: SmtpdContext, state: SmtpdState): Promise<boolean> {
  const limit = ctx.anvilLimits.rcpt;
  if (state.anvilExempt || limit <= 0) return false;
  const rate = await ctx.anvil!.rcpt(state.service, state.addr);
  if (rate <= limit) return false;
  state.errorMask |= MAIL_ERROR_POLICY;
  ctx.log.warning(toText(`Recipient address rate limit exceeded: ${rate} from ${state.namaddr} for service ${state.service}`));
  await smtpdChatReply(ctx, state, `450 4.7.1 Error: too many recipients from ${state.addr}`);
  return true;
}

/** Whether the client already had too many new TLS sessions (asked before a handshake). */
async function overNewTls(ctx: SmtpdContext, state: SmtpdState): Promise<boolean> {
  const limit = ctx.anvilLimits.newTls;
  if (state.anvilExempt || limit <= 0) return false;
  return (await ctx.anvil!.newtlsStat(state.service, state.addr)) > limit;
}

/** STARTTLS: true after the 454 for a client that had too many new TLS sessions. */
export async function anvilStarttlsRefused(ctx: SmtpdContext, state: SmtpdState): Promise<boolean> {
  if (!(await overNewTls(ctx, state))) return false;
  state.errorMask |= MAIL_ERROR_POLICY;
  ctx.log.warning(toText(`Refusing STARTTLS request from ${state.namaddr} for service ${state.service}`));
  await smtpdChatReply(ctx, state, `454 4.7.0 Error: too many new TLS sessions from ${state.namaddr}`);
  return true;
}

/** Wrapper mode: true (logged, nothing said) for a client that had too many new TLS sessions. */
export async function anvilWrapperRefused(ctx: SmtpdContext, state: SmtpdState): Promise<boolean> {
  if (!(await overNewTls(ctx, state))) return false;
  state.errorMask |= MAIL_ERROR_POLICY;
  ctx.log.warning(toText(`Refusing TLS service request from ${state.namaddr} for service ${state.service}`));
  return true;
}

/**
 * After a handshake (tls null: it failed): counts a new, not resumed,
 * session; over the limit the session ends, with a 421 when TLS is up.
 */
export async function anvilCountNewTls(ctx: SmtpdContext, state: SmtpdState, tls: TLSSocket | null): Promise<void> {
  const limit = ctx.anvilLimits.newTls;
  if (limit <= 0 || (tls !== null && tls.isSessionReused()) || state.anvilExempt) return;
  const rate = await ctx.anvil!.newtls(state.service, state.addr);
  if (rate <= limit) return;
  state.errorMask |= MAIL_ERROR_POLICY;
  ctx.log.warning(toText(`New TLS session rate limit exceeded: ${rate} from ${state.namaddr} for service ${state.service}`));
  if (tls !== null) await smtpdChatReply(ctx, state, `421 4.7.0 ${ctx.params.myhostname} Error: too many new TLS sessions from ${state.namaddr}`);
  throw new SessionExit('quiet');
}
