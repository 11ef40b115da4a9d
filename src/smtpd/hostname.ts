// Mirrors Postfix's global/normalize_mailhost_addr.c, plus byte-string
// wrappers around the address layer's syntax checks (util/valid_hostname.c,
// util/valid_utf8_hostname.c, global/valid_mailhost_addr.c in
// src/address/resolve-local.ts). Pure functions.
import { domainToASCII } from 'node:url';
import { formatAddress } from '../dict/ipaddr.js';
import { numericAddress, validMailhostAddr, validUtf8Hostname } from '../address/resolve-local.js';
import { toText } from './text.js';

export { validHostname, validHostaddr, validMailhostAddr, validMailhostLiteral } from '../address/resolve-local.js';

export const VALID_HOSTNAME_LEN = 255;
export const IPV6_COL = 'IPv6:';

/** valid_utf8_hostname() on a byte string. */
export function validUtf8HostnameBytes(enableUtf8: boolean, name: string): boolean {
  return validUtf8Hostname(enableUtf8, toText(name));
}

/** midna_domain_to_ascii() on a byte string; null when the name does not convert. */
export function domainToAsciiBytes(name: string): string | null {
  const ascii = domainToASCII(toText(name));
  return ascii === '' ? null : ascii;
}

export interface NormalizedAddr {
  /** "1.2.3.4" or "IPv6:::1": the form used in headers and logging. */
  rfcAddr: string;
  /** The bare address used for access control. */
  addr: string;
  /** AF_INET (2) or AF_INET6 (10). */
  family: number;
}

/** The address families inet_protocols enables. */
export interface Families {
  v4: boolean;
  v6: boolean;
}

/** inet_protocols as address families. */
export function inetFamilies(inetProtocols: string): Families {
  const words = inetProtocols.toLowerCase().split(/[\s,]+/);
  const all = words.includes('all');
  return { v4: all || words.includes('ipv4'), v6: all || words.includes('ipv6') };
}

/**
 * normalize_mailhost_addr(): a validated address in its canonical printed
 * form; IPv4-mapped IPv6 becomes IPv4 (when IPv4 is enabled); an address of
 * a family that inet_protocols does not enable is refused.
 */
export function normalizeMailhostAddr(text: string, families: Families = { v4: true, v6: true }): NormalizedAddr | null {
  const bare = validMailhostAddr(text);
  if (bare === null) return null;
  const bytes = numericAddress(bare);
  if (!bytes) return null;
  const printed = formatAddress(bytes);
  if (bytes.length === 16 && families.v4 && printed.toLowerCase().startsWith('::ffff:') && printed.includes('.')) {
    const v4 = printed.slice(7);
    return { rfcAddr: v4, addr: v4, family: 2 };
  }
  if (bytes.length === 16) return families.v6 ? { rfcAddr: IPV6_COL + printed, addr: printed, family: 10 } : null;
  if (!families.v4) return null;
  return { rfcAddr: printed, addr: printed, family: 2 };
}
