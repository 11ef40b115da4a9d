// Mirrors Postfix's global/mail_addr_find.c and global/mail_addr_map.c: how
// an address is looked up in a table list. The order is user+ext@domain,
// user@domain (extension stripped at recipient_delimiter), then for local
// domains user+ext and user, then @domain, then (optionally) the domain and
// its parents. mail_addr_map turns the answer into a list of addresses,
// completes "@otherdomain" results with the original user, and carries the
// unmatched extension over. Keys go to the tables in external (quoted) form,
// falling back to internal form, as Postfix's legacy lookups do.
import { DICT_FLAG_FIXED } from '../dict/dict.js';
import {
  MA_FORM_EXTERNAL, MA_FORM_EXTERNAL_FIRST, MA_FORM_INTERNAL, MA_FORM_INTERNAL_FIRST,
  mailAddrCrunch, noCanonicalization, type CanonAddrExternal,
} from './crunch.js';
import { QUOTE_FLAG_BARE_LOCALPART, QUOTE_FLAG_DEFAULT, quote822Local, quote822LocalFlags, unquote822Local } from './quote.js';
import { stripAddr } from './strip.js';
import type { SplitAddrOptions } from './split.js';
import { sameCaseless } from './match-list.js';
import type { Maps } from './maps.js';

export const MA_FIND_FULL = 1 << 0; // localpart+ext@domain
export const MA_FIND_NOEXT = 1 << 1; // localpart@domain
export const MA_FIND_LOCALPART_IF_LOCAL = 1 << 2; // localpart (maybe localpart+ext)
export const MA_FIND_LOCALPART_AT_IF_LOCAL = 1 << 3; // ditto, with @ at end
export const MA_FIND_AT_DOMAIN = 1 << 4; // @domain
export const MA_FIND_DOMAIN = 1 << 5; // domain
export const MA_FIND_PDMS = 1 << 6; // parent matches subdomain
export const MA_FIND_PDDMDS = 1 << 7; // parent matches dot-subdomain
export const MA_FIND_LOCALPART_AT = 1 << 8; // localpart@ (maybe localpart+ext@)
export const MA_FIND_DEFAULT = MA_FIND_FULL | MA_FIND_NOEXT | MA_FIND_LOCALPART_IF_LOCAL | MA_FIND_AT_DOMAIN;

const STRATEGY_NAMES: ReadonlyArray<[string, number]> = [
  ['full', MA_FIND_FULL],
  ['noext', MA_FIND_NOEXT],
  ['localpart_if_local', MA_FIND_LOCALPART_IF_LOCAL],
  ['localpart_at_if_local', MA_FIND_LOCALPART_AT_IF_LOCAL],
  ['at_domain', MA_FIND_AT_DOMAIN],
  ['domain', MA_FIND_DOMAIN],
  ['pdms', MA_FIND_PDMS],
  ['pddms', MA_FIND_PDDMDS],
  ['localpart_at', MA_FIND_LOCALPART_AT],
  ['default', MA_FIND_DEFAULT],
];

/** The test program's strategy_from_string: "full|noext|domain", any case; -1 for an unknown name. */
export function strategyFromString(text: string): number {
  let mask = 0;
  for (const name of text.split('|')) {
    if (name === '') continue;
    const hit = STRATEGY_NAMES.find(([n]) => n === name.toLowerCase());
    if (!hit) return -1;
    mask |= hit[1];
  }
  return mask;
}

/** What a lookup needs to know about the configuration. */
export interface AddrFindEnv {
  /** recipient_delimiter: any of these characters starts an extension. */
  recipientDelimiter: string;
  /** myorigin: a domain whose users are looked up by localpart too. */
  myorigin: string;
  /** resolve_local: >0 local, 0 not local, <0 a table failed. Without it only $myorigin is local. */
  resolveLocal?: (domain: string) => Promise<number>;
  /** double_bounce_sender and owner_request_special, for extension stripping. */
  split?: SplitAddrOptions;
  /** canon_addr_external for mail_addr_map results (trivial-rewrite's local context). */
  canonicalize?: CanonAddrExternal;
  /** smtputf8_enable: Unicode case folding when comparing domains. */
  utf8?: boolean;
}

export type AddrFindResult =
  | { status: 'found'; value: string; extension: string | null }
  | { status: 'notfound' }
  | { status: 'error' };

type Step = { status: 'found'; value: string } | { status: 'notfound' } | { status: 'error' };

const FULL = 0;
const PARTIAL = DICT_FLAG_FIXED;

