// Host-computed parameter defaults: Postfix's postconf_builtin.c function
// defaults (myhostname, mydomain, mynetworks), global/mynetworks.c,
// global/own_inet_addr.c and util/inet_proto.c, plus the ad-hoc process_id,
// process_name and service_name. Everything else has a constant default.
// Nothing here runs at import time: each value is worked out when asked for.
import { hostname, networkInterfaces } from 'node:os';
import { readFileSync } from 'node:fs';
import { getProgName } from '../util/msg.js';
import { ConfigError } from './config-error.js';

/**
 * How the rest of the configuration looks to a computed default. Under
 * `postconf -d` main.cf is not consulted at all, which is what omitting the
 * view means.
 */
export interface ConfigView {
  /** The $-expanded main.cf value of name, or undefined when main.cf does not set it. */
  mainValue(name: string): string | undefined;
  /** The $-expanded default text of name, evaluated against this configuration. */
  expandedDefault(name: string): string;
}

export type Computed = { ok: true; value: string } | { ok: false; error: string };

// What the three inputs of mynetworks expand to when only defaults count:
// compatibility_level defaults to 0, below 2, so the style expression
// `${{$compatibility_level} <level {2} ? {subnet} : {host}}` gives subnet.
const DEFAULTS_ONLY: Record<string, string> = {
  inet_interfaces: 'all',
  inet_protocols: 'all',
  mynetworks_style: 'subnet',
};

const DEFAULT_DOMAIN = 'localdomain';

const COMPUTED = new Set(['myhostname', 'mydomain', 'mynetworks', 'process_id', 'process_name', 'service_name']);

/** True when name's default is worked out on this host rather than fixed. */
export function isComputed(name: string): boolean {
  return COMPUTED.has(name);
}

const defaultsCache = new Map<string, string>();

/**
 * The default of a computed parameter. Without a view it is the `postconf -d`
 * value (cached, as Postfix caches it). A failure throws ConfigError with
 * Postfix's text: Postfix cannot go on without these values, and the
 * program's edge ends it with that fatal message.
 */
export function computedDefault(name: string, view?: ConfigView): string {
  if (!view) {
    const hit = defaultsCache.get(name);
    if (hit !== undefined) return hit;
  }
  const r = tryComputedDefault(name, view);
  if (!r.ok) throw new ConfigError(r.error);
  if (!view && name !== 'process_name') defaultsCache.set(name, r.value);
  return r.value;
}

/** Like computedDefault, but a failure comes back as a value. */
export function tryComputedDefault(name: string, view?: ConfigView): Computed {
  switch (name) {
    case 'myhostname':
      return { ok: true, value: computeMyhostname(view) };
    case 'mydomain':
      return { ok: true, value: computeMydomain(view) };
    case 'mynetworks':
      return computeMynetworks(view);
    case 'process_id':
      return { ok: true, value: String(process.pid) };
    case 'process_name':
      return { ok: true, value: getProgName() };
    case 'service_name':
      return { ok: true, value: '' };
    default:
      return { ok: false, error: `no computed default for ${name}` };
  }
}

/** The host name; a name without a dot gets $mydomain (or "localdomain") appended. */
export function computeMyhostname(view?: ConfigView): string {
  const name = hostname();
  if (name.includes('.')) return name;
  return `${name}.${view?.mainValue('mydomain') ?? DEFAULT_DOMAIN}`;
}

/** Everything after the first dot of $myhostname, or "localdomain" when it has none. */
export function computeMydomain(view?: ConfigView): string {
  const host = view?.mainValue('myhostname') ?? computeMyhostname(view);
  const dot = host.indexOf('.');
  return dot < 0 ? DEFAULT_DOMAIN : host.slice(dot + 1);
}

function setting(name: string, view?: ConfigView): string {
  if (!view) return DEFAULTS_ONLY[name] ?? '';
  return view.mainValue(name) ?? view.expandedDefault(name);
}

/** A host address with the netmask of its interface. */
interface IfAddr {
  family: 4 | 6;
  addr: number[]; // 4 or 16 bytes
  mask: number[];
}

/** $mynetworks: the networks of this host's addresses, by $mynetworks_style. */
export function computeMynetworks(view?: ConfigView): Computed {
  const families = protocolFamilies(setting('inet_protocols', view));
  if (typeof families === 'string') return { ok: false, error: families };
  if (families.length === 0) return { ok: true, value: '' };
  const styleText = setting('mynetworks_style', view);
  const styles = styleText.split(/[ \t\r\n,]+/).filter(Boolean);
  let mask = 0;
  for (const s of styles) {
    const bit = ['class', 'subnet', 'host'].indexOf(s);
    if (bit < 0) return { ok: false, error: `unknown mynetworks mask style value "${s}" in "${styleText}"` };
    mask |= 1 << bit;
  }
  if (mask !== 1 && mask !== 2 && mask !== 4) {
    return { ok: false, error: `bad mynetworks_style value: ${styleText}; specify exactly one value` };
  }
  const style = mask === 1 ? 'class' : mask === 2 ? 'subnet' : 'host';
  const own = ownAddresses(setting('inet_interfaces', view), families);
  if (typeof own === 'string') return { ok: false, error: own };
  const seen = new Set<string>();
  const out: string[] = [];
  for (const a of own) {
    const net = a.family === 4 ? ipv4Network(a, style) : ipv6Network(a, style);
    if (typeof net !== 'string') return net;
    if (!seen.has(net)) {
      seen.add(net);
      out.push(net);
    }
  }
  return { ok: true, value: out.join(' ') };
}

