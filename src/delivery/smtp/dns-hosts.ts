// Mirrors Postfix's smtp/smtp_addr.c: from a domain to the ordered list of
// server addresses (MX lookup, preference order, the A/AAAA fall-back when
// a domain has no MX, this host's own position among the MX hosts), and from
// a host name to its addresses (DNS, the native resolver, or both). The
// failure of a lookup is a DSN status and text kept in a Why object, which
// the lookups of one destination share as Postfix's DSN_BUF is shared: a
// soft error seen for one MX host keeps a later hard one soft.
// Network access only through the HopResolver handed in.
import { isIP } from 'node:net';
import { midnaDomainToAscii } from '../../address/resolve-local.js';
import {
  combineAnswers,
  DNS_FAIL,
  DNS_INVAL,
  DNS_NOTFOUND,
  DNS_NULLMX,
  DNS_OK,
  DNS_POLICY,
  type DnsAddr,
  type DnsAnswer,
  type HopResolver,
} from './dns.js';

/** One server address: the name it was found under, and its MX preference (0 without MX). */
export interface HostRecord {
  name: string;
  addr: string;
  family: 4 | 6;
  pref: number;
}

/** The DSN of the last failure (Postfix's DSN_BUF); status "" when none. */
export interface Why {
  status: string;
  reason: string;
}

export type AddressPreference = 'any' | 'ipv4' | 'ipv6';

/** The settings and helpers one lookup needs (see hopSettings() in addr.ts). */
export interface LookupPolicy {
  resolver: HopResolver;
  /** inet_protocols, in Postfix's order (IPv4 first). */
  families: Array<4 | 6>;
  /** smtp_host_lookup: dns, native or both (native only when DNS is disabled). */
  dns: boolean;
  native: boolean;
  addressPreference: AddressPreference;
  randomize: boolean;
  mxAddressLimit: number;
  balance: boolean;
  /** smtp_cname_overrides_servername: a server found through an alias goes by the alias's target. */
  cnameOverrides: boolean;
  deferIfNoMxAddress: boolean;
  ignoreMxLookupError: boolean;
  random: () => number;
  /** True when this host receives mail on the address (inet_interfaces, proxy_interfaces). */
  isSelf: (addr: string) => Promise<boolean>;
  info: (text: string) => void;
  warning: (text: string) => void;
}

const soft = (why: Why): boolean => why.status.startsWith('4');
const setStatus = (why: Why, status: string): void => {
  why.status = status;
};
const setWhy = (why: Why, status: string, reason: string): void => {
  why.status = status;
  why.reason = reason;
};

/** The name as DNS sees it: a non-ASCII name in its A-label form when it converts. */
function asciiName(name: string): string {
  // eslint-disable-next-line no-control-regex
  if (/^[\x00-\x7f]*$/.test(name)) return name;
  return midnaDomainToAscii(name) ?? name;
}

/** A numeric host of an enabled family needs no lookup. */
const usableLiteral = (host: string, p: LookupPolicy): boolean => p.families.includes(isIP(host) as 4 | 6);

/**
 * The DNS half of smtp_addr_one(), started early: the A and AAAA queries
 * of a host (and of all MX hosts of a domain) go out together, and their
 * answers are taken in Postfix's order, so the outcome is the same as
 * asking one after the other.
 */
function dnsAddresses(host: string, p: LookupPolicy): Promise<DnsAnswer<DnsAddr>> | undefined {
  if (!p.dns || usableLiteral(host, p)) return undefined;
  return Promise.all(p.families.map((f) => (f === 4 ? p.resolver.a(host) : p.resolver.aaaa(host)))).then(combineAnswers);
}

