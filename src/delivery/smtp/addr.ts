// Mirrors the destination half of Postfix's smtp/smtp_connect.c (with
// util/host_port.c and util/known_tcp_ports.c): a delivery request's next
// hop ("example.com", "[10.0.0.1]:587", "host:2525", LMTP's "inet:" and
// "unix:"), followed by smtp_fallback_relay, becomes the destinations to
// try in turn, and each destination the ordered server addresses to connect
// to (dns-hosts.ts), or the reason there are none, worded as Postfix words
// it. Connecting and talking to the servers is the smtp client's part.
// Reads the configuration and the name service (through a HopResolver) and
// /etc/services for a symbolic port; keeps no state between calls.
import * as fs from 'node:fs';
import type { Config } from '../../config/config.js';
import { OwnAddresses, numericAddress, validHostaddr, validIpv6Hostaddr, validUtf8Hostname } from '../../address/resolve-local.js';
import { createHopResolver as createResolver, type HopResolver, type ResolverOptions } from './dns.js';
import { domainAddr, hostAddr, type AddressPreference, type LookupPolicy, type Why } from './dns-hosts.js';

export type { HopResolver } from './dns.js';

/** One server to try. */
export interface SmtpHost {
  /** The name it was found under (the MX host, the host, or myhostname for unix:). */
  name: string;
  /** The numeric address, or the socket path for LMTP's unix: (Postfix logs it as the address). */
  addr: string;
  family: 4 | 6 | 0;
  /** MX preference (0 when there was no MX lookup). */
  pref: number;
  /** TCP port (0 for unix:). */
  port: number;
  /** The LMTP socket path of unix:. */
  path?: string;
  /** The destination this host came from, as written ("example.com", "[10.0.0.1]:587"). */
  dest: string;
  /** True when the destination is one of smtp_fallback_relay's. */
  fallback: boolean;
}

/** Why there is no server to try: a DSN status and Postfix's text. */
export interface HopFailure {
  status: string;
  reason: string;
  /** Soft failure of the destination as a whole: qmgr may treat the site as dead. */
  dead?: boolean;
  /** A configuration error that Postfix's agent dies of ("bad network port: 0 for destination: x:0"). */
  fatal?: string;
}

export interface HopOptions {
  config: Config;
  lmtp: boolean;
  resolver: HopResolver;
  /** This host's own addresses (loop detection): ownAddressCheck(config), made anew per call when absent. */
  isSelf?: (addr: string) => Promise<boolean>;
  /** The source of randomness for smtp_randomize_addresses (tests pass a seeded one). */
  random?: () => number;
  /** Where informational lines and warnings go (the agent's logger). */
  log?: { info(text: string): void; warning(text: string): void };
}

/** One destination of the list. */
export interface HopDestination {
  /** As written in the next hop or fallback relay list. */
  dest: string;
  /** The host part, without brackets. */
  domain: string;
  port: number;
  fallback: boolean;
  /** The first destination of the list (Postfix's SMTP_MISC_FLAG_FIRST_NEXTHOP). */
  first: boolean;
}

/** The servers of one destination, or why there are none. */
export interface HopLookup {
  destination: HopDestination;
  hosts: SmtpHost[];
  failure?: HopFailure;
  /** Do not go on to further destinations (the last one, this host is an MX host, or mail loops). */
  final: boolean;
}

/** A HopResolver on Node's resolver (resolv.conf, or the servers given: tests use ["127.0.0.1:PORT"]). */
export function createHopResolver(opts: ResolverOptions = {}): HopResolver {
  return createResolver(opts);
}

/** The parameters one lookup needs, read once per call. */
interface HopSettings {
  policy: Omit<LookupPolicy, 'resolver' | 'random' | 'isSelf' | 'info' | 'warning'>;
  fallbackRelay: string;
  fallbackName: string;
  relayhost: string;
  knownPorts: Map<string, string>;
  dnsEnabled: boolean;
}

type Fatal = { fatal: string };

function parseFamilies(value: string): Array<4 | 6> | Fatal {
  let v4 = false;
  let v6 = false;
  for (const w of value.toLowerCase().split(/[\s,]+/).filter(Boolean)) {
    if (w === 'all') v4 = v6 = true;
    else if (w === 'ipv4') v4 = true;
    else if (w === 'ipv6') v6 = true;
    else return { fatal: `unknown inet_protocols value "${w}" in "${value}"` };
  }
  return [...(v4 ? [4 as const] : []), ...(v6 ? [6 as const] : [])];
}

