// Replays fixtures/smtp-addr/ (recorded from Postfix 3.7.11 by
// tools/record-smtp-addr.ts) through hostsForNexthop(): for each scenario
// the servers Postfix tried are the servers we list, in the same order
// (as a set where equal preferences are shuffled); where Postfix found none
// its DSN status and text are ours; its warnings and fatal errors are ours.
// The zone is served by a fake DNS server on 127.0.0.1.
import * as assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { hostsForNexthop, type SmtpHost } from '../../src/delivery/smtp/addr.js';
import { startFakeDns, type FakeDns } from '../lib/fake-dns.js';
import { fixtureResolver, keepLog, loadExpected, loadScenarios, loadZone, scenarioConfig } from './smtp-addr-harness.js';

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

let dns: FakeDns;
before(async () => {
  dns = await startFakeDns(loadZone());
});
after(async () => {
  await dns.close();
});

const expected = loadExpected();
for (const s of loadScenarios()) {
  test(`smtp-addr fixture ${s.name}: ${s.nexthop}`, async () => {
    const rec = parseRecorded(expected[s.name] ?? []);
    const config = scenarioConfig(s);
    const lmtp = s.agent === 'lmtp';
    const log = keepLog();
    const r = await hostsForNexthop(s.nexthop, config.get(lmtp ? 'lmtp_tcp_port' : 'smtp_tcp_port'), {
      config,
      lmtp,
      resolver: fixtureResolver(dns.server),
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
  });
}