/** find_addr: one key, in the query form the caller wants (external, internal, or one then the other). */
async function findAddr(maps: Maps, address: string, flags: number, withDomain: boolean, queryForm: number): Promise<Step> {
  const quoteFlags = withDomain ? QUOTE_FLAG_DEFAULT : QUOTE_FLAG_DEFAULT | QUOTE_FLAG_BARE_LOCALPART;
  const first = queryForm === MA_FORM_EXTERNAL || queryForm === MA_FORM_EXTERNAL_FIRST
    ? quote822LocalFlags(address, quoteFlags) : address;
  const r = await maps.find(first, flags);
  if (r.status !== 'notfound') return r.status === 'found' ? r : { status: 'error' };
  let second: string | undefined;
  if (queryForm === MA_FORM_EXTERNAL_FIRST && first !== address) second = address;
  if (queryForm === MA_FORM_INTERNAL_FIRST) {
    const ext = quote822LocalFlags(address, quoteFlags);
    if (ext !== address) second = ext;
  }
  if (second === undefined) return { status: 'notfound' };
  const r2 = await maps.find(second, flags);
  return r2.status === 'found' ? r2 : r2.status === 'error' ? { status: 'error' } : { status: 'notfound' };
}

/** The localpart of an address, with the '@' kept when atSign is set ("user@"). */
function localKey(addr: string, atSign: boolean): string {
  const at = addr.lastIndexOf('@');
  return at < 0 ? addr : addr.slice(0, at + (atSign ? 1 : 0));
}

/**
 * mail_addr_find_opt: looks an address up by Postfix's rules. The result
 * value is in outForm; extension is the stripped extension (delimiter
 * included, e.g. "+foo") when only the address without it matched.
 */
export async function mailAddrFindOpt(
  maps: Maps, address: string, inForm: number, queryForm: number, outForm: number, strategy: number, env: AddrFindEnv,
): Promise<AddrFindResult> {
  const full = inForm === MA_FORM_EXTERNAL ? unquote822Local(address) : address;
  const stripped = env.recipientDelimiter !== '' && strategy & MA_FIND_NOEXT
    ? stripAddr(full, env.recipientDelimiter, env.split) : null;
  const bare = stripped?.stripped ?? null;
  const ext = stripped?.extension ?? null;
  const done = (r: Step, extension: string | null = null): AddrFindResult => {
    if (r.status !== 'found') return r;
    const value = outForm === MA_FORM_INTERNAL ? unquote822Local(r.value) : r.value;
    return { status: 'found', value, extension };
  };

  let r: Step = strategy & MA_FIND_FULL ? await findAddr(maps, full, FULL, true, queryForm) : { status: 'notfound' };
  if (r.status !== 'notfound') return done(r);
  if (bare !== null) {
    r = await findAddr(maps, bare, PARTIAL, true, queryForm);
    if (r.status !== 'notfound') return done(r, ext);
  }

  // Try user+foo and user when the domain is $myorigin, $mydestination or one of our addresses.
  const at = full.lastIndexOf('@');
  const domain = at < 0 ? null : full.slice(at + 1);
  const findLocal = async (atSign: boolean): Promise<AddrFindResult | null> => {
    const r1 = await findAddr(maps, localKey(full, atSign), PARTIAL, atSign, queryForm);
    if (r1.status !== 'notfound') return done(r1);
    if (bare === null) return null;
    const r2 = await findAddr(maps, localKey(bare, atSign), PARTIAL, atSign, queryForm);
    return r2.status !== 'notfound' ? done(r2, ext) : null;
  };
  if (domain !== null && strategy & (MA_FIND_LOCALPART_IF_LOCAL | MA_FIND_LOCALPART_AT_IF_LOCAL)) {
    let rc = 0;
    if (sameCaseless(domain, env.myorigin, env.utf8 ?? false) || (rc = env.resolveLocal ? await env.resolveLocal(domain) : 0) > 0) {
      if (strategy & MA_FIND_LOCALPART_IF_LOCAL) {
        const hit = await findLocal(false);
        if (hit) return hit;
      }
      if (strategy & MA_FIND_LOCALPART_AT_IF_LOCAL) {
        const hit = await findLocal(true);
        if (hit) return hit;
      }
    } else if (rc < 0) {
      return { status: 'error' };
    }
  }

  if (domain !== null && strategy & MA_FIND_AT_DOMAIN) {
    const hit = await maps.find(full.slice(at), PARTIAL);
    if (hit.status !== 'notfound') return done(hit.status === 'found' ? hit : { status: 'error' });
  }

  if (domain !== null && strategy & MA_FIND_DOMAIN) {
    const hit = await findDomain(maps, domain, strategy);
    if (hit.status !== 'notfound') return done(hit);
  }

  if (strategy & MA_FIND_LOCALPART_AT && domain !== null) {
    const hit = await findLocal(true);
    if (hit) return hit;
  }
  return { status: 'notfound' };
}