/** inet_protocols as the address families in Postfix's order (IPv4 first), or an error text. */
function protocolFamilies(text: string): Array<4 | 6> | string {
  let v4 = false;
  let v6 = false;
  for (const w of text.split(/[ \t\r\n,]+/).filter(Boolean)) {
    if (w === 'all') v4 = v6 = true;
    else if (w === 'ipv4') v4 = true;
    else if (w === 'ipv6') v6 = true;
    else return `unknown inet_protocols value "${w}" in "${text}"`;
  }
  const out: Array<4 | 6> = [];
  if (v4) out.push(4);
  if (v6) out.push(6);
  return out;
}

/** The interface addresses of the given families, in the order the system lists them. */
function localAddresses(families: Array<4 | 6>): IfAddr[] {
  const ifs = Object.values(networkInterfaces());
  const out: IfAddr[] = [];
  for (const fam of families) {
    for (const list of ifs) {
      for (const i of list ?? []) {
        const f = i.family === 'IPv4' || (i.family as unknown) === 4 ? 4 : 6;
        if (f !== fam) continue;
        const addr = parseAddr(i.address, f);
        const mask = parseAddr(i.netmask, f);
        if (!addr || !mask || addr.every((b) => b === 0)) continue;
        out.push({ family: f, addr, mask });
      }
    }
  }
  return out;
}

/** The addresses Postfix considers its own, from inet_interfaces (own_inet_addr.c). */
function ownAddresses(interfaces: string, families: Array<4 | 6>): IfAddr[] | string {
  const local = localAddresses(families);
  if (interfaces === 'all' || interfaces === 'loopback-only') {
    if (local.length === 0) return 'could not find any active network interfaces';
    return interfaces === 'all' ? local : local.filter(isLoopback);
  }
  const wanted: Array<{ family: 4 | 6; addr: number[] }> = [];
  for (const host of interfaces.split(/[ \t,]+/).filter(Boolean)) {
    const found = resolveHost(host, families);
    if (found.length === 0) return `config variable inet_interfaces: host not found: ${host}`;
    wanted.push(...found);
  }
  wanted.sort(compareAddr);
  const uniq = wanted.filter((a, i) => i === 0 || compareAddr(wanted[i - 1]!, a) !== 0);
  const out: IfAddr[] = [];
  for (const w of uniq) {
    const match = local.find((l) => l.family === w.family && l.addr.every((b, i) => b === w.addr[i]));
    if (!match) {
      if (local.length === 0) return 'could not find any active network interfaces';
      return `parameter inet_interfaces: no local interface found for ${formatAddr(w.family, w.addr)}`;
    }
    out.push({ family: w.family, addr: w.addr, mask: match.mask });
  }
  return out;
}

function isLoopback(a: IfAddr): boolean {
  if (a.family === 4) return a.addr[0] === 127;
  return a.addr.slice(0, 15).every((b) => b === 0) && a.addr[15] === 1;
}

/** An address literal (IPv6 optionally in brackets), or a name from /etc/hosts. */
function resolveHost(host: string, families: Array<4 | 6>): Array<{ family: 4 | 6; addr: number[] }> {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  const literal = parseAddr(bare, 4) || parseAddr(bare, 6);
  const candidates = literal ? [bare] : hostsFileLookup(bare);
  const out: Array<{ family: 4 | 6; addr: number[] }> = [];
  for (const c of candidates) {
    const v4 = parseAddr(c, 4);
    const family = v4 ? 4 : 6;
    const addr = v4 ?? parseAddr(c, 6);
    if (addr && families.includes(family)) out.push({ family, addr });
  }
  return out;
}

