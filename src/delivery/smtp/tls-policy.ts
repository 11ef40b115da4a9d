// The TLS policy of one server of one next hop, as Postfix's
// smtp/smtp_tls_policy.c works it out: the global level
// (smtp_tls_security_level or the older smtp_use_tls/smtp_enforce_tls), a
// per-destination entry of smtp_tls_policy_maps (the next hop as written;
// for a bare domain also ".parent" keys) or of the older smtp_tls_per_site
// (next hop and server name), the entry's attributes, what "dane" and
// "dane-only" become without DNSSEC, and the main.cf defaults for protocols,
// SNI, cipher grade and exclusions, certificate names and fingerprints.
// A bad entry is logged with Postfix's words and makes the policy invalid:
// the caller defers the mail as a "client TLS configuration problem".
// Results, good or bad, are cached per process as Postfix caches them, so a
// warning is logged once per next hop, server and port. Reads the tables
// and trust-anchor files it is given; touches nothing else.
import * as fs from 'node:fs';
import type { Config } from '../../config/config.js';
import { Maps, type TableCache } from '../../address/maps.js';
import { validHostname, validUtf8Hostname } from '../../address/resolve-local.js';
import { DICT_FLAG_FOLD_FIX, DICT_FLAG_LOCK, DICT_FLAG_UTF8_REQUEST } from '../../dict/dict.js';
import type { MsgLog } from '../../util/msg.js';
import { errnoText } from '../../util/errno.js';

/** The levels in Postfix's order (tls/tls.h): a higher level demands more. */
export const LEV_INVALID = -2;
export const LEV_NOTFOUND = -1;
export const LEV_NONE = 0;
export const LEV_MAY = 1;
export const LEV_ENCRYPT = 2;
export const LEV_FPRINT = 3;
export const LEV_HALF_DANE = 4;
export const LEV_DANE = 5;
export const LEV_DANE_ONLY = 6;
export const LEV_VERIFY = 7;
export const LEV_SECURE = 8;

const LEVEL_NAMES: Record<string, number> = {
  none: LEV_NONE, may: LEV_MAY, encrypt: LEV_ENCRYPT, fingerprint: LEV_FPRINT, dane: LEV_DANE,
  'dane-only': LEV_DANE_ONLY, verify: LEV_VERIFY, secure: LEV_SECURE,
};

/** tls_level_lookup(): a level name (any case) to its number; LEV_INVALID when unknown ("halfdane" is output only). */
export function tlsLevelLookup(name: string): number {
  return LEVEL_NAMES[name.toLowerCase()] ?? LEV_INVALID;
}

/** str_tls_level(). */
export function tlsLevelName(level: number): string {
  if (level === LEV_HALF_DANE) return 'halfdane';
  return Object.entries(LEVEL_NAMES).find(([, n]) => n === level)?.[0] ?? 'unknown';
}

export const tlsRequired = (level: number): boolean => level > LEV_MAY;
export const tlsMustMatch = (level: number): boolean => level > LEV_ENCRYPT;

/** Digest sizes of the fingerprint algorithms, bytes. */
export const DIGEST_SIZES: Record<string, number> = { md5: 16, sha1: 20, sha224: 28, sha256: 32, sha384: 48, sha512: 64 };

/** The main.cf side of the policy (read once per process). */
export interface TlsPolicySettings {
  prefix: 'smtp' | 'lmtp';
  /** The global level; LEV_INVALID never (pre_init refuses it). */
  level: number;
  protocols: string;
  mandatoryProtocols: string;
  sni: string;
  ciphers: string;
  mandatoryCiphers: string;
  excludeCiphers: string;
  mandatoryExcludeCiphers: string;
  verifyMatch: string;
  secureMatch: string;
  fingerprintMatch: string;
  fingerprintDigest: string;
  trustAnchorFile: string;
  connectionReuse: boolean;
  policyMaps: string;
  perSite: string;
}

/** The policy of one session. */
export interface TlsPolicy {
  level: number;
  protocols: string;
  /** smtp_tls_servername or servername=: "", "hostname", "nexthop" or a name. */
  sni: string;
  /** The cipher grade (high, medium, ...) and the exclusions, space-separated. */
  grade: string;
  exclusions: string;
  /** verify/secure: the certificate name strategies and names. */
  matchNames: string[];
  /** fingerprint: the digests to match, each as a byte string (hex decoded). */
  fingerprints: Buffer[];
  /** verify/secure with trust anchors: their PEM certificates. */
  trustAnchors: Buffer[];
}

