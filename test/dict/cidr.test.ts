// cidr: tables and the glibc-compatible address parser behind them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setProgName } from '../../src/util/msg.js';
import { O_RDONLY } from '../../src/dict/dict.js';
import { open } from '../../src/dict/cidr.js';
import { formatAddress, parseIPv4, parseIPv6 } from '../../src/dict/ipaddr.js';
import { captured, tableFile } from './testutil.js';

setProgName('postmap');

test('ipaddr: inet_pton acceptance as glibc has it', () => {
  assert.deepEqual(parseIPv4('1.2.3.4'), Uint8Array.from([1, 2, 3, 4]));
  for (const bad of ['01.2.3.4', '1.2.3', '1.2.3.4.5', '256.1.1.1', '1..2.3', ' 1.2.3.4']) assert.equal(parseIPv4(bad), null, bad);
  assert.ok(parseIPv6('::'));
  assert.ok(parseIPv6('::ffff:1.2.3.4'));
  for (const bad of [':1::', '1::2::3', '1:2:3:4:5:6:7::8', '12345::', '1:2:3:4:5:6:7', '1:2:3:4:5:6:7:8:']) assert.equal(parseIPv6(bad), null, bad);
});

test('ipaddr: inet_ntop formatting', () => {
  assert.equal(formatAddress(parseIPv6('2001:db8:0:0:1:0:0:1')!), '2001:db8::1:0:0:1');
  assert.equal(formatAddress(parseIPv6('::ffff:1.2.3.4')!), '::ffff:1.2.3.4');
  assert.equal(formatAddress(parseIPv6('::1.2.3.4')!), '::1.2.3.4');
  assert.equal(formatAddress(parseIPv6('1:0:2::')!), '1:0:2::');
  assert.equal(formatAddress(parseIPv6('0:1:0:1:0:1:0:1')!), '0:1:0:1:0:1:0:1');
});

test('cidr: first match wins, negation does not cross address families', async () => {
  const path = tableFile('!10.0.0.0/8\tnot-ten\n::/0\tany-v6\n10.1.0.0/16\tten-one\n');
  const { value: dict, stderr } = await captured(() => open(path, O_RDONLY, 0));
  assert.equal(stderr, '');
  assert.deepEqual(await dict.lookup('192.0.2.1'), { status: 'found', value: 'not-ten' });
  assert.deepEqual(await dict.lookup('10.1.2.3'), { status: 'found', value: 'ten-one' });
  assert.deepEqual(await dict.lookup('2001:db8::1'), { status: 'found', value: 'any-v6' });
  assert.deepEqual(await dict.lookup('not-an-address'), { status: 'notfound' });
});

test('cidr: host bits warning names the network to use', async () => {
  const path = tableFile('2001:db8::1/32\tx\n');
  const { stderr } = await captured(() => open(path, O_RDONLY, 0));
  assert.equal(stderr, `postmap: warning: cidr map ${path}, line 1: non-null host address bits in "2001:db8::1/32", perhaps you should use "2001:db8::/32" instead: skipping this rule\n`);
});
