// Queue IDs as Postfix makes and reads them: the short and long examples of
// REFERENCE.md §2 (checked against real files), the safe alphabet of
// global/safe_ultostr.c (its .ref values), and mail_queue_id_ok.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  fileId, longIdSeparator, longQueueId, mailQueueIdOk, mailQueueNameOk, parseQueueId, queueIdHashKey, safeStrtoul, safeUltostr,
  shortQueueId,
} from '../../src/queue/queue-id.js';

test('short IDs: %05X microseconds, then the inode in hex', () => {
  assert.equal(shortQueueId(0x14231, 0x20e980), '1423120E980');
  assert.equal(shortQueueId(0, 1), '000001');
  assert.equal(shortQueueId(999999, 0xabcdefn), 'F423FABCDEF');
  assert.deepEqual(parseQueueId('1423120E980'), { long: false, inode: 0x20e980n, usec: 0x14231 });
  assert.deepEqual(parseQueueId('865E820E9C9'), { long: false, inode: 0x20e9c9n, usec: 0x865e8 });
});

test('long IDs: base-52 seconds and microseconds, z, base-51 inode', () => {
  assert.equal(longQueueId(1795304015, 934330, 2157023), '4jX7nC6dWtzJFHY');
  assert.deepEqual(parseQueueId('4jX7nC6dWtzJFHY'), { long: true, inode: 2157023n, usec: 934330, sec: 1795304015n });
  assert.equal(safeUltostr(934330, 52, 4), '6dWt');
  assert.equal(fileId(2157023, true), 'JFHY');
  assert.equal(fileId(0x20e980, false), '20E980');
  // Microseconds below 52^3 are padded to four characters, seconds to six.
  assert.equal(longQueueId(1, 5, 1), '000001000' + '5z1');
  for (const [sec, usec, ino] of [[1795304015, 0, 1], [1795304015, 999999, 2n ** 40n], [2 ** 33, 123456, 51]] as const) {
    const id = longQueueId(sec, usec, ino);
    assert.ok(!id.slice(id.lastIndexOf('z') + 1).includes('z'));
    assert.deepEqual(parseQueueId(id), { long: true, inode: BigInt(ino), usec, sec: BigInt(sec) });
  }
});

test('the long-ID separator is the last z at position 10 or later', () => {
  assert.equal(longIdSeparator('4jX7nC6dWtzJFHY'), 10);
  assert.equal(longIdSeparator('zzzzzzzzz'), -1);
  assert.equal(longIdSeparator('1423120E980'), -1);
});

test('safe_ultostr matches Postfix test data (safe_ultostr.ref)', () => {
  assert.equal(safeUltostr(4294967295, 2, 5), '11111111111111111111111111111111');
  assert.equal(safeUltostr(4294967295, 10, 5), '4294967295');
  assert.equal(safeUltostr(4294967295, 16, 5), 'HHHHHHHH');
  assert.equal(safeUltostr(4294967295, 52, 5), 'CHPgSv');
  assert.equal(safeUltostr(0, 52, 5), '00000');
  assert.deepEqual(safeStrtoul('CHPgSv', 52), { value: 4294967295n, end: 6, range: false });
  assert.deepEqual(safeStrtoul('  ', 10), { value: 0n, end: 0, range: false });
  assert.equal(safeStrtoul('z'.repeat(20), 52).range, true);
});

test('hash keys: the short ID itself, or the long ID microseconds in %05X', () => {
  assert.equal(queueIdHashKey('1423120E980'), '1423120E980');
  assert.equal(queueIdHashKey('4jX7nC6dWtzJFHY'), 'E41BA');
  assert.equal(queueIdHashKey('4jX7nC6d!!zJFHY'), '00000');
});

test('mail_queue_id_ok and mail_queue_name_ok', () => {
  assert.ok(mailQueueIdOk('1423120E980'));
  assert.ok(mailQueueIdOk('example_com'));
  assert.ok(mailQueueIdOk('x'.repeat(255)));
  assert.ok(!mailQueueIdOk('x'.repeat(256)));
  assert.ok(!mailQueueIdOk(''));
  assert.ok(!mailQueueIdOk('a.b'));
  assert.ok(!mailQueueIdOk('../x'));
  assert.ok(mailQueueNameOk('deferred'));
  assert.ok(!mailQueueNameOk('de_ferred'));
  assert.ok(!mailQueueNameOk('x'.repeat(101)));
});
