// DSN masks and status codes (src/mail/dsn.ts) against Postfix's dsn_mask.c
// and dsn_util.c behaviour; the NOTIFY warning text is what smtpd 3.7.11
// logged for "RCPT TO:<c@d> NOTIFY=bogus" (fixtures/config/README.md).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DSN_NOTIFY_DELAY, DSN_NOTIFY_FAILURE, DSN_NOTIFY_NEVER, DSN_NOTIFY_SUCCESS, DSN_RET_FULL, DSN_RET_HDRS,
  dsnNotifyMask, dsnNotifyOk, dsnNotifyStr, dsnPrepend, dsnRetCode, dsnRetOk, dsnRetStr, dsnSplit, dsnValid,
} from '../../src/mail/dsn.js';

test('NOTIFY lists to masks', () => {
  assert.equal(dsnNotifyMask('NEVER'), DSN_NOTIFY_NEVER);
  assert.equal(dsnNotifyMask('success,Failure'), DSN_NOTIFY_SUCCESS | DSN_NOTIFY_FAILURE);
  assert.equal(dsnNotifyMask('SUCCESS,,DELAY'), DSN_NOTIFY_SUCCESS | DSN_NOTIFY_DELAY, 'empty words are skipped');
  assert.equal(dsnNotifyMask('DELAY FAILURE'), DSN_NOTIFY_DELAY | DSN_NOTIFY_FAILURE, 'blanks separate too');
  assert.equal(dsnNotifyMask('NEVER,SUCCESS'), 0, 'NEVER does not combine');
  assert.equal(dsnNotifyMask(''), 0);
  assert.equal(dsnNotifyMask('\u017fUCCESS'), 0, 'only ASCII letters fold');
  const warnings: string[] = [];
  assert.equal(dsnNotifyMask('bogus', (w) => warnings.push(w)), 0);
  assert.equal(dsnNotifyMask('success,,delay,foo', (w) => warnings.push(w)), 0);
  assert.deepEqual(warnings, [
    'unknown DSN NOTIFY command value "bogus" in "bogus"',
    'unknown DSN NOTIFY command value "foo" in "success,,delay,foo"',
  ]);
  assert.equal(dsnNotifyStr(DSN_NOTIFY_SUCCESS | DSN_NOTIFY_DELAY), 'SUCCESS,DELAY');
  assert.equal(dsnNotifyStr(DSN_NOTIFY_NEVER), 'NEVER');
  assert.equal(dsnNotifyOk(0), true);
  assert.equal(dsnNotifyOk(DSN_NOTIFY_NEVER | DSN_NOTIFY_DELAY), false);
  assert.equal(dsnNotifyOk(16), false);
});

test('RET keywords', () => {
  assert.equal(dsnRetCode('FULL'), DSN_RET_FULL);
  assert.equal(dsnRetCode('hdrs'), DSN_RET_HDRS);
  assert.equal(dsnRetCode('FULLY'), 0);
  assert.equal(dsnRetCode(''), 0);
  assert.equal(dsnRetStr(DSN_RET_HDRS), 'HDRS');
  assert.equal(dsnRetOk(DSN_RET_FULL | DSN_RET_HDRS), false);
  assert.equal(dsnRetOk(DSN_RET_FULL), true);
});

test('dsn_valid', () => {
  assert.equal(dsnValid('5.7.1 text'), 5);
  assert.equal(dsnValid('4.123.456'), 9);
  assert.equal(dsnValid('2.0.0\tok'), 5);
  assert.equal(dsnValid('5.7.1\0junk'), 5, 'a C string ends at NUL');
  assert.equal(dsnValid('5.7.1x'), 0);
  assert.equal(dsnValid('3.7.1'), 0);
  assert.equal(dsnValid('5.1234.1'), 0);
  assert.equal(dsnValid('5..1'), 0);
  assert.equal(dsnValid('5.1.'), 0);
  assert.equal(dsnValid(''), 0);
});

test('dsn_split and dsn_prepend', () => {
  assert.deepEqual(dsnSplit('4.7.1', '  5.1.1   User unknown'), { dsn: '5.1.1', text: 'User unknown' });
  assert.deepEqual(dsnSplit('4.7.1', 'Try again'), { dsn: '4.7.1', text: 'Try again' });
  assert.deepEqual(dsnSplit('4.7.1 extra', 'x'), { dsn: '4.7.1', text: 'x' }, 'only the default\'s code is kept');
  assert.deepEqual(dsnSplit('4.7.1', '5.1.1'), { dsn: '5.1.1', text: '' });
  assert.equal(dsnPrepend('5.7.1', 'go away'), '5.7.1 go away');
  assert.equal(dsnPrepend('5.7.1', '4.2.0   later'), '4.2.0 later');
  assert.equal(dsnPrepend('5.7.1', '4.2.0x later'), '5.7.1 4.2.0x later');
});
