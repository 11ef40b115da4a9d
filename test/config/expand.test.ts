// Replays Postfix's own mac_expand and compat_level test data (inputs and
// expected outputs from the 3.7.11 source tree) through src/config/expand.ts,
// with a driver that reads and prints exactly as Postfix's test mains do.
import test from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { macExpand, SUFFIX_RELOPS, type Relop } from '../../src/config/expand.js';

const fixtures = fileURLToPath(new URL('../../../fixtures/mac_expand/', import.meta.url));

const lengthRelop: Relop = (l, op, r) => {
  const d = l.length - r.length;
  return { '==': d === 0, '!=': d !== 0, '<': d < 0, '<=': d <= 0, '>=': d >= 0, '>': d > 0 }[op];
};

/** The test main of mac_expand.c / compat_level.c: definition blocks, then expression blocks. */
function drive(input: string, relops: Record<string, Relop>): string {
  const lines = input.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  const out: string[] = [];
  let i = 0;
  while (i < lines.length) {
    const table = new Map<string, string | undefined>();
    while (i < lines.length) {
      const line = lines[i++]!;
      out.push(`<< ${line}\n`);
      if (line.length === 0) break;
      const words = line.split(/[ \t\r\n=]+/).filter((w) => w.length > 0);
      table.set(words[0]!, words[1]);
    }
    while (i < lines.length) {
      const line = lines[i++]!;
      out.push(`<< ${line}\n`);
      if (line.length === 0) break;
      const r = macExpand(line, (name) => table.get(name), 0, (w) => out.push(`unknown: warning: ${w}\n`), relops);
      out.push(`stat=${r.status} result=${r.result}\n`);
    }
    if (i < lines.length) out.push('\n');
  }
  return out.join('');
}

test('mac_expand.in gives mac_expand.ref', () => {
  const input = readFileSync(fixtures + 'mac_expand.in', 'utf8');
  const expected = readFileSync(fixtures + 'mac_expand.ref', 'utf8');
  assert.equal(drive(input, { length: lengthRelop }), expected);
});

test('compat_level_expand.in gives compat_level_expand.ref', () => {
  const input = readFileSync(fixtures + 'compat_level_expand.in', 'utf8');
  const expected = readFileSync(fixtures + 'compat_level_expand.ref', 'utf8');
  assert.equal(drive(input, SUFFIX_RELOPS), expected);
});
