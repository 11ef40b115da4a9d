// Records the cleanup fixtures (fixtures/cleanup/NN-name/) from real
// Postfix 3.7.11: for each case of fixture-cases.ts, the SMTP replies
// (sessions.json), the queue files Postfix wrote (queue/CASE-N.qf, raw) and,
// normalized, their records, postcat's output and cleanup's log lines
// (expected.json). Sessions run one at a time so that files and log lines
// can be told apart.
//   node dist/test/cleanup/record.js [NN-name...]
// Runs in a private network namespace (re-runs itself under unshare as root).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { repoRoot } from '../lib/cases.js';
import { startDaemon } from '../lib/daemon.js';
import { execInNamespaceSync, namespaceReady, whyNoNamespace } from '../lib/netns.js';
import { formatSessions, masterPortOf, playSession } from './play.js';
import { toSession } from './cases.js';
import { FIXTURE_CASES } from './fixture-cases.js';
import { logQueueIds, normalizeLogLine } from './normalize.js';
import { listQueueFiles, REAL_POSTCAT, sleep, viewNewFiles, waitNewFiles, type QueueFileView } from './queue-files.js';

export interface ExpectedCase {
  messages: QueueFileView[];
  log: string[];
}

export function fixtureRoot(): string {
  return path.join(repoRoot(), 'fixtures', 'cleanup');
}

/**
 * cleanup's lines in a maillog text. The complaint about a missing queue
 * manager (left out of some fixtures on purpose) is not cleanup's business.
 */
export function cleanupLines(text: string): string[] {
  return text.split('\n').filter((l) => /postfix\/cleanup\[\d+\]: /.test(l) && !l.includes('unable to look up public/qmgr'));
}

async function recordFixture(name: string): Promise<void> {
  const dir = path.join(fixtureRoot(), name);
  const cases = FIXTURE_CASES[name];
  if (!cases) throw new Error(`no cases for ${name}`);
  const port = masterPortOf(dir);
  const daemon = await startDaemon('postfix', dir);
  const spool = path.join(daemon.dir, 'spool');
  const sessions = [];
  const expected: Record<string, ExpectedCase> = {};
  const qdir = path.join(dir, 'queue');
  fs.rmSync(qdir, { recursive: true, force: true });
  fs.mkdirSync(qdir);
  try {
    for (const spec of cases) {
      const session = toSession(spec, port);
      const before = listQueueFiles(spool);
      const logBefore = daemon.log().length;
      const results = await playSession(session, { mode: 'record' });
      session.steps.forEach((st, i) => {
        st.expect = results[i]?.replies ?? [];
        if (results[i]?.closed) st.closed = true;
        if (results[i]?.error && !results[i]?.closed) console.error(`${name}/${spec.name}: step ${i + 1}: ${results[i]!.error}`);
        delete st.replies;
      });
      const ids = await waitNewFiles(spool, before);
      await sleep(300); // postlogd writes the maillog asynchronously
      const { ids: order, views, raw, others } = viewNewFiles(spool, ids, daemon.configDir, REAL_POSTCAT);
      raw.forEach((data, k) => fs.writeFileSync(path.join(qdir, `${spec.name}-${k + 1}.qf`), data));
      const lines = cleanupLines(daemon.log().slice(logBefore)).filter((l) => !others.some((id) => l.includes(`: ${id}: `)));
      const log = lines.map((l) => normalizeLogLine(l, logQueueIds(lines, order)));
      expected[spec.name] = { messages: views, log };
      sessions.push(session);
      console.log(`${name}/${spec.name}: ${views.length} file(s), ${log.length} log line(s)`);
    }
  } finally {
    await daemon.stop();
  }
  fs.writeFileSync(path.join(dir, 'sessions.json'), formatSessions(sessions));
  fs.writeFileSync(path.join(dir, 'expected.json'), `${JSON.stringify(expected, null, 1)}\n`);
}

async function main(): Promise<void> {
  const only = process.argv.slice(2);
  const names = Object.keys(FIXTURE_CASES).filter((n) => only.length === 0 || only.some((o) => n.startsWith(o)));
  for (const n of names) await recordFixture(n);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === fs.realpathSync(process.argv[1])) {
  if (namespaceReady()) {
    main().catch((e) => {
      console.error(e);
      process.exit(1);
    });
  } else {
    const why = whyNoNamespace();
    if (why) {
      console.error(`record: ${why}`);
      process.exit(1);
    }
    process.exit(execInNamespaceSync([process.execPath, fileURLToPath(import.meta.url), ...process.argv.slice(2)]));
  }
}
