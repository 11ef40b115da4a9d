// Mirrors the client and HELO restrictions of Postfix's
// smtpd/smtpd_check.c: reject_unknown_client_hostname,
// reject_unknown_reverse_client_hostname, permit_mynetworks,
// permit_inet_interfaces, reject_invalid_helo_hostname (and the address
// literal check), reject_non_fqdn_helo_hostname,
// reject_unknown_helo_hostname, reject_unauth_pipelining. Each returns a
// SMTPD_CHECK_* status, or a negative table error.
import { numericAddress } from '../../address/resolve-local.js';
import { validHostaddr, validHostname, validMailhostAddr, validUtf8HostnameBytes } from '../hostname.js';
import { MAIL_ERROR_POLICY, MAIL_ERROR_PROTOCOL, PEER_CODE_OK, PEER_CODE_PERM, SMTPD_FLAG_ILL_PIPELINING, SMTPD_FLAG_SMTPUTF8, type SmtpdState } from '../state.js';
import type { SmtpdContext } from '../context.js';
import { toText } from '../text.js';
import { deferIfPermit, smtpdCheckReject, SMTPD_CHECK_DUNNO, SMTPD_CHECK_OK } from './reject.js';

/** reject_unknown_reverse_name(). */
export function rejectUnknownReverseName(ctx: SmtpdContext, state: SmtpdState): number {
  if (state.reverseNameStatus === PEER_CODE_OK) return SMTPD_CHECK_DUNNO;
  return smtpdCheckReject(ctx, state, MAIL_ERROR_POLICY,
    state.reverseNameStatus === PEER_CODE_PERM ? ctx.params.codes.unknownClient : 450, '4.7.1',
    `Client host rejected: cannot find your reverse hostname, [${state.addr}]`);
}

/** reject_unknown_client(): no name, or a name that does not map back (RFC 7372 code). */
export function rejectUnknownClient(ctx: SmtpdContext, state: SmtpdState): number {
  if (state.nameStatus === PEER_CODE_OK) return SMTPD_CHECK_DUNNO;
  return smtpdCheckReject(ctx, state, MAIL_ERROR_POLICY,
    state.nameStatus >= PEER_CODE_PERM ? ctx.params.codes.unknownClient : 450, '4.7.25',
    `Client host rejected: cannot find your hostname, [${state.addr}]`);
}

/** permit_mynetworks(): OK, DUNNO, or the list's table error. */
export async function permitMynetworks(ctx: SmtpdContext, state: SmtpdState): Promise<number> {
  if (await ctx.mynetworks.match(toText(state.name), state.addr)) return SMTPD_CHECK_OK;
  return ctx.mynetworks.error === 0 ? SMTPD_CHECK_DUNNO : ctx.mynetworks.error;
}

/** permit_inet_interfaces(): the client is one of our own addresses. */
export async function permitInetInterfaces(ctx: SmtpdContext, state: SmtpdState): Promise<number> {
  const bytes = numericAddress(state.addr);
  return bytes && (await ctx.ownAddresses.contains(bytes)) ? SMTPD_CHECK_OK : SMTPD_CHECK_DUNNO;
}

/** dup_if_truncate(): a name ending in one dot loses it. */
export function truncateDot(name: string): string {
  return name.length > 1 && name.endsWith('.') && name[name.length - 2] !== '.' ? name.slice(0, -1) : name;
}

/** reject_invalid_hostaddr(): "[addr]" must hold a valid address. */
export function rejectInvalidHostaddr(ctx: SmtpdContext, state: SmtpdState, addr: string, replyName: string, replyClass: string): number {
  const test = addr[0] === '[' && addr.length > 2 && addr.endsWith(']') ? addr.slice(1, -1) : addr;
  if (validMailhostAddr(test) !== null) return SMTPD_CHECK_DUNNO;
  return smtpdCheckReject(ctx, state, MAIL_ERROR_POLICY, ctx.params.codes.invalidHostname, '5.5.2',
    `<${replyName}>: ${replyClass} rejected: invalid ip address`);
}

/** reject_invalid_hostname(). */
export function rejectInvalidHostname(ctx: SmtpdContext, state: SmtpdState, name: string, replyName: string, replyClass: string): number {
  const test = truncateDot(name);
  if (validHostname(test) || validHostaddr(test)) return SMTPD_CHECK_DUNNO;
  return smtpdCheckReject(ctx, state, MAIL_ERROR_POLICY, ctx.params.codes.invalidHostname, '5.5.2',
    `<${replyName}>: ${replyClass} rejected: Invalid name`);
}

/** reject_non_fqdn_hostname(). */
export function rejectNonFqdnHostname(ctx: SmtpdContext, state: SmtpdState, name: string, replyName: string, replyClass: string): number {
  const test = truncateDot(name);
  if (validUtf8HostnameBytes((state.flags & SMTPD_FLAG_SMTPUTF8) !== 0, test) && test.includes('.')) return SMTPD_CHECK_DUNNO;
  return smtpdCheckReject(ctx, state, MAIL_ERROR_POLICY, ctx.params.codes.nonFqdn, '5.5.2',
    `<${replyName}>: ${replyClass} rejected: need fully-qualified hostname`);
}

/** reject_unknown_hostname(): no A, AAAA or MX record. */
export async function rejectUnknownHostname(ctx: SmtpdContext, state: SmtpdState, name: string, replyName: string, replyClass: string): Promise<number> {
  const status = await ctx.dns.records(toText(name), ['A', 'AAAA', 'MX'], []);
  if (status === 'ok' || status === 'nullmx') return SMTPD_CHECK_DUNNO;
  if (status === 'policy') {
    ctx.log.warning(toText(`${name}: address or MX lookup error: DNS reply filter drops all results`));
    return SMTPD_CHECK_DUNNO;
  }
  if (status !== 'retry') {
    return smtpdCheckReject(ctx, state, MAIL_ERROR_POLICY, ctx.params.codes.unknownHostname, '4.7.1',
      `<${replyName}>: ${replyClass} rejected: ${status === 'inval' ? 'Malformed DNS server reply' : 'Host not found'}`);
  }
  return deferIfPermit(ctx, state, ctx.unknownNameTempfailAct, MAIL_ERROR_POLICY, 450, '4.7.1',
    `<${replyName}>: ${replyClass} rejected: Host not found`);
}

/** reject_unauth_pipelining(): the client sent ahead when it was not allowed to. */
export function rejectUnauthPipelining(ctx: SmtpdContext, state: SmtpdState, replyName: string, replyClass: string): number {
  if (!(state.flags & SMTPD_FLAG_ILL_PIPELINING)) return SMTPD_CHECK_DUNNO;
  return smtpdCheckReject(ctx, state, MAIL_ERROR_PROTOCOL, 503, '5.5.0',
    `<${replyName}>: ${replyClass} rejected: Improper use of SMTP command pipelining`);
}
