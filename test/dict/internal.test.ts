// The internal: table (an in-memory table per process) and nis: on a host
// without a NIS domain. What postmap prints for both is in
// fixtures/postmap/patterns; these check what a command cannot show: that
// an internal table keeps what it is given while the process lives.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DICT_FLAG_FOLD_FIX, O_RDONLY, O_RDWR, isSurrogate } from '../../src/dict/dict.js';
import { open as openInternal } from '../../src/dict/internal.js';
import { open as openNis } from '../../src/dict/nis.js';
import { setProgName } from '../../src/util/msg.js';

test('internal: update, replace, lookup with folding, delete, sequence', async () => {
  const d = await openInternal('mem', O_RDWR, DICT_FLAG_FOLD_FIX);
  assert.deepEqual(await d.lookup('a'), { status: 'notfound' });
  assert.deepEqual(await d.update!('Key', 'one'), { status: 'ok' });
  assert.deepEqual(await d.update!('KEY', 'two'), { status: 'ok' });
  assert.deepEqual(await d.lookup('kEy'), { status: 'found', value: 'two' });
  assert.deepEqual([...(await d.sequence!())], [['key', 'two']]);
  assert.deepEqual(await d.delete!('key'), { status: 'ok' });
  assert.deepEqual(await d.delete!('key'), { status: 'notfound' });
  assert.deepEqual(await d.lookup('key'), { status: 'notfound' });
});

test('internal: without folding, keys keep their case; each open is a new table', async () => {
  const d = await openInternal('mem', O_RDWR, 0);
  await d.update!('Key', 'v');
  assert.deepEqual(await d.lookup('key'), { status: 'notfound' });
  assert.deepEqual(await d.lookup('Key'), { status: 'found', value: 'v' });
  const other = await openInternal('mem', O_RDWR, 0);
  assert.deepEqual(await other.lookup('Key'), { status: 'notfound' });
});

test('nis: read-only only; without a NIS domain every lookup finds nothing', async (t) => {
  setProgName('postmap');
  const rw = await openNis('mail.aliases', O_RDWR, 0);
  assert.ok(isSurrogate(rw) && rw.openError === 'nis:mail.aliases map requires O_RDONLY access mode');
  let domain = '';
  try {
    domain = (await import('node:fs')).readFileSync('/proc/sys/kernel/domainname', 'latin1').trim();
  } catch {
    // none
  }
  if (domain !== '' && domain.toLowerCase() !== '(none)') return t.skip(`this host has the NIS domain ${domain}`);
  const d = await openNis('mail.aliases', O_RDONLY, 0);
  assert.deepEqual(await d.lookup('root'), { status: 'notfound' });
});
