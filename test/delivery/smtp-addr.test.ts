// Unit tests of src/delivery/smtp/addr.ts and dns-hosts.ts beyond the
// recorded fixtures: destination syntax errors worded as Postfix's fatal
// errors, the lazy destination list (a fallback relay is looked up only when
// the caller gets that far), random order among equal preferences with a
// seeded source, the IPv4/IPv6 balance, the end-of-list failure rewrite,
// configuration errors, proxy_interfaces in loop detection, and IDNA names.
import * as assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  destinationLookups,
  hopSettingsProblem,
  hostsForNexthop,
  leftoverFailure,
  ownAddressCheck,
  parseDestination,
  type HopOptions,
  type SmtpHost,
} from '../../src/delivery/smtp/addr.js';
import { balanceFamilies, type HostRecord } from '../../src/delivery/smtp/dns-hosts.js';
import { startFakeDns, type FakeDns } from '../lib/fake-dns.js';
import { fixtureResolver, keepLog, loadZone, scenarioConfig } from './smtp-addr-harness.js';

let dns: FakeDns;
before(async () => {
  dns = await startFakeDns({
    ...loadZone(),
    'xn--bcher-kva.test': { a: ['127.0.3.1'] },
    'fb.test': { a: ['127.0.3.2'] },
  });
});
after(async () => {
  await dns.close();
});

function options(settings: Record<string, string> = {}, extra: Partial<HopOptions> = {}): HopOptions {
  return { config: scenarioConfig({ settings }), lmtp: false, resolver: fixtureResolver(dns.server), log: keepLog(), ...extra };
}

const labels = (hosts: SmtpHost[]): string[] => hosts.map((h) => `${h.name}[${h.addr}]:${h.port}`);

/** A repeatable source of numbers in [0, 1). */
function seeded(seed: number): () => number {
  let x = seed;
  return () => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return x / 2147483648;
  };
}

test('destination syntax errors are the fatal texts of smtp_parse_destination()', () => {
  const ports = new Map([['smtp', '25']]);
  const cases: Array<[string, string]> = [
    ['[127.0.0.1', 'missing "]" in server description: [127.0.0.1'],
    ['[127.0.0.1]x', 'garbage after "]" in server description: [127.0.0.1]x'],
    ['[ipv6:zz::q]', 'malformed IPv6 address in server description: [ipv6:zz::q]'],
    ['host.test:25x', 'garbage after numerical service in server description: host.test:25x'],
    ['bad!host:25', 'valid hostname or network address required in server description: bad!host:25'],
    ['host.test:65536', 'bad network port: 65536 for destination: host.test:65536'],
    ['host.test:no-such-service', 'unknown service: no-such-service/tcp'],
  ];
  for (const [dest, text] of cases) assert.deepEqual(parseDestination(dest, 'smtp', ports), { fatal: text }, dest);
  assert.deepEqual(parseDestination('[IPv6:2001:db8::1]:26', 'smtp', ports), { domain: '2001:db8::1', port: 26 });
  assert.deepEqual(parseDestination('host.test:', 'smtp', ports), { domain: 'host.test', port: 25 });
  assert.deepEqual(parseDestination('host.test', '24', ports), { domain: 'host.test', port: 24 });
});

test('a fallback relay is looked up only when the caller goes on to it', async () => {
  const opts = options({ smtp_fallback_relay: '[fb.test]' });
  const before = dns.queries.length;
  for await (const lookup of destinationLookups('aonly.test', 'smtp', opts)) {
    assert.deepEqual(labels(lookup.hosts), ['aonly.test[127.0.0.8]:25']);
    assert.equal(lookup.final, false);
    break;
  }
  assert.ok(!dns.queries.slice(before).some((q) => q.includes('fb.test')));
  const all = [];
  for await (const lookup of destinationLookups('aonly.test', 'smtp', opts)) all.push(lookup);
  assert.deepEqual(
    all.map((l) => [l.destination.dest, l.destination.fallback, l.final, labels(l.hosts)]),
    [
      ['aonly.test', false, false, ['aonly.test[127.0.0.8]:25']],
      ['[fb.test]', true, true, ['fb.test[127.0.3.2]:25']],
    ],
  );
});

test('when this host is an MX host, the fallback relays are not tried', async () => {
  const all = [];
  for await (const lookup of destinationLookups('selfbackup.test', 'smtp', options({ smtp_fallback_relay: '[fb.test]' }))) all.push(lookup);
  assert.equal(all.length, 1);
  assert.equal(all[0]!.final, true);
  assert.deepEqual(labels(all[0]!.hosts), ['other.selfbackup.test[127.0.0.12]:25']);
});

test('a next hop may list several destinations', async () => {
  const r = await hostsForNexthop('nx.test, [127.0.0.2]:2525', 'smtp', options());
  assert.ok('hosts' in r);
  assert.deepEqual(labels(r.hosts), ['127.0.0.2[127.0.0.2]:2525']);
  assert.equal(r.hosts[0]!.dest, '[127.0.0.2]:2525');
});

test('equal preferences come in random order, the seed decides, preference order stays', async () => {
  const orders = new Set<string>();
  for (let seed = 1; seed <= 40; seed++) {
    const r = await hostsForNexthop('eq.test', 'smtp', options({ smtp_randomize_addresses: 'yes' }, { random: seeded(seed) }));
    assert.ok('hosts' in r);
    assert.deepEqual(r.hosts.map((h) => h.pref), [10, 10, 10, 20]);
    assert.equal(r.hosts[3]!.name, 'e4.eq.test');
    orders.add(r.hosts.map((h) => h.name).join(' '));
    const again = await hostsForNexthop('eq.test', 'smtp', options({ smtp_randomize_addresses: 'yes' }, { random: seeded(seed) }));
    assert.ok('hosts' in again);
    assert.deepEqual(labels(again.hosts), labels(r.hosts));
  }
  assert.equal(orders.size, 6);
});

