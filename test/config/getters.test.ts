// The Config's typed getters against what Postfix 3.7.11 printed
// (fixtures/config/conf-fatals.tsv), the conversions' edge cases, the
// per-transport fallback and the service overrides.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Config, ConfigError } from '../../src/config/config.js';
import { getParam } from '../../src/config/registry.js';
import { convInt, convLong, convTime, convTimeValue, convBool, checkStrLength } from '../../src/config/conf-values.js';
import { transportInt, transportStr, transportTime } from '../../src/config/transport-params.js';
import { loadServiceConfig, serviceOverrides } from '../../src/config/service-config.js';
import { serviceParams } from '../../src/config/service-params.js';

const FIXTURE = fileURLToPath(new URL('../../../fixtures/config/conf-fatals.tsv', import.meta.url));

/** What the getter for the parameter's registry type says: the error text, or "-". */
function outcome(name: string, value: string): string {
  const config = Config.fromEntries('/nonexistent', [[name, value]]);
  const type = getParam(name)?.type;
  try {
    if (type === 'int' || type === 'nint') config.getInt(name);
    else if (type === 'long') config.getLong(name);
    else if (type === 'time') config.getTime(name);
    else if (type === 'bool' || type === 'nbool') config.getBool(name);
    else config.getStr(name);
    return '-';
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    return e.message;
  }
}

test('every recorded Postfix fatal text comes out of the getters', () => {
  const lines = readFileSync(FIXTURE, 'utf8').split('\n').filter((l) => l !== '' && !l.startsWith('#'));
  assert.ok(lines.length > 40);
  for (const line of lines) {
    const [program, setting, expected] = line.split('\t') as [string, string, string];
    const m = program === 'postmap' ? /^([a-z0-9_]+) = (.*)$/.exec(setting) : /^-o ([a-z0-9_]+)=(.*)$/.exec(setting);
    assert.ok(m, line);
    assert.equal(outcome(m[1]!, m[2]!), expected, line);
  }
});

test('values that pass come back converted', () => {
  const c = Config.fromEntries('/x', [
    ['ipc_timeout', '2m'], ['maximal_queue_lifetime', '2'], ['delay_warning_time', '3'], ['hash_queue_depth', '+5'],
    ['message_size_limit', '9999999999'], ['soft_bounce', 'YES'], ['smtputf8_enable', 'No'], ['default_verp_delimiters', '+='],
  ]);
  assert.equal(c.getTime('ipc_timeout'), 120);
  assert.equal(c.getTime('maximal_queue_lifetime'), 2 * 86400, 'bare number in the default unit (days)');
  assert.equal(c.getTime('delay_warning_time'), 3 * 3600, 'bare number in hours');
  assert.equal(c.getTime('delay_warning_time', 's'), 3, 'explicit unit wins');
  assert.equal(c.getInt('hash_queue_depth'), 5);
  assert.equal(c.getLong('message_size_limit'), 9999999999);
  assert.equal(c.getBool('soft_bounce'), true);
  assert.equal(c.getBool('smtputf8_enable'), false);
  assert.equal(c.getStr('default_verp_delimiters'), '+=');
  // Built-in defaults pass their own bounds.
  const d = Config.fromEntries('/x', []);
  assert.equal(d.getTime('maximal_queue_lifetime'), 5 * 86400);
  assert.equal(d.getInt('smtpd_hard_error_limit'), 20);
  assert.equal(d.getLong('message_size_limit'), 10240000);
});

test('conversions: explicit bounds, C int range, units', () => {
  assert.deepEqual(convInt('x', '7', { min: 1, max: 5 }), { ok: false, error: 'invalid x parameter value 7 > 5' });
  assert.deepEqual(convInt('x', '0', { min: 0, max: 5 }), { ok: true, value: 0 });
  assert.deepEqual(convInt('x', '2147483648'), { ok: false, error: 'bad numerical configuration: x = 2147483648' });
  assert.deepEqual(convInt('x', '-2147483648'), { ok: true, value: -2147483648 });
  assert.deepEqual(convInt('x', ' 5'), { ok: true, value: 5 }, 'strtol skips leading blanks');
  assert.deepEqual(convInt('x', '5 '), { ok: false, error: 'bad numerical configuration: x = 5 ' });
  assert.deepEqual(convLong('x', '-9223372036854775808'), { ok: true, value: -9223372036854775808 });
  assert.deepEqual(convLong('x', '9223372036854775808'), { ok: false, error: 'bad numerical configuration: x = 9223372036854775808' });
  assert.deepEqual(convLong('x', '3', { min: 5, max: 0 }), { ok: false, error: 'invalid x parameter value 3 < 5' });
  assert.equal(convTimeValue('1w', 's'), 604800);
  assert.equal(convTimeValue('1d', 's'), 86400);
  assert.equal(convTimeValue('1h', 's'), 3600);
  assert.equal(convTimeValue('10', 'm'), 600);
  assert.equal(convTimeValue('10sec', 'h'), 10, 'text after the unit letter is ignored');
  assert.equal(convTimeValue('10 s', 's'), undefined);
  assert.equal(convTimeValue('m', 's'), 0, 'no digits: 0 in the given unit, as strtol leaves it');
  assert.equal(convTimeValue('3549w', 's'), 3549 * 604800);
  assert.equal(convTimeValue('3550w', 's'), undefined, 'not below INT_MAX / WEEK (3550)');
  assert.deepEqual(convTime('t', '5s', 's', { min: 10, max: 0 }), { ok: false, error: 'invalid t: 5 (min 10)' });
  assert.deepEqual(convTime('t', '1m', 's', { min: 0, max: 30 }), { ok: false, error: 'invalid t: 60 (max 30)' });
  assert.deepEqual(convBool('b', 'yes '), { ok: false, error: 'bad boolean configuration: b = yes ' });
  assert.deepEqual(checkStrLength('s', 'é', { min: 0, max: 1 }), { ok: false, error: 'bad string length 2 > 1: s = é' });
});

