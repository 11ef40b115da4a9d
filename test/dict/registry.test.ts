// The table registry: type names as postconf -m prints them, "type:name"
// parsing with Postfix's errors, brace-aware map lists, lazy opening, and
// the surrogate table (or handler) for types that do not exist.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { O_RDONLY, STDERR_DICT_ENV, isSurrogate } from '../../src/dict/dict.js';
import { dictOpen, dictOpen3, dictTypeNames, isMkmapType, parseDictSpec, splitMapList } from '../../src/dict/registry.js';

test('dictTypeNames: the supported types, sorted as postconf -m prints them', () => {
  const names = dictTypeNames();
  assert.deepEqual(names, [...names].sort());
  for (const t of ['btree', 'cidr', 'environ', 'fail', 'hash', 'inline', 'lmdb', 'pcre', 'pipemap', 'proxy', 'regexp', 'socketmap', 'static', 'tcp', 'texthash', 'unionmap', 'unix']) {
    assert.ok(names.includes(t), t);
  }
  assert.ok(isMkmapType('hash') && isMkmapType('lmdb') && !isMkmapType('regexp'));
});

test('parseDictSpec splits at the first colon and keeps braces', () => {
  assert.deepEqual(parseDictSpec('hash:/etc/postfix/virtual'), { type: 'hash', name: '/etc/postfix/virtual' });
  assert.deepEqual(parseDictSpec('proxy:hash:/x'), { type: 'proxy', name: 'hash:/x' });
  assert.deepEqual(parseDictSpec('inline:{a=b:c, d=e}'), { type: 'inline', name: '{a=b:c, d=e}' });
  assert.deepEqual(parseDictSpec('virtual'), { error: 'open dictionary: expecting "type:name" form instead of "virtual"' });
  assert.deepEqual(parseDictSpec(':t'), { error: 'open dictionary: expecting "type:name" form instead of ":t"' });
  assert.deepEqual(parseDictSpec('hash:'), { error: 'open dictionary: expecting "type:name" form instead of "hash:"' });
});

test('splitMapList honours nested braces', () => {
  assert.deepEqual(splitMapList('hash:/a, inline:{x=1, y=2}  unionmap:{inline:{a=1}, hash:/b},pcre:/c'), [
    'hash:/a', 'inline:{x=1, y=2}', 'unionmap:{inline:{a=1}, hash:/b}', 'pcre:/c',
  ]);
  assert.deepEqual(splitMapList(' , '), []);
});

test('an unknown type opens as a surrogate with Postfix reason, or calls the handler', async () => {
  const d = await dictOpen('foo:bar', O_RDONLY, 0);
  assert.ok(isSurrogate(d));
  assert.equal(d.openError, 'unsupported dictionary type: foo');
  assert.deepEqual(await d.lookup('x'), { status: 'error', error: 'config', reason: 'unsupported dictionary type: foo' });
  const seen: string[] = [];
  const env = { ...STDERR_DICT_ENV, onOpenFailure: (r: string) => seen.push(r) };
  await dictOpen3('nosuch', 'x', O_RDONLY, 0, env);
  await dictOpen('hash:/nonexistent/table', O_RDONLY, 0, env);
  // The handler belongs to the env it came with: other opens are unaffected.
  await dictOpen('nosuch:y', O_RDONLY, 0);
  assert.deepEqual(seen, ['unsupported dictionary type: nosuch', 'open database /nonexistent/table.db: No such file or directory']);
});