/** smtp_addr_one(): the addresses of one host, appended to list; failures go to why. */
async function addrOne(
  list: HostRecord[],
  host: string,
  pref: number,
  why: Why,
  p: LookupPolicy,
  pending = dnsAddresses(host, p),
): Promise<void> {
  if (usableLiteral(host, p)) {
    list.push({ name: host, addr: host, family: isIP(host) as 4 | 6, pref });
    return;
  }
  if (pending) {
    const r = await pending;
    if (r.status !== DNS_OK) why.reason = r.why;
    switch (r.status) {
      case DNS_OK: {
        const name = p.cnameOverrides ? await p.resolver.canonical(host) : host;
        for (const a of r.records) list.push({ name, addr: a.addr, family: a.family, pref });
        return;
      }
      case DNS_FAIL:
        return setStatus(why, soft(why) ? '4.4.3' : '5.4.3');
      case DNS_INVAL:
        return setStatus(why, soft(why) ? '4.4.4' : '5.4.4');
      case DNS_POLICY:
        return setStatus(why, '4.7.0');
      case DNS_NOTFOUND:
        setStatus(why, soft(why) ? '4.4.4' : '5.4.4');
        break; // the native resolver may know better
      default:
        return setStatus(why, '4.4.3');
    }
  }
  if (p.native) {
    const r = await p.resolver.native(host, p.families);
    if ('eai' in r) {
      // Debian's Postfix is built without EAI_NODATA among the "host not found" errors.
      const noHost = r.eai === 'again' || r.eai === 'noname';
      const retry = r.eai === 'again' || r.eai === 'system';
      const status = soft(why) || retry ? (noHost ? '4.4.4' : '4.3.0') : noHost ? '5.4.4' : '5.3.0';
      return setWhy(why, status, `unable to look up host ${host}: ${r.text}`);
    }
    let found = 0;
    for (const a of r.addrs) {
      if (!p.families.includes(a.family)) {
        p.info(`skipping address family ${a.family === 6 ? 10 : 2} for host ${host}`);
        continue;
      }
      found++;
      list.push({ name: host, addr: a.addr, family: a.family, pref });
    }
    if (found === 0) setWhy(why, soft(why) ? '4.4.4' : '5.4.4', `${host}: host not found`);
  }
}

/** smtp_find_self(): the first address this host receives mail on. */
async function findSelf(list: HostRecord[], p: LookupPolicy): Promise<HostRecord | undefined> {
  for (const a of list) if (await p.isSelf(a.addr)) return a;
  return undefined;
}

/** dns_rr_shuffle(): every order equally likely. */
function shuffle(list: HostRecord[], random: () => number): HostRecord[] {
  const out = list.slice();
  for (let i = 0; i < out.length - 1; i++) {
    const r = i + Math.floor(random() * (out.length - i));
    [out[i], out[r]] = [out[r]!, out[i]!];
  }
  return out;
}

/** The dns_rr_compare_pref_* functions: preference, then the preferred family. */
function comparer(pref: AddressPreference): (a: HostRecord, b: HostRecord) => number {
  return (a, b) => {
    if (a.pref !== b.pref) return a.pref - b.pref;
    if (pref === 'any' || a.family === b.family) return 0;
    const first = pref === 'ipv6' ? 6 : 4;
    return a.family === first ? -1 : 1;
  };
}

/**
 * smtp_balance_inet_proto(): when both families are present and the list
 * is longer than the limit, keep enough of each family that neither crowds
 * out the other, in the list's order.
 */
export function balanceFamilies(list: HostRecord[], limit: number): HostRecord[] {
  const v4 = list.filter((a) => a.family === 4).length;
  const v6 = list.length - v4;
  if (v4 === 0 || v6 === 0 || list.length <= limit) return list;
  let v4Target: number;
  let v6Target: number;
  if (v6 <= Math.floor(limit / 2)) {
    v6Target = v6;
    v4Target = limit - v6;
  } else if (v4 <= Math.floor(limit / 2)) {
    v4Target = v4;
    v6Target = limit - v4;
  } else {
    v4Target = Math.floor((limit + (list[0]!.family === 4 ? 1 : 0)) / 2);
    v6Target = limit - v4Target;
  }
  return list.filter((a) => (a.family === 4 ? v4Target-- > 0 : v6Target-- > 0));
}

