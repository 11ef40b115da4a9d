// Shared by the smtp-addr tests: the fixture scenarios of fixtures/smtp-addr/
// (recorded from Postfix by tools/record-smtp-addr.ts), a Config for one
// scenario, and a HopResolver on a fake DNS server whose native lookups
// stand in for getaddrinfo() ("files dns": the fixture's hosts file, then
// the fake zone), so that nothing reaches the machine's real resolver.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { isIP } from 'node:net';
import * as path from 'node:path';
import { Config } from '../../src/config/config.js';
import { createHopResolver, hostsForNexthop, type HopResolver, type HopOptions, type SmtpHost } from '../../src/delivery/smtp/addr.js';
import { DNS_NOTFOUND, DNS_OK, type DnsAddr, type NativeAnswer } from '../../src/delivery/smtp/dns.js';
import { repoRoot } from '../lib/cases.js';

export interface AddrScenario {
  name: string;
  nexthop: string;
  settings?: Record<string, string>;
  agent?: 'smtp' | 'lmtp';
  unordered?: boolean;
}

export const fixtureDir = (): string => path.join(repoRoot(), 'fixtures', 'smtp-addr');
const readJson = <T>(name: string): T => JSON.parse(fs.readFileSync(path.join(fixtureDir(), name), 'utf8')) as T;

export const loadScenarios = (): AddrScenario[] => readJson('scenarios.json');
export const loadExpected = (): Record<string, string[]> => readJson('expected.json');
export const loadZone = () => readJson<import('../lib/fake-dns.js').Zone>('zone.json');

/** main.cf of the fixture as name/value pairs. */
function mainCf(): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const line of fs.readFileSync(path.join(fixtureDir(), 'main.cf'), 'utf8').split('\n')) {
    const m = /^([a-z0-9_]+)\s*=\s*(.*)$/.exec(line);
    if (m) out.push([m[1]!, m[2]!.trim()]);
  }
  return out;
}

export function scenarioConfig(s: Pick<AddrScenario, 'settings'>, extra: Record<string, string> = {}): Config {
  return Config.fromEntries(fixtureDir(), [...mainCf(), ...Object.entries(s.settings ?? {}), ...Object.entries(extra)]);
}

function hostsFile(): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of fs.readFileSync(path.join(fixtureDir(), 'hosts'), 'utf8').split('\n')) {
    const [addr, ...names] = line.replace(/#.*/, '').trim().split(/\s+/);
    if (!addr || !isIP(addr)) continue;
    for (const n of names) out.set(n.toLowerCase(), [...(out.get(n.toLowerCase()) ?? []), addr]);
  }
  return out;
}

/** A resolver on the fake DNS at server; native lookups read the fixture's hosts file first. */
export function fixtureResolver(server: string, timeout = 300): HopResolver {
  const dns = createHopResolver({ servers: [server], timeout, tries: 1 });
  const hosts = hostsFile();
  return {
    ...dns,
    async native(name, families): Promise<NativeAnswer> {
      const fromFile = (hosts.get(name.toLowerCase()) ?? []).map((addr) => ({ addr, family: isIP(addr) as 4 | 6 }));
      const wanted = fromFile.filter((a) => families.includes(a.family));
      if (wanted.length) return { addrs: wanted };
      const addrs: DnsAddr[] = [];
      let sawNoData = false;
      for (const f of families) {
        const r = await (f === 4 ? dns.a(name) : dns.aaaa(name));
        if (r.status === DNS_OK) addrs.push(...r.records);
        else if (r.status === DNS_NOTFOUND && r.why.endsWith('no data record of requested type')) sawNoData = true;
        else if (r.status !== DNS_NOTFOUND) return { eai: 'again', text: 'Temporary failure in name resolution' };
      }
      if (addrs.length) return { addrs };
      return sawNoData ? { eai: 'nodata', text: 'No address associated with hostname' } : { eai: 'noname', text: 'Name or service not known' };
    },
  };
}

/** A logger that keeps what it is given. */
export function keepLog(): NonNullable<HopOptions['log']> & { warnings: string[]; infos: string[] } {
  const warnings: string[] = [];
  const infos: string[] = [];
  return { warnings, infos, warning: (t) => warnings.push(t), info: (t) => infos.push(t) };
}

interface Recorded {
  attempts: string[];
  warnings: string[];
  fatal?: string;
  final?: { dsn: string; status: string; reason: string };
}

/** What Postfix's log lines of one scenario say. */
function parseRecorded(lines: string[]): Recorded {
  const out: Recorded = { attempts: [], warnings: [] };
  for (const line of lines) {
    const text = line.replace(/^postfix\/[^:]+: /, '');
    let m: RegExpExecArray | null;
    if ((m = /^connect to (\S+): /.exec(text))) out.attempts.push(m[1]!);
    else if ((m = /^warning: (.*)$/.exec(text))) out.warnings.push(m[1]!);
    else if ((m = /^fatal: (.*)$/.exec(text))) out.fatal = m[1]!;
    else if ((m = /dsn=(\S+), status=(\w+) \((.*)\)$/.exec(text))) out.final = { dsn: m[1]!, status: m[2]!, reason: m[3]! };
  }
  // A unix-domain connection failure is not logged before the status line.
  const unix = out.final && /^connect to (\S+): /.exec(out.final.reason);
  if (out.attempts.length === 0 && unix) out.attempts.push(unix[1]!);
  return out;
}

const label = (h: SmtpHost): string => (h.port ? `${h.name}[${h.addr}]:${h.port}` : `${h.name}[${h.addr}]`);

/** Runs scenario s through hostsForNexthop() and compares with what Postfix logged for it (its lines of expected.json). */
export async function checkScenario(s: AddrScenario, lines: string[], resolver: HopResolver): Promise<void> {
  const rec = parseRecorded(lines);
  const config = scenarioConfig(s);
  const lmtp = s.agent === 'lmtp';
  const log = keepLog();
  const r = await hostsForNexthop(s.nexthop, config.get(lmtp ? 'lmtp_tcp_port' : 'smtp_tcp_port'), {
    config,
    lmtp,
    resolver,
    log,
  });
  if (rec.fatal !== undefined) {
    assert.ok('failure' in r, JSON.stringify(r));
    assert.equal(r.failure.fatal, rec.fatal);
    return;
  }
  assert.deepEqual(log.warnings, rec.warnings);
  if (rec.attempts.length) {
    assert.ok('hosts' in r, JSON.stringify(r));
    const ours = r.hosts.map(label);
    if (s.unordered) assert.deepEqual([...ours].sort(), [...rec.attempts].sort());
    else assert.deepEqual(ours, rec.attempts);
    return;
  }
  assert.ok(rec.final, 'recorded status line');
  assert.ok('failure' in r, JSON.stringify(r));
  assert.equal(r.failure.status, rec.final.dsn);
  assert.equal(r.failure.reason, rec.final.reason);
  assert.equal(rec.final.status, r.failure.status.startsWith('5') ? 'bounced' : 'deferred');
}
