// Unit tests for the byte-string helpers behind smtpd's replies and parsing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { escapeBytes, offCvtString, printable } from '../../src/smtpd/text.js';
import { dsnSplit, dsnValid } from '../../src/mail/dsn.js';
import { isHeader } from '../../src/mail/header.js';
import { uxtextUnquote, xtextUnquote } from '../../src/mail/xtext.js';
import { ehloMask, strEhloMask, EHLO_MASK_DSN, EHLO_MASK_SMTPUTF8 } from '../../src/smtpd/ehlo.js';
import { normalizeMailhostAddr } from '../../src/smtpd/hostname.js';
import { unescape } from '../../src/smtpd/context.js';
import { mailDate } from '../../src/mail/mail-date.js';

test('dsn_valid and dsn_split', () => {
  assert.equal(dsnValid('5.7.1 text'), 5);
  assert.equal(dsnValid('4.123.456'), 9);
  assert.equal(dsnValid('5.7.1x'), 0);
  assert.equal(dsnValid('3.7.1'), 0);
  assert.equal(dsnValid('5.1234.1'), 0);
  assert.deepEqual(dsnSplit('5.7.1', '  4.2.0   hello'), { dsn: '4.2.0', text: 'hello' });
  assert.deepEqual(dsnSplit('5.7.1', 'no code'), { dsn: '5.7.1', text: 'no code' });
  assert.deepEqual(dsnSplit('5.7.1', ''), { dsn: '5.7.1', text: '' });
});

test('xtext and uxtext', () => {
  assert.equal(xtextUnquote('abc+2Bdef'), 'abc+def');
  assert.equal(xtextUnquote('a+zz'), null);
  assert.equal(uxtextUnquote('\\x{41}b'), 'Ab');
  assert.equal(uxtextUnquote('\\x{e9}'), '\xc3\xa9');
  assert.equal(uxtextUnquote('\\x{zz}'), null);
});

test('is_header, escape, printable, off_cvt', () => {
  assert.ok(isHeader('Subject:'));
  assert.ok(isHeader('From :x'));
  assert.ok(!isHeader('MAIL'));
  assert.ok(!isHeader(':x'));
  assert.equal(escapeBytes('a\r\n\\\x01'), 'a\\r\\n\\\\\\001');
  assert.equal(printable('a\x01b\xc3\xa9', '?', true), 'a?b\xc3\xa9');
  assert.equal(printable('a\xc3\xa9', '?', false), 'a??');
  assert.equal(offCvtString('123'), 123);
  assert.equal(offCvtString('99999999999999999999'), -1);
});

test('ehlo_mask', () => {
  assert.equal(ehloMask('dsn, smtputf8 nosuch'), EHLO_MASK_DSN | EHLO_MASK_SMTPUTF8);
  assert.equal(strEhloMask(EHLO_MASK_DSN | EHLO_MASK_SMTPUTF8), 'DSN SMTPUTF8');
});

test('normalize_mailhost_addr', () => {
  assert.deepEqual(normalizeMailhostAddr('1.2.3.4'), { rfcAddr: '1.2.3.4', addr: '1.2.3.4', family: 2 });
  assert.deepEqual(normalizeMailhostAddr('IPv6:2001:DB8::1'), { rfcAddr: 'IPv6:2001:db8::1', addr: '2001:db8::1', family: 10 });
  assert.deepEqual(normalizeMailhostAddr('IPv6:::ffff:1.2.3.4'), { rfcAddr: '1.2.3.4', addr: '1.2.3.4', family: 2 });
  assert.equal(normalizeMailhostAddr('IPv6:::1', { v4: true, v6: false }), null);
  assert.equal(normalizeMailhostAddr('999.1.1.1'), null);
});

test('unescape and mail_date', () => {
  assert.equal(unescape('\\t\\40x\\\\'), '\t x\\');
  process.env.TZ = 'UTC';
  assert.equal(mailDate(Date.UTC(2026, 10, 1, 3, 4, 5) / 1000), 'Sun,  1 Nov 2026 03:04:05 +0000 (UTC)');
});
