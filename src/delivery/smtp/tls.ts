// The TLS side of smtp(8)/lmtp(8), as Postfix's tls/tls_client.c,
// tls_verify.c, tls_dane.c (fingerprints) and tls_misc.c (protocol lists,
// cipher grades, tls_log_summary) do it, for the policy of one session
// (./tls-policy.ts). The handshake runs on the session's socket with
// node:tls, with the policy's protocol range, OpenSSL cipher list and SNI
// name; then the certificate is judged: at "fingerprint" its digest or its
// public key's digest must be listed; at "verify" and "secure" it must be
// trusted (smtp_tls_CAfile, or the policy's trust anchors) and carry a name
// the policy accepts (DNS names of the certificate, else its common name;
// "*." matches one label). The summary line is tls_log_summary()'s, as far as
// node:tls tells what OpenSSL told Postfix. Reads the CA file once; touches
// the session socket it is given.
import { createHash, X509Certificate } from 'node:crypto';
import * as fs from 'node:fs';
import { type Socket, isIP } from 'node:net';
import * as tls from 'node:tls';
import type { Config } from '../../config/config.js';
import { ConfigError } from '../../config/config.js';
import type { MsgLog } from '../../util/msg.js';
import {
  DIGEST_SIZES, LEV_ENCRYPT, LEV_FPRINT, LEV_INVALID, LEV_MAY, LEV_NONE, LEV_SECURE, LEV_VERIFY, type TlsPolicy, type TlsPolicySettings,
  globalTlsLevel, readPolicySettings, tlsMustMatch, words,
} from './tls-policy.js';

export { tlsMustMatch, tlsRequired } from './tls-policy.js';

export interface TlsSettings {
  /** The global level (./tls-policy.ts's numbers). */
  level: number;
  /** smtp_tls_CAfile's certificates, or null. */
  ca: Buffer | null;
  loglevel: number;
  /** smtp_tls_note_starttls_offer. */
  noteOffer: boolean;
  /** What the per-destination policy starts from. */
  policy: TlsPolicySettings;
  /** tls_high_cipherlist and friends, by grade. */
  cipherLists: Record<string, string>;
}

/** The TLS settings of the client; throws ConfigError for what is not built or not valid. */
export function readTlsSettings(config: Config, p: 'smtp' | 'lmtp'): TlsSettings {
  const level = globalTlsLevel(config, p);
  if (level === LEV_INVALID) throw new ConfigError(`Invalid TLS level "${config.get(`${p}_tls_security_level`)}"`);
  if (config.getBool(`${p}_tls_wrappermode`)) throw new ConfigError(`${p}_tls_wrappermode = yes: not implemented by this Postfix replacement yet`);
  if (config.getBool(`${p}_tls_connection_reuse`)) {
    throw new ConfigError(`${p}_tls_connection_reuse = yes: not implemented by this Postfix replacement's ${p.toUpperCase()} client yet`);
  }
  for (const name of ['tls_CApath', 'tls_cert_file', 'tls_chain_files', 'tls_dcert_file', 'tls_eccert_file']) {
    const value = config.get(`${p}_${name}`);
    if (value.trim() !== '') throw new ConfigError(`${p}_${name} = ${value}: not implemented by this Postfix replacement's ${p.toUpperCase()} client yet`);
  }
  const policy = readPolicySettings(config, p, level);
  if (DIGEST_SIZES[policy.fingerprintDigest] === undefined) throw new ConfigError(`Digest algorithm "${policy.fingerprintDigest}" not found`);
  const usesTls = level > LEV_NONE || policy.policyMaps.trim() !== '' || policy.perSite.trim() !== '';
  const caFile = config.get(`${p}_tls_CAfile`);
  let ca: Buffer | null = null;
  if (caFile !== '' && usesTls) {
    try {
      ca = fs.readFileSync(caFile);
    } catch (e) {
      throw new ConfigError(`cannot load Certification Authority data, CAfile="${caFile}": ${(e as Error).message}`);
    }
  }
  const loglevel = Number.parseInt(config.get(`${p}_tls_loglevel`), 10);
  const cipherLists: Record<string, string> = {};
  for (const g of ['high', 'medium', 'low', 'export', 'null']) cipherLists[g] = config.get(`tls_${g}_cipherlist`);
  return {
    level, ca, loglevel: Number.isNaN(loglevel) ? 0 : loglevel, noteOffer: config.getBool(`${p}_tls_note_starttls_offer`), policy, cipherLists,
  };
}

