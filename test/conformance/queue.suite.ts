// Conformance suite for the queue shared with Postfix 3.7.11 (issue 10, done-when 4).
// One spool and one configuration directory are handed back and forth:
//   1. Postfix runs with defer_transports = virtual: messages to a@a.example (virtual,
//      deferred) and b@b.example (virtual2, delivered); one is held by header_checks.
//      With Postfix down, more messages wait in maildrop/ in Postfix's format.
//   2. This project takes the spool (defer_transports = virtual2): our postsuper -H
//      releases the held message, our pickup takes Postfix's maildrop files, our qmgr
//      delivers what Postfix deferred, and new messages leave their b parts deferred
//      and one held; with ours down, more wait in maildrop/ in our format.
//      On that queue, and on the one Postfix left in step 1, Postfix's
//      postqueue -p/-j and postcat -q print what ours print.
//   3. Postfix takes it back (nothing deferred), releases and delivers the rest.
// Every (message, mailbox) pair must be delivered exactly once. Daemons run in a
// private network namespace: outside one, run() re-runs this file under it (root)
// and reads its JSON report, as smtpd.suite.ts does:
//   node dist/test/conformance/queue.suite.js --json

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SuiteReport } from '../lib/cases.js';
import { type DaemonKind, programPath, runPaths } from '../lib/daemon.js';
import { namespaceReady, runInNamespace, whyNoNamespace } from '../lib/netns.js';

export const name = 'queue';
export const binaries = ['postfix', 'postqueue', 'postcat', 'postsuper', 'sendmail'];

const WAIT_MS = 60000;
const POLL_MS = 200;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The messages of each batch, by the phase that submits them. */
const BATCHES = {
  P: ['P1', 'P2', 'P3', 'P4', 'P5'], // to Postfix, running
  H: ['H1'], // to Postfix, held by header_checks
  D: ['D1', 'D2', 'D3'], // to Postfix's maildrop, Postfix down
  O: ['O1', 'O2', 'O3', 'O4', 'O5'], // to ours, running
  OH: ['OH1'], // to ours, held by header_checks
  E: ['E1', 'E2'], // to our maildrop, ours down
};
const ALL_TAGS = Object.values(BATCHES).flat();

function env(): NodeJS.ProcessEnv {
  return { PATH: '/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin', TZ: 'UTC', LANG: 'C' };
}

interface Run {
  status: number;
  stdout: string;
  stderr: string;
}

function exec(file: string, args: string[], input?: string): Run {
  const r = spawnSync(file, args, { env: env(), input: input === undefined ? undefined : Buffer.from(input, 'latin1'), timeout: 60000 });
  return { status: r.status ?? -1, stdout: r.stdout?.toString('latin1') ?? '', stderr: `${r.stderr?.toString('latin1') ?? ''}${r.error ? `[${r.error.message}]` : ''}` };
}

function must(file: string, args: string[], input?: string): Run {
  const r = exec(file, args, input);
  if (r.status !== 0) throw new Error(`${file} ${args.join(' ')}: exit ${r.status}: ${r.stdout}${r.stderr}`);
  return r;
}

function userIds(user: string): { uid: number; gid: number } {
  for (const line of fs.readFileSync('/etc/passwd', 'utf8').split('\n')) {
    const f = line.split(':');
    if (f[0] === user) return { uid: Number(f[2]), gid: Number(f[3]) };
  }
  throw new Error(`no user ${user}`);
}

const MASTER_CF = `pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
virtual   unix  -       n       n       -       -       virtual
virtual2  unix  -       n       n       -       -       virtual
postlog   unix-dgram n  -       n       -       1       postlogd
`;

/** A spool and configuration shared by both implementations. */
class Handoff {
  readonly conf: string;
  private readonly vmail: string;
  constructor(readonly dir: string) {
    this.conf = path.join(dir, 'conf');
    this.vmail = path.join(dir, 'vmail');
    const nobody = userIds('nobody');
    const owner = userIds('postfix');
    fs.chmodSync(dir, 0o755);
    fs.mkdirSync(this.conf, { mode: 0o755 });
    fs.mkdirSync(path.join(dir, 'spool'), { mode: 0o755 });
    fs.mkdirSync(path.join(dir, 'data'), { mode: 0o700 });
    fs.chownSync(path.join(dir, 'data'), owner.uid, owner.gid);
    fs.mkdirSync(this.vmail, { mode: 0o755 });
    fs.chownSync(this.vmail, nobody.uid, nobody.gid);
    fs.writeFileSync(path.join(this.conf, 'master.cf'), MASTER_CF);
    fs.writeFileSync(path.join(this.conf, 'header_checks'), '/^X-Hold: yes/ HOLD\n');
    this.settings('virtual');
  }