export type PolicyResult = { policy: TlsPolicy } | { invalid: { status: string; reason: string } };

const CONFIG_PROBLEM = { status: '4.7.5', reason: 'client TLS configuration problem' };

/** The global level from main.cf; throws when smtp_tls_security_level is not a level (pre_init's fatal). */
export function globalTlsLevel(config: Config, p: 'smtp' | 'lmtp'): number {
  const text = config.get(`${p}_tls_security_level`);
  if (text !== '') return tlsLevelLookup(text);
  if (config.getBool(`${p}_enforce_tls`)) return config.getBool(`${p}_tls_enforce_peername`) ? LEV_VERIFY : LEV_ENCRYPT;
  return config.getBool(`${p}_use_tls`) ? LEV_MAY : LEV_NONE;
}

export function readPolicySettings(config: Config, p: 'smtp' | 'lmtp', level: number): TlsPolicySettings {
  const get = (name: string): string => config.get(`${p}_${name}`);
  return {
    prefix: p, level,
    protocols: get('tls_protocols'), mandatoryProtocols: get('tls_mandatory_protocols'), sni: get('tls_servername'),
    ciphers: get('tls_ciphers'), mandatoryCiphers: get('tls_mandatory_ciphers'),
    excludeCiphers: get('tls_exclude_ciphers'), mandatoryExcludeCiphers: get('tls_mandatory_exclude_ciphers'),
    verifyMatch: get('tls_verify_cert_match'), secureMatch: get('tls_secure_cert_match'),
    fingerprintMatch: get('tls_fingerprint_cert_match'), fingerprintDigest: get('tls_fingerprint_digest').trim().toLowerCase(),
    trustAnchorFile: get('tls_trust_anchor_file'), connectionReuse: config.getBool(`${p}_tls_connection_reuse`),
    policyMaps: get('tls_policy_maps'), perSite: get('tls_per_site'),
  };
}

/** mystrtok(): the non-empty words of text between any of the separator characters. */
export function words(text: string, seps: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (const c of text) {
    if (seps.includes(c)) {
      if (cur !== '') out.push(cur);
      cur = '';
    } else cur += c;
  }
  if (cur !== '') out.push(cur);
  return out;
}

const COMMA_SP = ', \t\r\n';

/** DONT_GRIPE. */
const QUIET: MsgLog = { info: () => undefined, warning: () => undefined, error: () => undefined };

/** split_nameval(): [name, value] or Postfix's complaint. */
function splitNameValue(tok: string): [string, string] | string {
  const t = tok.replace(/^\s+/, '');
  if (t === '' || t[0] === '=') return 'missing attribute name';
  const m = /^([^\s=]+)\s*(=?)/.exec(t)!;
  if (m[2] !== '=') return "missing '=' after attribute name";
  return [m[1]!, t.slice(m[0].length).trim()];
}

/** hex_decode_opt(..., HEX_DECODE_FLAG_ALLOW_COLON): pairs of hex digits, optionally separated by colons. */
function hexDecode(text: string): Buffer | null {
  if (!/^[0-9a-fA-F]{2}(?::?[0-9a-fA-F]{2})*$/.test(text)) return null;
  return Buffer.from(text.replace(/:/g, ''), 'hex');
}

/** Policy parts the lookup fills in before the main.cf defaults. */
interface Draft {
  level: number;
  protocols: string | null;
  sni: string | null;
  grade: string | null;
  exclusions: string | null;
  matchNames: string[] | null;
  fingerprints: Buffer[];
  trustAnchors: Buffer[];
  why: { status: string; reason: string } | null;
}

export class TlsPolicyEngine {
  private readonly cache = new Map<string, PolicyResult>();
  private static readonly CACHE_SIZE = 20;

  private constructor(
    readonly settings: TlsPolicySettings,
    private readonly policy: Maps | null,
    private readonly perSite: Maps | null,
    private readonly log: MsgLog,
    private readonly smtputf8: boolean,
  ) {}

