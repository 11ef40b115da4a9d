// Replays the recorded Postfix 3.7.11 sessions of fixtures/smtpd/*/ against
// this project's smtpd service (with a fake cleanup) and compares every
// reply byte for byte. Runs inside a private network namespace: as root the
// test re-runs itself under unshare; otherwise it is skipped.
// SMTPD_REPORT=1 prints the per-fixture counts; SMTPD_ONLY=NN limits the run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { repoRoot } from '../lib/cases.js';
import { namespaceReady, runInNamespace, whyNoNamespace } from '../lib/netns.js';
import { listSmtpdFixtures, loadSessions, replaySessions } from '../lib/smtp-script.js';
import { startFixture } from './harness.js';

/** Fixtures whose sessions need the real cleanup (header_checks, body_checks): skipped with a fake cleanup. */
const NEEDS_CLEANUP = new Set(['08-content']);

async function replayAll(): Promise<{ identical: number; total: number; failures: string[] }> {
  const root = path.join(repoRoot(), 'fixtures', 'smtpd');
  let identical = 0;
  let total = 0;
  const failures: string[] = [];
  for (const dir of listSmtpdFixtures(root)) {
    const name = path.basename(dir);
    if (process.env.SMTPD_ONLY && !name.startsWith(process.env.SMTPD_ONLY)) continue;
    if (NEEDS_CLEANUP.has(name) && !process.env.SMTPD_ALL) continue;
    const fx = await startFixture(dir);
    try {
      const report = await replaySessions(loadSessions(dir), name);
      identical += report.identical;
      total += report.total;
      failures.push(...report.failures);
      if (process.env.SMTPD_REPORT) console.log(`${name}: ${report.identical}/${report.total}`);
      if (process.env.SMTPD_LOG) console.log(fx.logLines.join('\n'));
    } finally {
      await fx.stop();
    }
  }
  return { identical, total, failures };
}

const why = whyNoNamespace();
if (namespaceReady()) {
  test('smtpd replies match Postfix 3.7.11 byte for byte', { timeout: 600000 }, async () => {
    const r = await replayAll();
    console.log(`smtpd replay: ${r.identical}/${r.total} replies identical`);
    assert.deepEqual(r.failures, [], r.failures.join('\n\n'));
  });
} else if (why === null) {
  test('smtpd replay (in a private network namespace)', { timeout: 900000 }, async () => {
    const self = fileURLToPath(import.meta.url);
    const r = await runInNamespace([process.execPath, '--test', '--test-reporter=spec', self], { echo: !!process.env.SMTPD_REPORT });
    assert.equal(r.status, 0, r.stdout + r.stderr);
  });
} else {
  test('smtpd replay', { skip: why }, () => undefined);
}
