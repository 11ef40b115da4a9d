// Mirrors the DNS-based restrictions of Postfix's smtpd/smtpd_check.c:
// reject_rbl_client/permit_dnswl_client (reversed client address under a
// list domain), reject_rhsbl_*/permit_rhswl_client (a domain name under a
// list domain), with "domain=127.0.0.2" reply filters and the
// default_rbl_reply template; check_*_{ns,mx,a}_access (access tables
// applied to the DNS servers of a name); permit_mx_backup; and
// reject_unverified_* (this project has no verify service, so the
// verification is always "temporarily unavailable", as Postfix answers
// when its verify service cannot be reached).
import dns from 'node:dns';
import { macExpand } from '../../config/expand.js';
import { RESOLVE_CLASS_RELAY, RESOLVE_FLAG_FAIL, RESOLVE_FLAG_ROUTED } from '../../address/resolve.js';
import { numericAddress } from '../../address/resolve-local.js';
import { domainToAsciiBytes, validHostaddr, validHostname, validMailhostAddr } from '../hostname.js';
import { MAIL_ERROR_POLICY, RESOLVE_CLASS_FINAL, type SmtpdState } from '../state.js';
import type { SmtpdContext } from '../context.js';
import { allDigits, toText } from '../text.js';
import { dsnSplit } from '../../mail/dsn.js';
import { expandLookup } from '../expand.js';
import { checkAddrAccess, checkDomainAccess, type Found } from './access.js';
import { permitAuthDestination } from './addresses.js';
import {
  DEFER_IF_PERMIT_ACT, deferIf, deferIfPermit, NAME_SENDER, rejectDictRetry, rejectServerError, SND_DSN, smtpdCheckReject,
  smtpdDsnFix, SMTPD_CHECK_DUNNO, SMTPD_CHECK_OK,
} from './reject.js';

type RblResult = { kind: 'hard' } | { kind: 'soft' } | { kind: 'ok'; txt: string | null; addrs: string[] };

const resolver = new dns.promises.Resolver({ timeout: 5000, tries: 2 });

/** rbl_pagein(): the A records of a list entry, and its TXT text. */
async function rblLookup(ctx: SmtpdContext, query: string): Promise<RblResult> {
  let addrs: string[];
  try {
    addrs = await resolver.resolve4(query);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOTFOUND' || code === 'ENODATA') return { kind: 'hard' };
    ctx.log.warning(`${query}: RBL lookup error: Host or domain name not found. Name service error for name=${query} type=A: Host not found, try again`);
    return { kind: 'soft' };
  }
  let txt: string | null = null;
  try {
    const records = await resolver.resolveTxt(query);
    const parts = records.map((r) => r.join(''));
    txt = '';
    for (let i = 0; i < parts.length && txt.length < 500; i++) {
      txt += parts[i]!.slice(0, 500 - txt.length);
      if (i + 1 < parts.length && 500 - txt.length > 3) txt += ' / ';
    }
  } catch {
    txt = null;
  }
  return { kind: 'ok', txt, addrs };
}

/** ip_match for reply filters: "127.0.0.2" or octets with [a..b] and [a;b] sets. */
function ipMatches(pattern: string, addr: string): boolean {
  const pOct = pattern.split(/\.(?![^[]*\])/);
  const aOct = addr.split('.');
  if (pOct.length !== 4 || aOct.length !== 4) return false;
  return pOct.every((p, i) => {
    const v = Number(aOct[i]);
    if (p[0] !== '[') return Number(p) === v;
    return p.slice(1, -1).split(';').some((alt) => {
      const r = /^([0-9]+)\.\.([0-9]+)$/.exec(alt);
      return r ? v >= Number(r[1]) && v <= Number(r[2]) : Number(alt) === v;
    });
  });
}

/** smtpd_rbl_cache: results (and their warnings) are kept for the life of the service, 100 at most. */
const rblCaches = new WeakMap<SmtpdContext, Map<string, Promise<RblResult>>>();

function cachedRblLookup(ctx: SmtpdContext, name: string): Promise<RblResult> {
  let cache = rblCaches.get(ctx);
  if (!cache) rblCaches.set(ctx, (cache = new Map()));
  let hit = cache.get(name);
  if (hit) {
    cache.delete(name);
  } else {
    hit = rblLookup(ctx, name);
    if (cache.size >= 100) cache.delete(cache.keys().next().value!);
  }
  cache.set(name, hit);
  return hit;
}

