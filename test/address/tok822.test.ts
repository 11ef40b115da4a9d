// Replays Postfix 3.7.11's tok822_parse test data (global/tok822_parse.in and
// tok822_limit.in) through src/address/tok822.ts and tok822-format.ts. The
// driver prints what the C test program prints: the input, the parse tree,
// the internal form and both external forms, with warnings (stderr, merged
// by the Makefile recipe) where the C program's unbuffered stderr puts them.
import test from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { logicalLines } from '../../src/config/maincf.js';
import { printable } from '../../src/util/printable.js';
import { tok822Parse, tok822ScanAddr, TOK822_ADDR, TOK822_QSTRING } from '../../src/address/tok822.js';
import {
  tok822Dump, tok822Externalize, tok822Internalize, TOK822_STR_DEFL, TOK822_STR_LINE, TOK822_STR_TRNC,
} from '../../src/address/tok822-format.js';

const fixtures = fileURLToPath(new URL('../../../fixtures/address/', import.meta.url));

/** The test main of tok822_parse.c, reading logical lines with readlline() and a 20-token limit. */
function drive(input: string): string {
  let out = '';
  const warn = (text: string) => {
    // msg(3) applies printable() to the whole line, as every logger here does.
    out += `unknown: warning: ${printable(text)}\n`;
  };
  for (const { text } of logicalLines(input, 'stdin', warn)) {
    out += `>>>${text}<<<\n\n`;
    const tree = tok822Parse(text, 20);
    out += `Parse tree:\n${tok822Dump(tree)}\n`;
    out += `Internalized:\n${tok822Internalize(tree, TOK822_STR_DEFL)}\n\n`;
    const flat = tok822Externalize(tree, TOK822_STR_DEFL | TOK822_STR_TRNC, warn);
    out += `Externalized, no newlines inserted:\n${flat}\n\n`;
    const lines = tok822Externalize(tree, TOK822_STR_DEFL | TOK822_STR_LINE | TOK822_STR_TRNC, warn);
    out += `Externalized, newlines inserted:\n${lines}\n\n`;
  }
  return out;
}

for (const name of ['tok822_parse', 'tok822_limit', 'tok822_extra']) {
  test(`${name}.in gives ${name}.ref`, () => {
    const input = readFileSync(fixtures + `${name}.in`, 'latin1');
    const expected = readFileSync(fixtures + `${name}.ref`, 'latin1');
    assert.equal(drive(input), expected);
  });
}

test('empty input parses to nothing', () => {
  assert.equal(tok822Parse('  \t'), null);
  assert.equal(tok822Internalize(null), '');
});

test('missing commas are added between addresses', () => {
  const tree = tok822Parse('a@b c@d');
  assert.equal(tok822Internalize(tree), 'a@b, c@d');
});

test('scan_addr keeps a flat list and quotes escaped specials', () => {
  const tree = tok822ScanAddr('foo\\@bar@example');
  assert.equal(tree.type, TOK822_ADDR);
  assert.equal(tree.head?.type, TOK822_QSTRING);
  assert.equal(tok822Externalize(tree.head), '"foo@bar"@example');
});

test('text ends at NUL as in C', () => {
  assert.equal(tok822Internalize(tok822Parse('a@b\0c@d')), 'a@b');
});
