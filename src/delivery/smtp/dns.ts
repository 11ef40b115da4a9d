// Mirrors Postfix's dns/dns_lookup.c and dns/dns_strerror.c as the SMTP and
// LMTP clients use them: one query per name and type through Node's
// dns.Resolver (the system's resolv.conf unless a test names its own server),
// the answer mapped onto Postfix's status codes and worded as Postfix words
// its failures ("Host or domain name not found. Name service error for
// name=x type=MX: Host not found, try again"). Also the native lookup
// (getaddrinfo, which honours /etc/hosts) with gai_strerror's texts.
// Network access only through node:dns; no state outside the resolver object.
import * as dns from 'node:dns';
import { validHostaddr, validHostname } from '../../address/resolve-local.js';

/** dns_lookup() results, in Postfix's order: a larger value is a better outcome. */
export const DNS_OK = 0;
export const DNS_POLICY = -1;
export const DNS_RETRY = -2;
export const DNS_INVAL = -3;
export const DNS_FAIL = -4;
export const DNS_NULLMX = -5;
export const DNS_NOTFOUND = -6;

export type DnsStatus = number;

export interface MxName {
  name: string;
  pref: number;
}

export interface DnsAddr {
  addr: string;
  family: 4 | 6;
}

/** One lookup: the records found, or the status with Postfix's text for it. */
export interface DnsAnswer<T> {
  status: DnsStatus;
  records: T[];
  /** The failure text ("" on success). */
  why: string;
  /** What Postfix warns about the answer ("numeric domain name in resource data of MX record for ..."). */
  warnings?: string[];
}

/** What getaddrinfo() said: addresses, or an EAI class and gai_strerror's text. */
export type NativeAnswer = { addrs: DnsAddr[] } | { eai: 'noname' | 'nodata' | 'again' | 'fail' | 'system'; text: string };

/** The lookups next-hop resolution needs; tests may supply their own. */
export interface HopResolver {
  mx(name: string): Promise<DnsAnswer<MxName>>;
  a(name: string): Promise<DnsAnswer<DnsAddr>>;
  aaaa(name: string): Promise<DnsAnswer<DnsAddr>>;
  /** getaddrinfo() restricted to the given families (inet_protocols). */
  native(name: string, families: Array<4 | 6>): Promise<NativeAnswer>;
  /** The name at the end of name's CNAME chain (name itself when it is no alias). */
  canonical(name: string): Promise<string>;
}

// h_errno values and their texts (dns_strerror.c).
const HOST_NOT_FOUND = 'Host not found';
const TRY_AGAIN = 'Host not found, try again';
const NO_RECOVERY = 'Non-recoverable error';
const NO_DATA = 'Host found but no data record of requested type';

/**
 * The h_errno that glibc's res_nsearch() leaves for a c-ares error code.
 * glibc moves on to the next server after SERVFAIL, NOTIMP and REFUSED and
 * reports "try again" when none answers better, as it does for a timeout.
 */
function hErrnoOf(code: string | undefined): { text: string; status: DnsStatus } {
  switch (code) {
    case dns.NOTFOUND:
      return { text: HOST_NOT_FOUND, status: DNS_NOTFOUND };
    case dns.NODATA:
      return { text: NO_DATA, status: DNS_NOTFOUND };
    case dns.FORMERR:
    case dns.BADQUERY:
    case dns.BADNAME:
      return { text: NO_RECOVERY, status: DNS_FAIL };
    default:
      return { text: TRY_AGAIN, status: DNS_RETRY };
  }
}

/** The checks dns_lookup_x() makes before it asks: a numeric or malformed name is not looked up. */
export function dnsNameProblem(name: string): string | null {
  if (validHostaddr(name) || (name !== '.' && !validHostname(name.startsWith('*.') ? name.slice(2) : name))) {
    return `Name service error for ${name}: invalid host or domain name`;
  }
  return null;
}

function failure<T>(name: string, type: string, err: unknown): DnsAnswer<T> {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === dns.BADRESP) {
    return { status: DNS_RETRY, records: [], why: `Name service error for name=${name} type=${type}: Malformed or unexpected name server reply` };
  }
  const h = hErrnoOf(code);
  return { status: h.status, records: [], why: `Host or domain name not found. Name service error for name=${name} type=${type}: ${h.text}` };
}

const NATIVE_NODATA: NativeAnswer = { eai: 'nodata', text: 'No address associated with hostname' };

/** True when DNS knows the name but has no address record of the first family asked for. */
async function existsWithoutAddress(r: dns.promises.Resolver, name: string, families: Array<4 | 6>): Promise<boolean> {
  try {
    await (families[0] === 6 ? r.resolve6(name) : r.resolve4(name));
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === dns.NODATA;
  }
}