  /** smtp_tls_list_init(): opens smtp_tls_policy_maps, or else smtp_tls_per_site. */
  static async create(settings: TlsPolicySettings, cache: TableCache, log: MsgLog, smtputf8: boolean): Promise<TlsPolicyEngine> {
    const p = settings.prefix;
    const flags = DICT_FLAG_LOCK | DICT_FLAG_FOLD_FIX | DICT_FLAG_UTF8_REQUEST;
    if (settings.policyMaps.trim() !== '') {
      const maps = await Maps.create(`${p}_tls_policy_maps`, settings.policyMaps, flags, cache);
      if (settings.perSite.trim() !== '') log.warning(`${p}_tls_per_site ignored when ${p}_tls_policy_maps is not empty.`);
      return new TlsPolicyEngine(settings, maps, null, log, smtputf8);
    }
    const perSite = settings.perSite.trim() !== '' ? await Maps.create(`${p}_tls_per_site`, settings.perSite, flags, cache) : null;
    return new TlsPolicyEngine(settings, null, perSite, log, smtputf8);
  }

  /**
   * smtp_tls_policy_cache_query(): the policy for next hop `dest` (as
   * written, with [] and :port), server `host`, `port` (0 for a unix-domain
   * socket). A copy: the caller may lower its level.
   */
  async query(dest: string, host: string, port: number): Promise<PolicyResult> {
    const key = `${dest}:${host}:${port}`;
    let r = this.cache.get(key);
    if (r === undefined) {
      r = await this.create(dest, host, port);
      if (this.cache.size >= TlsPolicyEngine.CACHE_SIZE) this.cache.delete(this.cache.keys().next().value!);
      this.cache.set(key, r);
    }
    return 'policy' in r ? { policy: { ...r.policy } } : r;
  }

  /** policy_create(). */
  private async create(dest: string, host: string, port: number): Promise<PolicyResult> {
    const s = this.settings;
    const d: Draft = {
      level: s.level, protocols: null, sni: null, grade: null, exclusions: null, matchNames: null, fingerprints: [], trustAnchors: [], why: null,
    };
    let site = LEV_NOTFOUND;
    if (this.policy) site = await this.policyLookup(d, dest);
    else if (this.perSite) {
      site = await this.siteLookup(d, LEV_NOTFOUND, dest, 'next-hop destination');
      if (site !== LEV_INVALID && dest.toLowerCase() !== host.toLowerCase()) site = await this.siteLookup(d, site, host, 'server hostname');
      if (site === LEV_MAY && d.level > LEV_MAY) site = d.level;
    }
    if (site === LEV_INVALID) return { invalid: d.why ?? CONFIG_PROBLEM };
    if (site !== LEV_NOTFOUND) d.level = site;
    if (d.level === LEV_DANE || d.level === LEV_DANE_ONLY) {
      const bad = this.daneInit(d, dest, port);
      if (bad) return { invalid: bad };
    }
    if (d.level > LEV_NONE && d.protocols === null) d.protocols = d.level === LEV_MAY ? s.protocols : s.mandatoryProtocols;
    if (d.level > LEV_NONE && d.sni === null) {
      if (s.sni !== '' && !validHostname(s.sni)) {
        this.log.warning(`"${s.prefix}_tls_servername = ${s.sni}" specifies an invalid hostname`);
        return { invalid: CONFIG_PROBLEM };
      }
      d.sni = s.sni;
    }
    this.cipherGrade(d);
    if (d.level === LEV_FPRINT && d.fingerprints.length === 0) {
      d.fingerprints = this.fingerprints(s.fingerprintMatch, COMMA_SP);
      if (d.fingerprints.length === 0) {
        this.log.warning(`nexthop domain ${dest}: configured at fingerprint security level, but with no fingerprints to match.`);
        return { invalid: CONFIG_PROBLEM };
      }
    }
    if (d.level === LEV_VERIFY || d.level === LEV_SECURE) {
      d.matchNames ??= words(d.level === LEV_VERIFY ? s.verifyMatch : s.secureMatch, `${COMMA_SP}:`);
      if (s.trustAnchorFile.trim() !== '' && d.trustAnchors.length === 0) {
        for (const file of words(s.trustAnchorFile, COMMA_SP)) {
          if (!this.loadTrustAnchors(d, file)) return { invalid: CONFIG_PROBLEM };
        }
      }
    }
    return {
      policy: {
        level: d.level, protocols: d.protocols ?? '', sni: d.sni ?? '', grade: d.grade ?? '', exclusions: d.exclusions ?? '',
        matchNames: d.matchNames ?? [], fingerprints: d.fingerprints, trustAnchors: d.trustAnchors,
      },
    };
  }