  /** main.cf with the given defer_transports. */
  settings(deferTransports: string): void {
    const { uid, gid } = userIds('nobody');
    const lines = [
      'compatibility_level = 3.6',
      'myhostname = host.example.com',
      'mydomain = example.com',
      'mydestination =',
      'inet_interfaces = loopback-only',
      'inet_protocols = ipv4',
      'biff = no',
      'alias_maps =',
      'alias_database =',
      'default_transport = error:5.7.1 nothing leaves this test',
      'relay_transport = $default_transport',
      'virtual_mailbox_domains = a.example, b.example',
      `virtual_mailbox_base = ${this.vmail}`,
      'virtual_mailbox_maps = inline:{a@a.example=a/,b@b.example=b/}',
      `virtual_uid_maps = static:${uid}`,
      `virtual_gid_maps = static:${gid}`,
      'transport_maps = inline:{b.example=virtual2:}',
      'header_checks = regexp:$config_directory/header_checks',
      // Deferred mail is ripe again after a second, and the deferred queue is scanned
      // every second: no flush is needed (a flush would override defer_transports).
      'minimal_backoff_time = 1s',
      'maximal_backoff_time = 1s',
      'queue_run_delay = 1s',
      `defer_transports = ${deferTransports}`,
      ...runPaths(this.dir),
    ];
    fs.writeFileSync(path.join(this.conf, 'main.cf'), `${lines.join('\n')}\n`);
  }

  submit(kind: DaemonKind, tag: string): void {
    const hold = tag.startsWith('H') || tag.startsWith('OH') ? 'X-Hold: yes\n' : '';
    const text = `From: s@host.example.com\nTo: a@a.example, b@b.example\nSubject: handoff ${tag}\n${hold}\nmessage ${tag}\n`;
    must(programPath(kind, 'sendmail'), ['-C', this.conf, '-i', '-f', 's@host.example.com', 'a@a.example', 'b@b.example'], text);
  }

  start(kind: DaemonKind): void {
    must(programPath(kind, 'postfix'), ['-c', this.conf, 'start']);
  }

  async stop(kind: DaemonKind): Promise<void> {
    const pidFile = path.join(this.dir, 'spool', 'pid', 'master.pid');
    const pid = fs.existsSync(pidFile) ? Number(fs.readFileSync(pidFile, 'utf8').trim()) : 0;
    exec(programPath(kind, 'postfix'), ['-c', this.conf, 'stop']);
    const deadline = Date.now() + WAIT_MS;
    while (pid > 0 && alive(pid) && Date.now() < deadline) await sleep(50);
    if (pid > 0 && alive(pid)) throw new Error(`${kind}: master ${pid} did not stop`);
  }

  /** How many times each tag was delivered to mailbox a/ or b/. */
  deliveries(box: 'a' | 'b'): Map<string, number> {
    const counts = new Map<string, number>();
    const dir = path.join(this.vmail, box, 'new');
    if (!fs.existsSync(dir)) return counts;
    for (const f of fs.readdirSync(dir)) {
      const tag = /^Subject: handoff (\S+)$/m.exec(fs.readFileSync(path.join(dir, f), 'latin1'))?.[1] ?? '?';
      counts.set(tag, (counts.get(tag) ?? 0) + 1);
    }
    return counts;
  }

  /** Messages per queue name, as our postqueue -j lists them. */
  queues(): Record<string, number> {
    const out: Record<string, number> = {};
    const r = exec(programPath('ours', 'postqueue'), ['-c', this.conf, '-j']);
    for (const line of r.stdout.split('\n').filter(Boolean)) {
      const q = (JSON.parse(line) as { queue_name: string }).queue_name;
      out[q] = (out[q] ?? 0) + 1;
    }
    return out;
  }

  /** Wait until the mailboxes and the queue hold exactly what `want` says. */
  async settle(label: string, want: { a: string[]; b: string[]; queues: Record<string, number> }): Promise<void> {
    const deadline = Date.now() + WAIT_MS;
    for (;;) {
      const a = sum(this.deliveries('a'));
      const b = sum(this.deliveries('b'));
      const q = this.queues();
      if (a === want.a.length && b === want.b.length && sameCounts(q, want.queues)) return;
      if (Date.now() > deadline) {
        throw new Error(`${label}: not settled: a=${a}/${want.a.length} b=${b}/${want.b.length} queue=${JSON.stringify(q)} want ${JSON.stringify(want.queues)}`);
      }
      await sleep(POLL_MS);
    }
  }
}

function alive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

function sum(m: Map<string, number>): number {
  return [...m.values()].reduce((a, b) => a + b, 0);
}

function sameCounts(a: Record<string, number>, b: Record<string, number>): boolean {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...keys].every((k) => (a[k] ?? 0) === (b[k] ?? 0));
}