test('string bounds never apply to numbers and the reverse', () => {
  // smtpd_tls_loglevel is a string parameter read as a number; 2bounce_notice_recipient has min length 1.
  const c = Config.fromEntries('/x', [['smtpd_tls_loglevel', '0'], ['2bounce_notice_recipient', '']]);
  assert.equal(c.getInt('smtpd_tls_loglevel'), 0);
  assert.equal(c.get('2bounce_notice_recipient'), '', 'get() itself applies no bounds');
  assert.throws(() => c.getStr('2bounce_notice_recipient'), { message: 'bad string length 0 < 1: 2bounce_notice_recipient = ' });
});

test('per-transport parameters fall back to the global ones', () => {
  const c = Config.fromEntries('/x', [
    ['default_destination_concurrency_limit', '7'], ['relay_destination_concurrency_limit', '3'],
    ['default_destination_rate_delay', '2m'], ['slow_destination_rate_delay', '5'],
    ['bad_destination_concurrency_limit', 'many'], ['bad_initial_destination_concurrency', '0'],
    ['bad_delivery_slot_discount', '101'], ['bad_destination_rate_delay', '1x'],
    ['bad_destination_concurrency_positive_feedback', ''],
  ]);
  assert.equal(transportInt(c, 'smtp', '_destination_concurrency_limit'), 7);
  assert.equal(transportInt(c, 'relay', '_destination_concurrency_limit'), 3);
  assert.equal(transportInt(c, 'local', '_destination_concurrency_limit'), 2, "local's own built-in default");
  assert.equal(transportInt(c, 'local', '_destination_recipient_limit'), 1);
  assert.equal(transportInt(c, 'smtp', '_destination_recipient_limit'), 50);
  assert.equal(transportTime(c, 'smtp', '_destination_rate_delay'), 120);
  assert.equal(transportTime(c, 'slow', '_destination_rate_delay'), 5, 'a bare number is seconds');
  assert.equal(transportTime(c, 'pipe', '_time_limit'), 1000);
  assert.deepEqual(transportStr(c, 'smtp', '_destination_concurrency_negative_feedback'),
    { name: 'default_destination_concurrency_negative_feedback', value: '1' });
  assert.throws(() => transportInt(c, 'bad', '_destination_concurrency_limit'),
    { message: 'bad numerical configuration: bad_destination_concurrency_limit = many' });
  assert.throws(() => transportInt(c, 'bad', '_initial_destination_concurrency'),
    { message: 'invalid bad_initial_destination_concurrency parameter value 0 < 1' });
  assert.throws(() => transportInt(c, 'bad', '_delivery_slot_discount'),
    { message: 'invalid bad_delivery_slot_discount parameter value 101 > 100' });
  assert.throws(() => transportTime(c, 'bad', '_destination_rate_delay'),
    { message: 'parameter bad_destination_rate_delay: bad time value or unit: 1x' });
  assert.throws(() => transportStr(c, 'bad', '_destination_concurrency_positive_feedback'),
    { message: 'bad string length 0 < 1: bad_destination_concurrency_positive_feedback = ' });
  assert.throws(() => transportInt(c, 'smtp', '_destination_rate_delay'), /no per-transport int parameter/);
});

test('service-defined parameters come from the same table', () => {
  const names = serviceParams('relay', 'smtp').map((p) => `${p.name}=${p.defaultValue}`);
  assert.equal(names.length, 16);
  assert.equal(names[0], 'relay_recipient_limit=$default_recipient_limit');
  assert.ok(names.includes('relay_destination_concurrency_limit=$default_destination_concurrency_limit'));
  assert.deepEqual(serviceParams('x', 'spawn').map((p) => p.name), ['x_time_limit']);
});

test('service overrides: service_name, process_name, then -o in order', () => {
  const o = serviceOverrides('submission', 'smtpd', [['smtpd_tls_security_level', 'encrypt'], ['smtpd_tls_security_level', 'may']]);
  assert.deepEqual(o, [['service_name', 'submission'], ['process_name', 'smtpd'],
    ['smtpd_tls_security_level', 'encrypt'], ['smtpd_tls_security_level', 'may']]);
  const c = Config.fromEntries('/x', o);
  assert.equal(c.get('smtpd_tls_security_level'), 'may', 'the later -o wins');
});

test('loadServiceConfig: -o settings over main.cf, host-computed defaults from the result', () => {
  const dir = mkdtempSync(join(tmpdir(), 'svc-conf-'));
  try {
    writeFileSync(join(dir, 'main.cf'), 'myhostname = mx.example.com\nsmtpd_timeout = 30s\n');
    const c = loadServiceConfig(dir, 'submission', 'smtpd', [['myhostname', 'mail.example.org'], ['smtpd_timeout', '0']]);
    assert.equal(c.get('service_name'), 'submission');
    assert.equal(c.get('process_name'), 'smtpd');
    assert.equal(c.get('mydomain'), 'example.org', 'computed from the -o myhostname');
    assert.throws(() => c.getTime('smtpd_timeout'), { message: 'invalid smtpd_timeout: 0 (min 1)' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
