// A DNS server for tests on 127.0.0.1 (UDP, a random port) that
// answers from a zone given as data: MX, A and AAAA records per name, and
// per name or per type the failures a resolver meets (NXDOMAIN, SERVFAIL,
// REFUSED, no answer at all). A name the zone lacks is NXDOMAIN; a type a
// name lacks is an empty NOERROR answer (no data). Built on dns2; records
// every question it is asked, so a test can check what was looked up.
import dns2 from 'dns2';
import type { AddressInfo } from 'node:net';

export type DnsFailure = 'nxdomain' | 'servfail' | 'refused' | 'timeout';

/** What one name answers; a failure stands for the whole name or for one type. */
export interface ZoneName {
  mx?: Array<{ pref: number; host: string }> | DnsFailure;
  a?: string[] | DnsFailure;
  aaaa?: string[] | DnsFailure;
  /** Every type of this name fails so. */
  fail?: DnsFailure;
  /** An alias: every question is answered with this CNAME and the target's records of the type asked. */
  cname?: string;
}

export type Zone = Record<string, ZoneName>;

export interface FakeDns {
  /** "127.0.0.1:PORT", for dns.Resolver.setServers() or resolv.conf. */
  server: string;
  port: number;
  /** The questions asked, in order ("MX example.com"). */
  queries: string[];
  /** Replaces the zone (names are matched without case and trailing dot). */
  setZone(zone: Zone): void;
  close(): Promise<void>;
}

const { Packet } = dns2;
// dns2's typings lack the RCODE table its packet module has.
const RCODE = { NOERROR: 0, SERVFAIL: 2, NXDOMAIN: 3, REFUSED: 5 };
const TYPE_NAMES: Record<number, string> = { [Packet.TYPE.A]: 'A', [Packet.TYPE.AAAA]: 'AAAA', [Packet.TYPE.MX]: 'MX', [Packet.TYPE.CNAME]: 'CNAME' };

const norm = (name: string): string => name.toLowerCase().replace(/\.$/, '');

function answerFor(zone: Map<string, ZoneName>, name: string, type: number, depth = 0): { rcode: number; answers: object[] } | 'timeout' {
  const entry = zone.get(norm(name));
  if (entry === undefined) return { rcode: RCODE.NXDOMAIN, answers: [] };
  if (entry.cname !== undefined) {
    const alias = { name, class: Packet.CLASS.IN, ttl: 60, type: Packet.TYPE.CNAME, domain: entry.cname };
    if (type === Packet.TYPE.CNAME || depth > 8) return { rcode: RCODE.NOERROR, answers: [alias] };
    const rest = answerFor(zone, entry.cname, type, depth + 1);
    return rest === 'timeout' ? rest : { rcode: rest.rcode, answers: [alias, ...rest.answers] };
  }
  const key = type === Packet.TYPE.MX ? 'mx' : type === Packet.TYPE.A ? 'a' : type === Packet.TYPE.AAAA ? 'aaaa' : undefined;
  const data = entry.fail ?? (key ? entry[key] : undefined);
  if (data === 'timeout') return 'timeout';
  if (data === 'nxdomain') return { rcode: RCODE.NXDOMAIN, answers: [] };
  if (data === 'servfail') return { rcode: RCODE.SERVFAIL, answers: [] };
  if (data === 'refused') return { rcode: RCODE.REFUSED, answers: [] };
  const base = { name, class: Packet.CLASS.IN, ttl: 60 };
  const answers: object[] = [];
  for (const d of data ?? []) {
    if (typeof d === 'string') answers.push({ ...base, type, address: d });
    else answers.push({ ...base, type, priority: d.pref, exchange: d.host });
  }
  return { rcode: RCODE.NOERROR, answers };
}

/**
 * Starts the server (on port 0: a random port; a recorder in a private
 * namespace uses 53), answering each question after delayMs when given (a
 * slow name server); close() stops it.
 */
export async function startFakeDns(zone: Zone = {}, opts: { port?: number; delayMs?: number } = {}): Promise<FakeDns> {
  let names = new Map(Object.entries(zone).map(([k, v]) => [norm(k), v]));
  const queries: string[] = [];
  const server = dns2.createUDPServer((request, send) => {
    const response = Packet.createResponseFromRequest(request);
    const q = request.questions[0];
    if (q === undefined) return;
    queries.push(`${TYPE_NAMES[q.type] ?? String(q.type)} ${q.name}`);
    const r = answerFor(names, q.name, q.type);
    if (r === 'timeout') return;
    response.header.rcode = r.rcode;
    response.header.ra = 1;
    response.answers.push(...(r.answers as typeof response.answers));
    const answer = () => void Promise.resolve(send(response)).catch(() => undefined);
    if (opts.delayMs) setTimeout(answer, opts.delayMs);
    else answer();
  });
  await server.listen(opts.port ?? 0, '127.0.0.1');
  const port = (server.address() as AddressInfo).port;
  return {
    server: `127.0.0.1:${port}`,
    port,
    queries,
    setZone(z) {
      names = new Map(Object.entries(z).map(([k, v]) => [norm(k), v]));
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
