// Shared by the smtp-addr tests: the fixture scenarios of fixtures/smtp-addr/
// (recorded from Postfix by tools/record-smtp-addr.ts), a Config for one
// scenario, and a HopResolver on a fake DNS server whose native lookups
// stand in for getaddrinfo() ("files dns": the fixture's hosts file, then
// the fake zone), so that nothing reaches the machine's real resolver.
import * as fs from 'node:fs';
import { isIP } from 'node:net';
import * as path from 'node:path';
import { Config } from '../../src/config/config.js';
import { createHopResolver, type HopResolver, type HopOptions } from '../../src/delivery/smtp/addr.js';
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
