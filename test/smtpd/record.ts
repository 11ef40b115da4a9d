// Records the extra smtpd fixtures of test/smtpd/fixtures/ against real
// Postfix 3.7.11: the replies (sessions.json, same format as
// fixtures/smtpd/) and the smtpd maillog lines of each session
// (maillog.json), normalized by normalizeLogLine(). Sessions run one at a
// time so that each one's log lines can be told apart.
//   node dist/test/smtpd/record.js [FIXTURE_DIR...]
// Runs in a private network namespace (re-runs itself under unshare as root).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { repoRoot } from '../lib/cases.js';
import { startDaemon } from '../lib/daemon.js';
import { execInNamespaceSync, namespaceReady, whyNoNamespace } from '../lib/netns.js';
import { formatSessions, listSmtpdFixtures, loadSessions, playSession, type Session } from '../lib/smtp-script.js';
import { normalizeRequest, startPolicyServer, type PolicyRequest, type PolicyServer } from './policy-server.js';

/** A fixture's scripted policy server, when it has a policy.port file. */
export async function fixturePolicyServer(dir: string): Promise<PolicyServer | null> {
  const file = path.join(dir, 'policy.port');
  return fs.existsSync(file) ? startPolicyServer(Number(fs.readFileSync(file, 'utf8').trim())) : null;
}

/** The extra fixtures' root. */
export function extraFixtureRoot(): string {
  return path.join(repoRoot(), 'test', 'smtpd', 'fixtures');
}

/**
 * A maillog line without what differs per run: the timestamp and host, the
 * process ID, queue IDs (@QID@), client ports and delays.
 */
export function normalizeLogLine(line: string): string {
  return line
    .replace(/^[A-Z][a-z]{2} [ 0-9]\d \d\d:\d\d:\d\d \S+ /, '')
    .replace(/^(\S+)\[\d+\]: /, '$1: ')
    .replace(/\b[0-9A-F]{9,12}\b/g, '@QID@');
}

/** The smtpd lines of a maillog text. */
export function smtpdLines(text: string): string[] {
  return text.split('\n').filter((l) => /\/smtpd(\[\d+\])?: /.test(l)).map(normalizeLogLine);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One queue file's records as [type, data] (data one character per byte). */
export function parseQueueFile(buf: Buffer): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  let i = 0;
  while (i < buf.length) {
    const type = String.fromCharCode(buf[i++]!);
    let len = 0;
    for (let shift = 0; ; shift += 7) {
      const b = buf[i++]!;
      len |= (b & 0x7f) << shift;
      if (!(b & 0x80)) break;
    }
    out.push([type, buf.toString('latin1', i, i + len)]);
    i += len;
  }
  return out;
}

/** Records with what differs per run replaced: times, dates, ports, queue IDs. */
export function normalizeRecords(records: Array<[string, string]>, queueIds: string[]): Array<[string, string]> {
  return records.map(([type, data]) => {
    let d = data;
    for (const id of queueIds) d = d.split(id).join('@QID@');
    if (type === 'T' || type === 'C') d = `@${type}@`;
    d = d.replace(/^(create_time|client_port|log_client_port)=\d+$/, '$1=@N@');
    d = d.replace(/[A-Z][a-z]{2}, [ \d]\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d [+-]\d{4} \([A-Z]+\)/, '@DATE@');
    return [type, d];
  });
}

/** The queue files under the incoming and hold directories, by name. */
function queueFiles(spool: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const q of ['incoming', 'hold']) {
    const walk = (dir: string): void => {
      if (!fs.existsSync(dir)) return;
      for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        const full = path.join(dir, e.name);
        if (e.isDirectory()) walk(full);
        else out.set(e.name, full);
      }
    };
    walk(path.join(spool, q));
  }
  return out;
}

async function recordFixture(dir: string): Promise<void> {
  const script = loadSessions(dir);
  const policy = await fixturePolicyServer(dir);
  const policyLog: Record<string, PolicyRequest[]> = {};
  const daemon = await startDaemon('postfix', dir);
  const logs: Record<string, string[]> = {};
  const queue: Record<string, Array<Array<[string, string]>>> = {};
  const seen = new Set<string>();
  const out: Session[] = [];
  try {
    // Let the log lines of startDaemon's port probes arrive first.
    await sleep(1000);
    for (const s of script) {
      const before = daemon.log().length;
      const requestsBefore = policy?.requests.length ?? 0;
      const results = await playSession(s, { mode: 'record' });
      // postlogd writes asynchronously: wait for the disconnect line.
      for (let i = 0; i < 40 && !/disconnect from/.test(daemon.log().slice(before)); i++) await sleep(100);
      await sleep(200);
      logs[s.name] = smtpdLines(daemon.log().slice(before));
      if (policy) policyLog[s.name] = policy.requests.slice(requestsBefore).map(normalizeRequest);
      const files = [...queueFiles(path.join(daemon.dir, 'spool')).entries()].filter(([id]) => !seen.has(id));
      if (files.length) {
        files.forEach(([id]) => seen.add(id));
        const ids = files.map(([id]) => id);
        const msgs = files.map(([, f]) => parseQueueFile(fs.readFileSync(f)));
        msgs.sort((a, b) => (a.find((r) => r[0] === 'T')?.[1] ?? '').localeCompare(b.find((r) => r[0] === 'T')?.[1] ?? '', 'en', { numeric: true }));
        queue[s.name] = msgs.map((m) => normalizeRecords(m, ids));
      }
      out.push({
        ...s,
        steps: s.steps.map((st, k) => ({ send: st.send, latin1: st.latin1, replies: st.replies, expect: results[k]!.replies, closed: results[k]!.closed || undefined })),
      });
      console.log(`${path.basename(dir)}: ${s.name}`);
    }
  } finally {
    await daemon.stop();
    await policy?.close();
  }
  fs.writeFileSync(path.join(dir, 'sessions.json'), formatSessions(out));
  if (policy) fs.writeFileSync(path.join(dir, 'policy.json'), JSON.stringify(policyLog, null, 1) + '\n');
  fs.writeFileSync(path.join(dir, 'maillog.json'), JSON.stringify(logs, null, 1) + '\n');
  if (Object.keys(queue).length) fs.writeFileSync(path.join(dir, 'queue.json'), JSON.stringify(queue, null, 1) + '\n');
}

async function main(args: string[]): Promise<void> {
  const dirs = args.length ? args.map((a) => path.resolve(a)) : listSmtpdFixtures(extraFixtureRoot());
  for (const d of dirs) await recordFixture(d);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === fs.realpathSync(process.argv[1])) {
  const args = process.argv.slice(2);
  if (namespaceReady()) {
    await main(args);
  } else {
    const why = whyNoNamespace();
    if (why) {
      console.error(`record: ${why}`);
      process.exitCode = 1;
    } else {
      process.exitCode = execInNamespaceSync([process.execPath, fileURLToPath(import.meta.url), ...args]);
    }
  }
}