/** Postfix's postqueue -p/-j and postcat -q against ours on the queue `owner` left. */
function compareTools(h: Handoff, report: SuiteReport, owner: string): void {
  const cases: { label: string; cmd: string; args: string[] }[] = [
    { label: 'postqueue -p', cmd: 'postqueue', args: ['-p'] },
    { label: 'postqueue -j', cmd: 'postqueue', args: ['-j'] },
  ];
  const listing = exec(programPath('ours', 'postqueue'), ['-c', h.conf, '-j']).stdout;
  for (const line of listing.split('\n').filter(Boolean)) {
    const id = (JSON.parse(line) as { queue_id: string }).queue_id;
    cases.push({ label: `postcat -q ${id}`, cmd: 'postcat', args: ['-q', id] });
    cases.push({ label: `postcat -e -q ${id}`, cmd: 'postcat', args: ['-e', '-q', id] });
  }
  for (const c of cases) {
    const theirs = exec(programPath('postfix', c.cmd), ['-c', h.conf, ...c.args]);
    const ours = exec(programPath('ours', c.cmd), ['-c', h.conf, ...c.args]);
    report.total++;
    if (theirs.status === ours.status && theirs.stdout === ours.stdout && theirs.stderr === ours.stderr) report.identical++;
    else report.failures.push(`${c.label} on a queue left by ${owner}: ${firstDifference(theirs, ours)}`);
  }
}

function firstDifference(theirs: Run, ours: Run): string {
  if (theirs.status !== ours.status) return `exit ${ours.status}, Postfix ${theirs.status}: ${ours.stderr}${theirs.stderr}`;
  for (const key of ['stdout', 'stderr'] as const) {
    const a = theirs[key].split('\n');
    const b = ours[key].split('\n');
    const k = a.findIndex((l, i) => l !== b[i]);
    if (k >= 0 || a.length !== b.length) {
      const at = k < 0 ? Math.min(a.length, b.length) : k;
      return `${key} line ${at + 1}: Postfix ${JSON.stringify(a[at] ?? '<eof>')}, ours ${JSON.stringify(b[at] ?? '<eof>')}`;
    }
  }
  return 'same';
}

/** The three phases; every (message, mailbox) delivered exactly once is one identical case. */
async function runHere(): Promise<SuiteReport> {
  const report: SuiteReport = { identical: 0, total: 0, failures: [] };
  const dir = fs.realpathSync(fs.mkdtempSync('/tmp/queue-handoff-'));
  const h = new Handoff(dir);
  let up: DaemonKind | null = null;
  try {
    const { P, H, D, O, OH, E } = BATCHES;
    // 1. Postfix: b parts delivered, a parts deferred, H held; D waits in maildrop/.
    h.start((up = 'postfix'));
    for (const t of [...P, ...H]) h.submit('postfix', t);
    await h.settle('Postfix, first', { a: [], b: P, queues: { deferred: P.length, hold: H.length } });
    await h.stop('postfix');
    up = null;
    for (const t of D) h.submit('postfix', t);
    compareTools(h, report, 'Postfix');

    // 2. Ours: everything of Postfix's delivered to a (and b for H and D); O's b parts deferred.
    h.settings('virtual2');
    must(programPath('ours', 'postsuper'), ['-c', h.conf, '-H', 'ALL']);
    h.start((up = 'ours'));
    for (const t of [...O, ...OH]) h.submit('ours', t);
    await h.settle('ours', { a: [...P, ...H, ...D, ...O], b: [...P], queues: { deferred: H.length + D.length + O.length, hold: OH.length } });
    await h.stop('ours');
    up = null;
    for (const t of E) h.submit('ours', t);
    compareTools(h, report, 'this project');

    // 3. Postfix again: nothing deferred any more.
    // Postfix's postsuper logs as mail_owner: with the daemon down it cannot append to a
    // maillog_file that postlogd created as root, so it runs once postlogd is up.
    h.settings('');
    h.start((up = 'postfix'));
    must(programPath('postfix', 'postsuper'), ['-c', h.conf, '-H', 'ALL']);
    await h.settle('Postfix, second', { a: ALL_TAGS, b: ALL_TAGS, queues: {} });
    await h.stop('postfix');
    up = null;
  } catch (e) {
    report.failures.push((e as Error).message);
  } finally {
    if (up) await h.stop(up).catch(() => {});
  }
  for (const box of ['a', 'b'] as const) {
    const got = h.deliveries(box);
    for (const tag of ALL_TAGS) {
      report.total++;
      const n = got.get(tag) ?? 0;
      if (n === 1) report.identical++;
      else report.failures.push(`handoff: message ${tag} delivered ${n} times to ${box}@${box}.example`);
    }
  }
  if (report.failures.length && process.env.QUEUE_SUITE_KEEP) console.error(`kept ${dir}`);
  else fs.rmSync(dir, { recursive: true, force: true });
  return report;
}

export async function run(): Promise<SuiteReport> {
  if (namespaceReady()) return runHere();
  const why = whyNoNamespace();
  if (why) return { identical: 0, total: ALL_TAGS.length * 2, failures: [`not run: ${why}`] };
  const self = fileURLToPath(import.meta.url);
  const r = await runInNamespace([process.execPath, self, '--json']);
  const last = r.stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(last) as SuiteReport;
  } catch {
    return { identical: 0, total: ALL_TAGS.length * 2, failures: [`namespace run failed (status ${r.status}):\n${r.stdout}${r.stderr}`] };
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === fs.realpathSync(process.argv[1]) && process.argv.includes('--json')) {
  const report = await run();
  process.stdout.write(JSON.stringify(report) + '\n');
}
