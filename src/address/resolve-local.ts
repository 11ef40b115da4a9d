// Mirrors Postfix's global/resolve_local.c and global/own_inet_addr.c, with
// the syntax checks they rely on (util/valid_hostname.c,
// global/valid_mailhost_addr.c, util/valid_utf8_hostname.c): is a domain
// ours? It is when mydestination lists it, or when it is an address literal
// of one of our inet_interfaces or proxy_interfaces. Interface addresses are
// looked up once, on first use (host names through the system resolver,
// which honours /etc/hosts).
import { lookup } from 'node:dns/promises';
import { networkInterfaces } from 'node:os';
import { domainToASCII } from 'node:url';
import { parseIPv6 } from '../dict/ipaddr.js';
import type { Config } from '../config/config.js';
import { MATCH_FLAG_RETURN, MatchList } from './match-list.js';
import { defaultLog, TableCache, type AddressLog } from './maps.js';

const VALID_HOSTNAME_LEN = 255;
const VALID_LABEL_LEN = 63;
const isDigit = (c: string): boolean => c >= '0' && c <= '9';
const isAlnum = (c: string): boolean => isDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');

/**
 * valid_hostname without DO_WILDCARD: RFC 1035 labels (plus '_'), not
 * all-numeric, at most 255 characters. gripe, when given, gets Postfix's
 * complaint (DO_GRIPE: "valid_hostname: misplaced hyphen: -x.example").
 */
export function validHostname(name: string, gripe?: (text: string) => void): boolean {
  const no = (why: string): boolean => {
    gripe?.(`valid_hostname: ${why}`);
    return false;
  };
  if (name === '') return no('empty hostname');
  let labelLength = 0;
  let nonNumeric = false;
  for (let i = 0; i < name.length; i++) {
    const ch = name[i]!;
    if (isAlnum(ch) || ch === '_') {
      if (++labelLength > VALID_LABEL_LEN) return no(`hostname label too long: ${clip(name)}`);
      if (!isDigit(ch)) nonNumeric = true;
    } else if (ch === '.') {
      if (labelLength === 0 || i + 1 === name.length) return no(`misplaced delimiter: ${clip(name)}`);
      labelLength = 0;
    } else if (ch === '-') {
      nonNumeric = true;
      labelLength++;
      if (labelLength === 1 || i + 1 === name.length || name[i + 1] === '.') return no(`misplaced hyphen: ${clip(name)}`);
    } else {
      return no(`invalid character ${byteOf(ch)}(decimal): ${clip(name)}`);
    }
  }
  if (!nonNumeric) return no(`numeric hostname: ${clip(name)}`);
  return name.length <= VALID_HOSTNAME_LEN || no(`bad length ${name.length} for ${clip(name)}...`);
}

/** The byte value Postfix prints for a bad character ("%d(decimal)"). */
function byteOf(ch: string): number {
  const c = ch.charCodeAt(0);
  return c < 0x80 ? c : Buffer.from(ch, 'utf8')[0]!;
}

const clip = (s: string): string => s.slice(0, 100);

/** valid_ipv4_hostaddr's complaint about a dotted quad, or null when it is valid (0.0.0.0 but no other 0.x.y.z). */
export function ipv4Problem(addr: string): string | null {
  const why = (text: string): string => `valid_ipv4_hostaddr: ${text}: ${clip(addr)}`;
  let inByte = false;
  let byteCount = 0;
  let byteVal = 0;
  for (let i = 0; i < addr.length; i++) {
    const ch = addr[i]!;
    if (isDigit(ch)) {
      if (!inByte) {
        inByte = true;
        byteVal = 0;
        byteCount++;
      }
      byteVal = byteVal * 10 + (ch.charCodeAt(0) - 48);
      if (byteVal > 255) return why('invalid octet value');
    } else if (ch === '.') {
      if (!inByte || i + 1 === addr.length) return why('misplaced dot');
      if (byteCount === 1 && byteVal === 0 && /[^0.]/.test(addr)) return why('bad initial octet value');
      inByte = false;
    } else {
      return why(`invalid character ${byteOf(ch)}(decimal)`);
    }
  }
  return byteCount === 4 ? null : why('invalid octet count');
}

/** valid_ipv6_hostaddr's complaint (eight hex fields, one "::" at most, an optional IPv4 tail), or null. */
export function ipv6Problem(addr: string): string | null {
  const why = (text: string): string => `valid_ipv6_hostaddr: ${text}: ${clip(addr)}`;
  let nullField = 0;
  let field = 0;
  let len = 0;
  let i = 0;
  for (;;) {
    const ch = addr[i];
    if (ch === undefined) {
      if (field < 2) return why("too few `:' in IPv6 address");
      return len === 0 && nullField !== field - 1 ? why('bad null last field in IPv6 address') : null;
    }
    if (ch === '.') {
      if (field < 2 || field > 6) return why('malformed IPv4-in-IPv6 address');
      return ipv4Problem(addr.slice(i - len));
    }
    if (ch === ':') {
      if (field === 0 && len === 0 && addr[i + 1] !== undefined && isAlnum(addr[i + 1]!)) {
        return why('bad null first field in IPv6 address');
      }
      if (++field > 7) return why("too many `:' in IPv6 address");
      i++;
      len = 0;
      if (addr[i] === ':') {
        if (nullField > 0) return why("too many `::' in IPv6 address");
        nullField = field;
      }
      continue;
    }
    len = /^[0-9a-fA-F]*/.exec(addr.slice(i))![0].length;
    if (len > 4) return why('malformed IPv6 address');
    if (len === 0) return why(`invalid character ${byteOf(ch)}(decimal) in IPv6 address`);
    i += len;
  }
}