/** A list lookup with the optional "=reply" filter of the list domain. */
async function findDnsxl(ctx: SmtpdContext, query: string): Promise<RblResult> {
  const eq = query.indexOf('=');
  const name = eq < 0 ? query : query.slice(0, eq);
  const r = await cachedRblLookup(ctx, name);
  if (r.kind === 'ok' && eq >= 0 && !r.addrs.some((a) => ipMatches(query.slice(eq + 1), a))) return { kind: 'hard' };
  return r;
}

/** find_dnsxl_addr(): the reversed client address under the list domain. */
function addrQuery(addr: string, domain: string): string {
  if (addr.includes(':')) {
    const bytes = numericAddress(addr);
    if (!bytes) return domain;
    let q = '';
    for (let i = bytes.length - 1; i >= 0; i--) q += `${(bytes[i]! & 0xf).toString(16)}.${(bytes[i]! >> 4).toString(16)}.`;
    return q + domain;
  }
  return addr.split('.').reverse().join('.') + '.' + domain;
}

/** find_dnsxl_domain(): the domain of a name or address under the list domain, or null to skip. */
function domainQuery(what: string, rblDomain: string): string | null {
  let domain = what;
  const at = what.lastIndexOf('@');
  if (at >= 0) {
    domain = what.slice(at + 1);
    if (domain[0] === '[') return null;
  }
  if (domain === '') return null;
  const dot = domain.lastIndexOf('.');
  if (allDigits(dot < 0 ? domain : domain.slice(dot + 1))) return null;
  // eslint-disable-next-line no-control-regex
  if (!/^[\x00-\x7f]*$/.test(domain)) domain = domainToAsciiBytes(domain) ?? domain;
  if (domain === '' || !validHostname(domain)) return null;
  return `${domain}.${rblDomain}`;
}

/** rbl_reject_reply(): the reply template expanded with rbl_* and client macros. */
async function rblRejectReply(ctx: SmtpdContext, state: SmtpdState, txt: string | null, rblDomain: string, what: string, replyClass: string): Promise<number> {
  let template: string | null = null;
  const replyMaps = ctx.rblReplyMaps;
  if (replyMaps) {
    const r = await replyMaps.find(toText(rblDomain));
    if (r.status === 'error') rejectServerError(ctx, state);
    if (r.status === 'found') template = r.value;
  }
  const domain = rblDomain.split('=')[0]!;
  const rblNames: Record<string, string> = {
    rbl_code: String(ctx.config.getInt('maps_rbl_reject_code')),
    rbl_domain: domain, rbl_reason: txt ?? '', rbl_txt: txt ?? '', rbl_what: what, rbl_class: replyClass,
  };
  const expand = (t: string): string | null => {
    let bad = false;
    const r = macExpand(t, (name) => rblNames[name] ?? expandLookup(ctx, state, name), 0, () => { bad = true; });
    return bad || r.status & 1 ? null : r.result;
  };
  let why = template !== null ? expand(template) : null;
  if (why === null) {
    if (template !== null) ctx.log.warning(`rbl_reject_reply: bad rbl reply template for domain ${rblDomain}: ${template}`);
    why = expand(ctx.config.get('default_rbl_reply')) ?? '';
  }
  if (!/^[45][0-9][0-9] /.test(why)) {
    ctx.log.warning(`rbl response code configuration error: ${why}`);
    return smtpdCheckReject(ctx, state, MAIL_ERROR_POLICY, 450, '4.7.1', 'Service unavailable');
  }
  const dp = dsnSplit('4.7.1', why.slice(4));
  return smtpdCheckReject(ctx, state, MAIL_ERROR_POLICY, Number(why.slice(0, 3)), smtpdDsnFix(ctx, dp.dsn, replyClass), dp.text || 'Service unavailable');
}

export async function rejectRblAddr(ctx: SmtpdContext, state: SmtpdState, rblDomain: string, addr: string, replyClass: string): Promise<number> {
  const r = await findDnsxl(ctx, addrQuery(addr, rblDomain));
  return r.kind === 'ok' ? rblRejectReply(ctx, state, r.txt, rblDomain, addr, replyClass) : SMTPD_CHECK_DUNNO;
}

