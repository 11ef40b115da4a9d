// Issue 12: postmap and postalias rebuilding a table their user may not
// write end with Postfix's message and exit status (recorded by
// tools/record-hardening.ts in fixtures/hardening/unwritable.json). The
// commands run as nobody, so the test needs root (setpriv) to run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { repoRoot } from '../lib/cases.js';
import { runUnwritable } from '../../tools/record-hardening.js';

const canSwitch = process.getuid?.() === 0 && spawnSync('setpriv', ['--version']).status === 0;

test('rebuilding a table that may not be written', { skip: canSwitch ? false : 'needs root and setpriv' }, () => {
  const want = JSON.parse(fs.readFileSync(path.join(repoRoot(), 'fixtures', 'hardening', 'unwritable.json'), 'utf8')) as unknown[];
  const got = runUnwritable((p) => path.join(repoRoot(), 'bin', p)).map((c) => ({ ...c, argv: [path.basename(c.argv[0]!), ...c.argv.slice(1)] }));
  assert.deepEqual(got, want);
});