/** One certificate name pattern against one name. */
function nameMatches(pattern: string, name: string, parentOk: boolean): boolean {
  const p = pattern.toLowerCase();
  const n = name.toLowerCase();
  if (p === n) return true;
  if (p.startsWith('*.')) {
    const rest = p.slice(2);
    const dot = n.indexOf('.');
    if (dot > 0 && n.slice(dot + 1) === rest) return true;
  }
  // "dot-nexthop": the certificate names a host below the next-hop domain.
  return parentOk && p.endsWith(`.${n}`);
}

/** The DNS names a certificate is for (its DNS subjectAltNames, else its common name). */
function certNames(cert: tls.PeerCertificate): string[] {
  const alt = (cert.subjectaltname ?? '').split(/,\s*/).filter((s) => s.startsWith('DNS:')).map((s) => s.slice(4));
  if (alt.length) return alt;
  const cn = cert.subject?.CN;
  return Array.isArray(cn) ? cn : cn ? [cn] : [];
}

/** The IP addresses a certificate is for (OpenSSL checks an address name against these only). */
function certAddresses(cert: tls.PeerCertificate): string[] {
  return (cert.subjectaltname ?? '').split(/,\s*/).filter((s) => s.startsWith('IP Address:')).map((s) => s.slice(11).toLowerCase());
}

/** A distinguished name as OpenSSL's one-line form ("/CN=Example CA"). */
function oneLineName(name: tls.Certificate | undefined): string {
  if (!name) return '';
  return Object.entries(name).map(([k, v]) => (Array.isArray(v) ? v.map((x) => `/${k}=${x}`).join('') : `/${k}=${String(v)}`)).join('');
}

/** The names the certificate must match at the policy's level (verify, secure). */
export function matchNames(policy: TlsPolicy, host: string, nexthopDomain: string): Array<{ name: string; parentOk: boolean }> {
  const out: Array<{ name: string; parentOk: boolean }> = [];
  for (const w of policy.matchNames) {
    const s = w.toLowerCase();
    if (s === 'hostname') out.push({ name: host, parentOk: false });
    else if (s === 'nexthop') out.push({ name: nexthopDomain, parentOk: false });
    else if (s === 'dot-nexthop') out.push({ name: nexthopDomain, parentOk: true });
    else if (s.startsWith('.')) out.push({ name: s.slice(1), parentOk: true });
    else out.push({ name: s, parentOk: false });
  }
  return out;
}

const VERSIONS: Record<string, tls.SecureVersion | 'SSLv2' | 'SSLv3'> = {
  sslv2: 'SSLv2', sslv3: 'SSLv3', tlsv1: 'TLSv1', 'tlsv1.1': 'TLSv1.1', 'tlsv1.2': 'TLSv1.2', 'tlsv1.3': 'TLSv1.3',
};
const ORDER = ['SSLv2', 'SSLv3', 'TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'];

/** What node:tls is told about protocols. */
interface ProtocolRange {
  minVersion: tls.SecureVersion;
  maxVersion: tls.SecureVersion;
}

/**
 * tls_proto_mask_lims(): a protocol list ("!SSLv2, !TLSv1.3", ">=TLSv1.2",
 * "TLSv1.2 TLSv1.3") as the range of versions it leaves; null when a name
 * is unknown. node:tls takes a range only: a list that leaves a hole in the
 * middle (TLSv1 and TLSv1.2 without TLSv1.1) is refused with `hole`.
 */