function hostsFileLookup(name: string): string[] {
  let text: string;
  try {
    text = readFileSync('/etc/hosts', 'latin1');
  } catch {
    return [];
  }
  const out: string[] = [];
  const want = name.toLowerCase();
  for (const line of text.split('\n')) {
    const words = line.replace(/#.*/, '').trim().split(/\s+/);
    if (words.length > 1 && words.slice(1).some((w) => w.toLowerCase() === want)) out.push(words[0]!);
  }
  return out;
}

/** Postfix's sort order for address lists: family, then the raw address (IPv4 as a host-order subtraction on little-endian hosts). */
function compareAddr(a: { family: 4 | 6; addr: number[] }, b: { family: 4 | 6; addr: number[] }): number {
  if (a.family !== b.family) return a.family - b.family;
  if (a.family === 4) {
    const le = (x: number[]) => (x[0]! | (x[1]! << 8) | (x[2]! << 16) | (x[3]! << 24)) >>> 0;
    return ((le(a.addr) - le(b.addr)) >>> 0) | 0;
  }
  for (let i = 0; i < 16; i++) if (a.addr[i] !== b.addr[i]) return a.addr[i]! - b.addr[i]!;
  return 0;
}

function ipv4Network(a: IfAddr, style: string): string | Computed {
  const addr = ((a.addr[0]! << 24) | (a.addr[1]! << 16) | (a.addr[2]! << 8) | a.addr[3]!) >>> 0;
  let bits: number;
  if (style === 'class') {
    if (addr >>> 31 === 0) bits = 8;
    else if (addr >>> 30 === 2) bits = 16;
    else if (addr >>> 29 === 6) bits = 24;
    else if (addr >>> 28 === 14) bits = 4;
    else return { ok: false, error: `mynetworks_core: unknown address class: ${a.addr.join('.')}` };
  } else if (style === 'subnet') {
    // Count up to the lowest set bit, as Postfix shifts the mask left until it is zero.
    let m = ((a.mask[0]! << 24) | (a.mask[1]! << 16) | (a.mask[2]! << 8) | a.mask[3]!) >>> 0;
    for (bits = 0; m !== 0; bits++) m = (m << 1) >>> 0;
  } else {
    bits = 32;
  }
  const net = bits === 0 ? 0 : (addr & (~0 << (32 - bits))) >>> 0;
  return `${net >>> 24}.${(net >>> 16) & 255}.${(net >>> 8) & 255}.${net & 255}/${bits}`;
}

function ipv6Network(a: IfAddr, style: string): string {
  let bits = 128;
  if (style !== 'host') {
    // IPv6 has no classes; class style uses the subnet mask too.
    bits = 0;
    for (const byte of a.mask) {
      if (byte === 255) {
        bits += 8;
        continue;
      }
      for (let ch = byte; ch !== 0; ch = (ch << 1) & 255) bits++;
      break;
    }
  }
  const net = a.addr.map((b, i) => {
    const keep = Math.max(0, Math.min(8, bits - i * 8));
    return b & ((0xff00 >> keep) & 255);
  });
  return `[${formatAddr(6, net)}]/${bits}`;
}

/** Address text to bytes (undefined when it is not one); a zone suffix (%eth0) is ignored. */
function parseAddr(text: string, family: 4 | 6): number[] | undefined {
  if (family === 4) {
    if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(text)) return undefined;
    const b = text.split('.').map(Number);
    return b.every((x) => x < 256) ? b : undefined;
  }
  // A dotted IPv4 tail stands for the last two 16-bit groups.
  let s = text.replace(/%.*$/, '');
  const tail = /(?:^|:)(\d{1,3}(?:\.\d{1,3}){3})$/.exec(s);
  if (tail) {
    const v4 = parseAddr(tail[1]!, 4);
    if (!v4) return undefined;
    s = s.slice(0, -tail[1]!.length) + `${((v4[0]! << 8) | v4[1]!).toString(16)}:${((v4[2]! << 8) | v4[3]!).toString(16)}`;
  }
  const halves = s.split('::');
  if (halves.length > 2) return undefined;
  const groups = (h: string) => (h === '' ? [] : h.split(':'));
  const h = groups(halves[0]!);
  const r = halves.length === 2 ? groups(halves[1]!) : [];
  const missing = 8 - h.length - r.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const words = [...h, ...new Array<string>(missing).fill('0'), ...r];
  if (!words.every((w) => /^[0-9a-fA-F]{1,4}$/.test(w))) return undefined;
  return words.flatMap((w) => {
    const n = parseInt(w, 16);
    return [n >> 8, n & 255];
  });
}

/** Bytes to text the way the C library's inet_ntop writes them. */
function formatAddr(family: 4 | 6, b: number[]): string {
  if (family === 4) return b.join('.');
  const w: number[] = [];
  for (let i = 0; i < 16; i += 2) w.push((b[i]! << 8) | b[i + 1]!);
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (w[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (bestLen < 2) best = -1;
  let out = '';
  for (let i = 0; i < 8; i++) {
    if (i === best) {
      out += i === 0 ? '::' : ':';
      i += bestLen - 1;
      continue;
    }
    if (i === 6 && best === 0 && (bestLen === 6 || (bestLen === 5 && w[5] === 0xffff))) {
      return out + b.slice(12).join('.');
    }
    out += w[i]!.toString(16) + (i < 7 ? ':' : '');
  }
  return out;
}
