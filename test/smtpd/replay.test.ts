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
import * as fs from 'node:fs';
import { compareSession, listSmtpdFixtures, loadSessions, playSession, replaySessions } from '../lib/smtp-script.js';
import { startFixture } from './harness.js';
import { extraFixtureRoot, fixturePolicyServer, normalizeLogLine } from './record.js';
import { normalizeRequest } from './policy-server.js';

/** Fixtures whose sessions need the real cleanup (header_checks, body_checks, its size limit). */
const NEEDS_CLEANUP = new Set(['08-content']);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The extra fixtures also hold Postfix's smtpd log lines per session
 * (maillog.json): sessions run one at a time and the lines this service
 * logged must be the same, in the same order.
 */
async function replayWithLogs(dir: string): Promise<{ identical: number; total: number; failures: string[] }> {
  const name = path.basename(dir);
  const logs = JSON.parse(fs.readFileSync(path.join(dir, 'maillog.json'), 'utf8')) as Record<string, string[]>;
  const policyFile = path.join(dir, 'policy.json');
  const policyLog = fs.existsSync(policyFile) ? (JSON.parse(fs.readFileSync(policyFile, 'utf8')) as Record<string, unknown>) : null;
  const policy = await fixturePolicyServer(dir);
  const fx = await startFixture(dir);
  const out = { identical: 0, total: 0, failures: [] as string[] };
  try {
    for (const s of loadSessions(dir)) {
      const before = fx.logLines.length;
      const requestsBefore = policy?.requests.length ?? 0;
      const results = await playSession(s, { mode: 'replay' });
      for (let i = 0; i < 50 && !fx.logLines.slice(before).some((l) => l.includes('disconnect from')); i++) await sleep(20);
      s.steps.forEach((st, k) => {
        const want = st.expect ?? [];
        const got = results[k];
        const stepOk = !!got && !!st.closed === got.closed && (!got.error || !!st.closed) && got.replies.length === want.length;
        for (let r = 0; r < want.length; r++) {
          out.total++;
          if (stepOk && got.replies[r] === want[r]) out.identical++;
        }
      });
      const diff = compareSession(s, results);
      if (diff) out.failures.push(`${name}: ${diff}`);
      if (policy && policyLog) {
        const gotReq = JSON.stringify(policy.requests.slice(requestsBefore).map(normalizeRequest));
        const wantReq = JSON.stringify(policyLog[s.name] ?? []);
        if (gotReq !== wantReq) out.failures.push(`${name}: ${s.name}: policy requests differ\n  expected ${wantReq}\n  actual   ${gotReq}`);
      }
      const got = fx.logLines.slice(before).map(normalizeLogLine);
      const want = logs[s.name] ?? [];
      if (JSON.stringify(got) !== JSON.stringify(want)) {
        out.failures.push(`${name}: ${s.name}: maillog differs\n  expected ${JSON.stringify(want, null, 1)}\n  actual   ${JSON.stringify(got, null, 1)}`);
      }
    }
  } finally {
    await fx.stop();
    await policy?.close();
  }
  return out;
}

async function replayAll(): Promise<{ identical: number; total: number; failures: string[] }> {
  const root = path.join(repoRoot(), 'fixtures', 'smtpd');
  let identical = 0;
  let total = 0;
  const failures: string[] = [];
  for (const dir of listSmtpdFixtures(extraFixtureRoot())) {
    const name = path.basename(dir);
    if (process.env.SMTPD_ONLY && !name.startsWith(process.env.SMTPD_ONLY)) continue;
    if (!fs.existsSync(path.join(dir, 'maillog.json'))) continue;
    const r = await replayWithLogs(dir);
    identical += r.identical;
    total += r.total;
    failures.push(...r.failures);
    if (process.env.SMTPD_REPORT) console.log(`${name}: ${r.identical}/${r.total}`);
  }
  for (const dir of listSmtpdFixtures(root)) {
    const name = path.basename(dir);
    if (process.env.SMTPD_ONLY && !name.startsWith(process.env.SMTPD_ONLY)) continue;
    const fx = await startFixture(dir, { realCleanup: NEEDS_CLEANUP.has(name) || !!process.env.SMTPD_REAL_CLEANUP });
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
