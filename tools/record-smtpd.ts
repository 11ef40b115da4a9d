// Recorder for the smtpd fixtures: runs every session of fixtures/smtpd/<NN-name>/
// sessions.json against real Postfix 3.7.11 and writes the replies back into
// "expect" (normalized by the placeholder rules of test/lib/smtp-script.ts).
// The sends are the script; whatever "expect" held before is replaced.
//   node dist/tools/record-smtpd.js [--check] [--twice] [FIXTURE_DIR...]
// --check compares a fresh recording with the stored one and writes nothing;
// --twice records twice and refuses to write when the two differ.
// The whole recording runs in a private network namespace: started outside
// one, the recorder re-runs itself under `unshare -n -m` (root only).

import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { repoRoot } from '../test/lib/cases.js';
import { startDaemon } from '../test/lib/daemon.js';
import { execInNamespaceSync, namespaceReady, whyNoNamespace } from '../test/lib/netns.js';
import {
  type Session,
  countReplies,
  formatSessions,
  listSmtpdFixtures,
  loadSessions,
  playSessions,
} from '../test/lib/smtp-script.js';

/** Record every session of one fixture against real Postfix; returns the sessions with fresh expects. */
export async function recordFixture(fixtureDir: string): Promise<{ sessions: Session[]; warnings: string[] }> {
  const script = loadSessions(fixtureDir);
  const daemon = await startDaemon('postfix', fixtureDir);
  const warnings: string[] = [];
  try {
    const results = await playSessions(script, { mode: 'record' });
    const sessions = script.map((s, i) => ({
      ...s,
      steps: s.steps.map((st, k) => {
        const r = results[i]![k]!;
        if (r.error && !r.closed) warnings.push(`${path.basename(fixtureDir)}: ${s.name} step ${k + 1}: ${r.error}`);
        return { send: st.send, latin1: st.latin1, replies: st.replies, expect: r.replies, closed: r.closed || undefined };
      }),
    }));
    return { sessions, warnings };
  } finally {
    await daemon.stop();
  }
}

async function main(argv: string[]): Promise<number> {
  const flags = new Set(argv.filter((a) => a.startsWith('--')));
  const dirs = argv.filter((a) => !a.startsWith('--')).map((d) => path.resolve(d));
  const fixtures = dirs.length ? dirs : listSmtpdFixtures(path.join(repoRoot(), 'fixtures', 'smtpd'));
  let failed = false;
  let totalReplies = 0;
  let totalSessions = 0;
  for (const dir of fixtures) {
    const first = await recordFixture(dir);
    for (const w of first.warnings) console.error(`warning: ${w}`);
    const text = formatSessions(first.sessions);
    const name = path.basename(dir);
    if (flags.has('--twice')) {
      const second = formatSessions((await recordFixture(dir)).sessions);
      if (second !== text) {
        console.error(`${name}: two recordings differ; not written`);
        failed = true;
        continue;
      }
    }
    const file = path.join(dir, 'sessions.json');
    if (flags.has('--check')) {
      const same = fs.readFileSync(file, 'utf8') === text;
      if (!same) failed = true;
      console.log(`${name}: ${same ? 'identical to' : 'DIFFERS from'} the stored recording`);
    } else {
      fs.writeFileSync(file, text);
    }
    const replies = countReplies(first.sessions);
    totalReplies += replies;
    totalSessions += first.sessions.length;
    console.log(`${name}: ${first.sessions.length} sessions, ${replies} replies`);
  }
  console.log(`total: ${fixtures.length} fixtures, ${totalSessions} sessions, ${totalReplies} replies`);
  return failed ? 1 : 0;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === fs.realpathSync(process.argv[1])) {
  const args = process.argv.slice(2);
  if (namespaceReady()) {
    process.exitCode = await main(args);
  } else {
    const why = whyNoNamespace();
    if (why) {
      console.error(`record-smtpd: ${why}`);
      process.exitCode = 1;
    } else {
      process.exitCode = execInNamespaceSync([process.execPath, fileURLToPath(import.meta.url), ...args]);
    }
  }
}