export async function rejectRblDomain(ctx: SmtpdContext, state: SmtpdState, rblDomain: string, what: string, replyClass: string): Promise<number> {
  const q = domainQuery(what, rblDomain);
  if (q === null) return SMTPD_CHECK_DUNNO;
  const r = await findDnsxl(ctx, q);
  return r.kind === 'ok' ? rblRejectReply(ctx, state, r.txt, rblDomain, what, replyClass) : SMTPD_CHECK_DUNNO;
}

async function permitDnswl(ctx: SmtpdContext, state: SmtpdState, query: string | null, what: string, replyClass: string): Promise<number> {
  if (state.where === 'RCPT' && state.recipient !== null && (await permitAuthDestination(ctx, state, state.recipient)) !== SMTPD_CHECK_OK) {
    return SMTPD_CHECK_DUNNO;
  }
  if (query === null) return SMTPD_CHECK_DUNNO;
  const r = await findDnsxl(ctx, query);
  if (r.kind === 'hard') return SMTPD_CHECK_DUNNO;
  if (r.kind === 'soft') {
    deferIf(state.deferIfReject, MAIL_ERROR_POLICY, 450, '4.7.1', `<${what}>: ${replyClass} rejected: Service unavailable`);
    return SMTPD_CHECK_DUNNO;
  }
  return SMTPD_CHECK_OK;
}

export function permitDnswlAddr(ctx: SmtpdContext, state: SmtpdState, domain: string, addr: string, replyClass: string): Promise<number> {
  return permitDnswl(ctx, state, addrQuery(addr, domain), addr, replyClass);
}

export function permitDnswlDomain(ctx: SmtpdContext, state: SmtpdState, domain: string, what: string, replyClass: string): Promise<number> {
  return permitDnswl(ctx, state, domainQuery(what, domain), what, replyClass);
}

/** The host names (or addresses) a DNS lookup of type gives for a domain; null when the lookup failed. */
async function serverList(ctx: SmtpdContext, domain: string, type: 'NS' | 'MX' | 'A'): Promise<string[] | null> {
  if (type === 'A') return [domain];
  try {
    if (type === 'MX') {
      const mx = await resolver.resolveMx(domain);
      if (mx.length === 1 && (mx[0]!.exchange === '' || mx[0]!.exchange === '.')) return [];
      return mx.map((m) => m.exchange);
    }
    let d = domain;
    for (;;) {
      try {
        return await resolver.resolveNs(d);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        const dot = d.indexOf('.');
        if ((code !== 'ENOTFOUND' && code !== 'ENODATA') || dot < 0 || dot + 1 >= d.length) throw e;
        d = d.slice(dot + 1);
      }
    }
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (type === 'MX' && (code === 'ENOTFOUND' || code === 'ENODATA')) return [domain];
    const why = code === 'ENOTFOUND' || code === 'ENODATA' ? 'Host not found' : 'Host not found, try again';
    ctx.log.warning(toText(`Unable to look up ${type} host for ${domain}: ${why}`));
    return null;
  }
}

