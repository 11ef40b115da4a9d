// Records what the hardening tests of issue 12 compare against, from
// Postfix 3.7.11, into fixtures/hardening/:
//   cleanup-log.json  cleanup's maillog lines per session of the smtpd
//                     fixture test/smtpd/fixtures/21-content-hardening (the
//                     NUL header and pcre: match-limit sessions), with the
//                     run directory shown as @DIR@ (record.ts keeps the
//                     replies, the smtpd lines and the queue files)
//   unwritable.json   postmap and postalias rebuilding a table they may not
//                     write: run as nobody, as root may write anything
//   deleted-table.json a check_recipient_access table removed while smtpd
//                     runs: the replies before and after, and smtpd's lines
//   node dist/tools/record-hardening.js
// Runs in a private network namespace (re-runs itself under unshare as root).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { repoRoot } from '../test/lib/cases.js';
import { startDaemon } from '../test/lib/daemon.js';
import { execInNamespaceSync, namespaceReady, whyNoNamespace } from '../test/lib/netns.js';
import { loadSessions, playSession } from '../test/lib/smtp-script.js';
import { normalizeLogLine } from '../test/smtpd/record.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const OUT = () => path.join(repoRoot(), 'fixtures', 'hardening');

/** Waits until the maillog after `before` has a line matching re (postlogd writes asynchronously). */
async function waitLog(log: () => string, before: number, re: RegExp): Promise<void> {
  for (let i = 0; i < 50 && !re.test(log().slice(before)); i++) await sleep(100);
  await sleep(300);
}

async function recordCleanupLog(): Promise<void> {
  const dir = path.join(repoRoot(), 'test', 'smtpd', 'fixtures', '21-content-hardening');
  const daemon = await startDaemon('postfix', dir);
  const out: Record<string, string[]> = {};
  try {
    await sleep(1000);
    for (const s of loadSessions(dir)) {
      const before = daemon.log().length;
      await playSession(s, { mode: 'record' });
      await waitLog(daemon.log, before, /disconnect from/);
      out[s.name] = daemon.log().slice(before).split('\n')
        .filter((l) => /\/cleanup(\[\d+\])?: /.test(l) && !/: message-id=|public\/qmgr/.test(l))
        .map((l) => normalizeLogLine(l).split(daemon.configDir).join('@DIR@'));
    }
  } finally {
    await daemon.stop();
  }
  fs.writeFileSync(path.join(OUT(), 'cleanup-log.json'), JSON.stringify(out, null, 1) + '\n');
}

/** One command as nobody in dir: its stderr, stdout and exit status. */
function asNobody(dir: string, argv: string[]): { argv: string[]; stdout: string; stderr: string; status: number } {
  const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', ...argv], { cwd: dir, encoding: 'utf8', env: { PATH: '/usr/bin:/bin', LANG: 'C' } });
  return { argv: argv.map((a) => a.split(dir).join('@DIR@')), stdout: r.stdout, stderr: r.stderr, status: r.status ?? -1 };
}

/** The cases of unwritable.json: [program, args] with a table nobody may not rewrite. */
export const UNWRITABLE_CASES: Array<{ program: string; args: string[]; source: string; text: string }> = [
  { program: 'postmap', args: ['hash:table'], source: 'table', text: 'a b\n' },
  { program: 'postmap', args: ['lmdb:table'], source: 'table', text: 'a b\n' },
  { program: 'postmap', args: ['table'], source: 'table', text: 'a b\n' },
  { program: 'postalias', args: ['hash:aliases'], source: 'aliases', text: 'root: a\n' },
  { program: 'postalias', args: ['lmdb:aliases'], source: 'aliases', text: 'root: a\n' },
];

/** A directory owned by nobody with a source and its table built, then made read-only. */
export function unwritableSetup(program: string, args: string[], source: string, text: string, bin: (p: string) => string): string {
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'hardening-ro-')));
  fs.writeFileSync(path.join(dir, 'main.cf'), '');
  fs.writeFileSync(path.join(dir, source), text);
  const r = spawnSync(bin(program), ['-c', dir, ...args], { cwd: dir, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${program} ${args.join(' ')}: ${r.stderr}`);
  for (const f of fs.readdirSync(dir)) {
    fs.chownSync(path.join(dir, f), 65534, 65534);
    if (f.endsWith('.db') || f.endsWith('.lmdb')) fs.chmodSync(path.join(dir, f), 0o444);
  }
  fs.chownSync(dir, 65534, 65534);
  return dir;
}

export function runUnwritable(bin: (p: string) => string): Array<ReturnType<typeof asNobody>> {
  return UNWRITABLE_CASES.map((c) => {
    const dir = unwritableSetup(c.program, c.args, c.source, c.text, bin);
    try {
      return asNobody(dir, [bin(c.program), '-c', dir, ...c.args]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
}

function recordUnwritable(): void {
  const cases = runUnwritable((p) => `/usr/sbin/${p}`).map((c) => ({ ...c, argv: [path.basename(c.argv[0]!), ...c.argv.slice(1)] }));
  fs.writeFileSync(path.join(OUT(), 'unwritable.json'), JSON.stringify(cases, null, 1) + '\n');
}

/**
 * Session "before" runs with the table in place; then access.db is removed
 * while a client holds a connection open (so that the next client meets a
 * freshly started smtpd, as it would after max_idle), and "after" runs.
 */
async function recordDeletedTable(): Promise<void> {
  const dir = path.join(repoRoot(), 'test', 'smtpd', 'fixtures', '22-deleted-table');
  const daemon = await startDaemon('postfix', dir);
  const out: Record<string, { replies: string[][]; log: string[] }> = {};
  try {
    await sleep(1000);
    const [before, after] = loadSessions(dir);
    const run = async (s: NonNullable<typeof before>): Promise<void> => {
      const mark = daemon.log().length;
      const results = await playSession(s, { mode: 'record' });
      await waitLog(daemon.log, mark, /disconnect from/);
      const log = daemon.log().slice(mark).split('\n').filter((l) => /\/smtpd(\[\d+\])?: /.test(l))
        .map((l) => normalizeLogLine(l).split(daemon.configDir).join('@DIR@'));
      out[s.name] = { replies: results.map((r) => r.replies), log };
    };
    await run(before!);
    const holder = await new Promise<import('node:net').Socket>((resolve) => {
      const sock = net.connect({ host: '127.0.0.1', port: daemon.ports[0]! }, () => resolve(sock));
    });
    fs.rmSync(path.join(daemon.configDir, 'access.db'));
    await run(after!);
    holder.destroy();
  } finally {
    await daemon.stop();
  }
  fs.writeFileSync(path.join(OUT(), 'deleted-table.json'), JSON.stringify(out, null, 1) + '\n');
}

async function main(): Promise<void> {
  fs.mkdirSync(OUT(), { recursive: true });
  recordUnwritable();
  await recordCleanupLog();
  await recordDeletedTable();
}

if (process.argv[1] && fileURLToPath(import.meta.url) === fs.realpathSync(process.argv[1])) {
  if (namespaceReady()) {
    await main();
  } else {
    const why = whyNoNamespace();
    if (why) {
      console.error(`record-hardening: ${why}`);
      process.exitCode = 1;
    } else {
      process.exitCode = execInNamespaceSync([process.execPath, fileURLToPath(import.meta.url), ...process.argv.slice(2)]);
    }
  }
}
