// hash:, btree: and lmdb: tables on the LMDB format: the bulk writer and
// the TypeScript reader agree on every record (NUL conventions, overflow
// values, long hash: keys, an empty table), the key sort is exact and
// stable, a reader follows a rebuild by rename, and foreign files (Berkeley
// DB, garbage, empty) are refused with the rebuild advice, never a crash.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  DICT_FLAG_DUP_WARN, DICT_FLAG_FOLD_FIX, DICT_FLAG_TRY0NULL, DICT_FLAG_DUP_REPLACE, O_RDONLY, isSurrogate, type Dict,
} from '../../src/dict/dict.js';
import { EntryList, sortedOrder } from '../../src/dict/entries.js';
import { MapBuilder } from '../../src/dict/mkmap.js';
import { openStore, type StoreKind } from '../../src/dict/lmdb-store.js';
import { captured } from './testutil.js';
import { tempDir } from '../lib/tmp.js';

function dir(): string {
  return tempDir('lmdb-store-');
}

function build(kind: StoreKind, name: string, records: Array<[string, string]>, dictFlags = DICT_FLAG_FOLD_FIX | DICT_FLAG_DUP_WARN) {
  const b = new MapBuilder({ kind, name, dictFlags, mapSize: 16777216 });
  records.forEach(([k, v], i) => assert.equal(b.addText(k, v, i + 1), undefined));
  return b.finish({ mode: 0o644 });
}

async function dump(d: Dict): Promise<Array<[string, string]>> {
  return [...(await d.sequence!())];
}

test('records written in bulk read back, with overflow values and sorted dumps', async () => {
  const d0 = dir();
  const big = 'v'.repeat(5000);
  const records: Array<[string, string]> = [];
  for (let i = 0; i < 3000; i++) records.push([`User${i}@Example.COM`, `mailbox${i}`]);
  records.push(['big', big], ['b', 'short']);
  for (const kind of ['hash', 'btree', 'lmdb'] as const) {
    const name = join(d0, kind);
    assert.deepEqual(build(kind, name, records), { ok: true, warnings: [] });
    const d = await openStore(kind, name, O_RDONLY, DICT_FLAG_FOLD_FIX);
    assert.ok(!isSurrogate(d));
    assert.deepEqual(d.lookup('USER17@example.com'), { status: 'found', value: 'mailbox17' });
    assert.deepEqual(d.lookup('big'), { status: 'found', value: big });
    assert.deepEqual(d.lookup('nobody'), { status: 'notfound' });
    const all = await dump(d);
    assert.equal(all.length, records.length);
    const keys = all.map(([k]) => k);
    assert.deepEqual(keys, [...keys].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))));
    const batch = d.lookupBatch!(['user5@example.com', 'x', 'B']);
    assert.deepEqual(batch, [{ status: 'found', value: 'mailbox5' }, { status: 'notfound' }, { status: 'found', value: 'short' }]);
    await d.close();
  }
});

test('duplicates: first kept with a warning, or replaced with -r', async () => {
  const d0 = dir();
  const name = join(d0, 'dups');
  const r = build('lmdb', name, [['a', '1'], ['A', '2'], ['b', '3']]);
  assert.deepEqual(r, { ok: true, warnings: [{ line: 2, text: `lmdb:${name}: duplicate entry: "a"` }] });
  let d = await openStore('lmdb', name, O_RDONLY, DICT_FLAG_FOLD_FIX);
  assert.deepEqual(d.lookup('a'), { status: 'found', value: '1' });
  build('hash', name, [['a', '1'], ['a', '2']], DICT_FLAG_FOLD_FIX | DICT_FLAG_DUP_REPLACE);
  d = await openStore('hash', name, O_RDONLY, DICT_FLAG_FOLD_FIX);
  assert.deepEqual(d.lookup('a'), { status: 'found', value: '2' });
  assert.equal(d.name, `${name}.db`);
});

test('-n tables (no NUL) and the NUL-terminated default both answer', async () => {
  const d0 = dir();
  const name = join(d0, 'nonul');
  build('lmdb', name, [['k', 'v']], DICT_FLAG_FOLD_FIX | DICT_FLAG_TRY0NULL);
  const d = await openStore('lmdb', name, O_RDONLY, DICT_FLAG_FOLD_FIX);
  assert.deepEqual(d.lookup('k'), { status: 'found', value: 'v' });
});