/** check_server_access(): the table applied to the MX/NS hosts (names, then addresses) of a name. */
export async function checkServerAccess(
  ctx: SmtpdContext, state: SmtpdState, table: string, name: string, type: 'NS' | 'MX' | 'A',
  replyName: string, replyClass: string, defAcl: string | null,
): Promise<number> {
  const at = name.lastIndexOf('@');
  let domain = at >= 0 ? name.slice(at + 1) : name;
  const found: Found = { found: false };
  if (domain[0] === '[') {
    if (type !== 'A' && type !== 'MX') return SMTPD_CHECK_DUNNO;
    if (!domain.endsWith(']')) return SMTPD_CHECK_DUNNO;
    const bare = validMailhostAddr(domain.slice(1, -1));
    return bare === null ? SMTPD_CHECK_DUNNO : checkAddrAccess(ctx, state, table, bare, 0, found, replyName, replyClass, defAcl);
  }
  // eslint-disable-next-line no-control-regex
  if (!/^[\x00-\x7f]*$/.test(domain)) domain = domainToAsciiBytes(domain) ?? domain;
  const servers = await serverList(ctx, toText(domain), type);
  if (servers === null) return SMTPD_CHECK_DUNNO;
  for (const server of servers) {
    if (validHostaddr(server)) {
      const s = await checkAddrAccess(ctx, state, table, server, 0, found, replyName, replyClass, defAcl);
      if (s !== 0 || found.found) return s;
      continue;
    }
    if (type !== 'A') {
      const s = await checkDomainAccess(ctx, state, table, server, 0, found, replyName, replyClass, defAcl);
      if (s !== 0 || found.found) return s;
    }
    let addrs: string[];
    try {
      addrs = (await dns.promises.lookup(server, { all: true })).map((a) => a.address);
    } catch {
      if (type !== 'A') ctx.log.warning(toText(`Unable to look up ${type} host ${server} for ${replyClass} ${replyName}: hostname nor servname provided, or not known`));
      continue;
    }
    for (const a of addrs) {
      const s = await checkAddrAccess(ctx, state, table, a, 0, found, replyName, replyClass, defAcl);
      if (s !== 0 || found.found) return s;
    }
  }
  return SMTPD_CHECK_DUNNO;
}

/** permit_mx_backup(): we are a backup MX for the destination (or deliver it ourselves). */
export async function permitMxBackup(ctx: SmtpdContext, state: SmtpdState, recipient: string, replyName: string, replyClass: string): Promise<number> {
  const reply = await ctx.resolve(state.sender, recipient);
  if (reply.flags & RESOLVE_FLAG_FAIL) rejectDictRetry(ctx, state, recipient);
  const at = reply.recipient.lastIndexOf('@');
  if (at < 0) return SMTPD_CHECK_OK;
  const domain = reply.recipient.slice(at + 1);
  if (!ctx.params.allowUntrustedRouting && reply.flags & RESOLVE_FLAG_ROUTED) return SMTPD_CHECK_DUNNO;
  if (reply.flags & (RESOLVE_CLASS_FINAL | RESOLVE_CLASS_RELAY)) return SMTPD_CHECK_OK;
  if (domain[0] === '[' && domain.endsWith(']')) return SMTPD_CHECK_DUNNO;
  let mx: dns.MxRecord[];
  try {
    mx = await resolver.resolveMx(domain);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'ENOTFOUND' && code !== 'ENODATA') {
      deferIf(state.deferIfReject, MAIL_ERROR_POLICY, 450, '4.4.4',
        `<${replyName}>: ${replyClass} rejected: Unable to look up mail exchanger information: Host not found, try again`);
    }
    return SMTPD_CHECK_DUNNO;
  }
  mx.sort((a, b) => a.priority - b.priority);
  const best = mx[0]?.priority;
  const isMine = async (hosts: dns.MxRecord[]): Promise<boolean> => {
    for (const h of hosts) {
      try {
        for (const a of await dns.promises.lookup(h.exchange, { all: true })) {
          const bytes = numericAddress(a.address);
          if (bytes && (await ctx.ownAddresses.contains(bytes))) return true;
        }
      } catch {
        // An MX host without an address cannot be us.
      }
    }
    return false;
  };
  const primaries = mx.filter((m) => m.priority === best);
  const backups = mx.filter((m) => m.priority !== best);
  if (await isMine(primaries)) return SMTPD_CHECK_DUNNO;
  if (backups.length === 0 || !(await isMine(backups))) return SMTPD_CHECK_DUNNO;
  return SMTPD_CHECK_OK;
}

/** reject_unverified_address(): without a verify service the answer is a deferral. */
export async function rejectUnverifiedAddress(ctx: SmtpdContext, state: SmtpdState, _addr: string, replyName: string, replyClass: string): Promise<number> {
  ctx.log.warning(`${ctx.config.get('address_verify_service_name') || 'verify'} service failure`);
  const isSender = replyClass === NAME_SENDER;
  const action = ctx.config.get(isSender ? 'unverified_sender_tempfail_action' : 'unverified_recipient_tempfail_action');
  return deferIfPermit(ctx, state, action === 'defer' ? 0 : DEFER_IF_PERMIT_ACT, MAIL_ERROR_POLICY, 450, isSender ? SND_DSN : '4.1.1',
    `<${replyName}>: ${replyClass} rejected: address verification problem`);
}
