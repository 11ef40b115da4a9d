// Mirrors the sender and recipient restrictions of Postfix's
// smtpd/smtpd_check.c that depend on the address resolver:
// permit_auth_destination, reject_unauth_destination (and its defer_
// variant), check_relay_domains, reject_non_fqdn_sender/recipient,
// reject_unknown_sender/recipient_domain, and the recipient validation
// tables behind reject_unlisted_recipient/sender (check_rcpt_maps), with
// Postfix's "User unknown in ... table" texts.
import { mailAddrFind } from '../../address/addr-find.js';
import type { Maps } from '../../address/maps.js';
import { sameCaseless } from '../../address/match-list.js';
import {
  RESOLVE_CLASS_ALIAS, RESOLVE_CLASS_LOCAL, RESOLVE_CLASS_MASK, RESOLVE_CLASS_RELAY,
  RESOLVE_CLASS_VIRTUAL, RESOLVE_FLAG_FAIL, RESOLVE_FLAG_ROUTED,
} from '../../address/resolve.js';
import { domainToAsciiBytes, validUtf8HostnameBytes } from '../hostname.js';
import { MAIL_ERROR_BOUNCE, MAIL_ERROR_POLICY, SMTPD_FLAG_SMTPUTF8, RESOLVE_CLASS_FINAL, type SmtpdState } from '../state.js';
import type { SmtpdContext } from '../context.js';
import { toBytes, toText } from '../text.js';
import { dsnSplit } from '../../mail/dsn.js';
import { truncateDot } from './hosts.js';
import {
  deferIfPermit, NAME_SENDER, rejectDictRetry, smtpdCheckReject, smtpdDsnFix,
  SMTPD_CHECK_DUNNO, SMTPD_CHECK_OK,
} from './reject.js';

/** permit_auth_destination(): final delivery or a relay_domains destination. */
export async function permitAuthDestination(ctx: SmtpdContext, state: SmtpdState, recipient: string): Promise<number> {
  const reply = await ctx.resolve(state.sender, recipient);
  if (reply.flags & RESOLVE_FLAG_FAIL) rejectDictRetry(ctx, state, recipient);
  if (!reply.recipient.includes('@')) return SMTPD_CHECK_OK;
  if (!ctx.params.allowUntrustedRouting && reply.flags & RESOLVE_FLAG_ROUTED) return SMTPD_CHECK_DUNNO;
  if (reply.flags & RESOLVE_CLASS_FINAL) return SMTPD_CHECK_OK;
  if (reply.flags & RESOLVE_CLASS_RELAY) return SMTPD_CHECK_OK;
  return SMTPD_CHECK_DUNNO;
}

/** reject_unauth_destination() / defer_unauth_destination(). */
export async function rejectUnauthDestination(ctx: SmtpdContext, state: SmtpdState, recipient: string, code: number, dsn: string): Promise<number> {
  if ((await permitAuthDestination(ctx, state, recipient)) === SMTPD_CHECK_OK) return SMTPD_CHECK_DUNNO;
  return smtpdCheckReject(ctx, state, MAIL_ERROR_POLICY, code, dsn, `<${recipient}>: Relay access denied`);
}

/** check_relay_domains() (obsolete): the client or the destination must be in relay_domains. */
export async function checkRelayDomains(ctx: SmtpdContext, state: SmtpdState, recipient: string, replyName: string, replyClass: string): Promise<number> {
  if ((await ctx.relayDomains.match(toText(state.name))) === 'match') return SMTPD_CHECK_OK;
  if ((await permitAuthDestination(ctx, state, recipient)) === SMTPD_CHECK_OK) return SMTPD_CHECK_OK;
  return smtpdCheckReject(ctx, state, MAIL_ERROR_POLICY, ctx.params.codes.relayDomains, '5.7.1',
    `<${replyName}>: ${replyClass} rejected: Relay access denied`);
}

