// Mirrors the access-table half of Postfix's smtpd/smtpd_check.c:
// check_table_result (what an access table's answer means: OK, REJECT,
// DEFER, DEFER_IF_PERMIT, DEFER_IF_REJECT, DUNNO, 4xx/5xx text, HOLD,
// DISCARD, REDIRECT, FILTER, PREPEND, WARN, INFO, BCC, HANGUP, a number,
// or a list of restrictions / restriction class names), and the lookup
// orders of check_access, check_domain_access (the name, then parent
// domains), check_addr_access (the address, then shorter networks),
// check_namadr_access and check_mail_access (user+ext@domain, user@domain,
// domain and parents, user@).
import { DICT_FLAG_FIXED } from '../../dict/dict.js';
import { MA_FIND_DOMAIN, MA_FIND_FULL, MA_FIND_LOCALPART_AT, MA_FIND_NOEXT, MA_FIND_PDDMDS, MA_FIND_PDMS, mailAddrFindStrategy } from '../../address/addr-find.js';
import { MATCH_FLAG_PARENT } from '../../address/match-list.js';
import { RESOLVE_FLAG_FAIL, RESOLVE_FLAG_ROUTED } from '../../address/resolve.js';
import { validHostaddr } from '../hostname.js';
import { allDigits, toBytes, toText } from '../text.js';
import { dsnSplit } from '../../mail/dsn.js';
import { isHeader } from '../../mail/header.js';
import { CLEANUP_FLAG_DISCARD, CLEANUP_FLAG_HOLD } from '../../cleanup/api.js';
import { AFTER_EOM, MAIL_ERROR_POLICY, type SmtpdState } from '../state.js';
import type { SmtpdContext } from '../context.js';
import { parseRestrictions } from '../context.js';
import {
  aclPermit, DEFER_IF_PERMIT_ACT, deferIf, deferIfPermit, logWhatsup, NAME_RECIPIENT, rejectDictRetry, rejectServerError,
  smtpdCheckReject, smtpdDsnFix, SMTPD_CHECK_DUNNO, SMTPD_CHECK_OK,
} from './reject.js';
import { genericChecks } from './generic.js';
import { SessionExit } from '../stream.js';

const SERVER_CONFIG_ERROR = '451 4.3.5 Server configuration error';

/** STREQUAL(): the command word equals the keyword, any case. */
const isWord = (cmd: string, word: string): boolean => cmd.toUpperCase() === word;

/** can_delegate_action(): actions carried out by cleanup need a mail transaction. */
function canDelegate(ctx: SmtpdContext, state: SmtpdState, table: string, action: string): boolean {
  if (state.where === 'ETRN') {
    ctx.log.warning(`access table ${table}: action ${action} is unavailable in smtpd_etrn_restrictions`);
    return false;
  }
  return notInClientHelo(ctx, state, table, action);
}

/** not_in_client_helo(): with smtpd_delay_reject=no there is no transaction yet. */
function notInClientHelo(ctx: SmtpdContext, state: SmtpdState, table: string, action: string): boolean {
  if (state.sender === null) {
    ctx.log.warning(`access table ${table}: with smtpd_delay_reject=no, action ${action} is always skipped in Client host or Helo command restrictions`);
    return false;
  }
  return true;
}

/**
 * check_table_result(): the verdict of one access table answer. `value`
 * is the table's answer (byte string), `datum` what was looked up.
 */