/** Randomize, sort by preference and family, and balance the families, as both lookups finish. */
function order(list: HostRecord[], p: LookupPolicy, sort: boolean): HostRecord[] {
  if (list.length < 2) return list;
  let out = p.randomize ? shuffle(list, p.random) : list;
  if (sort) out = out.slice().sort(comparer(p.addressPreference));
  if (p.mxAddressLimit > 0 && p.balance) out = balanceFamilies(out, p.mxAddressLimit);
  return out;
}

/** smtp_host_addr(): the addresses of one host (a name or a numeric address), MX preference 0. */
export async function hostAddr(host: string, loopDetect: boolean, p: LookupPolicy): Promise<{ addrs: HostRecord[]; why: Why }> {
  const why: Why = { status: '', reason: '' };
  const list: HostRecord[] = [];
  await addrOne(list, asciiName(host), 0, why, p);
  if (list.length && loopDetect && (await findSelf(list, p))) {
    setWhy(why, '5.4.6', `mail for ${host} loops back to myself`);
    return { addrs: [], why };
  }
  // The sort changes the order of equal-preference addresses only when two families are enabled.
  return { addrs: order(list, p, p.families.length > 1), why };
}

/**
 * smtp_domain_addr(): the addresses of a domain's mail exchangers, best
 * first, cut off at this host's own preference; iAmMx when this host is
 * one of them.
 */
export async function domainAddr(
  name: string,
  loopDetect: boolean,
  p: LookupPolicy,
): Promise<{ addrs: HostRecord[]; why: Why; iAmMx: boolean }> {
  const why: Why = { status: '', reason: '' };
  const aname = asciiName(name);
  const none = { addrs: [] as HostRecord[], why, iAmMx: false };
  const mx = await p.resolver.mx(aname);
  for (const w of mx.warnings ?? []) p.warning(w);
  const fallBack = async (status: string) => {
    setWhy(why, status, mx.why);
    if (!p.ignoreMxLookupError) return none;
    return { ...(await hostAddr(aname, loopDetect, p)), iAmMx: false };
  };
  switch (mx.status) {
    case DNS_OK:
      break;
    case DNS_NOTFOUND:
      return { ...(await hostAddr(aname, loopDetect, p)), iAmMx: false };
    case DNS_INVAL:
      return fallBack('5.4.4');
    case DNS_FAIL:
      return fallBack('5.4.3');
    case DNS_NULLMX:
      setWhy(why, '5.1.0', mx.why);
      return none;
    case DNS_POLICY:
      setWhy(why, '4.7.0', mx.why);
      return none;
    default:
      return fallBack('4.4.3');
  }
  const names = mx.records.slice().sort((a, b) => a.pref - b.pref);
  const bestPref = names[0]?.pref ?? -1;
  let list: HostRecord[] = [];
  const pending = names.map((m) => dnsAddresses(m.name, p));
  for (const [i, m] of names.entries()) await addrOne(list, m.name, m.pref, why, p, pending[i]);
  if (list.length === 0) {
    if (p.deferIfNoMxAddress && why.status.startsWith('5')) why.status = '4' + why.status.slice(1);
    p.warning(`no MX host for ${name} has a valid address record`);
    return none;
  }
  const bestFound = list[0]!.pref;
  const self = loopDetect ? await findSelf(list, p) : undefined;
  if (self) {
    const cut = list.findIndex((a) => a.pref === self.pref);
    list = list.slice(0, cut);
    if (list.length === 0) {
      if (bestPref !== bestFound) setWhy(why, '4.4.4', `unable to find primary relay for ${name}`);
      else setWhy(why, '5.4.6', `mail for ${name} loops back to myself`);
    }
  }
  return { addrs: order(list, p, true), why, iAmMx: self !== undefined };
}