/** reject_non_fqdn_address(). */
export function rejectNonFqdnAddress(ctx: SmtpdContext, state: SmtpdState, addr: string, replyName: string, replyClass: string): number {
  const at = addr.lastIndexOf('@');
  const domain = at < 0 ? '' : addr.slice(at + 1);
  if (domain[0] === '[' && domain.endsWith(']')) return SMTPD_CHECK_DUNNO;
  const test = truncateDot(domain);
  if (test !== '' && validUtf8HostnameBytes((state.flags & SMTPD_FLAG_SMTPUTF8) !== 0, test) && test.includes('.')) return SMTPD_CHECK_DUNNO;
  return smtpdCheckReject(ctx, state, MAIL_ERROR_POLICY, ctx.params.codes.nonFqdn, '4.5.2',
    `<${replyName}>: ${replyClass} rejected: need fully-qualified address`);
}

/** reject_unknown_mailhost(): no MX, A or AAAA record for the domain. */
async function rejectUnknownMailhost(ctx: SmtpdContext, state: SmtpdState, name: string, replyName: string, replyClass: string): Promise<number> {
  const isSender = replyClass === NAME_SENDER;
  // eslint-disable-next-line no-control-regex
  const lookup = /^[\x00-\x7f]*$/.test(name) ? name : domainToAsciiBytes(name) ?? name;
  const status = await ctx.dns.records(toText(lookup), ['MX', 'A', 'AAAA'], ['inval', 'nullmx', 'policy']);
  if (status === 'ok') return SMTPD_CHECK_DUNNO;
  if (status === 'policy') {
    ctx.log.warning(toText(`${lookup}: MX or address lookup error: DNS reply filter drops all results`));
    return SMTPD_CHECK_DUNNO;
  }
  if (status === 'nullmx') {
    return smtpdCheckReject(ctx, state, MAIL_ERROR_POLICY, isSender ? 550 : 556, isSender ? '4.7.27' : '4.1.10',
      `<${replyName}>: ${replyClass} rejected: Domain ${lookup} does not accept mail (nullMX)`);
  }
  if (status !== 'retry') {
    return smtpdCheckReject(ctx, state, MAIL_ERROR_POLICY, ctx.params.codes.unknownAddress, isSender ? '4.1.8' : '4.1.2',
      `<${replyName}>: ${replyClass} rejected: ${status === 'inval' ? 'Malformed DNS server reply' : 'Domain not found'}`);
  }
  return deferIfPermit(ctx, state, ctx.unknownAddrTempfailAct, MAIL_ERROR_POLICY, 450, isSender ? '4.1.8' : '4.1.2',
    `<${replyName}>: ${replyClass} rejected: Domain not found`);
}

/** reject_unknown_address(): skips local destinations and address literals. */
export async function rejectUnknownAddress(ctx: SmtpdContext, state: SmtpdState, addr: string, replyName: string, replyClass: string): Promise<number> {
  const reply = await ctx.resolve(replyClass === NAME_SENDER ? state.recipient : state.sender, addr);
  if (reply.flags & RESOLVE_FLAG_FAIL) rejectDictRetry(ctx, state, addr);
  const at = reply.recipient.lastIndexOf('@');
  if (at < 0) return SMTPD_CHECK_DUNNO;
  const domain = toBytes(reply.recipient.slice(at + 1));
  if (reply.flags & RESOLVE_CLASS_FINAL) return SMTPD_CHECK_DUNNO;
  if (domain[0] === '[' && domain.endsWith(']')) return SMTPD_CHECK_DUNNO;
  return rejectUnknownMailhost(ctx, state, domain, replyName, replyClass);
}

/** check_mail_addr_find(): a table lookup whose failure leaves the evaluator. */
async function matches(ctx: SmtpdContext, state: SmtpdState, replyName: string, maps: Maps, key: string): Promise<boolean> {
  if (maps.isEmpty) return false;
  const r = await mailAddrFind(maps, key, ctx.addrFindEnv);
  if (r.status === 'found') return true;
  if (r.status === 'error') rejectDictRetry(ctx, state, replyName);
  return false;
}

/** MATCH_LEFT(): "localpart@..." with the given localpart. */
function matchLeft(left: string, addr: string, utf8: boolean): boolean {
  const at = addr.lastIndexOf('@');
  return at === left.length && sameCaseless(addr.slice(0, at), left, utf8);
}