  /** tls_policy_lookup(): the next hop, then (a domain without [] or :port) its parent domains as ".parent". */
  private async policyLookup(d: Draft, dest: string): Promise<number> {
    if (!validUtf8Hostname(this.smtputf8, dest, QUIET)) {
      return this.policyLookupOne(d, dest);
    }
    let name: string | null = dest;
    let level = LEV_NOTFOUND;
    while (name !== null) {
      level = await this.policyLookupOne(d, name);
      if (level !== LEV_NOTFOUND) break;
      const dot = name.indexOf('.', 1);
      name = dot < 0 ? null : name.slice(dot);
    }
    return level;
  }

  /** tls_policy_lookup_one(): one key; the entry's level, LEV_NOTFOUND, or LEV_INVALID after a warning. */
  private async policyLookupOne(d: Draft, name: string): Promise<number> {
    const where = `${this.policy!.title}, next-hop destination "${name}"`;
    const r = await this.policy!.find(name);
    if (r.status === 'notfound') return LEV_NOTFOUND;
    const invalid = (text: string): number => {
      this.log.warning(`${where}: ${text}`);
      d.why = CONFIG_PROBLEM;
      return LEV_INVALID;
    };
    if (r.status === 'error') return invalid('policy table lookup error');
    const toks = words(r.value, COMMA_SP);
    if (toks.length === 0) return invalid('invalid empty policy');
    const level = tlsLevelLookup(toks[0]!);
    if (level === LEV_INVALID) return invalid(`invalid security level "${toks[0]}"`);
    if (level < LEV_MAY) {
      for (const t of toks.slice(1)) this.log.warning(`${where}: ignoring attribute "${t}" with TLS disabled`);
      return level;
    }
    for (const tok of toks.slice(1)) {
      const nv = splitNameValue(tok);
      if (typeof nv === 'string') return invalid(`malformed attribute/value pair "${tok}": ${nv}`);
      const [name, val] = nv;
      const attr = name.toLowerCase();
      const once = (have: unknown): boolean => have !== null;
      if (attr === 'ciphers') {
        if (val === '') return invalid(`attribute "${name}" has empty value`);
        if (once(d.grade)) return invalid(`attribute "${name}" is specified multiple times`);
        d.grade = val;
      } else if (attr === 'protocols') {
        if (once(d.protocols)) return invalid(`attribute "${name}" is specified multiple times`);
        d.protocols = val;
      } else if (attr === 'servername') {
        if (once(d.sni)) return invalid(`attribute "${name}" is specified multiple times`);
        if (!validHostname(val)) return invalid(`"${name}=${val}" specifies an invalid hostname`);
        d.sni = val;
      } else if (attr === 'match') {
        if (val === '') return invalid(`attribute "${name}" has empty value`);
        if (level === LEV_FPRINT) d.fingerprints.push(...this.fingerprints(val, '|'));
        else if (level === LEV_VERIFY || level === LEV_SECURE) (d.matchNames ??= []).push(...words(val, ':'));
        else return invalid(`attribute "${name}" invalid at security level "${tlsLevelName(level)}"`);
      } else if (attr === 'exclude') {
        if (once(d.exclusions)) return invalid(`attribute "${name}" is specified multiple times`);
        d.exclusions = val;
      } else if (attr === 'tafile') {
        if (level < LEV_VERIFY) return invalid(`attribute "${name}" invalid at security level "${tlsLevelName(level)}"`);
        if (val === '') return invalid(`attribute "${name}" has empty value`);
        if (!this.loadTrustAnchors(d, val)) {
          d.why = CONFIG_PROBLEM;
          return LEV_INVALID;
        }
      } else if (attr === 'connection_reuse') {
        const v = val.toLowerCase();
        if (v !== 'yes' && v !== 'no') return invalid(`attribute "${name}" has bad value: "${val}"`);
        if (v === 'yes') return invalid(`attribute "${name}=${val}": TLS connection reuse is not implemented by this Postfix replacement`);
      } else return invalid(`invalid attribute name: "${name}"`);
    }
    return level;
  }

