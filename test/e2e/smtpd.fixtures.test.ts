// End-to-end test of this project's SMTP server: for each configuration under
// fixtures/smtpd/, start OUR daemon (`bin/postfix -c DIR start`, via
// test/lib/daemon.ts), replay every recorded session with the scripted client
// and compare every reply with what Postfix 3.7.11 said, byte for byte (after
// the placeholder rules of test/lib/smtp-script.ts). One test per fixture, one
// subtest per session.
// Daemons never touch the real network: outside a private namespace this file
// re-runs itself under `unshare -n -m` (root only) and reports that run; not
// root, it skips. It also skips while bin/postfix does not exist.

import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { repoRoot } from '../lib/cases.js';
import { type Daemon, programPath, startDaemon } from '../lib/daemon.js';
import { namespaceReady, runInNamespace, whyNoNamespace } from '../lib/netns.js';
import { compareSession, listSmtpdFixtures, loadSessions, playSessions } from '../lib/smtp-script.js';

const root = repoRoot();
const ours = programPath('ours', 'postfix');
const missing = fs.existsSync(ours) ? null : `${path.relative(root, ours)} does not exist yet`;
const SHOW = 12000;

if (!namespaceReady()) {
  test('smtpd fixtures against bin/postfix (in a private network namespace)', async (t) => {
    const why = missing ?? whyNoNamespace();
    if (why) {
      t.skip(why);
      return;
    }
    const r = await runInNamespace([process.execPath, fileURLToPath(import.meta.url)]);
    const output = `${r.stdout}${r.stderr}`;
    assert.equal(r.status, 0, output.length > SHOW ? `...${output.slice(-SHOW)}` : output);
  });
} else {
  for (const dir of listSmtpdFixtures(path.join(root, 'fixtures', 'smtpd'))) {
    const label = path.basename(dir);
    test(`smtpd fixtures: ${label}`, { skip: missing ?? false }, async (t) => {
      const sessions = loadSessions(dir);
      let daemon: Daemon | undefined;
      try {
        daemon = await startDaemon('ours', dir);
        const results = await playSessions(sessions, { mode: 'replay' });
        for (const [i, s] of sessions.entries()) {
          await t.test(s.name, () => {
            const diff = compareSession(s, results[i]!);
            if (diff !== null) throw new Error(`${label}: ${diff}`);
          });
        }
      } finally {
        await daemon?.stop();
      }
    });
  }
}