export async function checkTableResult(
  ctx: SmtpdContext, state: SmtpdState, table: string, value: string, datum: string,
  replyName: string, replyClass: string, defAcl: string | null,
): Promise<number> {
  const cmdLen = value.search(/[ \t]/) < 0 ? value.length : value.search(/[ \t]/);
  const cmd = value.slice(0, cmdLen);
  const text = value.slice(cmdLen).replace(/^[ \t\n\r\v\f]+/, '');
  const codes = ctx.params.codes;

  if (isWord(cmd, 'DUNNO')) return SMTPD_CHECK_DUNNO;
  if (isWord(cmd, 'REJECT')) {
    const dp = dsnSplit('5.7.1', text);
    return smtpdCheckReject(ctx, state, MAIL_ERROR_POLICY, codes.accessMapReject, smtpdDsnFix(ctx, dp.dsn, replyClass),
      `<${replyName}>: ${replyClass} rejected: ${dp.text || 'Access denied'}`);
  }
  if (isWord(cmd, 'DEFER')) {
    const dp = dsnSplit('4.7.1', text);
    return smtpdCheckReject(ctx, state, MAIL_ERROR_POLICY, codes.accessMapDefer, smtpdDsnFix(ctx, dp.dsn, replyClass),
      `<${replyName}>: ${replyClass} rejected: ${dp.text || 'Access denied'}`);
  }
  if (isWord(cmd, 'HANGUP')) {
    logWhatsup(ctx, state, 'hangup', text);
    state.stream.hangup();
    throw new SessionExit('quiet');
  }
  if (isWord(cmd, 'INFO')) {
    logWhatsup(ctx, state, 'info', text);
    return SMTPD_CHECK_DUNNO;
  }
  if (isWord(cmd, 'WARN')) {
    logWhatsup(ctx, state, 'warn', text);
    return SMTPD_CHECK_DUNNO;
  }
  if (isWord(cmd, 'FILTER')) {
    if (!canDelegate(ctx, state, table, 'FILTER')) return SMTPD_CHECK_DUNNO;
    if (text === '') {
      ctx.log.warning(toText(`access table ${table} entry "${datum}" has FILTER entry without value`));
    } else if (!text.includes(':')) {
      ctx.log.warning(toText(`access table ${table} entry "${datum}" requires transport:destination`));
    } else {
      logWhatsup(ctx, state, 'filter', `<${replyName}>: ${replyClass} triggers FILTER ${text}`);
      state.savedFilter = text;
    }
    return SMTPD_CHECK_DUNNO;
  }
  if (isWord(cmd, 'HOLD')) {
    if (!canDelegate(ctx, state, table, 'HOLD') || state.savedFlags & CLEANUP_FLAG_HOLD) return SMTPD_CHECK_DUNNO;
    logWhatsup(ctx, state, 'hold', `<${replyName}>: ${replyClass} ${text || 'triggers HOLD action'}`);
    state.savedFlags |= CLEANUP_FLAG_HOLD;
    return SMTPD_CHECK_DUNNO;
  }
  if (isWord(cmd, 'DISCARD')) {
    if (!canDelegate(ctx, state, table, 'DISCARD')) return SMTPD_CHECK_DUNNO;
    logWhatsup(ctx, state, 'discard', `<${replyName}>: ${replyClass} ${text || 'triggers DISCARD action'}`);
    state.savedFlags |= CLEANUP_FLAG_DISCARD;
    state.discard = true;
    return aclPermit(ctx, state, cmd, replyClass, replyName, `from ${table}`);
  }
  if (isWord(cmd, 'REDIRECT') || isWord(cmd, 'BCC')) {
    const word = cmd.toUpperCase();
    if (!canDelegate(ctx, state, table, word)) return SMTPD_CHECK_DUNNO;
    if (!text.includes('@')) {
      ctx.log.warning(toText(`access table ${table} entry "${datum}" requires user@domain target`));
      return SMTPD_CHECK_DUNNO;
    }
    logWhatsup(ctx, state, word.toLowerCase(), `<${replyName}>: ${replyClass} triggers ${word} ${text}`);
    if (word === 'REDIRECT') state.savedRedirect = text;
    else (state.savedBcc ??= []).push(text);
    return SMTPD_CHECK_DUNNO;
  }
  if (isWord(cmd, 'DEFER_IF_PERMIT')) {
    const dp = dsnSplit('4.7.1', text);
    return deferIfPermit(ctx, state, DEFER_IF_PERMIT_ACT, MAIL_ERROR_POLICY, codes.accessMapDefer, smtpdDsnFix(ctx, dp.dsn, replyClass),
      `<${replyName}>: ${replyClass} rejected: ${dp.text || 'Service unavailable'}`);
  }
  if (isWord(cmd, 'DEFER_IF_REJECT')) {
    const dp = dsnSplit('4.7.1', text);
    deferIf(state.deferIfReject, MAIL_ERROR_POLICY, codes.accessMapDefer, smtpdDsnFix(ctx, dp.dsn, replyClass),
      `<${replyName}>: ${replyClass} rejected: ${dp.text || 'Service unavailable'}`);
    return SMTPD_CHECK_DUNNO;
  }
  if (isWord(cmd, 'PREPEND')) {
    if (!notInClientHelo(ctx, state, table, 'PREPEND')) return SMTPD_CHECK_DUNNO;
    if (state.where === AFTER_EOM) {
      ctx.log.warning(`access table ${table}: action PREPEND must be used before smtpd_end_of_data_restrictions`);
    } else if (text === '' || !isHeader(text)) {
      ctx.log.warning(toText(`access table ${table} entry "${datum}" requires header: text`));
    } else {
      (state.prepend ??= []).push(text);
    }
    return SMTPD_CHECK_DUNNO;
  }
  if (allDigits(value)) return aclPermit(ctx, state, cmd, replyClass, replyName, `from ${table}`);
  if (cmdLen === 3 && text !== '' && /^[45][0-9][0-9]$/.test(cmd)) {
    const dp = dsnSplit(`${value[0]}.7.1`, text);
    return smtpdCheckReject(ctx, state, MAIL_ERROR_POLICY, Number(cmd), smtpdDsnFix(ctx, dp.dsn, replyClass),
      `<${replyName}>: ${replyClass} rejected: ${dp.text || 'Access denied'}`);
  }
  if (isWord(cmd, 'OK') || isWord(cmd, 'RELAY')) return aclPermit(ctx, state, cmd, replyClass, replyName, `from ${table}`);
  if (value.includes(':')) {
    ctx.log.warning(toText(`access table ${table} has entry with lookup table: ${value}`));
    ctx.log.warning('do not specify lookup tables inside SMTPD access maps');
    ctx.log.warning('define a restriction class and specify its name instead.');
    rejectServerError(ctx, state);
  }
  if (state.recursion > 100) {
    ctx.log.warning(toText(`access table ${table} entry ${value} causes unreasonable recursion`));
    rejectServerError(ctx, state);
  }
  const restrictions = parseRestrictions(value);
  if (restrictions.length === 0) {
    ctx.log.warning(toText(`access table ${table} entry ${value} has empty value`));
    return SMTPD_CHECK_OK;
  }
  return genericChecks(ctx, state, restrictions, replyName, replyClass, defAcl);
}