/** known_tcp_ports: "lmtp=24, smtp=25, smtps=submissions=465": each name before the last '=' maps to the number after it. */
function parseKnownPorts(value: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const item of value.split(/[\s,]+/).filter(Boolean)) {
    const parts = item.split('=').map((s) => s.trim());
    const port = parts.pop()!;
    for (const name of parts) if (name !== '') out.set(name, port);
  }
  return out;
}

function readSettings(config: Config, lmtp: boolean): HopSettings | Fatal {
  const p = lmtp ? 'lmtp' : 'smtp';
  try {
    const level = config.get(`${p}_dns_support_level`).trim();
    let dnsEnabled: boolean;
    if (level === '') dnsEnabled = !config.getBool('disable_dns_lookups');
    else if (level === 'enabled' || level === 'disabled') dnsEnabled = level === 'enabled';
    else if (level === 'dnssec') return { fatal: `${p}_dns_support_level = dnssec is not supported: DNSSEC validation is not available` };
    else return { fatal: `invalid ${p}_dns_support_level: "${level}"` };
    for (const name of [`${p}_dns_reply_filter`, `${p}_dns_resolver_options`]) {
      if (config.get(name).trim() !== '') return { fatal: `${name} is not supported` };
    }
    let dns = false;
    let native = false;
    const lookupValue = config.get(`${p}_host_lookup`);
    for (const w of lookupValue.split(/[\s,]+/).filter(Boolean)) {
      if (w.toLowerCase() === 'dns') dns = true;
      else if (w.toLowerCase() === 'native') native = true;
      else return { fatal: `unknown ${p}_host_lookup value "${w}" in "${lookupValue}"` };
    }
    if (!dnsEnabled) [dns, native] = [false, true];
    const pref = config.get(`${p}_address_preference`);
    if (pref !== 'any' && pref !== 'ipv4' && pref !== 'ipv6') return { fatal: `bad ${p}_address_preference value: ${pref}` };
    const families = parseFamilies(config.get('inet_protocols'));
    if ('fatal' in families) return families;
    return {
      policy: {
        families,
        dns,
        native,
        addressPreference: pref as AddressPreference,
        randomize: config.getBool(`${p}_randomize_addresses`),
        mxAddressLimit: config.getInt(`${p}_mx_address_limit`),
        balance: config.getBool(`${p}_balance_inet_protocols`),
        cnameOverrides: config.getBool(`${p}_cname_overrides_servername`),
        deferIfNoMxAddress: config.getBool(`${p}_defer_if_no_mx_address_found`),
        ignoreMxLookupError: config.getBool('ignore_mx_lookup_error'),
      },
      fallbackRelay: config.get(`${p}_fallback_relay`),
      fallbackName: `${p}_fallback_relay`,
      relayhost: config.get('relayhost'),
      knownPorts: parseKnownPorts(config.get('known_tcp_ports')),
      dnsEnabled,
    };
  } catch (err) {
    return { fatal: err instanceof Error ? err.message : String(err) };
  }
}