export function protocolRange(list: string): ProtocolRange | null | { hole: string } {
  let floor = 0;
  let ceiling = ORDER.length - 1;
  const include = new Set<number>();
  const exclude = new Set<number>();
  for (const tok of words(list, ', \t\r\n:')) {
    let t = tok;
    let kind: 'min' | 'max' | 'not' | 'only' = 'only';
    if (t.startsWith('>=')) [kind, t] = ['min', t.slice(2)];
    else if (t.startsWith('<=')) [kind, t] = ['max', t.slice(2)];
    else if (t.startsWith('!')) [kind, t] = ['not', t.slice(1)];
    const lower = t.toLowerCase();
    if ((kind === 'min' || kind === 'max') && lower === 'none') continue;
    const v = VERSIONS[lower];
    if (v === undefined) return null;
    const i = ORDER.indexOf(v);
    if (kind === 'min') floor = Math.max(floor, i);
    else if (kind === 'max') ceiling = Math.min(ceiling, i);
    else if (kind === 'not') exclude.add(i);
    else include.add(i);
  }
  const allowed: number[] = [];
  for (let i = 2; i < ORDER.length; i++) {
    if (i < floor || i > ceiling || exclude.has(i) || (include.size > 0 && !include.has(i))) continue;
    allowed.push(i);
  }
  if (allowed.length === 0) return { minVersion: 'TLSv1.3', maxVersion: 'TLSv1.2' };
  const lo = allowed[0]!;
  const hi = allowed[allowed.length - 1]!;
  if (hi - lo + 1 !== allowed.length) return { hole: list };
  return { minVersion: ORDER[lo] as tls.SecureVersion, maxVersion: ORDER[hi] as tls.SecureVersion };
}

/** The TLSv1.3 suites node:tls uses by default (Postfix leaves OpenSSL's defaults for TLSv1.3 alone). */
const TLS13_SUITES = tls.DEFAULT_CIPHERS.split(':').filter((c) => c.startsWith('TLS_')).join(':');

/** tls_set_ciphers(): the OpenSSL cipher list of a grade with the exclusions; a string is Postfix's complaint. */
export function cipherList(settings: TlsSettings, grade: string, exclusions: string, namaddrport: string): { list: string } | { warning: string } {
  const base = settings.cipherLists[grade.toLowerCase()];
  if (base === undefined) return { warning: `${namaddrport}: invalid cipher grade: "${grade}"` };
  let list = base;
  for (const tok of words(exclusions, ', \t\r\n:')) {
    if ('!+-@'.includes(tok[0]!)) return { warning: `${namaddrport}: invalid unary '!+-@' in cipher exclusion: ${tok}` };
    list += `:!${tok}`;
  }
  return { list };
}

export interface TlsResult {
  socket: tls.TLSSocket;
  present: boolean;
  trusted: boolean;
  matched: boolean;
  /** Postfix's lines about a certificate that failed verification. */
  failures: string[];
}

/** What a handshake needs besides the socket and the policy. */
export interface TlsStart {
  host: string;
  nexthopDomain: string;
  namaddrport: string;
  timeoutSec: number;
  log: MsgLog;
}

/** The SNI name the policy asks for: the server's name, the next hop's, a fixed one, or none. */
function sniName(policy: TlsPolicy, start: TlsStart): string {
  if (policy.sni === 'hostname') return start.host;
  if (policy.sni === 'nexthop') return start.nexthopDomain;
  return policy.sni;
}

/** The digests a fingerprint policy lists, with the warnings about those of the wrong size (tls_dane_enable). */
function usableFingerprints(policy: TlsPolicy, digest: string, start: TlsStart): Buffer[] {
  const size = DIGEST_SIZES[digest]!;
  // The records were prepended one by one, the public-key one last: they are checked newest first.
  for (const d of [...policy.fingerprints].reverse()) {
    if (d.length === size) continue;
    start.log.warning(`${start.namaddrport}: unusable TLSA RR: 3 1 255 ${d.toString('hex')}`);
    start.log.warning(`${start.namaddrport}: unusable TLSA RR: 3 0 255 ${d.toString('hex')}`);
  }
  return policy.fingerprints.filter((d) => d.length === size);
}