export interface Found {
  found: boolean;
}

/** One lookup in a registered access table; a table error becomes the 451 configuration verdict. */
async function accessLookup(
  ctx: SmtpdContext, state: SmtpdState, table: string, key: string, flags: number,
  datum: string, replyName: string, replyClass: string, defAcl: string | null,
): Promise<number | null> {
  const maps = ctx.accessMaps.get(table);
  if (!maps) {
    ctx.log.warning(`check_access: unexpected dictionary: ${table}`);
    return checkTableResult(ctx, state, table, SERVER_CONFIG_ERROR, datum, replyName, replyClass, defAcl);
  }
  const r = await maps.find(toText(key), flags);
  if (r.status === 'found') return checkTableResult(ctx, state, table, toBytes(r.value), datum, replyName, replyClass, defAcl);
  if (r.status === 'error') return checkTableResult(ctx, state, table, SERVER_CONFIG_ERROR, datum, replyName, replyClass, defAcl);
  return null;
}

/** check_access(): one key, no substrings. */
export async function checkAccess(
  ctx: SmtpdContext, state: SmtpdState, table: string, name: string, flags: number, found: Found,
  replyName: string, replyClass: string, defAcl: string | null,
): Promise<number> {
  const r = await accessLookup(ctx, state, table, name, flags, name, replyName, replyClass, defAcl);
  found.found = r !== null;
  return r ?? SMTPD_CHECK_DUNNO;
}