/** check_rcpt_maps(): is the address known to the tables of its address class? */
export async function checkRcptMaps(ctx: SmtpdContext, state: SmtpdState, sender: string | null, recipient: string, replyClass: string): Promise<number> {
  const reply = await ctx.resolve(sender, recipient);
  if (reply.flags & RESOLVE_FLAG_FAIL) rejectDictRetry(ctx, state, recipient);
  const m = ctx.recipientMaps;
  const rcpt = reply.recipient;
  const isSender = replyClass === NAME_SENDER;
  if ((await matches(ctx, state, recipient, m.recipientCanonical, rcpt))
    || (isSender && (await matches(ctx, state, recipient, m.senderCanonical, rcpt)))
    || (await matches(ctx, state, recipient, m.canonical, rcpt))
    || (await matches(ctx, state, recipient, m.virtualAlias, rcpt))) return SMTPD_CHECK_DUNNO;

  if (reply.transport === 'error' || reply.transport === 'retry') {
    const retry = reply.transport === 'retry';
    const dp = dsnSplit(retry ? (isSender ? '4.1.0' : '4.1.1') : isSender ? '5.1.0' : '5.1.1', toBytes(reply.nexthop));
    const code = retry ? 450 : reply.flags & RESOLVE_CLASS_ALIAS ? ctx.params.codes.unknownVirtualAlias : 550;
    return smtpdCheckReject(ctx, state, MAIL_ERROR_BOUNCE, code, smtpdDsnFix(ctx, dp.dsn, replyClass),
      `<${recipient}>: ${replyClass} rejected: ${dp.text}`);
  }
  const unknown = (code: number, table: string): number =>
    smtpdCheckReject(ctx, state, MAIL_ERROR_BOUNCE, code, isSender ? '5.1.0' : '5.1.1',
      `<${recipient}>: ${replyClass} rejected: User unknown${ctx.params.showUnknownTable ? ` in ${table} table` : ''}`);
  switch (reply.flags & RESOLVE_CLASS_MASK) {
    case RESOLVE_CLASS_LOCAL:
      if (ctx.params.localRecipientMaps !== ''
        && !matchLeft(ctx.params.doubleBounceSender, rcpt, ctx.params.smtputf8Enable)
        && !matchLeft('postmaster', rcpt, ctx.params.smtputf8Enable)
        && !matchLeft('MAILER-DAEMON', rcpt, ctx.params.smtputf8Enable)
        && !(await matches(ctx, state, recipient, m.local, rcpt))) return unknown(ctx.params.codes.unknownLocalRecipient, 'local recipient');
      break;
    case RESOLVE_CLASS_VIRTUAL:
      if (ctx.params.virtualMailboxMaps !== '' && !(await matches(ctx, state, recipient, m.virtualMailbox, rcpt))) {
        return unknown(ctx.params.codes.unknownVirtualMailbox, 'virtual mailbox');
      }
      break;
    case RESOLVE_CLASS_RELAY:
      if (ctx.params.relayRecipientMaps !== '' && !(await matches(ctx, state, recipient, m.relay, rcpt))) {
        return unknown(ctx.params.codes.unknownRelayRecipient, 'relay recipient');
      }
      break;
  }
  return SMTPD_CHECK_DUNNO;
}

/** check_recipient_rcpt_maps(): once per recipient unless under warn_if_reject. */
export async function checkRecipientRcptMaps(ctx: SmtpdContext, state: SmtpdState, recipient: string): Promise<number> {
  if (ctx.params.receiveOverrideOptions.includes('no_unknown_recipient_checks')) return 0;
  if (state.recipientRcptmapChecked) return 0;
  if (state.warnIfReject === 0) state.recipientRcptmapChecked = true;
  return checkRcptMaps(ctx, state, state.sender, recipient, 'Recipient address');
}

/** check_sender_rcpt_maps(). */
export async function checkSenderRcptMaps(ctx: SmtpdContext, state: SmtpdState, sender: string): Promise<number> {
  if (ctx.params.receiveOverrideOptions.includes('no_unknown_recipient_checks')) return 0;
  if (state.senderRcptmapChecked) return 0;
  if (state.warnIfReject === 0) state.senderRcptmapChecked = true;
  return checkRcptMaps(ctx, state, state.recipient, sender, NAME_SENDER);
}