test('smtp_balance_inet_protocols keeps both families within the address limit', () => {
  const list = (spec: string): HostRecord[] =>
    [...spec].map((c, i) => ({ name: 'h', addr: c === '4' ? `10.0.0.${i}` : `2001:db8::${i}`, family: c === '4' ? 4 : 6, pref: 0 }));
  const families = (l: HostRecord[]) => l.map((a) => a.family).join('');
  assert.equal(families(balanceFamilies(list('444446'), 3)), '446'); // few IPv6: all of them
  assert.equal(families(balanceFamilies(list('466666'), 3)), '466'); // few IPv4: all of them
  assert.equal(families(balanceFamilies(list('446666'), 3)), '446'); // both many: the first family gets the odd one
  assert.equal(families(balanceFamilies(list('664444'), 3)), '664');
  assert.equal(families(balanceFamilies(list('4444'), 2)), '4444'); // one family: untouched here (the caller cuts)
});

test('what is left when every destination failed (the end of smtp_connect_inet)', () => {
  const opts = options({ relayhost: '[relay.test]', best_mx_transport: 'local' });
  assert.deepEqual(leftoverFailure(undefined, undefined, 'x.test', opts).failure, {
    status: '4.3.0',
    reason: 'server unavailable or unable to receive mail',
  });
  const soft = { status: '4.4.3', reason: 'r' };
  assert.deepEqual(leftoverFailure(soft, undefined, 'x.test', opts), { failure: soft });
  const hard = { status: '5.4.4', reason: 'r' };
  assert.deepEqual(leftoverFailure(hard, undefined, '[relay.test]', opts), {
    failure: { status: '4.3.5', reason: 'r' },
    warning: 'relayhost configuration problem',
  });
  const loop = { status: '5.4.6', reason: 'mail for x.test loops back to myself' };
  assert.deepEqual(leftoverFailure(loop, undefined, 'x.test', opts), { failure: loop, bestMxTransport: 'local' });
  assert.deepEqual(leftoverFailure(hard, undefined, 'x.test', opts), { failure: hard });
});

test('configuration errors are fatal failures, worded as Postfix words them', async () => {
  const fatal = async (settings: Record<string, string>) => {
    const r = await hostsForNexthop('aonly.test', 'smtp', options(settings));
    assert.ok('failure' in r);
    return r.failure.fatal;
  };
  assert.equal(await fatal({ smtp_host_lookup: 'dns, nis' }), 'unknown smtp_host_lookup value "nis" in "dns, nis"');
  assert.equal(await fatal({ smtp_address_preference: 'ipv5' }), 'bad smtp_address_preference value: ipv5');
  assert.equal(await fatal({ smtp_dns_support_level: 'sometimes' }), 'invalid smtp_dns_support_level: "sometimes"');
  assert.match((await fatal({ smtp_dns_support_level: 'dnssec' })) ?? '', /dnssec is not supported/);
  assert.equal(await fatal({ smtp_dns_reply_filter: 'pcre:/x' }), 'smtp_dns_reply_filter is not supported');
  assert.equal(await fatal({ inet_protocols: 'ipv7' }), 'unknown inet_protocols value "ipv7" in "ipv7"');
});

test('no network protocol at all: 4.4.4 before any lookup', async () => {
  const r = await hostsForNexthop('aonly.test', 'smtp', options({ inet_protocols: '' }));
  assert.deepEqual(r, { failure: { status: '4.4.4', reason: 'all network protocols are disabled', dead: true } });
});

test('an address of proxy_interfaces counts as this host', async () => {
  const r = await hostsForNexthop('selfprimary.test', 'smtp', options({ proxy_interfaces: '127.0.0.12' }));
  // me.self.test (5) is inet_interfaces' 127.0.0.1: cut there, nothing better is left.
  assert.deepEqual(r, { failure: { status: '5.4.6', reason: 'mail for selfprimary.test loops back to myself' } });
  const backup = await hostsForNexthop('selfbackup.test', 'smtp', options({ proxy_interfaces: '127.0.0.12' }));
  assert.deepEqual(backup, { failure: { status: '5.4.6', reason: 'mail for selfbackup.test loops back to myself' } });
});

test('a non-ASCII destination is looked up in its A-label form', async () => {
  const r = await hostsForNexthop('bücher.test', 'smtp', options());
  assert.ok('hosts' in r, JSON.stringify(r));
  assert.deepEqual(labels(r.hosts), ['xn--bcher-kva.test[127.0.3.1]:25']);
});

test('LMTP unix: is one host, the socket path, named after myhostname', async () => {
  const r = await hostsForNexthop('unix:/run/lmtp.sock', '24', options({}, { lmtp: true }));
  assert.deepEqual(r, {
    hosts: [{ name: 'oracle.test', addr: '/run/lmtp.sock', family: 0, pref: 0, port: 0, path: '/run/lmtp.sock', dest: '/run/lmtp.sock', fallback: false }],
  });
});

test('an agent can check its settings at start and make its loop test once', async () => {
  assert.equal(hopSettingsProblem(scenarioConfig({}), false), null);
  assert.equal(hopSettingsProblem(scenarioConfig({ settings: { lmtp_host_lookup: 'yp' } }), true), 'unknown lmtp_host_lookup value "yp" in "yp"');
  const isSelf = ownAddressCheck(scenarioConfig({ settings: { proxy_interfaces: '192.0.2.7' } }));
  assert.deepEqual(await Promise.all(['127.0.0.1', '192.0.2.7', '127.0.0.2', 'x'].map(isSelf)), [true, true, false, false]);
});