/** gai_strerror() texts as glibc words them, by Node's error code. */
function nativeFailure(err: unknown): NativeAnswer {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ENOTFOUND':
      return { eai: 'noname', text: 'Name or service not known' };
    case 'ENODATA':
      return { eai: 'nodata', text: 'No address associated with hostname' };
    case 'EAI_AGAIN':
      return { eai: 'again', text: 'Temporary failure in name resolution' };
    case 'EAI_FAIL':
      return { eai: 'fail', text: 'Non-recoverable failure in name resolution' };
    default:
      return { eai: 'system', text: 'System error' };
  }
}

export interface ResolverOptions {
  /** Name servers ("127.0.0.1:5353") in the place of resolv.conf's. */
  servers?: string[];
  /** Per-try timeout in milliseconds and the number of tries (c-ares defaults when absent). */
  timeout?: number;
  tries?: number;
}

/**
 * valid_rr_name() on each MX record (dns_get_answer()): a numeric name is
 * used with a warning, a malformed one dropped with warnings; a null MX
 * ends the lookup. Nothing usable left is a malformed reply.
 */
function checkMxData(query: string, records: MxName[]): DnsAnswer<MxName> {
  const warnings: string[] = [];
  const kept: MxName[] = [];
  for (const m of records) {
    if (m.name === '' || m.name === '.') return { status: DNS_NULLMX, records: [], why: `Domain ${query} does not accept mail (nullMX)` };
    if (validHostaddr(m.name)) {
      warnings.push(`numeric domain name in resource data of MX record for ${query}: ${m.name}`);
    } else if (!validHostname(m.name, (text) => warnings.push(text))) {
      warnings.push(`malformed domain name in resource data of MX record for ${query}: ${m.name}`);
      continue;
    }
    kept.push(m);
  }
  if (kept.length === 0) {
    return { status: DNS_INVAL, records: [], why: `Name service error for name=${query} type=MX: Malformed or unexpected name server reply`, warnings };
  }
  return { status: DNS_OK, records: kept, why: '', ...(warnings.length ? { warnings } : {}) };
}

/** A HopResolver on Node's dns.Resolver and dns.lookup. */
export function createHopResolver(opts: ResolverOptions = {}): HopResolver {
  const r = new dns.promises.Resolver({ timeout: opts.timeout ?? -1, tries: opts.tries ?? 2 });
  if (opts.servers) r.setServers(opts.servers);
  const checked = async <T>(name: string, type: string, ask: () => Promise<T[]>): Promise<DnsAnswer<T>> => {
    const problem = dnsNameProblem(name);
    if (problem !== null) return { status: DNS_NOTFOUND, records: [], why: problem };
    try {
      const records = await ask();
      return records.length
        ? { status: DNS_OK, records, why: '' }
        : { status: DNS_NOTFOUND, records, why: `Host or domain name not found. Name service error for name=${name} type=${type}: ${NO_DATA}` };
    } catch (err) {
      return failure<T>(name, type, err);
    }
  };
  return {
    async mx(name) {
      const answer = await checked(name, 'MX', async () => (await r.resolveMx(name)).map((m) => ({ name: m.exchange, pref: m.priority })));
      return answer.status === DNS_OK ? checkMxData(name, answer.records) : answer;
    },
    a: (name) => checked(name, 'A', async () => (await r.resolve4(name)).map((addr) => ({ addr, family: 4 as const }))),
    aaaa: (name) => checked(name, 'AAAA', async () => (await r.resolve6(name)).map((addr) => ({ addr, family: 6 as const }))),
    async canonical(name) {
      let current = name;
      for (let hops = 0; hops < 10; hops++) {
        try {
          const [target] = await r.resolveCname(current);
          if (target === undefined) break;
          current = target;
        } catch {
          break;
        }
      }
      return current;
    },
    async native(name, families) {
      const family = families.length === 1 ? families[0]! : 0;
      try {
        const found = await dns.promises.lookup(name, { all: true, family, verbatim: true });
        return { addrs: found.map((f) => ({ addr: f.address, family: f.family === 6 ? 6 : 4 })) };
      } catch (err) {
        const failed = nativeFailure(err);
        // Node reports EAI_NODATA as ENOTFOUND too: a name that exists without addresses is told apart by asking DNS.
        if ('eai' in failed && failed.eai === 'noname' && (await existsWithoutAddress(r, name, families))) return NATIVE_NODATA;
        return failed;
      }
    },
  };
}

/**
 * dns_lookup_v(): several types for one name. The records of every type
 * are kept; the status is the best one seen, with the text of the last
 * lookup that had it.
 */
export function combineAnswers<T>(answers: Array<DnsAnswer<T>>): DnsAnswer<T> {
  const records = answers.flatMap((a) => a.records);
  let best: DnsAnswer<T> | undefined;
  for (const a of answers) if (best === undefined || a.status >= best.status) best = a;
  if (best === undefined) return { status: DNS_NOTFOUND, records, why: '' };
  return { status: best.status, records, why: best.status === DNS_OK ? '' : best.why };
}
