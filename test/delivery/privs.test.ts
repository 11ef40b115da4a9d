// The credential window of local and virtual (src/delivery/local/privs.ts):
// a file created inside it belongs to the user, root's identity comes back
// afterwards, and -- the reason for the per-thread switch -- a file
// operation that libuv's pool runs for another delivery during the window
// keeps root's identity. Root only.
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { asUser, perThreadCredentials } from '../../src/delivery/local/privs.js';
import { tempDir } from '../lib/tmp.js';

const root = process.getuid?.() === 0;
const NOBODY = 65534;

test('a file created in the window belongs to the user; root comes back', { skip: !root && 'not root' }, () => {
  const dir = tempDir('privs-');
  fs.chmodSync(dir, 0o777);
  const groups = process.getgroups!();
  const file = path.join(dir, 'owned');
  asUser(NOBODY, NOBODY, () => {
    assert.equal(process.geteuid!(), NOBODY);
    assert.deepEqual(process.getgroups!(), [NOBODY]);
    fs.writeFileSync(file, 'x');
  });
  const st = fs.statSync(file);
  assert.deepEqual([st.uid, st.gid], [NOBODY, NOBODY]);
  assert.equal(process.geteuid!(), 0);
  assert.equal(process.getegid!(), 0);
  assert.deepEqual(process.getgroups!(), groups);
  // The user's identity really applies inside: root's private directory is closed to it.
  const secret = path.join(dir, 'secret');
  fs.mkdirSync(secret, { mode: 0o700 });
  assert.throws(() => asUser(NOBODY, NOBODY, () => fs.writeFileSync(path.join(secret, 'f'), 'x')), { code: 'EACCES' });
  assert.equal(process.geteuid!(), 0);
});

test('the pool threads keep root during the window', { skip: !root ? 'not root' : !perThreadCredentials() && 'native/thread-creds is not built' }, async () => {
  const dir = tempDir('privs-');
  const secret = path.join(dir, 'secret');
  fs.mkdirSync(secret, { mode: 0o700 });
  // The pool's four threads are kept busy, twenty file creations in root's
  // private directory queue behind them, and the main thread holds the
  // user's identity while they run (with process-wide switching some of
  // them fail with EACCES).
  for (let i = 0; i < 4; i++) crypto.pbkdf2('p', 's', 200_000, 32, 'sha256', () => undefined);
  const writes = Array.from({ length: 20 }, (_, i) => fs.promises.writeFile(path.join(secret, `f${i}`), 'x'));
  asUser(NOBODY, NOBODY, () => {
    const until = Date.now() + 300;
    while (Date.now() < until) {
      // busy: the window stays open while the pool works
    }
  });
  const results = await Promise.allSettled(writes);
  assert.deepEqual(results.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason)), []);
  for (let i = 0; i < 20; i++) assert.equal(fs.statSync(path.join(secret, `f${i}`)).uid, 0);
});
