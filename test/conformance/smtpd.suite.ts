// Conformance suite for smtpd: replays every recorded session of
// fixtures/smtpd/*/sessions.json against real Postfix 3.7.11 (started on a
// copy of each fixture by test/lib/daemon.ts) and counts the replies it
// reproduces byte for byte, after the placeholder rules of
// test/lib/smtp-script.ts. It proves the recording; 100% is expected.
// Daemons run only in a private network namespace: outside one, run()
// re-runs this file under `unshare -n -m` (root) and reads its JSON report:
//   node dist/test/conformance/smtpd.suite.js --json

import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { repoRoot } from '../lib/cases.js';
import { startDaemon } from '../lib/daemon.js';
import { namespaceReady, runInNamespace, whyNoNamespace } from '../lib/netns.js';
import { type ReplayReport, countReplies, listSmtpdFixtures, loadSessions, replaySessions } from '../lib/smtp-script.js';

export const name = 'smtpd';
export const binaries = ['postfix', 'postmap', 'postalias'];

/** Fixtures replayed side by side (each has its own ports). */
const PARALLEL_FIXTURES = 3;

function fixtureDirs(): string[] {
  return listSmtpdFixtures(path.join(repoRoot(), 'fixtures', 'smtpd'));
}

/** Replay one fixture against real Postfix; a daemon that does not start fails all its replies. */
async function replayFixture(dir: string): Promise<ReplayReport> {
  const sessions = loadSessions(dir);
  const label = path.basename(dir);
  let daemon;
  try {
    daemon = await startDaemon('postfix', dir);
  } catch (e) {
    return { identical: 0, total: countReplies(sessions), failures: [`${label}: ${(e as Error).message}`] };
  }
  try {
    return await replaySessions(sessions, label);
  } finally {
    await daemon.stop();
  }
}

/** The suite, run inside the namespace. */
async function runHere(): Promise<ReplayReport> {
  const dirs = fixtureDirs();
  const reports: ReplayReport[] = new Array(dirs.length);
  let next = 0;
  const worker = async () => {
    while (next < dirs.length) {
      const k = next++;
      reports[k] = await replayFixture(dirs[k]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL_FIXTURES, dirs.length) }, worker));
  return reports.reduce(
    (a, r) => ({ identical: a.identical + r.identical, total: a.total + r.total, failures: a.failures.concat(r.failures) }),
    { identical: 0, total: 0, failures: [] as string[] },
  );
}

function totalReplies(): number {
  return fixtureDirs().reduce((n, d) => n + countReplies(loadSessions(d)), 0);
}

export async function run(): Promise<ReplayReport> {
  if (namespaceReady()) return runHere();
  const why = whyNoNamespace();
  if (why) return { identical: 0, total: totalReplies(), failures: [`not run: ${why}`] };
  const self = fileURLToPath(import.meta.url);
  const r = await runInNamespace([process.execPath, self, '--json']);
  const last = r.stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(last) as ReplayReport;
  } catch {
    return { identical: 0, total: totalReplies(), failures: [`namespace run failed (status ${r.status}):\n${r.stdout}${r.stderr}`] };
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === fs.realpathSync(process.argv[1]) && process.argv.includes('--json')) {
  const report = await run();
  process.stdout.write(JSON.stringify(report) + '\n');
}
