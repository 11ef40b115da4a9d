// The registry against `postconf -d` output recorded from Postfix 3.7.11
// (fixtures/postconf-defaults): every name and default, the service-defined
// names that Debian's master.cf adds, and the host-computed defaults.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { hostname, networkInterfaces } from 'node:os';
import { join } from 'node:path';
import {
  allParams, getParam, isBuiltinParam, isRawParam, isReadonlyParam, paramBounds, paramNames, timeUnit,
  LEGACY_PARAMS, PARAM_FLAG_BUILTIN, PARAM_FLAG_RAW, PARAM_FLAG_READONLY,
} from '../../src/config/registry.js';
import { computeMydomain, computeMyhostname, computeMynetworks, computedDefault, type ConfigView } from '../../src/config/computed.js';
import { serviceParams } from '../../src/config/service-params.js';
import { PCF_PARAM_FLAG_BUILTIN, PCF_PARAM_FLAG_RAW, PCF_PARAM_FLAG_READONLY } from '../../src/cli/postconf/context.js';
import { setProgName } from '../../src/util/msg.js';

const FIX = join(process.cwd(), 'fixtures/postconf-defaults');
const read = (f: string) => readFileSync(join(FIX, f), 'utf8');

interface RecordedHost {
  hostname: string;
  interfaces: Array<{ name: string; address: string; netmask: string; family: string }>;
}

/** True when this host still has the name and addresses the fixtures were recorded on. */
function sameHost(): boolean {
  const rec = JSON.parse(read('host.json')) as RecordedHost;
  const now: RecordedHost['interfaces'] = [];
  for (const [name, list] of Object.entries(networkInterfaces())) {
    for (const i of list ?? []) now.push({ name, address: i.address, netmask: i.netmask, family: String(i.family) });
  }
  return rec.hostname === hostname() && JSON.stringify(rec.interfaces) === JSON.stringify(now);
}

/** `name = value` lines as postconf prints them: an empty value gives `name =`. */
function parse(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (!line) continue;
    const i = line.indexOf(' =');
    m.set(line.slice(0, i), line.slice(i + 2).replace(/^ /, ''));
  }
  return m;
}

const HOST_COMPUTED = new Set(['myhostname', 'mydomain', 'mynetworks']);

/** What the recorded value of a computed default should be compared with. */
function expectedComputed(name: string, recorded: string, host: boolean): string {
  if (name === 'process_id') return String(process.pid);
  if (HOST_COMPUTED.has(name) && !host) return computedDefault(name);
  return recorded;
}

test('flag bits agree with postconf context', () => {
  assert.equal(PARAM_FLAG_RAW, PCF_PARAM_FLAG_RAW);
  assert.equal(PARAM_FLAG_BUILTIN, PCF_PARAM_FLAG_BUILTIN);
  assert.equal(PARAM_FLAG_READONLY, PCF_PARAM_FLAG_READONLY);
});

test('every name and default equals postconf -d with an empty config dir', () => {
  setProgName('postconf');
  const host = sameHost();
  const rec = parse(read('empty.stdout'));
  const all = allParams();
  assert.equal(all.length, 831);
  assert.deepEqual(all.map((p) => p.name), [...rec.keys()]);
  for (const p of all) {
    const want = p.computed ? expectedComputed(p.name, rec.get(p.name)!, host) : rec.get(p.name);
    assert.equal(p.defaultValue(), want, p.name);
  }
  assert.equal(read('empty.stderr'), 'postconf: warning: open empty/master.cf: No such file or directory\n');
});

test('names are sorted in byte order and unique', () => {
  const names = paramNames();
  const sorted = [...names].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  assert.deepEqual(names, sorted);
  assert.equal(new Set(names).size, names.length);
});

test('lookups', () => {
  assert.equal(getParam('relay_domains')?.defaultValue(), '${{$compatibility_level} <level {2} ? {$mydestination} : {}}');
  assert.equal(getParam('smtpd_banner')?.defaultValue(), '$myhostname ESMTP $mail_name');
  assert.equal(getParam('mail_version')?.defaultValue(), '3.7.11');
  assert.equal(getParam('mail_release_date')?.defaultValue(), '20240304');
  assert.equal(getParam('no_such_parameter'), undefined);
  assert.equal(getParam('aaa'), undefined);
  assert.equal(getParam('zzz'), undefined);
  assert.equal(isBuiltinParam('myhostname'), true);
  assert.equal(isBuiltinParam('virtual_maps'), false);
  assert.ok(LEGACY_PARAMS.includes('virtual_maps'));
  for (const p of allParams()) assert.equal(getParam(p.name), p);
});

