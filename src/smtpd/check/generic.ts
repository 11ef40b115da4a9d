// Mirrors generic_checks() of Postfix's smtpd/smtpd_check.c: one
// restriction list evaluated left to right until a restriction decides
// (OK or REJECT), with warn_if_reject, bare "type:table" words taking the
// list's default access check, restriction classes, and the
// defer_if_permit/defer_if_reject short cut. A misconfigured list is a 451
// "Server configuration error", as in Postfix.
import { MAIL_ERROR_POLICY, type SmtpdState } from '../state.js';
import type { SmtpdContext } from '../context.js';
import { allDigits, toBytes, toText } from '../text.js';
import {
  checkAccess, checkAddrAccess, checkDomainAccess, checkMailAccess, checkNamadrAccess, type Found,
} from './access.js';
import {
  checkRecipientRcptMaps, checkRelayDomains, checkSenderRcptMaps, permitAuthDestination, rejectNonFqdnAddress,
  rejectUnauthDestination, rejectUnknownAddress,
} from './addresses.js';
import {
  permitInetInterfaces, permitMynetworks, rejectInvalidHostaddr, rejectInvalidHostname, rejectNonFqdnHostname,
  rejectUnauthPipelining, rejectUnknownClient, rejectUnknownHostname, rejectUnknownReverseName,
} from './hosts.js';
import {
  checkServerAccess, permitDnswlAddr, permitDnswlDomain, permitMxBackup, rejectRblAddr, rejectRblDomain,
  rejectUnverifiedAddress,
} from './dnsxl.js';
import { checkPolicyService } from './policy-check.js';
import {
  aclPermit, DEFER_IF_PERMIT_ACT, deferIf, deferIfPermit, NAME_CLIENT, NAME_HELO, NAME_RECIPIENT, NAME_REV_CLIENT,
  NAME_SENDER, NAME_ETRN, rejectDictRetry, rejectServerError, smtpdCheckReject, SMTPD_CHECK_OK,
} from './reject.js';

const FULL = 0;

/** Restrictions that take a table argument, and the default for bare "type:table" words. */
const ACL_WORDS = [
  'check_client_access', 'check_reverse_client_hostname_access', 'check_helo_access', 'check_sender_access',
  'check_recipient_access', 'check_etrn_access',
];

/** is_map_command(): "check_xxx_access type:name"; a missing table is a configuration error. */
function mapArgument(ctx: SmtpdContext, state: SmtpdState, list: string[], i: number, command: string): string {
  const arg = list[i + 1];
  if (arg === undefined || !arg.includes(':')) {
    ctx.log.warning(`restriction ${command}: bad argument "${arg ?? ''}": need maptype:mapname`);
    rejectServerError(ctx, state);
  }
  return arg;
}

/** forbid_allowlist(): DNS-based host checks must not say OK. */
function forbidAllowlist(ctx: SmtpdContext, state: SmtpdState, name: string, status: number, target: string): void {
  if (!state.discard && status === SMTPD_CHECK_OK) {
    ctx.log.warning(toText(`restriction ${name} returns OK for ${target}`));
    ctx.log.warning('this is not allowed for security reasons');
    ctx.log.warning('use DUNNO instead of OK if you want to make an exception');
    rejectServerError(ctx, state);
  }
}

