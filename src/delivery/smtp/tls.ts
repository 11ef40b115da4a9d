// The TLS side of smtp(8)/lmtp(8), as Postfix's smtp_tls_policy.c,
// tls/tls_client.c, tls_verify.c and tls_misc.c (tls_log_summary) do it
// for the levels this client has: none, may (TLS when the server offers
// STARTTLS), encrypt (TLS or no mail), verify (and a certificate trusted
// by smtp_tls_CAfile whose name is the server's name) and secure (whose
// name is the next-hop domain or below it). The handshake runs on the
// session's socket with node:tls; the certificate name check follows
// Postfix (DNS names of the certificate, else its common name; "*." matches
// one label). The summary line is tls_log_summary()'s, as far as node:tls
// tells what OpenSSL told Postfix. Reads the CA file once; touches the
// session socket it is given.
import * as fs from 'node:fs';
import { type Socket, isIP } from 'node:net';
import * as tls from 'node:tls';
import type { Config } from '../../config/config.js';
import { ConfigError } from '../../config/config.js';

export type TlsLevel = 'none' | 'may' | 'encrypt' | 'verify' | 'secure';

const LEVELS: readonly string[] = ['none', 'may', 'encrypt', 'verify', 'secure'];
/** Levels Postfix has that this client does not. */
const NOT_BUILT: readonly string[] = ['dane', 'dane-only', 'fingerprint'];

export interface TlsSettings {
  level: TlsLevel;
  /** smtp_tls_CAfile's certificates, or null. */
  ca: Buffer | null;
  loglevel: number;
  /** smtp_tls_verify_cert_match and smtp_tls_secure_cert_match as words. */
  verifyMatch: string[];
  secureMatch: string[];
  /** smtp_tls_note_starttls_offer. */
  noteOffer: boolean;
}

export const tlsRequired = (level: TlsLevel): boolean => level === 'encrypt' || level === 'verify' || level === 'secure';
export const tlsMustMatch = (level: TlsLevel): boolean => level === 'verify' || level === 'secure';