test('types, flags, units and bounds come from the source tables', () => {
  const t = (n: string) => getParam(n)?.type;
  assert.equal(t('message_size_limit'), 'long');
  assert.equal(t('default_process_limit'), 'int');
  assert.equal(t('ipc_timeout'), 'time');
  assert.equal(t('disable_vrfy_command'), 'bool');
  assert.equal(t('smtputf8_enable'), 'nbool');
  assert.equal(t('smtpd_hard_error_limit'), 'nint');
  assert.equal(t('mailbox_command'), 'raw');
  assert.equal(t('myhostname'), 'str');
  assert.equal(t('process_id'), 'int');
  const counts: Record<string, number> = {};
  for (const p of allParams()) counts[p.type] = (counts[p.type] ?? 0) + 1;
  assert.deepEqual(counts, { str: 464, int: 97, time: 107, bool: 119, nint: 10, nbool: 20, raw: 9, long: 5 } as Record<string, number>);
  const raw = allParams().filter((p) => p.flags & PARAM_FLAG_RAW).map((p) => p.name);
  assert.deepEqual(raw, [
    'command_execution_directory', 'default_rbl_reply', 'forward_path', 'luser_relay', 'mailbox_command',
    'postscreen_expansion_filter', 'postscreen_reject_footer', 'smtpd_expansion_filter', 'smtpd_reject_footer',
  ]);
  assert.ok(isRawParam('forward_path'));
  assert.ok(!isRawParam('alias_maps'));
  assert.deepEqual(allParams().filter((p) => isReadonlyParam(p.name)).map((p) => p.name), ['process_id', 'process_name', 'service_name']);
  assert.equal(timeUnit('maximal_queue_lifetime'), 'd');
  assert.equal(timeUnit('delay_warning_time'), 'h');
  assert.equal(timeUnit('smtp_connect_timeout'), 's');
  assert.equal(timeUnit('postscreen_dnsbl_max_ttl'), 'h');
  assert.equal(timeUnit('myhostname'), undefined);
  for (const p of allParams()) if (p.type === 'time') assert.match(p.timeUnit ?? '', /^[smhdw]$/, p.name);
  assert.deepEqual(paramBounds('line_length_limit'), { min: 512, max: 0 });
  assert.deepEqual(paramBounds('delay_logging_resolution_limit'), { min: 0, max: 6 });
  assert.deepEqual(paramBounds('verp_delimiter_filter'), { min: 1, max: 0 });
  assert.equal(paramBounds('disable_vrfy_command'), undefined);
});

test('every parameter has a one-line description', () => {
  for (const p of allParams()) {
    assert.ok(p.desc.length > 10, `${p.name}: ${p.desc}`);
    assert.ok(!/[\t\n]/.test(p.desc), p.name);
  }
});