/** The certificate or its public key has one of the digests. */
function fingerprintMatches(cert: tls.PeerCertificate, digest: string, wanted: Buffer[]): boolean {
  const spki = new X509Certificate(cert.raw).publicKey.export({ type: 'spki', format: 'der' });
  const mine = [createHash(digest).update(cert.raw).digest(), createHash(digest).update(spki).digest()];
  return wanted.some((w) => mine.some((m) => m.equals(w)));
}

/** The node:tls options for the policy; a string is a warning that stops TLS for this session. */
function connectOptions(settings: TlsSettings, policy: TlsPolicy, start: TlsStart): tls.ConnectionOptions | string {
  const range = protocolRange(policy.protocols);
  if (range === null) return `${start.namaddrport}: Invalid TLS protocol list "${policy.protocols}": aborting TLS session`;
  if ('hole' in range) {
    return `${start.namaddrport}: TLS protocol list "${policy.protocols}" leaves out a version between two it allows: not supported by this Postfix replacement`;
  }
  const ciphers = cipherList(settings, policy.grade, policy.exclusions, start.namaddrport);
  if ('warning' in ciphers) return ciphers.warning;
  const ca = policy.trustAnchors.length > 0 ? Buffer.concat(policy.trustAnchors) : settings.ca;
  const sni = sniName(policy, start);
  return {
    rejectUnauthorized: false, ...(ca ? { ca } : {}), checkServerIdentity: () => undefined,
    minVersion: range.minVersion, maxVersion: range.maxVersion, ciphers: `${TLS13_SUITES}:${ciphers.list}`,
    ...(sni !== '' ? { servername: sni } : {}),
  };
}