/** The TLS settings of the client; throws ConfigError for what is not built or not valid. */
export function readTlsSettings(config: Config, p: 'smtp' | 'lmtp'): TlsSettings {
  let level = config.get(`${p}_tls_security_level`).trim().toLowerCase();
  if (level === '') {
    if (config.getBool(`${p}_enforce_tls`)) level = config.getBool(`${p}_tls_enforce_peername`) ? 'verify' : 'encrypt';
    else level = config.getBool(`${p}_use_tls`) ? 'may' : 'none';
  }
  if (NOT_BUILT.includes(level)) {
    throw new ConfigError(`${p}_tls_security_level = ${level}: DANE and fingerprint verification are not implemented by this Postfix replacement yet (DNSSEC is not available)`);
  }
  if (!LEVELS.includes(level)) throw new ConfigError(`invalid ${p}_tls_security_level value: "${level}"`);
  if (config.getBool(`${p}_tls_wrappermode`)) throw new ConfigError(`${p}_tls_wrappermode = yes: not implemented by this Postfix replacement yet`);
  for (const name of ['tls_policy_maps', 'tls_per_site', 'tls_CApath', 'tls_cert_file', 'tls_chain_files', 'tls_servername', 'tls_trust_anchor_file']) {
    const value = config.get(`${p}_${name}`);
    if (value.trim() !== '') throw new ConfigError(`${p}_${name} = ${value}: not implemented by this Postfix replacement's ${p.toUpperCase()} client yet`);
  }
  const caFile = config.get(`${p}_tls_CAfile`);
  let ca: Buffer | null = null;
  if (caFile !== '' && level !== 'none') {
    try {
      ca = fs.readFileSync(caFile);
    } catch (e) {
      throw new ConfigError(`cannot load Certification Authority data, CAfile="${caFile}": ${(e as Error).message}`);
    }
  }
  const words = (name: string): string[] => config.get(name).split(/[\s,:]+/).filter((w) => w !== '').map((w) => w.toLowerCase());
  const loglevel = Number.parseInt(config.get(`${p}_tls_loglevel`), 10);
  return {
    level: level as TlsLevel, ca, loglevel: Number.isNaN(loglevel) ? 0 : loglevel,
    verifyMatch: words(`${p}_tls_verify_cert_match`), secureMatch: words(`${p}_tls_secure_cert_match`),
    noteOffer: config.getBool(`${p}_tls_note_starttls_offer`),
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

/** The names the certificate must match at this level. */
export function matchNames(settings: TlsSettings, host: string, nexthopDomain: string): Array<{ name: string; parentOk: boolean }> {
  const out: Array<{ name: string; parentOk: boolean }> = [];
  const strategies = settings.level === 'secure' ? settings.secureMatch : settings.verifyMatch;
  for (const s of strategies) {
    if (s === 'hostname') out.push({ name: host, parentOk: false });
    else if (s === 'nexthop') out.push({ name: nexthopDomain, parentOk: false });
    else if (s === 'dot-nexthop') out.push({ name: nexthopDomain, parentOk: true });
    else if (s.startsWith('.')) out.push({ name: s.slice(1), parentOk: true });
    else out.push({ name: s, parentOk: false });
  }
  return out;
}

export interface TlsResult {
  socket: tls.TLSSocket;
  present: boolean;
  trusted: boolean;
  matched: boolean;
  /** Postfix's lines about a certificate that failed verification. */
  failures: string[];
}

/** The handshake on an open socket; the TLS socket and what the certificate proved, or null on failure. */
export function startTls(
  socket: Socket, settings: TlsSettings, names: Array<{ name: string; parentOk: boolean }>, timeoutSec: number, namaddrport: string,
): Promise<TlsResult | null> {
  const failures: string[] = [];
  return new Promise((resolve) => {
    socket.removeAllListeners('data');
    const t = tls.connect({
      socket, rejectUnauthorized: false, ...(settings.ca ? { ca: settings.ca } : {}),
      checkServerIdentity: () => undefined, minVersion: 'TLSv1',
    });
    let timer: NodeJS.Timeout | undefined;
    const done = (r: TlsResult | null): void => {
      if (timer) clearTimeout(timer);
      t.removeAllListeners('error');
      t.on('error', () => undefined);
      if (r === null) t.destroy();
      resolve(r);
    };
    if (timeoutSec > 0) timer = setTimeout(() => done(null), timeoutSec * 1000);
    t.once('error', () => done(null));
    t.once('secureConnect', () => {
      const cert = t.getPeerCertificate();
      const present = cert !== undefined && Object.keys(cert).length > 0;
      const mustMatch = tlsMustMatch(settings.level);
      let trusted = present && settings.ca !== null && t.authorized;
      if (present && mustMatch && !trusted) failures.push(`certificate verification failed for ${namaddrport}: untrusted issuer ${oneLineName(cert.issuer)}`);
      let matched = false;
      if (trusted && mustMatch) {
        matched = names.some((n) => (isIP(n.name) ? certAddresses(cert).includes(n.name.toLowerCase()) : certNames(cert).some((c) => nameMatches(c, n.name, n.parentOk))));
        if (!matched) {
          const ip = names.length > 0 && names.every((n) => isIP(n.name) && !n.parentOk);
          failures.push(`server certificate verification failed for ${namaddrport}: ${ip ? 'num=64:IP address mismatch' : 'num=62:hostname mismatch'}`);
          trusted = false;
        }
      }
      done({ socket: t, present, trusted, matched, failures });
    });
  });
}

/** The bits of a cipher as OpenSSL reports them (used/algorithm). */
function cipherBits(name: string): number {
  if (/CHACHA20|AES_?256|AES256/i.test(name)) return 256;
  if (/AES_?128|AES128/i.test(name)) return 128;
  if (/3DES|DES-CBC3/i.test(name)) return 168;
  return 0;
}

/** tls_log_summary() for a new client session. */
export function tlsSummary(r: TlsResult, namaddrport: string): string {
  const trust = !r.present ? 'Anonymous' : r.matched ? 'Verified' : r.trusted ? 'Trusted' : 'Untrusted';
  const c = r.socket.getCipher();
  const protocol = r.socket.getProtocol() ?? '';
  const name = protocol === 'TLSv1.3' ? c.standardName : c.name;
  const bits = cipherBits(name);
  let line = `${trust} TLS connection established to ${namaddrport}: ${protocol} with cipher ${name} (${bits}/${bits} bits)`;
  const kex = r.socket.getEphemeralKeyInfo();
  if (kex && 'name' in kex && kex.name) line += ` key-exchange ${kex.name}`;
  else if (kex && 'type' in kex && kex.type === 'DH') line += ` key-exchange DHE (${kex.size} bits)`;
  if (r.present) {
    const cert = r.socket.getPeerCertificate();
    if (cert.asn1Curve) line += ` server-signature ECDSA (${cert.asn1Curve}) server-digest SHA256`;
    else if (cert.bits) line += ` server-signature ${protocol === 'TLSv1.3' ? 'RSA-PSS' : 'RSA'} (${cert.bits} bits) server-digest SHA256`;
  }
  return line;
}
