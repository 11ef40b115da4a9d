// The small table types: proxy (in-process), environ, fail, inline, unix.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setProgName } from '../../src/util/msg.js';
import { O_RDONLY, O_RDWR, DICT_FLAG_FOLD_FIX, isSurrogate } from '../../src/dict/dict.js';
import { open as openProxy } from '../../src/dict/proxy.js';
import { open as openEnviron } from '../../src/dict/environ.js';
import { open as openFail } from '../../src/dict/fail.js';
import { open as openInline } from '../../src/dict/inline.js';
import { open as openUnix } from '../../src/dict/unix.js';

setProgName('postmap');

test('proxy: opens the inner table in-process', async () => {
  const d = await openProxy('inline:{a=1}', O_RDONLY, 0);
  assert.equal(d.type, 'proxy');
  assert.equal(d.name, 'inline:{a=1}');
  assert.deepEqual(await d.lookup('a'), { status: 'found', value: '1' });
  const bad = await openProxy('inline:a=1', O_RDONLY, 0);
  assert.ok(isSurrogate(bad) && bad.openError === 'bad syntax: "inline:a=1"; need "inline:{name=value...}"');
});

test('environ: lookups fold the key with FOLD_FIX; updates set variables', async () => {
  const d = await openEnviron('x', O_RDWR, 0);
  await d.update!('DICT_TEST_VAR', 'v1');
  assert.equal(process.env.DICT_TEST_VAR, 'v1');
  assert.deepEqual(await d.lookup('DICT_TEST_VAR'), { status: 'found', value: 'v1' });
  d.flags |= DICT_FLAG_FOLD_FIX;
  assert.deepEqual(await d.lookup('DICT_TEST_VAR'), { status: 'notfound' });
});

test('fail: every access is a temporary error; updates only when opened for writing', async () => {
  const ro = await openFail('x', O_RDONLY, 0);
  assert.deepEqual(await ro.lookup('k'), { status: 'error', error: 'retry', reason: undefined });
  assert.equal(ro.update, undefined);
  const rw = await openFail('x', O_RDWR, 0);
  assert.deepEqual(await rw.update!('k', 'v'), { status: 'error', error: 'retry' });
});

test('inline: sequence gives the entries; keys folded at open time', async () => {
  const d = await openInline('{ A=1, {b = two words} }', O_RDONLY, DICT_FLAG_FOLD_FIX);
  assert.deepEqual([...(await d.sequence!())], [['a', '1'], ['b', 'two words']]);
  assert.deepEqual(await d.lookup('B'), { status: 'found', value: 'two words' });
});

test('unix: passwd.byname in getpwnam() format', async () => {
  const d = await openUnix('passwd.byname', O_RDONLY, 0);
  const r = await d.lookup('root');
  assert.equal(r.status, 'found');
  assert.match(r.status === 'found' ? r.value : '', /^root:[^:]*:0:0:[^:]*:[^:]*:[^:]*$/);
  const bad = await openUnix('passwd.byuid', O_RDONLY, 0);
  assert.ok(isSurrogate(bad) && bad.openError === 'unknown table: unix:passwd.byuid');
});
