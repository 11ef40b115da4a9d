// xtext and uxtext (src/mail/xtext.ts): exact encodings, round trips, and
// the inputs Postfix's xtext.c and uxtext.c refuse.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { uxtextQuote, uxtextUnquote, xtextQuote, xtextUnquote } from '../../src/mail/xtext.js';

test('xtext_quote', () => {
  assert.equal(xtextQuote('a+b=c d'), 'a+2Bb=c+20d');
  assert.equal(xtextQuote('a+b=c d', '='), 'a+2Bb+3Dc+20d');
  assert.equal(xtextQuote('\x01\x7f\xff~!'), '+01+7F+FF~!');
  assert.equal(xtextQuote('ab\0cd'), 'ab', 'C strings end at NUL');
  assert.equal(xtextQuote(''), '');
});

test('xtext_unquote', () => {
  assert.equal(xtextUnquote('a+2Bb+3dc+20d'), 'a+b=c d', 'either hex case');
  assert.equal(xtextUnquote('plain'), 'plain');
  assert.equal(xtextUnquote('+FF'), '\xff');
  assert.equal(xtextUnquote('x+00y'), 'x', 'a decoded NUL ends the value');
  assert.equal(xtextUnquote('++1'), null);
  assert.equal(xtextUnquote('+2+'), null);
  assert.equal(xtextUnquote('+2'), null);
  assert.equal(xtextUnquote('+'), null);
  assert.equal(xtextUnquote('+G0'), null);
});

test('xtext round trips every byte', () => {
  let all = '';
  for (let c = 1; c < 256; c++) all += String.fromCharCode(c);
  assert.equal(xtextUnquote(xtextQuote(all)), all);
  assert.equal(xtextUnquote(xtextQuote(all, '=:')), all);
});

test('uxtext', () => {
  // "café ☃ 😀" as UTF-8 bytes.
  const bytes = Buffer.from('caf\u00e9 \u2603+\\\u{1f600}', 'utf8').toString('latin1');
  const quoted = uxtextQuote(bytes);
  assert.equal(quoted, 'caf\\x{E9}\\x{20}\\x{2603}+\\x{5C}\\x{1F600}');
  assert.equal(uxtextUnquote(quoted!), bytes);
  assert.equal(uxtextQuote('a\x01'), 'a\\x{01}');
  assert.equal(uxtextQuote('\xc3'), null, 'lead byte without its tail');
  assert.equal(uxtextQuote('\xff'), null);
  assert.equal(uxtextUnquote('\\x{110000}'), null, 'past U+10FFFF');
  assert.equal(uxtextUnquote('\\x{41'), null);
  assert.equal(uxtextUnquote('\\x{4G}'), null);
  assert.equal(uxtextUnquote('\\x41'), '\\x41', 'without braces it is plain text');
  assert.equal(uxtextUnquote('a\\x{0}b'), 'a');
});