export const validIpv4Hostaddr = (addr: string): boolean => ipv4Problem(addr) === null;
export const validIpv6Hostaddr = (addr: string): boolean => ipv6Problem(addr) === null;

/** valid_hostaddr: IPv6 when there is a colon, else IPv4. */
export function validHostaddr(addr: string): boolean {
  if (addr === '') return false;
  return addr.includes(':') ? validIpv6Hostaddr(addr) : validIpv4Hostaddr(addr);
}

/** valid_mailhost_addr: "IPv6:..." (any case) or a dotted quad; the bare address, or null (gripe gets the complaint). */
export function validMailhostAddr(addr: string, gripe?: (text: string) => void): string | null {
  const v6 = addr.slice(0, 5).toLowerCase() === 'ipv6:';
  const bare = v6 ? addr.slice(5) : addr;
  const problem = v6 ? ipv6Problem(bare) : ipv4Problem(bare);
  if (problem !== null) gripe?.(problem);
  return problem === null ? bare : null;
}

/** valid_mailhost_literal: "[address]" with nothing after the ']'. */
export function validMailhostLiteral(addr: string): boolean {
  if (addr[0] !== '[') return false;
  const last = addr.indexOf(']');
  if (last < 0 || last + 1 !== addr.length) return false;
  if (last - 1 >= 46) return false; // MAI_HOSTADDR_STR holds INET6_ADDRSTRLEN bytes
  return validMailhostAddr(addr.slice(1, last)) !== null;
}

/** valid_utf8_hostname: a non-ASCII name (SMTPUTF8 on) must convert to a valid A-label name. */
export function validUtf8Hostname(enableUtf8: boolean, name: string, log: AddressLog = defaultLog): boolean {
  if (name === '') return false;
  // eslint-disable-next-line no-control-regex
  if (enableUtf8 && !/^[\x00-\x7f]*$/.test(name)) return midnaDomainToAscii(name, log) !== null;
  return validHostname(name);
}

/** midna_domain_cache_size: conversions are remembered, so each problem is logged once. */
const MIDNA_CACHE_SIZE = 256;
const midnaCache = new Map<string, string | null>();

/**
 * midna_domain_to_ascii: UTS 46 non-transitional ToASCII, then
 * valid_hostname on the result. Node's converter gives no reason for a
 * failure, so the reason Postfix (ICU) logs is worked out here from the
 * labels, for the common cases.
 */
export function midnaDomainToAscii(name: string, log: AddressLog = defaultLog): string | null {
  const hit = midnaCache.get(name);
  if (hit !== undefined) return hit;
  const why = (reason: string): null => {
    log.warning(`midna_domain_to_ascii_create: Problem translating domain "${name.slice(0, 100)}" to ASCII form: ${reason}`);
    return null;
  };
  let result: string | null;
  if (!name.isWellFormed()) {
    result = why('malformed UTF-8');
  } else {
    const problem = idnaProblem(name);
    let ascii = problem === null ? domainToASCII(name) : '';
    // ICU maps an ASCII name without "xn--" labels to its lower case, even
    // one that is no host name ("[127.0.0.1]"), which then fails below;
    // Node's URL host parser refuses such names outright.
    // eslint-disable-next-line no-control-regex
    if (ascii === '' && problem === null && /^[\x00-\x7f]*$/.test(name) && !/(^|\.)xn--/i.test(name)) ascii = name.toLowerCase();
    if (problem !== null || ascii === '') result = why(problem ?? 'UIDNA_ERROR_DISALLOWED');
    else if (!validHostname(ascii)) result = why('malformed ASCII label(s)');
    else result = ascii;
  }
  if (midnaCache.size >= MIDNA_CACHE_SIZE) midnaCache.delete(midnaCache.keys().next().value!);
  midnaCache.set(name, result);
  return result;
}

/** The UIDNA_ERROR_* names ICU would report for label-shape problems, '|'-joined, or null. */
function idnaProblem(name: string): string | null {
  const labels = name.split('.');
  if (labels.length > 1 && labels[labels.length - 1] === '') labels.pop(); // the root label
  const errors = new Set<string>();
  for (const label of labels) {
    if (label === '') errors.add('UIDNA_ERROR_EMPTY_LABEL');
    if (label.startsWith('-')) errors.add('UIDNA_ERROR_LEADING_HYPHEN');
    if (label.endsWith('-')) errors.add('UIDNA_ERROR_TRAILING_HYPHEN');
    if (label.slice(2, 4) === '--' && !/^xn--/i.test(label)) errors.add('UIDNA_ERROR_HYPHEN_3_4');
  }
  const order = ['UIDNA_ERROR_EMPTY_LABEL', 'UIDNA_ERROR_LEADING_HYPHEN', 'UIDNA_ERROR_TRAILING_HYPHEN', 'UIDNA_ERROR_HYPHEN_3_4'];
  const found = order.filter((e) => errors.has(e));
  return found.length ? found.join('|') : null;
}