  /** tls_site_lookup(): smtp_tls_per_site's NONE, MAY, MUST_NOPEERMATCH and MUST, the stronger one winning. */
  private async siteLookup(d: Draft, level: number, name: string, what: string): Promise<number> {
    const title = this.perSite!.title;
    const r = await this.perSite!.find(name);
    if (r.status === 'error') {
      this.log.warning(`${title}: ${what} "${name}": per-site table lookup error`);
      d.why = { status: '4.3.0', reason: 'Temporary lookup error' };
      return LEV_INVALID;
    }
    if (r.status === 'notfound') return level;
    const v = r.value.toLowerCase();
    if (v === 'none') return level <= LEV_MAY ? LEV_NONE : level;
    if (v === 'may') return level < LEV_NONE ? LEV_MAY : level;
    if (v === 'must_nopeermatch') return level < LEV_ENCRYPT ? LEV_ENCRYPT : level;
    if (v === 'must') return level < LEV_VERIFY ? LEV_VERIFY : level;
    this.log.warning(`${title}: unknown TLS policy '${r.value}' for ${what} ${name}`);
    d.why = CONFIG_PROBLEM;
    return LEV_INVALID;
  }

  /**
   * dane_init() on a client without DNSSEC lookups (this one has none):
   * "dane" falls back to opportunistic TLS with a warning, "dane-only"
   * makes the policy invalid.
   */
  private daneInit(d: Draft, dest: string, port: number): { status: string; reason: string } | null {
    if (port === 0) {
      this.log.warning(`${dest}: the "dane" security level is invalid for delivery via unix-domain sockets`);
      return CONFIG_PROBLEM;
    }
    this.log.warning(`${dest}: ${tlsLevelName(d.level)} configured with dnssec lookups disabled`);
    if (d.level === LEV_DANE_ONLY) return CONFIG_PROBLEM;
    d.level = LEV_MAY;
    return null;
  }

  /** set_cipher_grade(): the grade and exclusions by level, the policy entry's first. */
  private cipherGrade(d: Draft): void {
    const s = this.settings;
    let mandExclude = '';
    let alsoExclude = '';
    if (d.level <= LEV_NONE) return;
    if (d.level === LEV_MAY) d.grade ??= s.ciphers;
    else {
      d.grade ??= s.mandatoryCiphers;
      mandExclude = s.mandatoryExcludeCiphers;
      alsoExclude = d.level === LEV_ENCRYPT ? 'eNULL' : 'aNULL';
    }
    const add = (list: string, more: string): string => (more === '' ? list : list === '' ? more : `${list} ${more}`);
    if (d.exclusions === null) d.exclusions = add(add('', s.excludeCiphers), mandExclude);
    d.exclusions = add(d.exclusions, alsoExclude);
  }

  /** tls_dane_add_fpt_digests(): the digests of a list; a malformed one is logged and skipped. */
  private fingerprints(list: string, seps: string): Buffer[] {
    const out: Buffer[] = [];
    for (const w of words(list, seps)) {
      // Three characters per byte of the widest digest (EVP_MAX_MD_SIZE, 64 bytes).
      if (w.length > 3 * 64) {
        this.log.warning(`malformed fingerprint value: ${w.slice(0, 100)}...`);
        continue;
      }
      const raw = hexDecode(w);
      if (raw === null) {
        this.log.warning(`malformed fingerprint value: ${w.slice(0, 384)}`);
        continue;
      }
      out.push(raw);
    }
    return out;
  }

  /**
   * tls_dane_load_trustfile(): the certificates of a PEM file as trust
   * anchors. A public-key trust anchor cannot be given to node:tls, so a
   * file with one is refused (the mail is deferred) rather than half used.
   */
  private loadTrustAnchors(d: Draft, file: string): boolean {
    let text: string;
    try {
      text = fs.readFileSync(file, 'latin1');
    } catch (e) {
      this.log.warning(`error opening trust anchor file: ${file}: ${errnoText(e as NodeJS.ErrnoException)}`);
      return false;
    }
    const blocks = [...text.matchAll(/-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g)];
    const certs = blocks.filter((b) => b[1] === 'CERTIFICATE' || b[1] === 'X509 CERTIFICATE' || b[1] === 'TRUSTED CERTIFICATE');
    if (blocks.some((b) => b[1] === 'PUBLIC KEY')) {
      this.log.warning(`trust anchor file ${file}: public-key trust anchors are not implemented by this Postfix replacement`);
      return false;
    }
    if (certs.length === 0) {
      this.log.warning(`error reading: ${file}: no trust-anchor certificates found`);
      return false;
    }
    d.trustAnchors.push(...certs.map((b) => Buffer.from(`${b[0]}\n`, 'latin1')));
    return true;
  }
}
