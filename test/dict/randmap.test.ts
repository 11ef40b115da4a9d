// randmap: answers with one of its values; the syntax errors read as
// Postfix 3.7.11's `postmap -q k randmap:...` printed them.
import test from 'node:test';
import assert from 'node:assert/strict';
import { open } from '../../src/dict/randmap.js';
import { isSurrogate, O_RDONLY, O_RDWR } from '../../src/dict/dict.js';

test('every answer is one of the values, and each value turns up', async () => {
  const d = await open('{a, b,c}', O_RDONLY, 0);
  const seen = new Set<string>();
  for (let i = 0; i < 200; i++) {
    const r = await d.lookup('anything');
    assert.equal(r.status, 'found');
    if (r.status === 'found') seen.add(r.value);
  }
  assert.deepEqual([...seen].sort(), ['a', 'b', 'c']);
});

for (const name of ['a', '{}', '{a', '{a}x', '{ , }']) {
  test(`randmap:${name} is refused with Postfix's text`, async () => {
    const d = await open(name, O_RDONLY, 0);
    assert.ok(isSurrogate(d));
    assert.equal(d.openError, `bad syntax: "randmap:${name}"; need "randmap:{value...}"`);
  });
}

test('randmap is read-only', async () => {
  const d = await open('{a}', O_RDWR, 0);
  assert.ok(isSurrogate(d));
  assert.equal(d.openError, 'randmap:{a} map requires O_RDONLY access mode');
});
