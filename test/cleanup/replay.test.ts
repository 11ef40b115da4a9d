// Replays the sessions of fixtures/cleanup/*/ against this project's smtpd
// and cleanup services and compares what Postfix 3.7.11 produced for them
// (recorded by test/cleanup/record.ts): the SMTP replies, each queue file's
// records and queue, its postcat output (real postcat when installed, which
// must read our files without a warning), the SIZE record's consistency, the
// file mode, and cleanup's log lines. Runs inside a private network
// namespace: as root the test re-runs itself under unshare; otherwise it is
// skipped. CLEANUP_ONLY=NN[/case] limits the run; CLEANUP_REPORT=1 prints counts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { namespaceReady, runInNamespace, whyNoNamespace } from '../lib/netns.js';
import { startOurs } from './harness.js';
import { compareSession, loadSessions, playSession } from './play.js';
import { logQueueIds, normalizeLogLine } from './normalize.js';
import { listQueueFiles, REAL_POSTCAT, sleep, viewNewFiles, waitNewFiles, type QueueFileView } from './queue-files.js';
import { cleanupLines, fixtureRoot, type ExpectedCase } from './record.js';

interface Tally {
  sessions: number;
  replies: [number, number];
  files: [number, number];
  postcat: [number, number];
  logs: [number, number];
  failures: string[];
}

function diffLines(label: string, want: string, got: string): string {
  const w = want.split('\n');
  const g = got.split('\n');
  for (let i = 0; i < Math.max(w.length, g.length); i++) {
    if (w[i] !== g[i]) return `${label}: line ${i + 1}\n  expected ${JSON.stringify(w[i])}\n  actual   ${JSON.stringify(g[i])}`;
  }
  return `${label}: differs`;
}

function compareFile(label: string, want: QueueFileView, got: QueueFileView, t: Tally): void {
  t.files[1]++;
  const problems: string[] = [];
  if (want.queue !== got.queue) problems.push(`queue ${got.queue}, expected ${want.queue}`);
  if (got.mode !== '700') problems.push(`mode ${got.mode}`);
  if (got.sizeProblem) problems.push(`SIZE record: ${got.sizeProblem}`);
  const wr = JSON.stringify(want.records);
  const gr = JSON.stringify(got.records);
  if (wr !== gr) {
    problems.push(diffLines('records', want.records.map((r) => JSON.stringify(r)).join('\n'), got.records.map((r) => JSON.stringify(r)).join('\n')));
  }
  if (want.trace !== got.trace) problems.push(diffLines('trace log', want.trace ?? '(none)', got.trace ?? '(none)'));
  if (problems.length) t.failures.push(`${label}: ${problems.join('; ')}`);
  else t.files[0]++;
  if (got.postcat !== undefined && want.postcat !== undefined) {
    t.postcat[1]++;
    if (got.postcatErrors) t.failures.push(`${label}: postcat complained: ${got.postcatErrors}`);
    else if (got.postcat !== want.postcat) t.failures.push(`${label}: ${diffLines('postcat', want.postcat, got.postcat)}`);
    else t.postcat[0]++;
  }
}