/** master.cf entries as [service, program] (program: argv[0] of the command). */
function masterServices(text: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const line of text.split('\n')) {
    if (!line || /^[#\s]/.test(line)) continue;
    const f = line.split(/\s+/);
    out.push([f[0]!, f[7]!]);
  }
  return out;
}

test('Debian master.cf adds the service-defined names postconf -d shows', () => {
  setProgName('postconf');
  const host = sameHost();
  const rec = parse(read('debian-master.stdout'));
  const mine = new Map<string, string>();
  for (const p of allParams()) mine.set(p.name, p.defaultValue());
  for (const [service, program] of masterServices(read('debian-master.cf'))) {
    for (const sp of serviceParams(service, program)) mine.set(sp.name, sp.defaultValue);
  }
  assert.equal(mine.size, 1043);
  const names = [...mine.keys()].sort();
  assert.deepEqual(names, [...rec.keys()]);
  for (const n of names) {
    const p = getParam(n);
    const want = p?.computed ? expectedComputed(n, rec.get(n)!, host) : rec.get(n);
    assert.equal(mine.get(n), want, n);
  }
  assert.equal(read('debian-master.stderr'), '');
});

test('service parameter rules', () => {
  assert.deepEqual(serviceParams('smtpd', 'smtpd'), []);
  assert.deepEqual(serviceParams('x', 'spawn'), [{ name: 'x_time_limit', defaultValue: '$command_time_limit', builtin: false }]);
  const pipe = serviceParams('uucp', 'pipe');
  assert.equal(pipe.length, 17);
  assert.deepEqual(pipe[0], { name: 'uucp_time_limit', defaultValue: '$command_time_limit', builtin: false });
  const relay = serviceParams('relay', 'smtp');
  assert.equal(relay.length, 16);
  assert.ok(!relay.some((p) => p.name === 'relay_time_limit'));
  assert.deepEqual(relay.find((p) => p.name === 'relay_destination_concurrency_limit'),
    { name: 'relay_destination_concurrency_limit', defaultValue: '$default_destination_concurrency_limit', builtin: false });
  const local = serviceParams('local', 'local');
  assert.deepEqual(local.find((p) => p.name === 'local_destination_concurrency_limit'),
    { name: 'local_destination_concurrency_limit', defaultValue: '2', builtin: true });
  assert.deepEqual(local.find((p) => p.name === 'local_destination_recipient_limit'),
    { name: 'local_destination_recipient_limit', defaultValue: '1', builtin: true });
});

/** A configuration view with the given main.cf settings, defaults as under compatibility level 0. */
function view(main: Record<string, string>): ConfigView {
  const defaults: Record<string, string> = { inet_interfaces: 'all', inet_protocols: 'all', mynetworks_style: 'subnet' };
  return { mainValue: (n) => main[n], expandedDefault: (n) => defaults[n] ?? '' };
}

test('myhostname and mydomain follow main.cf the way postconf does', () => {
  const h = hostname();
  const short = !h.includes('.');
  assert.equal(computeMyhostname(), short ? `${h}.localdomain` : h);
  assert.equal(computeMyhostname(view({ mydomain: 'example.com' })), short ? `${h}.example.com` : h);
  assert.equal(computeMydomain(view({ myhostname: 'a.b.example.org' })), 'b.example.org');
  assert.equal(computeMydomain(view({ myhostname: 'plain' })), 'localdomain');
  assert.equal(computeMydomain(), short ? 'localdomain' : h.slice(h.indexOf('.') + 1));
});

test('mynetworks styles and errors (checked against real postconf on the recording host)', () => {
  const err = (m: Record<string, string>) => {
    const r = computeMynetworks(view(m));
    return r.ok ? undefined : r.error;
  };
  assert.equal(err({ mynetworks_style: 'bogus' }), 'unknown mynetworks mask style value "bogus" in "bogus"');
  assert.equal(err({ mynetworks_style: 'host,subnet' }), 'bad mynetworks_style value: host,subnet; specify exactly one value');
  assert.equal(err({ inet_protocols: 'ipv5' }), 'unknown inet_protocols value "ipv5" in "ipv5"');
  assert.equal(err({ inet_interfaces: '10.1.1.1' }), 'parameter inet_interfaces: no local interface found for 10.1.1.1');
  assert.equal(err({ inet_interfaces: 'nonesuch.invalid' }), 'config variable inet_interfaces: host not found: nonesuch.invalid');
  assert.deepEqual(computeMynetworks(view({ inet_protocols: '' })), { ok: true, value: '' });
  assert.deepEqual(computeMynetworks(view({ inet_interfaces: '' })), { ok: true, value: '' });
  assert.deepEqual(computeMynetworks(view({ inet_interfaces: '127.0.0.1' })), { ok: true, value: '127.0.0.0/8' });
  assert.deepEqual(computeMynetworks(view({ inet_interfaces: '127.0.0.1', mynetworks_style: 'host' })), { ok: true, value: '127.0.0.1/32' });
  if (!sameHost()) return;
  const ok = (m: Record<string, string>) => {
    const r = computeMynetworks(view(m));
    return r.ok ? r.value : r.error;
  };
  assert.equal(ok({}), '127.0.0.0/8 192.0.2.0/24 [::1]/128 [fd00::]/64 [fe80::]/64');
  assert.equal(ok({ mynetworks_style: 'host' }), '127.0.0.1/32 192.0.2.2/32 [::1]/128 [fd00::2]/128 [fe80::fc:ff:fe00:1]/128');
  assert.equal(ok({ mynetworks_style: 'class' }), '127.0.0.0/8 192.0.2.0/24 [::1]/128 [fd00::]/64 [fe80::]/64');
  assert.equal(ok({ inet_protocols: 'ipv6' }), '[::1]/128 [fd00::]/64 [fe80::]/64');
  assert.equal(ok({ inet_protocols: 'ipv4', mynetworks_style: 'host' }), '127.0.0.1/32 192.0.2.2/32');
  assert.equal(ok({ inet_interfaces: 'loopback-only' }), '127.0.0.0/8 [::1]/128');
  assert.equal(ok({ inet_interfaces: 'localhost, 192.0.2.2 [::1] [fe80::fc:ff:fe00:1]' }), '127.0.0.0/8 192.0.2.0/24 [::1]/128 [fe80::]/64');
  assert.equal(ok({ inet_interfaces: '192.0.2.2 ::1 fd00::2 127.0.0.1', mynetworks_style: 'host' }), '127.0.0.1/32 192.0.2.2/32 [::1]/128 [fd00::2]/128');
  assert.equal(ok({ inet_interfaces: 'fe80::fc:ff:fe00:1%eth0' }), '[fe80::]/64');
});

test('man/man5/postconf.5 documents every parameter', () => {
  const page = readFileSync(join(process.cwd(), 'man/man5/postconf.5'), 'utf8');
  const documented = new Set([...page.matchAll(/^\.B (\S+)$/gm)].map((m) => m[1]!.replace(/\\-/g, '-')));
  for (const p of allParams()) assert.ok(documented.has(p.name), p.name);
});
