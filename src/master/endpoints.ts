// Mirrors how master(8) turns an inet service name into listening
// addresses (master/master_ent.c, util/host_port.c, global/own_inet_addr.c,
// util/inet_proto.c): "host:port", "[addr]:port" or a bare port; a bare
// port listens on the inet_interfaces addresses ("all": the wildcard
// address of each protocol in inet_protocols; "loopback-only": the
// loopback interfaces' addresses), a symbolic port is looked up in
// /etc/services. Also gives the canonical name ("[127.0.0.1]:25", "25")
// that identifies a service across a reload. Reads /etc/services and the
// name service; binds nothing.
import { lookup } from 'node:dns/promises';
import * as fs from 'node:fs';
import { isIP } from 'node:net';
import * as os from 'node:os';

export type Family = 4 | 6;

export interface InetAddress {
  address: string;
  family: Family;
}

export interface Endpoint {
  /** The addresses to bind, duplicates removed. */
  addresses: InetAddress[];
  port: number;
  /** master's internal service name, the key across reloads. */
  canonical: string;
  /** True when every address is a loopback one (master's MASTER_FLAG_LOCAL_ONLY). */
  localOnly: boolean;
}

/** inet_protocols as a family list ("all": IPv4, and IPv6 when the system has it). */
export function inetProtocols(value: string): { families: Family[] } | { error: string } {
  const families: Family[] = [];
  for (const word of value.toLowerCase().split(/[\s,]+/).filter(Boolean)) {
    if (word === 'all') {
      families.push(4);
      if (systemHasIpv6()) families.push(6);
    } else if (word === 'ipv4') families.push(4);
    else if (word === 'ipv6') families.push(6);
    else return { error: `bad inet_protocols value: "${value}"` };
  }
  return { families: [...new Set(families)] };
}

function systemHasIpv6(): boolean {
  try {
    return fs.readFileSync('/proc/net/if_inet6', 'utf8').trim() !== '';
  } catch {
    return false;
  }
}

/** host_port(): split "[host]:port", "host:port" or "port"; an error text as Postfix words it. */
export function splitHostPort(name: string): { host: string; port: string } | { error: string } {
  if (name.startsWith('[')) {
    let rest = name.slice(1);
    if (/^ipv6:/i.test(rest)) rest = rest.slice(5);
    const close = rest.indexOf(']');
    if (close < 0) return { error: 'missing "]"' };
    const host = rest.slice(0, close);
    let after = rest.slice(close + 1);
    if (after !== '' && after[0] !== ':') return { error: 'garbage after "]"' };
    after = after.slice(1);
    if (after === '') return { error: 'missing service information' };
    return { host, port: after };
  }
  const colon = name.lastIndexOf(':');
  const host = colon < 0 ? '' : name.slice(0, colon);
  const port = colon < 0 ? name : name.slice(colon + 1);
  if (port === '') return { error: 'missing service information' };
  if (/^[0-9]/.test(port) && !/^[0-9]+$/.test(port)) return { error: 'garbage after numerical service' };
  return { host, port };
}

/** getservbyname(name, "tcp") from /etc/services; numbers pass through. */
export function servicePort(port: string, services = '/etc/services'): number | null {
  if (/^[0-9]+$/.test(port)) return Number(port) <= 65535 ? Number(port) : null;
  let text = '';
  try {
    text = fs.readFileSync(services, 'utf8');
  } catch {
    return null;
  }
  for (const line of text.split('\n')) {
    const words = line.replace(/#.*/, '').trim().split(/\s+/);
    if (words.length < 2) continue;
    const m = /^(\d+)\/tcp$/.exec(words[1]!);
    if (m && (words[0] === port || words.slice(2).includes(port))) return Number(m[1]);
  }
  return null;
}

function isLoopback(a: InetAddress): boolean {
  return a.family === 4 ? a.address.startsWith('127.') : a.address === '::1';
}

function unique(list: InetAddress[]): InetAddress[] {
  const seen = new Set<string>();
  return list.filter((a) => {
    if (seen.has(a.address)) return false;
    seen.add(a.address);
    return true;
  });
}

/** inet_addr_host(): a numeric address, or every address of a name, for the enabled families. */
export async function hostAddresses(host: string, families: Family[]): Promise<InetAddress[]> {
  const literal = isIP(host);
  if (literal) return families.includes(literal as Family) ? [{ address: host, family: literal as Family }] : [];
  try {
    const found = await lookup(host, { all: true });
    return unique(found.filter((f) => families.includes(f.family as Family)).map((f) => ({ address: f.address, family: f.family as Family })));
  } catch {
    return [];
  }
}

/** The interface addresses of this host for the enabled families (inet_addr_local). */
function localAddresses(families: Family[]): InetAddress[] {
  const out: InetAddress[] = [];
  for (const list of Object.values(os.networkInterfaces())) {
    for (const ni of list ?? []) {
      const family: Family = ni.family === 'IPv6' ? 6 : 4;
      if (families.includes(family) && !(family === 6 && ni.scopeid)) out.push({ address: ni.address, family });
    }
  }
  return unique(out);
}

/** own_inet_addr_list() (or the wildcard list for "all"): where a bare port listens. */
export async function interfaceAddresses(inetInterfaces: string, families: Family[]): Promise<InetAddress[] | { error: string }> {
  const value = inetInterfaces.trim();
  if (value.toLowerCase() === 'all') {
    return families.map((f) => ({ address: f === 4 ? '0.0.0.0' : '::', family: f }));
  }
  if (value.toLowerCase() === 'loopback-only') {
    const loop = localAddresses(families).filter(isLoopback);
    return loop.length ? loop : { error: 'could not find any active network interfaces' };
  }
  const out: InetAddress[] = [];
  for (const host of value.split(/[\s,]+/).filter(Boolean)) {
    const found = await hostAddresses(host, families);
    if (!found.length) return { error: `config variable inet_interfaces: host not found: ${host}` };
    out.push(...found);
  }
  return unique(out);
}

/**
 * The endpoint of an inet service as master_ent.c builds it; errors are
 * the text master prints after "<master.cf>: line N: ".
 */
export async function inetEndpoint(name: string, bareAddresses: InetAddress[], families: Family[]): Promise<Endpoint | { error: string }> {
  const hp = splitHostPort(name);
  if ('error' in hp) return { error: `${hp.error} in "${name}"` };
  const port = servicePort(hp.port);
  let addresses: InetAddress[];
  if (hp.host !== '') {
    addresses = await hostAddresses(hp.host, families);
    if (!addresses.length) return { error: `bad hostname or network address: ${name}` };
  } else {
    addresses = bareAddresses;
  }
  if (!addresses.length) return { error: `no valid IP address found: ${name}` };
  if (port === null) return { error: `unknown service: ${hp.port}/tcp` };
  const canonical = hp.host === '' ? String(port) : `[${hp.host}]:${port}`;
  return { addresses, port, canonical, localOnly: addresses.every(isLoopback) };
}
