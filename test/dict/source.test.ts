// postmap's source reader (readlline.c rules) and key/value split, and the
// UTF-8 helpers: continuation lines, comments inside a logical line, the
// whitespace-led line warning, quotes and backslashes in keys; byte/text
// round trips that keep non-UTF-8 bytes, casefolding, printable().
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LogicalLineReader, parseKeyValue } from '../../src/dict/source.js';
import { bytesToText, casefold, printable, textToBytes } from '../../src/dict/utf8.js';

function lines(text: string): { lines: Array<[number, string]>; warnings: string[] } {
  const warnings: string[] = [];
  const r = new LogicalLineReader(Buffer.from(text, 'latin1'), 'src', (w) => warnings.push(w));
  const out: Array<[number, string]> = [];
  for (let l = r.next(); l; l = r.next()) out.push([l.lineno, l.buf.toString('latin1', l.start, l.end)]);
  return { lines: out, warnings };
}

test('logical lines: continuations join without the newline, comments and blanks vanish', () => {
  assert.deepEqual(lines('# c\nkey1 v1\n  more\n\n# inside\n\tend\nkey2 v2'), {
    lines: [[2, 'key1 v1  more\tend'], [7, 'key2 v2']],
    warnings: [],
  });
});

test('a logical line that starts with white space is skipped with a warning', () => {
  assert.deepEqual(lines('  leading text that is rather long indeed\nk v\n'), {
    lines: [[2, 'k v']],
    warnings: ['src: logical line must not start with whitespace: "  leading text that is rather ..."'],
  });
});

test('key whitespace value: quotes and backslashes guard white space in the key', () => {
  const split = (s: string) => {
    const b = Buffer.from(s);
    const p = parseKeyValue(b, 0, b.length);
    return p.ok ? [b.toString('latin1', p.keyStart, p.keyEnd), b.toString('latin1', p.valStart, p.valEnd), p.aliasLike] : p.why;
  };
  assert.deepEqual(split('key   value with  spaces  '), ['key', 'value with  spaces', false]);
  assert.deepEqual(split('"a b" c'), ['"a b"', 'c', false]);
  assert.deepEqual(split('a\\ b c'), ['a\\ b', 'c', false]);
  assert.deepEqual(split('name: x'), ['name:', 'x', true]);
  assert.equal(split('"open x'), 'unbalanced');
  assert.equal(split('lonely'), 'format');
  assert.equal(split('trailing\\'), 'format');
});

test('bytes survive text conversion, valid UTF-8 or not', () => {
  for (const hex of ['616263', 'c3a4', 'ff00fe', 'e282', 'f09f9880']) {
    const b = Buffer.from(hex, 'hex');
    assert.deepEqual(textToBytes(bytesToText(b)), b, hex);
  }
  assert.equal(bytesToText(Buffer.from('c3a4', 'hex')), 'ä');
});

test('casefold follows Unicode full folding', () => {
  assert.equal(casefold('ÄBC'), 'äbc');
  assert.equal(casefold('Straße'), 'strasse');
  assert.equal(casefold('İx'), 'i̇x');
  assert.equal(casefold('ΣΑΣ'), 'σασ');
  assert.equal(casefold('MiXeD@Example.COM'), 'mixed@example.com');
});

test('printable: control characters and, without SMTPUTF8, non-ASCII become ?', () => {
  assert.equal(printable('a\tb\u00e4'), 'a?b?');
  assert.equal(printable('a\tb\u00e4', '?', true), 'a?b\u00e4');
  assert.equal(printable(bytesToText(Buffer.from('41ff', 'hex')), '?', true), 'A?');
});