/** check_domain_access(): the name, then its parent domains (not for numeric names). */
export async function checkDomainAccess(
  ctx: SmtpdContext, state: SmtpdState, table: string, domain: string, flags: number, found: Found,
  replyName: string, replyClass: string, defAcl: string | null,
): Promise<number> {
  let name = domain;
  let f = flags;
  let maybeNumerical = true;
  while (name !== '') {
    const r = await accessLookup(ctx, state, table, name, f, domain, replyName, replyClass, defAcl);
    if (r !== null) {
      found.found = true;
      return r;
    }
    if (maybeNumerical && (maybeNumerical = validHostaddr(domain))) break;
    const dot = name.indexOf('.', 1);
    if (dot < 0) break;
    name = ctx.accessParentStyle === MATCH_FLAG_PARENT ? name.slice(dot + 1) : name.slice(dot);
    f = DICT_FLAG_FIXED;
  }
  found.found = false;
  return SMTPD_CHECK_DUNNO;
}

/** check_addr_access(): the address, then its shorter network prefixes ("1.2.3", "1.2", "1"). */
export async function checkAddrAccess(
  ctx: SmtpdContext, state: SmtpdState, table: string, address: string, flags: number, found: Found,
  replyName: string, replyClass: string, defAcl: string | null,
): Promise<number> {
  const delim = address.includes(':') ? ':' : '.';
  let addr = address;
  let f = flags;
  for (;;) {
    const r = await accessLookup(ctx, state, table, addr, f, address, replyName, replyClass, defAcl);
    if (r !== null) {
      found.found = true;
      return r;
    }
    f = DICT_FLAG_FIXED;
    const cut = addr.lastIndexOf(delim);
    if (cut < 0) break;
    addr = addr.slice(0, cut);
  }
  found.found = false;
  return SMTPD_CHECK_DUNNO;
}

/** check_namadr_access(): the host name (and parents), then the address (and networks). */
export async function checkNamadrAccess(
  ctx: SmtpdContext, state: SmtpdState, table: string, name: string, addr: string, flags: number, found: Found,
  replyName: string, replyClass: string, defAcl: string | null,
): Promise<number> {
  let status = await checkDomainAccess(ctx, state, table, name, flags, found, replyName, replyClass, defAcl);
  if (status !== 0 || found.found) return status;
  status = await checkAddrAccess(ctx, state, table, addr, flags, found, replyName, replyClass, defAcl);
  if (status !== 0 || found.found) return status;
  return SMTPD_CHECK_DUNNO;
}

/** check_mail_access(): the resolved address by mail_addr_find's access-map strategy. */
export async function checkMailAccess(
  ctx: SmtpdContext, state: SmtpdState, table: string, addr: string, found: Found,
  replyName: string, replyClass: string, defAcl: string | null,
): Promise<number> {
  const reply = await ctx.resolve(replyClass === 'Sender address' ? state.recipient : state.sender, addr);
  if (reply.flags & RESOLVE_FLAG_FAIL) rejectDictRetry(ctx, state, addr);
  const recipient = reply.recipient;
  if (!recipient.includes('@')) {
    ctx.log.warning(`check_mail_access: no @domain in address: ${recipient}`);
    return 0;
  }
  const suspicious = !ctx.params.allowUntrustedRouting && (reply.flags & RESOLVE_FLAG_ROUTED) !== 0 && replyClass === NAME_RECIPIENT;
  const strategy = MA_FIND_FULL | MA_FIND_NOEXT | MA_FIND_DOMAIN | MA_FIND_LOCALPART_AT
    | (ctx.accessParentStyle === MATCH_FLAG_PARENT ? MA_FIND_PDMS : MA_FIND_PDDMDS);
  const maps = ctx.accessMaps.get(table);
  const datum = toBytes(recipient);
  if (!maps) {
    ctx.log.warning(`check_mail_access: unexpected dictionary: ${table}`);
    return checkTableResult(ctx, state, table, SERVER_CONFIG_ERROR, datum, replyName, replyClass, defAcl);
  }
  const r = await mailAddrFindStrategy(maps, recipient, strategy, ctx.addrFindEnv);
  if (r.status === 'found') {
    found.found = true;
    const status = await checkTableResult(ctx, state, table, toBytes(r.value), datum, replyName, replyClass, defAcl);
    return status === SMTPD_CHECK_OK && suspicious ? SMTPD_CHECK_DUNNO : status;
  }
  if (r.status === 'error') return checkTableResult(ctx, state, table, SERVER_CONFIG_ERROR, datum, replyName, replyClass, defAcl);
  return SMTPD_CHECK_DUNNO;
}