/** getservbyname(name, "tcp") from /etc/services. */
function servicesPort(name: string): number | undefined {
  let text: string;
  try {
    text = fs.readFileSync('/etc/services', 'latin1');
  } catch {
    return undefined;
  }
  for (const line of text.split('\n')) {
    const [official, portProto, ...aliases] = line.replace(/#.*/, '').trim().split(/\s+/);
    const m = /^(\d+)\/tcp$/.exec(portProto ?? '');
    if (m && (official === name || aliases.includes(name))) return Number(m[1]);
  }
  return undefined;
}

/** host_port() with a default service: the host and service of "[host]:port", "host:port" or "host". */
function hostPort(dest: string, defService: string): { host: string; service: string } | { error: string } {
  let host: string;
  let service: string;
  if (dest.startsWith('[')) {
    let rest = dest.slice(1);
    const ipv6 = rest.slice(0, 5).toLowerCase() === 'ipv6:';
    if (ipv6) rest = rest.slice(5);
    const close = rest.indexOf(']');
    if (close < 0) return { error: 'missing "]"' };
    host = rest.slice(0, close);
    let after = rest.slice(close + 1);
    if (after !== '' && !after.startsWith(':')) return { error: 'garbage after "]"' };
    after = after.slice(1);
    if (ipv6 && !validIpv6Hostaddr(host)) return { error: 'malformed IPv6 address' };
    service = after !== '' ? after : defService;
  } else {
    const colon = dest.lastIndexOf(':');
    host = colon < 0 ? dest : dest.slice(0, colon);
    service = colon < 0 || colon === dest.length - 1 ? defService : dest.slice(colon + 1);
  }
  if (host === '') return { error: 'missing host information' };
  if (service === '') return { error: 'missing service information' };
  if (!validUtf8Hostname(true, host) && !validHostaddr(host)) return { error: 'valid hostname or network address required' };
  if (service !== defService && /^[0-9]/.test(service) && !/^[0-9]+$/.test(service)) return { error: 'garbage after numerical service' };
  return { host, service };
}

/** smtp_parse_destination(): the host and TCP port of one destination. */
export function parseDestination(dest: string, defService: string, knownPorts: Map<string, string>): { domain: string; port: number } | Fatal {
  const hp = hostPort(dest, defService);
  if ('error' in hp) return { fatal: `${hp.error} in server description: ${dest}` };
  const service = knownPorts.get(hp.service) ?? hp.service;
  if (/^[0-9]+$/.test(service)) {
    const port = Number(service);
    if (port >= 65536 || port === 0) return { fatal: `bad network port: ${service} for destination: ${dest}` };
    return { domain: hp.host, port };
  }
  const port = servicesPort(service);
  if (port === undefined) return { fatal: `unknown service: ${service}/tcp` };
  return { domain: hp.host, port };
}

const splitSites = (list: string): string[] => list.split(/[, \t\r\n]+/).filter(Boolean);

function fatalFailure(text: string): HopFailure {
  return { status: '4.3.0', reason: text, fatal: text };
}

function toFailure(why: Why): HopFailure {
  return { status: why.status, reason: why.reason, ...(why.status.startsWith('4') ? { dead: true } : {}) };
}

/**
 * The loop-detection test for HopOptions.isSelf: is addr one of this
 * host's inet_interfaces or proxy_interfaces addresses? Make it once per
 * process: the interface list is worked out on first use and kept.
 */
export function ownAddressCheck(config: Config): (addr: string) => Promise<boolean> {
  const own = OwnAddresses.fromConfig(config);
  return async (addr) => {
    const bytes = numericAddress(addr);
    return bytes !== null && (await own.contains(bytes));
  };
}

/** The fatal error an agent with this configuration dies of at start (a bad smtp_host_lookup, ...), or null. */
export function hopSettingsProblem(config: Config, lmtp: boolean): string | null {
  const s = readSettings(config, lmtp);
  return 'fatal' in s ? s.fatal : null;
}

function policyOf(s: HopSettings, opts: HopOptions): LookupPolicy {
  const log = opts.log;
  return {
    ...s.policy,
    resolver: opts.resolver,
    random: opts.random ?? Math.random,
    isSelf: opts.isSelf ?? ownAddressCheck(opts.config),
    info: (text) => log?.info(text),
    warning: (text) => log?.warning(text),
  };
}

/**
 * The destinations of a next hop in turn (the next hop's list, then the
 * fallback relays), each with its servers. The list is lazy, as Postfix's
 * is: a fallback relay is looked up only when the caller asks for it. Stop
 * after a lookup marked final.
 */
export async function* destinationLookups(nexthop: string, defaultPort: number | string, opts: HopOptions): AsyncGenerator<HopLookup, void> {
  const s = readSettings(opts.config, opts.lmtp);
  const none = (dest: string, failure: HopFailure): HopLookup => ({
    destination: { dest, domain: dest, port: 0, fallback: false, first: true },
    hosts: [],
    failure,
    final: true,
  });
  if ('fatal' in s) return yield none(nexthop, fatalFailure(s.fatal));
  const p = policyOf(s, opts);
  if (opts.lmtp && nexthop.startsWith('unix:')) {
    const path = nexthop.slice(5);
    if (s.fallbackRelay.trim() !== '') p.warning(`ignoring "${s.fallbackName} = ${s.fallbackRelay}" setting for non-TCP connections`);
    const myhostname = opts.config.get('myhostname');
    const destination = { dest: path, domain: path, port: 0, fallback: false, first: true };
    return yield { destination, hosts: [{ name: myhostname, addr: path, family: 0, pref: 0, port: 0, path, dest: path, fallback: false }], final: true };
  }
  const list = opts.lmtp && nexthop.startsWith('inet:') ? nexthop.slice(5) : nexthop;
  if (s.policy.families.length === 0) return yield none(list, { status: '4.4.4', reason: 'all network protocols are disabled', dead: true });
  const sites = splitSites(list);
  const primary = sites.length;
  sites.push(...splitSites(s.fallbackRelay));
  for (let i = 0; i < sites.length; i++) {
    const dest = sites[i]!;
    const fallback = i >= primary;
    const parsed = parseDestination(dest, String(defaultPort), s.knownPorts);
    if ('fatal' in parsed) return yield none(dest, fatalFailure(parsed.fatal));
    const destination: HopDestination = { dest, domain: parsed.domain, port: parsed.port, fallback, first: i === 0 };
    const loopDetect = !opts.lmtp && parsed.port === 25;
    const lookupMx = !opts.lmtp && s.dnsEnabled && !dest.startsWith('[');
    const r = lookupMx ? await domainAddr(parsed.domain, loopDetect, p) : { ...(await hostAddr(parsed.domain, loopDetect, p)), iAmMx: false };
    const loops = r.addrs.length === 0 && r.why.status.slice(1) === '.4.6';
    const hosts = r.addrs.map((a) => ({ name: a.name, addr: a.addr, family: a.family, pref: a.pref, port: parsed.port, dest, fallback }));
    const limited = s.policy.mxAddressLimit > 0 ? hosts.slice(0, s.policy.mxAddressLimit) : hosts;
    const lookup: HopLookup = { destination, hosts: limited, final: i === sites.length - 1 || r.iAmMx || loops };
    if (r.why.status !== '' && limited.length === 0) lookup.failure = toFailure(r.why);
    yield lookup;
    if (lookup.final) return;
  }
}

/**
 * What Postfix reports for recipients left over when every destination
 * has been tried (the end of smtp_connect_inet()): no error at all becomes
 * "server unavailable", and a hard error at a relayhost or fallback relay
 * is treated as a configuration problem (4.3.5, with a warning) rather than
 * bouncing the mail. bestMxTransport is set when mail loops and
 * best_mx_transport names where it goes instead.
 */
export function leftoverFailure(
  why: HopFailure | undefined,
  stoppedAt: HopDestination | undefined,
  nexthop: string,
  opts: HopOptions,
): { failure: HopFailure; warning?: string; bestMxTransport?: string } {
  if (why === undefined || why.status === '') return { failure: { status: '4.3.0', reason: 'server unavailable or unable to receive mail' } };
  if (!why.status.startsWith('5')) return { failure: why };
  if (stoppedAt?.fallback) return { failure: { ...why, status: '4.3.5' }, warning: 'smtp_fallback_relay configuration problem' };
  const first = splitSites(opts.lmtp && nexthop.startsWith('inet:') ? nexthop.slice(5) : nexthop)[0];
  if (!opts.lmtp && first === opts.config.get('relayhost')) return { failure: { ...why, status: '4.3.5' }, warning: 'relayhost configuration problem' };
  const bestMx = opts.config.get('best_mx_transport');
  if (!opts.lmtp && why.status.slice(1) === '.4.6' && bestMx !== '') return { failure: why, bestMxTransport: bestMx };
  return { failure: why };
}

/**
 * The agreed short form: every server of every destination in order, or
 * the failure to report when there is none. The smtp client that wants
 * Postfix's exact per-destination behaviour (fallback relays looked up
 * only when needed, smtp_mx_session_limit per destination, the last error
 * winning) walks destinationLookups() instead.
 */
export async function hostsForNexthop(nexthop: string, defaultPort: number | string, opts: HopOptions): Promise<{ hosts: SmtpHost[] } | { failure: HopFailure }> {
  const hosts: SmtpHost[] = [];
  let last: HopLookup | undefined;
  for await (const lookup of destinationLookups(nexthop, defaultPort, opts)) {
    hosts.push(...lookup.hosts);
    last = lookup;
    if (lookup.failure?.fatal) return { failure: lookup.failure };
  }
  if (hosts.length) return { hosts };
  const left = leftoverFailure(last?.failure, last?.destination, nexthop, opts);
  if (left.warning) opts.log?.warning(left.warning);
  return { failure: left.failure };
}