/**
 * hostaddr_to_sockaddr with AI_NUMERICHOST: IPv4 as inet_aton reads it
 * (each part in C notation: 0x hex, leading-zero octal), IPv6 as inet_pton.
 */
export function numericAddress(text: string): Uint8Array | null {
  if (text.includes(':')) return parseIPv6(text);
  const parts = text.split('.');
  if (parts.length !== 4) return null;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i]!;
    const m = /^(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)$/.exec(p);
    if (!m) return null;
    const v = p.length > 1 && p[0] === '0' ? (p[1] === 'x' || p[1] === 'X' ? parseInt(p.slice(2), 16) : parseInt(p, 8)) : parseInt(p, 10);
    if (v > 255) return null;
    out[i] = v;
  }
  return out;
}

const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && a.every((v, i) => v === b[i]);

/** own_inet_addr and proxy_inet_addr: the addresses this system receives mail on. */
export class OwnAddresses {
  private list: Promise<Uint8Array[]> | undefined;

  constructor(
    private readonly inetInterfaces: string,
    private readonly proxyInterfaces: string,
    private readonly inetProtocols: string,
  ) {}

  static fromConfig(config: Config): OwnAddresses {
    return new OwnAddresses(config.get('inet_interfaces'), config.get('proxy_interfaces'), config.get('inet_protocols'));
  }

  async contains(addr: Uint8Array): Promise<boolean> {
    this.list ??= this.load();
    return (await this.list).some((a) => sameBytes(a, addr));
  }

  private families(): { v4: boolean; v6: boolean } {
    const words = this.inetProtocols.toLowerCase().split(/[\s,]+/);
    const all = words.includes('all');
    return { v4: all || words.includes('ipv4'), v6: all || words.includes('ipv6') };
  }

  private async load(): Promise<Uint8Array[]> {
    const fam = this.families();
    const out: Uint8Array[] = [];
    const keep = (a: Uint8Array | null): void => {
      if (a && ((a.length === 4 && fam.v4) || (a.length === 16 && fam.v6))) out.push(a);
    };
    const spec = this.inetInterfaces.trim().toLowerCase();
    if (spec === 'all' || spec === 'loopback-only') {
      for (const list of Object.values(networkInterfaces())) {
        for (const ni of list ?? []) {
          if (spec === 'loopback-only' && !isLoopback(ni.address)) continue;
          keep(numericAddress(ni.address.replace(/%.*$/, '')));
        }
      }
    } else {
      for (const host of hostsOf(this.inetInterfaces)) for (const a of await hostAddresses(host)) keep(a);
    }
    for (const host of hostsOf(this.proxyInterfaces)) for (const a of await hostAddresses(host)) keep(a);
    return out;
  }
}

function hostsOf(value: string): string[] {
  return value.split(/[ \t,]+/).filter((h) => h !== '');
}

function isLoopback(text: string): boolean {
  return text.startsWith('127.') || text === '::1';
}

/** inet_addr_host: a numeric address, or every address a host name has. */
async function hostAddresses(host: string): Promise<Uint8Array[]> {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  const num = numericAddress(bare);
  if (num) return [num];
  try {
    const all = await lookup(bare, { all: true });
    return all.map((r) => numericAddress(r.address)).filter((a): a is Uint8Array => a !== null);
  } catch {
    return [];
  }
}

/** resolve_local: mydestination plus our interface address literals. */
export class LocalDestinations {
  private constructor(
    private readonly mydestination: MatchList,
    private readonly own: OwnAddresses,
    private readonly log: AddressLog,
  ) {}

  static async create(config: Config, cache?: TableCache, own?: OwnAddresses): Promise<LocalDestinations> {
    const log = cache?.log ?? defaultLog;
    const list = await MatchList.stringList('mydestination', MATCH_FLAG_RETURN, config.get('mydestination'), { cache, log });
    return new LocalDestinations(list, own ?? OwnAddresses.fromConfig(config), log);
  }

  /** 1 when the domain is local, 0 when not (or malformed), a negative number when a table failed. */
  async resolveLocal(domain: string): Promise<number> {
    let name = domain;
    if (name === '') return 0;
    if (name.endsWith('.')) name = name.slice(0, -1);
    if (name === '' || name.endsWith('.')) return 0;
    const m = await this.mydestination.match(name);
    if (m === 'match') return 1;
    if (m === 'error') return -1;
    if (name.startsWith('[') && name.endsWith(']')) {
      const bare = validMailhostAddr(name.slice(1, -1), (text) => this.log.warning(text));
      if (bare === null) return 0;
      const addr = numericAddress(bare);
      if (addr && (await this.own.contains(addr))) return 1;
    }
    return 0;
  }
}