/** generic_checks(): 0 (undecided), SMTPD_CHECK_OK, SMTPD_CHECK_REJECT. */
export async function genericChecks(
  ctx: SmtpdContext, state: SmtpdState, restrictions: string[], replyName: string, replyClass: string, defAcl: string | null,
): Promise<number> {
  const savedRecursion = state.recursion++;
  let status = 0;
  const found: Found = { found: false };
  const p = ctx.params;
  for (let i = 0; i < restrictions.length; i++) {
    if (state.discard) break;
    let name = restrictions[i]!;
    let list = restrictions;
    let idx = i;
    if (name.toLowerCase() === 'warn_if_reject') {
      if (state.warnIfReject === 0) state.warnIfReject = state.recursion;
      continue;
    }
    if (name.includes(':')) {
      if (defAcl === null) {
        ctx.log.warning(`specify one of (${ACL_WORDS.join(', ')}) before ${replyClass} restriction "${name}"`);
        rejectServerError(ctx, state);
      }
      // A bare table means the list's own check_xxx_access.
      list = [defAcl, name];
      idx = 0;
      name = defAcl;
    }
    const lname = name.toLowerCase();
    const next = (): string => {
      const arg = mapArgument(ctx, state, list, idx, lname);
      if (list === restrictions) i++;
      return arg;
    };
    const nextWord = (): string | undefined => (list === restrictions ? restrictions[++i] : undefined);
    const hasNext = (): boolean => list === restrictions && i + 1 < restrictions.length;
    const rcpt = state.recipient;
    const sender = state.sender;
    const helo = state.heloName;

    switch (lname) {
      // Generic restrictions.
      case 'permit':
        status = await aclPermit(ctx, state, name, replyClass, replyName, '');
        if (status === SMTPD_CHECK_OK && hasNext()) ctx.log.warning(`restriction \`${restrictions[i + 1]}' after \`permit' is ignored`);
        break;
      case 'defer':
        status = smtpdCheckReject(ctx, state, MAIL_ERROR_POLICY, p.codes.defer, '4.3.2', `<${replyName}>: ${replyClass} rejected: Try again later`);
        if (hasNext() && state.warnIfReject === 0) ctx.log.warning(`restriction \`${restrictions[i + 1]}' after \`defer' is ignored`);
        break;
      case 'reject':
        status = smtpdCheckReject(ctx, state, MAIL_ERROR_POLICY, p.codes.reject, '5.7.1', `<${replyName}>: ${replyClass} rejected: Access denied`);
        if (hasNext() && state.warnIfReject === 0) ctx.log.warning(`restriction \`${restrictions[i + 1]}' after \`reject' is ignored`);
        break;
      case 'reject_unauth_pipelining':
        status = rejectUnauthPipelining(ctx, state, replyName, replyClass);
        break;
      case 'check_policy_service': {
        const server = list[idx + 1];
        if (server === undefined || !server.includes(':')) {
          ctx.log.warning('restriction check_policy_service must be followed by transport:server');
          rejectServerError(ctx, state);
        }
        nextWord();
        status = await checkPolicyService(ctx, state, server, replyName, replyClass, defAcl);
        break;
      }
      case 'defer_if_permit':
        status = deferIfPermit(ctx, state, DEFER_IF_PERMIT_ACT, MAIL_ERROR_POLICY, 450, '4.7.0',
          `<${replyName}>: ${replyClass} rejected: defer_if_permit requested`);
        break;
      case 'defer_if_reject':
        deferIf(state.deferIfReject, MAIL_ERROR_POLICY, 450, '4.7.0', `<${replyName}>: ${replyClass} rejected: defer_if_reject requested`);
        break;
      case 'sleep': {
        const arg = list[idx + 1];
        if (arg === undefined || !allDigits(arg)) {
          ctx.log.warning('restriction sleep must be followed by number');
          rejectServerError(ctx, state);
        }
        nextWord();
        state.stream.flush();
        await ctx.sleep(Number(arg));
        break;
      }
      case 'reject_plaintext_session':
        status = smtpdCheckReject(ctx, state, MAIL_ERROR_POLICY, p.codes.plaintext, '4.7.1', 'Session encryption is required');
        break;

      // Client name and address.
      case 'reject_unknown_client_hostname':
      case 'reject_unknown_client':
        status = rejectUnknownClient(ctx, state);
        break;
      case 'reject_unknown_reverse_client_hostname':
        status = rejectUnknownReverseName(ctx, state);
        break;
      case 'permit_inet_interfaces':
        status = await permitInetInterfaces(ctx, state);
        if (status === SMTPD_CHECK_OK) status = await aclPermit(ctx, state, name, NAME_CLIENT, state.namaddr, '');
        break;
      case 'permit_mynetworks':
        status = await permitMynetworks(ctx, state);
        if (status === SMTPD_CHECK_OK) status = await aclPermit(ctx, state, name, NAME_CLIENT, state.namaddr, '');
        break;
      case 'check_client_access':
        status = await checkNamadrAccess(ctx, state, next(), state.name, state.addr, FULL, found, state.namaddr, NAME_CLIENT, defAcl);
        break;
      case 'check_reverse_client_hostname_access':
        status = await checkNamadrAccess(ctx, state, next(), state.reverseName, state.addr, FULL, found, state.reverseName, NAME_REV_CLIENT, defAcl);
        forbidAllowlist(ctx, state, name, status, state.reverseName);
        break;
      case 'reject_maps_rbl':
        for (const domain of ctx.config.getList('maps_rbl_domains')) {
          status = await rejectRblAddr(ctx, state, domain, state.addr, NAME_CLIENT);
          if (status !== 0) break;
        }
        break;
      case 'reject_rbl_client':
      case 'reject_rbl':
      case 'permit_dnswl_client':
      case 'reject_rhsbl_client':
      case 'permit_rhswl_client':
      case 'reject_rhsbl_reverse_client':
      case 'reject_rhsbl_helo':
      case 'reject_rhsbl_sender':
      case 'reject_rhsbl_recipient': {
        const domain = hasNext() ? nextWord()! : undefined;
        if (domain === undefined) {
          ctx.log.warning(`restriction ${name} requires domain name argument`);
          break;
        }
        status = await dnsxl(ctx, state, lname, name, domain);
        break;
      }
      case 'check_ccert_access':
        next();
        break;
      case 'check_sasl_access':
        next();
        if (!p.sasl_authenticated_header && !ctx.config.getBool('smtpd_sasl_auth_enable')) ctx.log.warning(`restriction \`${name}' ignored: no SASL support`);
        else if (state.saslUsername) {
          status = await checkAccess(ctx, state, restrictions[i]!, state.saslUsername, FULL, found, state.saslUsername, 'SASL login name', defAcl);
        }
        break;
      case 'check_client_ns_access':
      case 'check_client_mx_access':
      case 'check_client_a_access':
        if (state.name.toLowerCase() !== 'unknown') {
          status = await checkServerAccess(ctx, state, next(), state.name, serverType(lname), state.namaddr, NAME_CLIENT, defAcl);
          forbidAllowlist(ctx, state, name, status, state.name);
        } else next();
        break;
      case 'check_reverse_client_hostname_ns_access':
      case 'check_reverse_client_hostname_mx_access':
      case 'check_reverse_client_hostname_a_access':
        if (state.reverseName.toLowerCase() !== 'unknown') {
          status = await checkServerAccess(ctx, state, next(), state.reverseName, serverType(lname), state.reverseName, NAME_REV_CLIENT, defAcl);
          forbidAllowlist(ctx, state, name, status, state.reverseName);
        } else next();
        break;

      // HELO/EHLO parameter.
      case 'check_helo_access': {
        const table = next();
        if (helo !== null) status = await checkDomainAccess(ctx, state, table, helo, FULL, found, helo, NAME_HELO, defAcl);
        break;
      }
      case 'reject_invalid_helo_hostname':
      case 'reject_invalid_hostname':
        if (helo !== null) {
          status = helo[0] !== '[' ? rejectInvalidHostname(ctx, state, helo, helo, NAME_HELO) : rejectInvalidHostaddr(ctx, state, helo, helo, NAME_HELO);
        }
        break;
      case 'reject_unknown_helo_hostname':
      case 'reject_unknown_hostname':
        if (helo !== null) {
          status = helo[0] !== '[' ? await rejectUnknownHostname(ctx, state, helo, helo, NAME_HELO) : rejectInvalidHostaddr(ctx, state, helo, helo, NAME_HELO);
        }
        break;
      case 'permit_naked_ip_address':
        ctx.log.warning('restriction permit_naked_ip_address is deprecated. Use permit_mynetworks or permit_sasl_authenticated instead');
        if (helo !== null && /^[0-9.:]*$/.test(helo) && (status = rejectInvalidHostaddr(ctx, state, helo, helo, NAME_HELO)) === 0) {
          status = await aclPermit(ctx, state, name, NAME_HELO, helo, '');
        }
        break;
      case 'check_helo_ns_access':
      case 'check_helo_mx_access':
      case 'check_helo_a_access': {
        const table = next();
        if (helo !== null) {
          status = await checkServerAccess(ctx, state, table, helo, serverType(lname), helo, NAME_HELO, defAcl);
          forbidAllowlist(ctx, state, name, status, helo);
        }
        break;
      }
      case 'reject_non_fqdn_helo_hostname':
      case 'reject_non_fqdn_hostname':
        if (helo !== null) {
          status = helo[0] !== '[' ? rejectNonFqdnHostname(ctx, state, helo, helo, NAME_HELO) : rejectInvalidHostaddr(ctx, state, helo, helo, NAME_HELO);
        }
        break;

      // Sender address.
      case 'check_sender_access': {
        const table = next();
        if (sender !== null && sender !== '') status = await checkMailAccess(ctx, state, table, sender, found, sender, NAME_SENDER, defAcl);
        if (sender === '') status = await checkAccess(ctx, state, table, p.nullAccessKey, FULL, found, sender, NAME_SENDER, defAcl);
        break;
      }
      case 'reject_unknown_address':
      case 'reject_unknown_sender_domain':
        if (sender) status = await rejectUnknownAddress(ctx, state, sender, sender, NAME_SENDER);
        break;
      case 'reject_unverified_sender':
        if (sender) status = await rejectUnverifiedAddress(ctx, state, sender, sender, NAME_SENDER);
        break;
      case 'reject_non_fqdn_sender':
        if (sender) status = rejectNonFqdnAddress(ctx, state, sender, sender, NAME_SENDER);
        break;
      case 'reject_authenticated_sender_login_mismatch':
      case 'reject_known_sender_login_mismatch':
      case 'reject_unauthenticated_sender_login_mismatch':
        ctx.log.warning(`restriction \`${name}' ignored: no SASL support`);
        break;
      case 'check_sender_ns_access':
      case 'check_sender_mx_access':
      case 'check_sender_a_access': {
        const table = next();
        if (sender) {
          status = await checkServerAccess(ctx, state, table, sender, serverType(lname), sender, NAME_SENDER, defAcl);
          forbidAllowlist(ctx, state, name, status, sender);
        }
        break;
      }
      case 'reject_unlisted_sender':
        if (sender) status = await checkSenderRcptMaps(ctx, state, sender);
        break;

      // Recipient address.
      case 'check_recipient_access': {
        const table = next();
        if (rcpt !== null) status = await checkMailAccess(ctx, state, table, rcpt, found, rcpt, NAME_RECIPIENT, defAcl);
        break;
      }
      case 'permit_mx_backup':
        if (rcpt !== null) {
          status = await permitMxBackup(ctx, state, rcpt, rcpt, NAME_RECIPIENT);
          if (status === SMTPD_CHECK_OK) status = await aclPermit(ctx, state, name, NAME_RECIPIENT, rcpt, '');
        }
        break;
      case 'permit_auth_destination':
        if (rcpt !== null) {
          status = await permitAuthDestination(ctx, state, rcpt);
          if (status === SMTPD_CHECK_OK) status = await aclPermit(ctx, state, name, NAME_RECIPIENT, rcpt, '');
        }
        break;
      case 'reject_unauth_destination':
        if (rcpt !== null) status = await rejectUnauthDestination(ctx, state, rcpt, p.codes.relayDomains, '5.7.1');
        break;
      case 'defer_unauth_destination':
        if (rcpt !== null) status = await rejectUnauthDestination(ctx, state, rcpt, p.codes.relayDomains - 100, '4.7.1');
        break;
      case 'check_relay_domains':
        if (rcpt !== null) status = await checkRelayDomains(ctx, state, rcpt, rcpt, NAME_RECIPIENT);
        if (status === SMTPD_CHECK_OK) status = await aclPermit(ctx, state, name, NAME_RECIPIENT, rcpt ?? '', '');
        if (hasNext() && state.warnIfReject === 0) ctx.log.warning(`restriction \`${restrictions[i + 1]}' after \`check_relay_domains' is ignored`);
        break;
      case 'permit_sasl_authenticated':
      case 'permit_tls_all_clientcerts':
      case 'permit_tls_clientcerts':
        break;
      case 'reject_unknown_recipient_domain':
        if (rcpt !== null) status = await rejectUnknownAddress(ctx, state, rcpt, rcpt, NAME_RECIPIENT);
        break;
      case 'reject_non_fqdn_recipient':
        if (rcpt !== null) status = rejectNonFqdnAddress(ctx, state, rcpt, rcpt, NAME_RECIPIENT);
        break;
      case 'check_recipient_ns_access':
      case 'check_recipient_mx_access':
      case 'check_recipient_a_access': {
        const table = next();
        if (rcpt) {
          status = await checkServerAccess(ctx, state, table, rcpt, serverType(lname), rcpt, NAME_RECIPIENT, defAcl);
          forbidAllowlist(ctx, state, name, status, rcpt);
        }
        break;
      }
      case 'check_recipient_maps':
      case 'reject_unlisted_recipient':
        if (rcpt) status = await checkRecipientRcptMaps(ctx, state, rcpt);
        break;
      case 'reject_multi_recipient_bounce':
        if (sender === '' && state.rcptCount > (state.where !== 'RCPT' ? 1 : 0)) {
          status = smtpdCheckReject(ctx, state, MAIL_ERROR_POLICY, p.codes.multiRecipientBounce, '5.5.3',
            `<${replyName}>: ${replyClass} rejected: Multi-recipient bounce`);
        }
        break;
      case 'reject_unverified_recipient':
        if (rcpt) status = await rejectUnverifiedAddress(ctx, state, rcpt, rcpt, NAME_RECIPIENT);
        break;

      // ETRN domain.
      case 'check_etrn_access': {
        const table = next();
        if (state.etrnName !== null) status = await checkDomainAccess(ctx, state, table, state.etrnName, FULL, found, state.etrnName, NAME_ETRN, defAcl);
        break;
      }

      default: {
        const cls = ctx.restrictionClasses.get(name);
        if (cls) {
          status = await genericChecks(ctx, state, cls, replyName, replyClass, defAcl);
        } else {
          ctx.log.warning(toText(`unknown smtpd restriction: "${name}"`));
          rejectServerError(ctx, state);
        }
      }
    }
    if (status < 0) {
      if (status === -1) rejectDictRetry(ctx, state, replyName);
      else rejectServerError(ctx, state);
    }
    if (state.warnIfReject >= state.recursion) state.warnIfReject = 0;
    if (status !== 0) break;
    if (state.deferIfPermit.active && state.deferIfReject.active) break;
  }
  state.recursion = savedRecursion;
  if (state.warnIfReject >= state.recursion) state.warnIfReject = 0;
  return status;
}