/** The domain, then (with PDMS or PDDMDS) its parents, as "parent" or ".parent" keys. */
async function findDomain(maps: Maps, domain: string, strategy: number): Promise<Step> {
  let name = 0;
  for (;;) {
    const r = await maps.find(domain.slice(name), PARTIAL);
    if (r.status === 'found') return r;
    if (r.status === 'error') return { status: 'error' };
    if (!(strategy & (MA_FIND_PDMS | MA_FIND_PDDMDS))) return { status: 'notfound' };
    const dot = domain.indexOf('.', name + 1);
    if (dot < 0) return { status: 'notfound' };
    name = strategy & MA_FIND_PDDMDS ? dot : dot + 1;
    if (name >= domain.length) return { status: 'notfound' };
  }
}

/** mail_addr_find: internal form in, external-first query, external form out, default strategy. */
export function mailAddrFind(maps: Maps, address: string, env: AddrFindEnv): Promise<AddrFindResult> {
  return mailAddrFindOpt(maps, address, MA_FORM_INTERNAL, MA_FORM_EXTERNAL_FIRST, MA_FORM_EXTERNAL, MA_FIND_DEFAULT, env);
}

/** mail_addr_find_strategy: the legacy forms with another strategy. */
export function mailAddrFindStrategy(maps: Maps, address: string, strategy: number, env: AddrFindEnv): Promise<AddrFindResult> {
  return mailAddrFindOpt(maps, address, MA_FORM_INTERNAL, MA_FORM_EXTERNAL_FIRST, MA_FORM_EXTERNAL, strategy, env);
}

/** mail_addr_find_to_internal: as mail_addr_find, with the result unquoted (sender_bcc_maps and friends). */
export function mailAddrFindToInternal(maps: Maps, address: string, env: AddrFindEnv): Promise<AddrFindResult> {
  return mailAddrFindOpt(maps, address, MA_FORM_INTERNAL, MA_FORM_EXTERNAL_FIRST, MA_FORM_INTERNAL, MA_FIND_DEFAULT, env);
}

/** mail_addr_find_int_to_ext: internal form in, external-only query, external form out. */
export function mailAddrFindIntToExt(maps: Maps, address: string, env: AddrFindEnv): Promise<AddrFindResult> {
  return mailAddrFindOpt(maps, address, MA_FORM_INTERNAL, MA_FORM_EXTERNAL, MA_FORM_EXTERNAL, MA_FIND_DEFAULT, env);
}

export type AddrMapResult =
  | { status: 'found'; addresses: string[] }
  | { status: 'notfound' }
  | { status: 'error' };

/**
 * mail_addr_map_opt: the lookup result as a list of addresses, each made
 * canonical (env.canonicalize) and in outForm. "@otherdomain" gets the
 * original localpart (without an unmatched extension) in front; with
 * propagate, an unmatched extension is added to every address. A result
 * without any address is a configuration error ("try again").
 */
export async function mailAddrMapOpt(
  maps: Maps, address: string, propagate: boolean, inForm: number, queryForm: number, outForm: number,
  env: AddrFindEnv, warn: (text: string) => void,
): Promise<AddrMapResult> {
  const internal = inForm === MA_FORM_EXTERNAL ? unquote822Local(address) : address;
  const r = await mailAddrFindOpt(maps, internal, MA_FORM_INTERNAL, queryForm, MA_FORM_EXTERNAL, MA_FIND_DEFAULT, env);
  if (r.status !== 'found') return r;
  let string = r.value;
  if (string.startsWith('@')) {
    const at = internal.lastIndexOf('@');
    let user = at < 0 ? internal : internal.slice(0, at);
    if (r.extension !== null) user = user.slice(0, user.length - r.extension.length);
    string = quote822Local(user + string);
  }
  const canonicalize = env.canonicalize ?? noCanonicalization;
  const addresses = mailAddrCrunch(string, propagate ? r.extension : null, MA_FORM_EXTERNAL, outForm, canonicalize);
  if (addresses.length === 0) {
    warn(`${maps.title} lookup of ${address} returns non-address result "${string}"`);
    return { status: 'error' };
  }
  return { status: 'found', addresses };
}

/** mail_addr_map_internal: internal form in and out, external-form queries. */
export function mailAddrMapInternal(maps: Maps, address: string, propagate: boolean, env: AddrFindEnv, warn: (text: string) => void): Promise<AddrMapResult> {
  return mailAddrMapOpt(maps, address, propagate, MA_FORM_INTERNAL, MA_FORM_EXTERNAL, MA_FORM_INTERNAL, env, warn);
}