test('keys past LMDB limits: stand-ins for hash:, Postfix error for lmdb:', async () => {
  const d0 = dir();
  const long = 'k'.repeat(4000);
  assert.deepEqual(build('hash', join(d0, 'h'), [[long, 'value'], ['after', 'x']]), { ok: true, warnings: [] });
  const d = await openStore('hash', join(d0, 'h'), O_RDONLY, DICT_FLAG_FOLD_FIX);
  assert.deepEqual(d.lookup(long), { status: 'found', value: 'value' });
  assert.deepEqual((await dump(d)).find(([k]) => k === long), [long, 'value']);
  const b = new MapBuilder({ kind: 'lmdb', name: join(d0, 'l'), dictFlags: 0, mapSize: 16777216 });
  assert.match(b.addText('k'.repeat(600), 'v', 1)!, /^error updating lmdb:.*: MDB_BAD_VALSIZE: /);
});

test('an empty table is two meta pages and answers nothing', async () => {
  const d0 = dir();
  build('lmdb', join(d0, 'e'), []);
  const d = await openStore('lmdb', join(d0, 'e'), O_RDONLY, 0);
  assert.deepEqual(d.lookup('x'), { status: 'notfound' });
  assert.deepEqual(await dump(d), []);
});

test('a reader sees a table rebuilt by rename on its next lookup', async () => {
  const d0 = dir();
  const name = join(d0, 'live');
  build('lmdb', name, [['k', 'old']]);
  const d = await openStore('lmdb', name, O_RDONLY, 0);
  assert.deepEqual(d.lookup('k'), { status: 'found', value: 'old' });
  build('lmdb', name, [['k', 'new']]);
  await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(d.lookup('k'), { status: 'found', value: 'new' });
});

test('foreign files are refused with advice, never read', async () => {
  const d0 = dir();
  const bdb = Buffer.alloc(4096);
  bdb.writeUInt32LE(0x061561, 12);
  writeFileSync(join(d0, 'aliases.db'), bdb);
  writeFileSync(join(d0, 'junk.lmdb'), 'garbage\n');
  writeFileSync(join(d0, 'zero.lmdb'), '');
  const a = await openStore('hash', join(d0, 'aliases'), O_RDONLY, 0);
  assert.ok(isSurrogate(a));
  assert.match(a.openError, /^open database .*aliases\.db: Berkeley DB hash file, which this Postfix does not read .*; rebuild it with "postmap hash:.*aliases"$/);
  const j = await openStore('lmdb', join(d0, 'junk'), O_RDONLY, 0);
  assert.ok(isSurrogate(j) && j.openError.includes('MDB_INVALID: File is not an LMDB file; rebuild it with'));
  const z = await openStore('lmdb', join(d0, 'zero'), O_RDONLY, 0);
  assert.ok(isSurrogate(z) && z.openError.includes('empty file'));
});

test('a hash: table opened as btree: fails as Berkeley DB does', async () => {
  const d0 = dir();
  build('hash', join(d0, 't'), [['a', 'b']]);
  const { value, stderr } = await captured(() => openStore('btree', join(d0, 't'), O_RDONLY, 0));
  assert.ok(isSurrogate(value));
  assert.equal(value.openError, `open database ${join(d0, 't')}.db: Invalid argument`);
  assert.match(stderr, /^BDB0641 __db_meta_setup: .*t\.db: unexpected file type or format\n$/);
});

test('sortedOrder: byte order, shorter first, ties in input order', () => {
  const e = new EntryList();
  const keys: string[] = [];
  for (let i = 0; i < 40000; i++) keys.push(`user${(i * 7919) % 40000}@d${i % 13}`);
  keys.push('a', 'a', 'ab', '', 'user1@d1', '\u00ff', 'zz');
  for (const k of keys) e.add(Buffer.from(k, 'latin1'), Buffer.alloc(0), 0, 0);
  const order = sortedOrder(e);
  for (let i = 1; i < order.length; i++) {
    const c = Buffer.compare(e.key(order[i - 1]!), e.key(order[i]!));
    assert.ok(c < 0 || (c === 0 && order[i - 1]! < order[i]!), `at ${i}`);
  }
});