function serverType(lname: string): 'NS' | 'MX' | 'A' {
  return lname.includes('_ns_') ? 'NS' : lname.includes('_mx_') ? 'MX' : 'A';
}

/** The DNS list restrictions: the looked-up value depends on the word. */
async function dnsxl(ctx: SmtpdContext, state: SmtpdState, lname: string, name: string, domain: string): Promise<number> {
  switch (lname) {
    case 'reject_rbl_client':
    case 'reject_rbl':
      return rejectRblAddr(ctx, state, domain, state.addr, NAME_CLIENT);
    case 'permit_dnswl_client': {
      const s = await permitDnswlAddr(ctx, state, domain, state.addr, NAME_CLIENT);
      return s === SMTPD_CHECK_OK ? aclPermit(ctx, state, name, NAME_CLIENT, state.namaddr, '') : s;
    }
    case 'reject_rhsbl_client':
      return state.name.toLowerCase() !== 'unknown' ? rejectRblDomain(ctx, state, domain, state.name, NAME_CLIENT) : 0;
    case 'permit_rhswl_client': {
      if (state.name.toLowerCase() === 'unknown') return 0;
      const s = await permitDnswlDomain(ctx, state, domain, state.name, NAME_CLIENT);
      return s === SMTPD_CHECK_OK ? aclPermit(ctx, state, name, NAME_CLIENT, state.namaddr, '') : s;
    }
    case 'reject_rhsbl_reverse_client':
      return state.reverseName.toLowerCase() !== 'unknown' ? rejectRblDomain(ctx, state, domain, state.reverseName, NAME_REV_CLIENT) : 0;
    case 'reject_rhsbl_helo':
      return state.heloName !== null ? rejectRblDomain(ctx, state, domain, state.heloName, NAME_HELO) : 0;
    case 'reject_rhsbl_sender':
      return state.sender ? rejectRblDomain(ctx, state, domain, state.sender, NAME_SENDER) : 0;
    case 'reject_rhsbl_recipient':
      return state.recipient !== null ? rejectRblDomain(ctx, state, domain, state.recipient, NAME_RECIPIENT) : 0;
    default:
      return 0;
  }
}

void toBytes;
void checkAddrAccess;
