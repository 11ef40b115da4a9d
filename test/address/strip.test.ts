// Replays the built-in cases of Postfix 3.7.11's strip_addr test program
// (transcribed in fixtures/address/strip_addr.in) through
// src/address/strip.ts, printing its msg_info lines as strip_addr.ref has
// them. Also covers split_addr's never-split rules (src/address/split.ts).
import test from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { stripAddr } from '../../src/address/strip.js';
import { splitAddr, splitExternal, splitInternal } from '../../src/address/split.js';

const fixtures = fileURLToPath(new URL('../../../fixtures/address/', import.meta.url));

function drive(input: string): string {
  let out = '';
  let n = 0;
  for (const line of input.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    n++;
    const [full, delims, mode, wantStripped, wantExt] = line.split('|') as [string, string, string, string, string?];
    // The test main leaves owner_request_special at its C default of 0.
    const r = stripAddr(full, delims, { ownerRequestSpecial: false });
    if (wantStripped === '(null)') {
      if (r !== null) out += `unknown: panic: strip_addr botch (case ${n})\n`;
      continue;
    }
    if (r === null) {
      out += `unknown: panic: strip_addr botch (case ${n})\n`;
      continue;
    }
    if (mode === 'ext') {
      out += `unknown: wanted:    ${full} -> ${wantStripped} ${wantExt}\n`;
      out += `unknown: strip_addr ${full} -> ${r.stripped} ${r.extension}\n`;
    } else {
      out += `unknown: wanted:    ${full} -> ${wantStripped}\n`;
      out += `unknown: strip_addr ${full} -> ${r.stripped}\n`;
    }
  }
  return out;
}

test('strip_addr.in gives strip_addr.ref', () => {
  const input = readFileSync(fixtures + 'strip_addr.in', 'latin1');
  const expected = readFileSync(fixtures + 'strip_addr.ref', 'latin1');
  assert.equal(drive(input), expected);
});

test('split_addr leaves special localparts whole', () => {
  for (const lp of ['postmaster', 'PostMaster', 'mailer-daemon', 'double-bounce', 'owner-list', 'list-request']) {
    assert.equal(splitAddr(lp, '+-'), null, lp);
  }
  assert.deepEqual(splitAddr('owner-list', '+-', { ownerRequestSpecial: false }),
    { localpart: 'owner', extension: 'list', delimiter: '-' });
  assert.deepEqual(splitAddr('owner+x', '+'), { localpart: 'owner', extension: 'x', delimiter: '+' });
  assert.deepEqual(splitAddr('-request', '-'), null);
  assert.deepEqual(splitAddr('x-request', '+'), null);
  assert.equal(splitAddr('+foo', '+'), null);
  // Only an empty localpart prevents a split; an empty extension does not.
  assert.deepEqual(splitAddr('foo+', '+'), { localpart: 'foo', extension: '', delimiter: '+' });
  assert.deepEqual(splitAddr('bb+x', '+', { doubleBounceSender: 'bb+x' }), null);
});

test('strip_addr uses the first delimiter and keeps the domain', () => {
  assert.deepEqual(stripAddr('a+b-c@d+e', '-+'), { stripped: 'a@d+e', extension: '+b-c' });
  assert.equal(stripAddr('a@d+e', '+'), null);
  assert.equal(stripAddr('owner-x@d', '-'), null);
  assert.deepEqual(stripAddr('postmaster+x@d', '+'), { stripped: 'postmaster@d', extension: '+x' });
});

test('localpart and domain, internal and external', () => {
  assert.deepEqual(splitInternal('a@b@c'), { localpart: 'a@b', domain: 'c' });
  assert.deepEqual(splitInternal('abc'), { localpart: 'abc', domain: null });
  assert.deepEqual(splitExternal('"a@b"@c'), { localpart: '"a@b"', domain: 'c' });
  assert.deepEqual(splitExternal('"a@b"'), { localpart: '"a@b"', domain: null });
  assert.deepEqual(splitExternal('a\\@b'), { localpart: 'a\\@b', domain: null });
  assert.deepEqual(splitExternal('@r:x@y'), { localpart: '@r:x', domain: 'y' });
});