/** The handshake on an open socket; the TLS socket and what the certificate proved, or null on failure. */
export function startTls(socket: Socket, settings: TlsSettings, policy: TlsPolicy, start: TlsStart): Promise<TlsResult | null> {
  const failures: string[] = [];
  const opts = connectOptions(settings, policy, start);
  if (typeof opts === 'string') {
    start.log.warning(opts);
    return Promise.resolve(null);
  }
  const digest = settings.policy.fingerprintDigest;
  const fingerprints = policy.level === LEV_FPRINT ? usableFingerprints(policy, digest, start) : [];
  if (policy.level === LEV_FPRINT && fingerprints.length === 0) start.log.warning(`${start.namaddrport}: all fingerprints unusable`);
  const names = matchNames(policy, start.host, start.nexthopDomain);
  return new Promise((resolve) => {
    socket.removeAllListeners('data');
    let t: tls.TLSSocket;
    // Postfix sends an address as SNI name when told to ("nexthop" of [192.0.2.1]); node:tls
    // does too, but prints a deprecation warning on stderr, which a daemon must not.
    const quiet = typeof opts.servername === 'string' && isIP(opts.servername) !== 0;
    const saved = process.noDeprecation;
    try {
      if (quiet) process.noDeprecation = true;
      t = tls.connect({ socket, ...opts });
    } catch {
      // OpenSSL refused the cipher list ("No cipher match").
      start.log.warning(`${start.namaddrport}: error setting cipher grade: "${policy.grade}"`);
      resolve(null);
      return;
    } finally {
      process.noDeprecation = saved;
    }
    let timer: NodeJS.Timeout | undefined;
    const done = (r: TlsResult | null): void => {
      if (timer) clearTimeout(timer);
      t.removeAllListeners('error');
      t.on('error', () => undefined);
      if (r === null) t.destroy();
      resolve(r);
    };
    if (start.timeoutSec > 0) timer = setTimeout(() => done(null), start.timeoutSec * 1000);
    t.once('error', () => done(null));
    t.once('secureConnect', () => {
      const cert = t.getPeerCertificate();
      const present = cert !== undefined && Object.keys(cert).length > 0;
      if (policy.level === LEV_FPRINT) {
        const matched = present && fingerprints.length > 0 && fingerprintMatches(cert, digest, fingerprints);
        if (present && !matched) failures.push(`server certificate verification failed for ${start.namaddrport}: num=65:no matching DANE TLSA records`);
        done({ socket: t, present, trusted: matched, matched, failures });
        return;
      }
      const mustMatch = tlsMustMatch(policy.level);
      const anchored = present && policy.trustAnchors.length > 0 && policy.trustAnchors.some((a) => new X509Certificate(a).raw.equals(cert.raw));
      let trusted = present && (anchored || ((policy.trustAnchors.length > 0 || settings.ca !== null) && t.authorized));
      if (present && mustMatch && !trusted) {
        // With trust anchors OpenSSL verifies by DANE (synthetic TLSA records), which words its failure so.
        failures.push(policy.trustAnchors.length > 0
          ? `server certificate verification failed for ${start.namaddrport}: num=65:no matching DANE TLSA records`
          : `certificate verification failed for ${start.namaddrport}: untrusted issuer ${oneLineName(cert.issuer)}`);
      }
      let matched = false;
      if (trusted && mustMatch) {
        matched = names.some((n) => (isIP(n.name) ? certAddresses(cert).includes(n.name.toLowerCase()) : certNames(cert).some((c) => nameMatches(c, n.name, n.parentOk))));
        if (!matched) {
          const ip = names.length > 0 && names.every((n) => isIP(n.name) && !n.parentOk);
          failures.push(`server certificate verification failed for ${start.namaddrport}: ${ip ? 'num=64:IP address mismatch' : 'num=62:hostname mismatch'}`);
          trusted = false;
        }
      }
      done({ socket: t, present, trusted, matched, failures });
    });
  });
}

/** The bits of a cipher as OpenSSL reports them (used/algorithm). */
function cipherBits(name: string): number {
  if (/CHACHA20|(?:AES|ARIA|CAMELLIA)_?256/i.test(name)) return 256;
  if (/(?:AES|ARIA|CAMELLIA|SEED)_?128|SEED/i.test(name)) return 128;
  if (/3DES|DES-CBC3/i.test(name)) return 168;
  return 0;
}

/** tls_log_summary() for a new client session (key exchange and signature details are OpenSSL's for TLSv1.3 only). */
export function tlsSummary(r: TlsResult, namaddrport: string): string {
  const trust = !r.present ? 'Anonymous' : r.matched ? 'Verified' : r.trusted ? 'Trusted' : 'Untrusted';
  const c = r.socket.getCipher();
  const protocol = r.socket.getProtocol() ?? '';
  const name = protocol === 'TLSv1.3' ? c.standardName : c.name;
  const bits = cipherBits(name);
  let line = `${trust} TLS connection established to ${namaddrport}: ${protocol} with cipher ${name} (${bits}/${bits} bits)`;
  if (protocol !== 'TLSv1.3') return line;
  const kex = r.socket.getEphemeralKeyInfo();
  if (kex && 'name' in kex && kex.name) line += ` key-exchange ${kex.name}`;
  else if (kex && 'type' in kex && kex.type === 'DH') line += ` key-exchange DHE (${kex.size} bits)`;
  if (r.present) {
    const cert = r.socket.getPeerCertificate();
    if (cert.asn1Curve) line += ` server-signature ECDSA (${cert.asn1Curve}) server-digest SHA256`;
    else if (cert.bits) line += ` server-signature RSA-PSS (${cert.bits} bits) server-digest SHA256`;
  }
  return line;
}

export { LEV_ENCRYPT, LEV_MAY, LEV_NONE, LEV_SECURE, LEV_VERIFY };
