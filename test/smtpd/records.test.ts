// Compares the records this project's smtpd sends to cleanup with the
// queue files real Postfix 3.7.11 wrote for the same sessions
// (test/smtpd/fixtures/14-records/queue.json, recorded by record.ts with
// qmgr stopped so that files stay in incoming/ and hold/). What cleanup
// adds on its own is left out of the comparison: the C size record,
// A create_time, O records, the headers it supplies (Message-Id, Date,
// From), attributes it writes for recipients it extracts, and the f
// (processing flags) records it consumes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { namespaceReady, runInNamespace, whyNoNamespace } from '../lib/netns.js';
import { loadSessions, playSession } from '../lib/smtp-script.js';
import { CLEANUP_FLAG_DISCARD } from '../../src/cleanup/api.js';
import { startFixture, type FakeMessage } from './harness.js';
import { extraFixtureRoot, normalizeRecords } from './record.js';

type Rec = [string, string];

/** Postfix's queue file without what cleanup writes by itself. */
function smtpdPart(records: Rec[]): Rec[] {
  const sender = records.find((r) => r[0] === 'S')?.[1] ?? '';
  let afterX = false;
  const out: Rec[] = [];
  for (const [t, d] of records) {
    if (t === 'X') afterX = true;
    if (t === 'C' || t === 'O') continue;
    if (t === 'A' && d.startsWith('create_time=')) continue;
    if (afterX && t === 'A' && (d.startsWith('encoding=') || d.startsWith('dsn_orig_rcpt='))) continue;
    if (t === 'N' && (/^Message-Id: <\d{14}\.@QID@@/.test(d) || d === 'Date: @DATE@' || d === `From: ${sender}`)) continue;
    out.push([t, d]);
  }
  return out;
}

/** What our smtpd sent, in the same terms. */
function oursPart(msg: FakeMessage): Rec[] {
  let afterX = false;
  const out: Rec[] = [];
  for (const [t, d] of normalizeRecords(msg.records, [msg.queueId])) {
    if (t === 'X') afterX = true;
    if (t === 'f') continue;
    if (afterX && t === 'A' && d.startsWith('notify_flags=')) continue;
    // cleanup qualifies envelope addresses in the local context ($myorigin).
    if ((t === 'R' || t === 'S') && d !== '' && !d.includes('@')) {
      out.push([t, `${d}@mx.example.com`]);
      continue;
    }
    out.push([t, d]);
  }
  return out;
}

function discarded(msg: FakeMessage): boolean {
  return msg.records.some(([t, d]) => t === 'f' && (Number(d) & CLEANUP_FLAG_DISCARD) !== 0);
}

async function compareRecords(): Promise<string[]> {
  const dir = path.join(extraFixtureRoot(), '14-records');
  const want = JSON.parse(fs.readFileSync(path.join(dir, 'queue.json'), 'utf8')) as Record<string, Rec[][]>;
  const fx = await startFixture(dir);
  const problems: string[] = [];
  try {
    for (const s of loadSessions(dir)) {
      const first = fx.cleanup.messages.length;
      await playSession(s, { mode: 'replay' });
      const ours = fx.cleanup.messages.slice(first).filter((m) => m.outcome === 'finished' && !discarded(m));
      const theirs = want[s.name] ?? [];
      if (ours.length !== theirs.length) {
        problems.push(`${s.name}: ${ours.length} messages queued, Postfix queued ${theirs.length}`);
        continue;
      }
      ours.forEach((m, i) => {
        const a = JSON.stringify(oursPart(m), null, 1);
        const b = JSON.stringify(smtpdPart(theirs[i]!), null, 1);
        if (a !== b) problems.push(`${s.name}: message ${i + 1} records differ\n  ours     ${a}\n  postfix  ${b}`);
      });
    }
  } finally {
    await fx.stop();
  }
  return problems;
}

const why = whyNoNamespace();
if (namespaceReady()) {
  test('records sent to cleanup match what Postfix queued', { timeout: 120000 }, async () => {
    const problems = await compareRecords();
    assert.deepEqual(problems, [], problems.join('\n\n'));
  });
} else if (why === null) {
  test('smtpd records (in a private network namespace)', { timeout: 300000 }, async () => {
    const r = await runInNamespace([process.execPath, '--test', fileURLToPath(import.meta.url)]);
    assert.equal(r.status, 0, r.stdout + r.stderr);
  });
} else {
  test('smtpd records', { skip: why }, () => undefined);
}
