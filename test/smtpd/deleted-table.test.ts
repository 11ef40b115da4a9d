// Issue 12 point 7: a check_recipient_access table whose file is removed
// while smtpd runs. Postfix 3.7.11 (recorded by tools/record-hardening.ts
// in fixtures/hardening/deleted-table.json) answers the next client with
// "451 4.3.5 ... Server configuration error" and logs that the table is
// unavailable; this service must not go on enforcing the table from memory.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { repoRoot } from '../lib/cases.js';
import { namespaceReady, runInNamespace, whyNoNamespace } from '../lib/netns.js';
import { loadSessions, playSession, type Session } from '../lib/smtp-script.js';
import { startFixture } from './harness.js';
import { extraFixtureRoot, normalizeLogLine } from './record.js';

interface Recorded {
  replies: string[][];
  log: string[];
}

async function run(): Promise<void> {
  const dir = path.join(extraFixtureRoot(), '22-deleted-table');
  const want = JSON.parse(fs.readFileSync(path.join(repoRoot(), 'fixtures', 'hardening', 'deleted-table.json'), 'utf8')) as Record<string, Recorded>;
  const fx = await startFixture(dir);
  try {
    const play = async (s: Session): Promise<void> => {
      const mark = fx.logLines.length;
      const recorded = want[s.name]!;
      const session: Session = { ...s, steps: s.steps.map((st, i) => ({ ...st, expect: recorded.replies[i] })) };
      const results = await playSession(session, { mode: 'replay' });
      for (let i = 0; i < 50 && !fx.logLines.slice(mark).some((l) => l.includes('disconnect from')); i++) {
        await new Promise((r) => setImmediate(r));
        await new Promise((r) => setTimeout(r, 10));
      }
      assert.deepEqual(results.map((r) => r.replies), recorded.replies, `${s.name}: replies`);
      const log = fx.logLines.slice(mark).map((l) => normalizeLogLine(l).split(fx.conf).join('@DIR@'));
      assert.deepEqual(log, recorded.log, `${s.name}: log lines`);
    };
    const [before, after] = loadSessions(dir);
    await play(before!);
    fs.rmSync(path.join(fx.conf, 'access.db'));
    await play(after!);
  } finally {
    await fx.stop();
  }
}

const why = whyNoNamespace();
if (namespaceReady()) {
  test('a table removed under a running smtpd is unavailable, as in Postfix 3.7.11', { timeout: 60000 }, run);
} else if (why === null) {
  test('deleted table (in a private network namespace)', { timeout: 120000 }, async () => {
    const r = await runInNamespace([process.execPath, '--test', fileURLToPath(import.meta.url)]);
    assert.equal(r.status, 0, r.stdout + r.stderr);
  });
} else {
  test('deleted table', { skip: why }, () => undefined);
}
