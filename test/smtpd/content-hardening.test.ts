// Issue 12 points 3 and 9 through smtpd and this project's real cleanup,
// against Postfix 3.7.11's recording of the same sessions
// (test/smtpd/fixtures/21-content-hardening: replies, smtpd's log lines and
// queue files by test/smtpd/record.ts -- its maillog.json renamed to
// smtpd-maillog.json, as replay.test.ts would run the fixture with a fake
// cleanup -- and cleanup's log lines by tools/record-hardening.ts):
// a NUL byte ends a header (DATA and BDAT), and a header_checks pcre: rule
// that backtracks without end gets "match limit exceeded" and does not
// apply, while the next rule still does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { repoRoot } from '../lib/cases.js';
import { namespaceReady, runInNamespace, whyNoNamespace } from '../lib/netns.js';
import { compareSession, loadSessions, playSession } from '../lib/smtp-script.js';
import { startFixture } from './harness.js';
import { extraFixtureRoot, normalizeLogLine, normalizeRecords, parseQueueFile } from './record.js';

type Rec = [string, string];

/** The content records of a queue file, without what differs per run. */
function contentOf(records: Rec[]): Rec[] {
  return records.filter(([t]) => t === 'N' || t === 'L').map(([t, d]): Rec => [t, d.replace(/^Message-Id: <\d{14}\./, 'Message-Id: <@TIME@.')]);
}

function queueFiles(spool: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    if (!fs.existsSync(d)) return;
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const f = path.join(d, e.name);
      if (e.isDirectory()) walk(f);
      else out.push(f);
    }
  };
  for (const q of ['incoming', 'active', 'hold']) walk(path.join(spool, q));
  return out;
}

async function compareAll(): Promise<string[]> {
  const dir = path.join(extraFixtureRoot(), '21-content-hardening');
  const wantQueue = JSON.parse(fs.readFileSync(path.join(dir, 'queue.json'), 'utf8')) as Record<string, Rec[][]>;
  const wantLog = JSON.parse(fs.readFileSync(path.join(repoRoot(), 'fixtures', 'hardening', 'cleanup-log.json'), 'utf8')) as Record<string, string[]>;
  const wantSmtpd = JSON.parse(fs.readFileSync(path.join(dir, 'smtpd-maillog.json'), 'utf8')) as Record<string, string[]>;
  const fx = await startFixture(dir, { realCleanup: true });
  const problems: string[] = [];
  const seen = new Set<string>();
  try {
    for (const s of loadSessions(dir)) {
      const before = fx.logLines.length;
      const diff = compareSession(s, await playSession(s, { mode: 'replay' }));
      if (diff) problems.push(diff);
      const log = fx.logLines.slice(before).filter((l) => /\/cleanup(\[\d+\])?: /.test(l) && !/: message-id=/.test(l))
        .map((l) => normalizeLogLine(l).split(fx.conf).join('@DIR@'));
      if (JSON.stringify(log) !== JSON.stringify(wantLog[s.name] ?? [])) {
        problems.push(`${s.name}: cleanup log differs\n  ours    ${JSON.stringify(log)}\n  postfix ${JSON.stringify(wantLog[s.name] ?? [])}`);
      }
      for (let i = 0; i < 50 && !fx.logLines.slice(before).some((l) => l.includes('disconnect from')); i++) await new Promise((r) => setTimeout(r, 10));
      const smtpdLog = fx.logLines.slice(before).filter((l) => /\/smtpd(\[\d+\])?: /.test(l)).map(normalizeLogLine);
      if (JSON.stringify(smtpdLog) !== JSON.stringify(wantSmtpd[s.name] ?? [])) {
        problems.push(`${s.name}: smtpd log differs\n  ours    ${JSON.stringify(smtpdLog)}\n  postfix ${JSON.stringify(wantSmtpd[s.name] ?? [])}`);
      }
      const files = queueFiles(path.join(fx.dir, 'spool')).filter((f) => !seen.has(f));
      files.forEach((f) => seen.add(f));
      const ours = files.map((f) => contentOf(normalizeRecords(parseQueueFile(fs.readFileSync(f)), [path.basename(f)])));
      const theirs = (wantQueue[s.name] ?? []).map(contentOf);
      if (JSON.stringify(ours) !== JSON.stringify(theirs)) {
        problems.push(`${s.name}: queue file content differs\n  ours    ${JSON.stringify(ours)}\n  postfix ${JSON.stringify(theirs)}`);
      }
    }
  } finally {
    await fx.stop();
  }
  return problems;
}

const why = whyNoNamespace();
if (namespaceReady()) {
  test('NUL in a header and the pcre: match limit, as Postfix 3.7.11', { timeout: 120000 }, async () => {
    const problems = await compareAll();
    assert.deepEqual(problems, [], problems.join('\n\n'));
  });
} else if (why === null) {
  test('content hardening (in a private network namespace)', { timeout: 300000 }, async () => {
    const r = await runInNamespace([process.execPath, '--test', fileURLToPath(import.meta.url)]);
    assert.equal(r.status, 0, r.stdout + r.stderr);
  });
} else {
  test('content hardening', { skip: why }, () => undefined);
}