async function replayFixture(dir: string, onlyCase: string | undefined, t: Tally): Promise<void> {
  const name = path.basename(dir);
  const expected = JSON.parse(fs.readFileSync(path.join(dir, 'expected.json'), 'utf8')) as Record<string, ExpectedCase>;
  const postcat = fs.existsSync(REAL_POSTCAT) ? REAL_POSTCAT : null;
  const ours = await startOurs(dir);
  // Queue files already compared (or there before the first session): one
  // that shows up later than its session was looked at is a failure too.
  const accounted = new Set(listQueueFiles(ours.spool).keys());
  let previous = `${name} (start)`;
  const late = (before: Map<string, string>) => {
    const ids = [...before.keys()].filter((id) => !accounted.has(id));
    if (ids.length) t.failures.push(`${previous}: queue file(s) ${ids.join(', ')} appeared after the session's files were compared`);
    for (const id of ids) accounted.add(id);
  };
  try {
    for (const session of loadSessions(dir)) {
      if (onlyCase && session.name !== onlyCase) continue;
      const label = `${name}/${session.name}`;
      t.sessions++;
      if (process.env.CLEANUP_DEBUG) process.stderr.write(`${label}\n`);
      const before = listQueueFiles(ours.spool);
      late(before);
      previous = label;
      const logBefore = ours.logLines.length;
      const results = await playSession(session, { mode: 'replay' });
      const replies = session.steps.reduce((n, s) => n + (s.expect?.length ?? 0), 0);
      t.replies[1] += replies;
      const diff = compareSession(session, results);
      if (diff) t.failures.push(`${label}: replies: ${diff}`);
      else t.replies[0] += replies;
      // smtpd answers 250 only once cleanup has committed the queue file, and
      // logs "disconnect from" last: once that line is there, the session's
      // files and log lines are complete (the stack runs in this process).
      await waitForLogLine(ours.logLines, logBefore, /: disconnect from /, 3000);
      const ids = [...listQueueFiles(ours.spool).keys()].filter((id) => !before.has(id)).sort();
      for (const id of ids) accounted.add(id);
      const { ids: order, views } = viewNewFiles(ours.spool, ids, ours.conf, postcat);
      const want = expected[session.name] ?? { messages: [], log: [] };
      if (views.length !== want.messages.length) {
        t.failures.push(`${label}: ${views.length} queue file(s), expected ${want.messages.length}`);
        t.files[1] += want.messages.length;
      } else {
        views.forEach((v, k) => compareFile(`${label}#${k + 1}`, want.messages[k]!, v, t));
      }
      const lines = cleanupLines(ours.logLines.slice(logBefore).join('\n'));
      const log = lines.map((l) => normalizeLogLine(l, logQueueIds(lines, order)));
      t.logs[1]++;
      if (JSON.stringify(log) !== JSON.stringify(want.log)) {
        t.failures.push(`${label}: log\n  expected ${JSON.stringify(want.log)}\n  actual   ${JSON.stringify(log)}`);
      } else t.logs[0]++;
    }
    // Anything the last session still does shows within a quiet while.
    late(new Map([...listQueueFiles(ours.spool)].filter(([id]) => !accounted.has(id))));
    const ids = await waitNewFiles(ours.spool, new Map([...accounted].map((id) => [id, ''])), 100, 1000);
    late(new Map(ids.map((id) => [id, ''])));
  } finally {
    await ours.stop();
  }
}

/** Waits (up to maxMs) until a line after index from matches re. */
async function waitForLogLine(lines: string[], from: number, re: RegExp, maxMs: number): Promise<void> {
  const deadline = Date.now() + maxMs;
  while (!lines.slice(from).some((l) => re.test(l)) && Date.now() < deadline) await sleep(5);
}

async function replayAll(): Promise<Tally> {
  const t: Tally = { sessions: 0, replies: [0, 0], files: [0, 0], postcat: [0, 0], logs: [0, 0], failures: [] };
  const [onlyFixture, onlyCase] = (process.env.CLEANUP_ONLY ?? '').split('/');
  for (const entry of fs.readdirSync(fixtureRoot()).sort()) {
    const dir = path.join(fixtureRoot(), entry);
    if (!fs.existsSync(path.join(dir, 'expected.json'))) continue;
    if (onlyFixture && !entry.startsWith(onlyFixture)) continue;
    await replayFixture(dir, onlyCase, t);
  }
  return t;
}

const self = fileURLToPath(import.meta.url);

if (namespaceReady()) {
  test('cleanup: queue files, postcat output and log lines match Postfix 3.7.11', { timeout: 600000 }, async () => {
    const t = await replayAll();
    const summary = `${t.sessions} sessions; replies ${t.replies[0]}/${t.replies[1]}; queue files ${t.files[0]}/${t.files[1]}; `
      + `postcat ${t.postcat[0]}/${t.postcat[1]}; log ${t.logs[0]}/${t.logs[1]}`;
    if (process.env.CLEANUP_REPORT) console.log(summary);
    assert.equal(t.failures.length, 0, `${summary}\n${t.failures.join('\n')}`);
  });
} else {
  const why = whyNoNamespace();
  test('cleanup: replay in a private network namespace', { skip: why ?? false, timeout: 900000 }, async () => {
    const r = await runInNamespace([process.execPath, '--test', '--test-reporter=spec', self]);
    if (process.env.CLEANUP_REPORT) process.stdout.write(r.stdout.split('\n').filter((l) => l.includes(' sessions; ')).join('\n') + '\n');
    assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
  });
}
