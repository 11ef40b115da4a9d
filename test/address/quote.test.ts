// Replays Postfix 3.7.11's quote_822_local test data through
// src/address/quote.ts, with a driver that reads commands and prints as the
// C test program (global/quote_822_local.c, TEST) does.
import test from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  quote822Local, quote822LocalFlags, quoteFlagsFromString, quoteFlagsToString, unquote822Local,
  QUOTE_FLAG_EXPOSE_AT, QUOTE_FLAG_8BITCLEAN,
} from '../../src/address/quote.js';

const fixtures = fileURLToPath(new URL('../../../fixtures/address/', import.meta.url));
const CHARS_SPACE = ' \t\r\n';

/** mystrtok: the next token and the text after its terminating delimiter. */
function mystrtok(text: string): { token: string; rest: string } | null {
  let i = 0;
  while (i < text.length && CHARS_SPACE.includes(text[i]!)) i++;
  if (i >= text.length) return null;
  let j = i;
  while (j < text.length && !CHARS_SPACE.includes(text[j]!)) j++;
  return { token: text.slice(i, j), rest: text.slice(j < text.length ? j + 1 : j) };
}

const skipSpace = (s: string) => s.slice(s.length - s.replace(/^[ \t\n\r\v\f]+/, '').length);

function physicalLines(input: string): string[] {
  const lines = input.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}

function drive(input: string): string {
  let out = '';
  const warn = (text: string) => {
    out += `unknown: warning: ${text}\n`;
  };
  for (const line of physicalLines(input)) {
    const cmd = mystrtok(line);
    if (!cmd) continue;
    let bp = skipSpace(cmd.rest);
    if (bp === '') {
      warn('missing argument');
      continue;
    }
    if (bp === '<>') bp = '';
    if (cmd.token === 'quote') {
      out += `'${bp}' quoted '${quote822Local(bp)}'\n`;
    } else if (cmd.token === 'quote_with_flags') {
      const f = mystrtok(bp);
      if (!f) {
        warn('missing flags');
        continue;
      }
      bp = skipSpace(f.rest);
      const flags = quoteFlagsFromString(f.token, warn);
      const quoted = quote822LocalFlags(bp, flags);
      out += `'${bp}' quoted flags=${quoteFlagsToString(flags, warn)} '${quoted}'\n`;
    } else if (cmd.token === 'unquote') {
      out += `'${bp}' unquoted '${unquote822Local(bp)}'\n`;
    } else {
      warn(`unknown command: ${cmd.token}`);
    }
  }
  return out;
}

for (const name of ['quote_822_local', 'quote_822_local_extra']) {
  test(`${name}.in gives ${name}.ref`, () => {
    const input = readFileSync(fixtures + `${name}.in`, 'latin1');
    const expected = readFileSync(fixtures + `${name}.ref`, 'latin1');
    assert.equal(drive(input), expected);
  });
}

test('dot-strings stay bare; anything else is quoted', () => {
  assert.equal(quote822Local('foo.bar@example.com'), 'foo.bar@example.com');
  assert.equal(quote822Local('foo..bar@x'), '"foo..bar"@x');
  assert.equal(quote822Local('.foo@x'), '".foo"@x');
  assert.equal(quote822Local('foo.@x'), '"foo."@x');
  assert.equal(quote822Local('a"b\\c\rd@x'), '"a\\"b\\\\c\\\rd"@x');
  assert.equal(quote822Local('@r1,@r2:foo bar@x'), '@r1,@r2:"foo bar"@x');
  assert.equal(quote822Local('f\u00e9e@x'), 'f\u00e9e@x');
  assert.equal(quote822LocalFlags('f\u00e9e@x', 0), '"f\\\u00e9e"@x');
  assert.equal(quote822LocalFlags('a@b@c', QUOTE_FLAG_8BITCLEAN | QUOTE_FLAG_EXPOSE_AT), 'a@b@c');
});

test('unquote keeps a route and the text after the last bare @', () => {
  assert.equal(unquote822Local('@r:"a b"@x'), '@r:a b@x');
  assert.equal(unquote822Local('a\\@b@"c"'), 'a@b@"c"');
  assert.equal(unquote822Local('ab\\'), 'ab');
});

test('quote flags: names in any case, unknown names warned about', () => {
  const warnings: string[] = [];
  assert.equal(quoteFlagsFromString('8BITCLEAN|bogus', (w) => warnings.push(w)), QUOTE_FLAG_8BITCLEAN);
  assert.deepEqual(warnings, ['unknown quote_flags_from_string value "bogus" in "8BITCLEAN|bogus"']);
  assert.equal(quoteFlagsToString(0, (w) => warnings.push(w)), '');
});
