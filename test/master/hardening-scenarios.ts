// The master's process model under attack and faults (issue 12, points 2,
// 5, 6 and 8), as scenarios run against a daemon started by
// test/lib/daemon.ts on a copy of fixtures/smtpd/01-defaults: clients that
// connect and close before they get a slot, more slow clients than
// process_limit, a worker killed in the middle of messages, and a reload
// with a bad main.cf. Each returns what a client and the maillog show, in
// a form that does not depend on the implementation's process layout, so
// that tools/record-hardening-master.ts can record Postfix 3.7.11's answer
// into fixtures/hardening-master/ and test/master/hardening.test.ts can
// hold this project's daemon to it. Inside a private network namespace only.
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { repoRoot } from '../lib/cases.js';
import { type Daemon, type DaemonKind, programPath, startDaemon } from '../lib/daemon.js';
import { tempDir } from '../lib/tmp.js';
import { body, connect, ReplyReader } from './smtp-load.js';

export const FIXTURE_DIR = path.join(repoRoot(), 'fixtures', 'hardening-master');
const BASE = path.join(repoRoot(), 'fixtures', 'smtpd', '01-defaults');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A copy of the base fixture with smtpd's process limit and main.cf lines of the scenario's own. */
function fixture(processLimit: number, mainCf: string[]): string {
  const dir = tempDir('hardening-master-');
  for (const f of fs.readdirSync(BASE)) fs.copyFileSync(path.join(BASE, f), path.join(dir, f));
  const masterCf = path.join(dir, 'master.cf');
  fs.writeFileSync(masterCf, fs.readFileSync(masterCf, 'utf8').replace(/^(127\.0\.0\.1:\d+\s+inet\s+n\s+-\s+n\s+-\s+)-/m, `$1${processLimit}`));
  fs.appendFileSync(path.join(dir, 'main.cf'), mainCf.map((l) => `${l}\n`).join(''));
  return dir;
}

/** A maillog line without time, host and process IDs. */
export function maskLine(line: string): string {
  return line
    .replace(/^\w{3} [ \d]\d \d\d:\d\d:\d\d \S+ /, '')
    .replace(/\[\d+\]:/, '[N]:')
    .replace(/\bpid \d+/g, 'pid N')
    .replace(/configuration \/\S+/, 'configuration DIR');
}

function logSince(d: Daemon, offset: number): string[] {
  return d.log().slice(offset).split('\n').filter(Boolean).map(maskLine);
}

async function until(check: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) return false;
    await sleep(50);
  }
  return true;
}

/** Counts how many clients have had a greeting; settles once none came for quietMs. */
async function settle(count: () => number, quietMs: number, maxMs: number): Promise<number> {
  const deadline = Date.now() + maxMs;
  let last = -1;
  let since = Date.now();
  while (Date.now() < deadline) {
    const n = count();
    if (n !== last) {
      last = n;
      since = Date.now();
    } else if (Date.now() - since >= quietMs) break;
    await sleep(100);
  }
  return count();
}

/** The process serving the server side of a client's connection (from ss -tnp). */
function serverPid(serverPort: number, clientPort: number): number | null {
  const out = execFileSync('ss', ['-tnpH', 'state', 'established'], { encoding: 'utf8' });
  const re = new RegExp(`127\\.0\\.0\\.1:${serverPort}\\s+127\\.0\\.0\\.1:${clientPort}\\s.*pid=(\\d+)`);
  for (const line of out.split('\n')) {
    const m = re.exec(line);
    if (m) return Number(m[1]);
  }
  return null;
}

/** Opens n connections and closes each at once, without reading. */
async function deadClients(port: number, n: number): Promise<void> {
  const sockets = await Promise.all(Array.from({ length: n }, () => connect('127.0.0.1', port)));
  for (const s of sockets) s?.end();
}

function count(lines: string[], re: RegExp): number {
  return lines.filter((l) => re.test(l)).length;
}

export interface DeadClientsResult {
  /** What the next client read first (within 60 s; smtpd_timeout is 300 s). */
  nextGreeting: string;
  /** "lost connection after CONNECT" for each dead client and the next one. */
  everyDeadClientLogged: boolean;
  timeoutAfterConnect: number;
  /** Slow clients greeted after three bursts of 100 dead clients, with process_limit 100. */
  greetedAfterBursts: number;
}

/** Point 2: clients that went away before they got a slot hold none. */
export async function deadClientsScenario(kind: DaemonKind): Promise<DeadClientsResult> {
  const d = await startDaemon(kind, fixture(100, []));
  const slow: net.Socket[] = [];
  try {
    const port = d.ports[0]!;
    const mark = d.log().length;
    await deadClients(port, 400);
    const next = await connect('127.0.0.1', port);
    const reader = new ReplyReader(next!);
    const greeting = await reader.within(60_000);
    next!.destroy();
    await until(() => count(logSince(d, mark), /lost connection after CONNECT/) >= 401, 60_000);
    const lines = logSince(d, mark);
    for (let i = 0; i < 3; i++) await deadClients(port, 100);
    let greeted = 0;
    for (let i = 0; i < 100; i++) {
      const s = await connect('127.0.0.1', port);
      if (!s) continue;
      s.on('error', () => undefined);
      s.once('data', () => greeted++);
      slow.push(s);
    }
    return {
      nextGreeting: typeof greeting === 'string' ? greeting : String(greeting),
      everyDeadClientLogged: count(lines, /lost connection after CONNECT/) >= 401,
      timeoutAfterConnect: count(lines, /timeout after CONNECT/),
      greetedAfterBursts: await settle(() => greeted, 3000, 60_000),
    };
  } finally {
    for (const s of slow) s.destroy();
    await d.stop();
  }
}

export interface SlowClientsResult {
  clients: number;
  processLimit: number;
  greeted: number;
  /** Greeted once one greeted client leaves. */
  greetedAfterOneLeft: number;
}

/** Point 5: process_limit is for the service as a whole. */
export async function slowClientsScenario(kind: DaemonKind): Promise<SlowClientsResult> {
  const d = await startDaemon(kind, fixture(100, []));
  const sockets: net.Socket[] = [];
  try {
    const port = d.ports[0]!;
    let greeted = 0;
    const first: net.Socket[] = [];
    for (let i = 0; i < 150; i++) {
      const s = net.connect(port, '127.0.0.1');
      s.on('error', () => undefined);
      s.once('data', () => {
        greeted++;
        first.push(s);
      });
      sockets.push(s);
    }
    const atLimit = await settle(() => greeted, 3000, 60_000);
    first[0]?.destroy();
    const after = await settle(() => greeted, 3000, 60_000);
    return { clients: 150, processLimit: 100, greeted: atLimit, greetedAfterOneLeft: after };
  } finally {
    for (const s of sockets) s.destroy();
    await d.stop();
  }
}

export interface KilledWorkerResult {
  sessions: number;
  /** Every session served by the killed process was cut, and no other. */
  onlyItsOwnCut: boolean;
  /** The other sessions' end of data got "250 2.0.0 Ok: queued as". */
  othersQueued: boolean;
  /** Queue files without the complete mode once the other sessions are done. */
  incomplete: number;
  /** Queue files in all, plus the messages already delivered and removed, equal to the queued messages. */
  queueFilesMatchQueued: boolean;
  masterLog: string[];
}

function queueFiles(spool: string): Array<{ name: string; ready: boolean }> {
  const out: Array<{ name: string; ready: boolean }> = [];
  for (const q of ['incoming', 'active', 'deferred', 'hold']) {
    const walk = (dir: string): void => {
      let entries: fs.Dirent[];
      try {
        entries = fs.readdirSync(dir, { withFileTypes: true });
      } catch {
        return;
      }
      for (const e of entries) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else if (e.isFile()) out.push({ name: e.name, ready: (fs.statSync(p).mode & 0o700) === 0o700 });
      }
    };
    walk(path.join(spool, q));
  }
  return out;
}

/** Point 6: a killed worker takes only its own sessions and leaves no unfinished queue file. */
export async function killedWorkerScenario(kind: DaemonKind): Promise<KilledWorkerResult> {
  const d = await startDaemon(kind, fixture(100, []));
  const sessions: Array<{ socket: net.Socket; reader: ReplyReader; pid: number | null; closed: boolean }> = [];
  try {
    const port = d.ports[0]!;
    for (let i = 0; i < 6; i++) {
      const socket = (await connect('127.0.0.1', port))!;
      socket.on('error', () => undefined);
      const reader = new ReplyReader(socket);
      const s = { socket, reader, pid: null as number | null, closed: false };
      socket.on('close', () => (s.closed = true));
      await reader.next();
      socket.write('EHLO client.example\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<root@mx.example.com>\r\nDATA\r\n');
      for (let r = 0; r < 4; r++) await reader.next();
      // Part of a message: the queue file exists and is not complete.
      socket.write('Subject: part\r\n\r\nsome text\r\n');
      s.pid = serverPid(port, socket.localPort!);
      sessions.push(s);
    }
    await until(() => queueFiles(path.join(d.dir, 'spool')).length >= 6, 10_000);
    const victim = sessions[0]!.pid!;
    const mark = d.log().length;
    process.kill(victim, 'SIGKILL');
    const mine = sessions.filter((s) => s.pid === victim);
    const others = sessions.filter((s) => s.pid !== victim);
    await until(() => mine.every((s) => s.closed), 10_000);
    let queued = 0;
    for (const s of others) {
      s.socket.write(body('rest', 200));
      if (/^250 2\.0\.0 Ok: queued as \S+\r\n$/.test((await s.reader.next()) ?? '')) queued++;
    }
    await until(() => d.log().slice(mark).includes('killed by signal 9'), 10_000);
    await until(() => queueFiles(path.join(d.dir, 'spool')).every((f) => f.ready), 5_000);
    const files = queueFiles(path.join(d.dir, 'spool'));
    return {
      sessions: sessions.length,
      onlyItsOwnCut: mine.every((s) => s.closed) && others.every((s) => !s.closed),
      othersQueued: queued === others.length,
      incomplete: files.filter((f) => !f.ready).length,
      // A queued message may already be delivered and gone ("QID: removed").
      queueFilesMatchQueued: files.length + logSince(d, mark).filter((l) => /: removed$/.test(l)).length === queued,
      masterLog: logSince(d, mark).filter((l) => l.startsWith('postfix/master')),
    };
  } finally {
    for (const s of sessions) s.socket.destroy();
    await d.stop();
  }
}

export interface BadReloadResult {
  reload: { status: number; output: string };
  /** Maillog lines the failed reload wrote (postfix-script, master, postsuper, postlog). */
  reloadLog: string[];
  /** A client after the failed reload, served by the running process. */
  greetingAfterReload: string;
  /** After the process died, while main.cf is bad: the log and what a client gets meanwhile. */
  deathLog: string[];
  greetingWhileBroken: string;
  fixedReloadStatus: number;
  /** The waiting client, once main.cf is fixed and reloaded. */
  greetingAfterFix: string;
}

function postfixCommand(d: Daemon, command: string): { status: number; output: string } {
  const r = spawnSync(programPath(d.kind, 'postfix'), ['-c', d.configDir, command], { encoding: 'utf8', env: { PATH: process.env.PATH, TZ: 'UTC' } });
  return { status: r.status ?? -1, output: `${r.stdout}${r.stderr}` };
}

/** The live smtpd processes of a master (Postfix's and this project's name them so). */
function smtpdPids(master: number): number[] {
  const out: number[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === master && fields[0] !== 'Z' && comm.startsWith('smtpd')) out.push(Number(name));
    } catch {
      // gone
    }
  }
  return out;
}

async function greeting(port: number, ms: number): Promise<string> {
  const s = await connect('127.0.0.1', port);
  if (!s) return 'refused';
  s.on('error', () => undefined);
  const r = await new ReplyReader(s).within(ms);
  s.destroy();
  return String(r);
}

/** Point 8: postfix reload with a bad main.cf. */
export async function badReloadScenario(kind: DaemonKind): Promise<BadReloadResult> {
  const d = await startDaemon(kind, fixture(1, []));
  let waiting: net.Socket | null = null;
  try {
    const port = d.ports[0]!;
    const mainCf = path.join(d.configDir, 'main.cf');
    const good = fs.readFileSync(mainCf, 'utf8');
    await greeting(port, 30_000);
    fs.appendFileSync(mainCf, 'message_size_limit = abc\n');
    let mark = d.log().length;
    const reload = postfixCommand(d, 'reload');
    // The reload's own lines (the earlier client's session lines may still be on their way).
    const reloadLog = logSince(d, mark).filter((l) => /^postfix\/(postfix-script|master|postsuper|postlog)\[/.test(l));
    const greetingAfterReload = await greeting(port, 30_000);
    const master = Number(fs.readFileSync(path.join(d.dir, 'spool', 'pid', 'master.pid'), 'utf8').trim());
    mark = d.log().length;
    for (const pid of smtpdPids(master)) process.kill(pid, 'SIGKILL');
    // Postfix starts a process when a client comes; this daemon replaces the dead one at once.
    waiting = await connect('127.0.0.1', port);
    waiting!.on('error', () => undefined);
    const reader = new ReplyReader(waiting!);
    await until(() => d.log().slice(mark).includes('bad command startup -- throttling'), 60_000);
    const deathLog = logSince(d, mark).filter((l) => /^postfix\/(master|smtpd)\[N\]: (warning|fatal):/.test(l));
    const greetingWhileBroken = String(await reader.within(2000));
    fs.writeFileSync(mainCf, good);
    const fixed = postfixCommand(d, 'reload');
    const greetingAfterFix = String(await reader.within(120_000));
    return { reload, reloadLog, greetingAfterReload, deathLog, greetingWhileBroken, fixedReloadStatus: fixed.status, greetingAfterFix };
  } finally {
    waiting?.destroy();
    await d.stop();
  }
}

export const SCENARIOS = {
  'dead-clients': deadClientsScenario,
  'slow-clients': slowClientsScenario,
  'killed-worker': killedWorkerScenario,
  'bad-reload': badReloadScenario,
} as const;

export type ScenarioName = keyof typeof SCENARIOS;

export function fixturePath(name: ScenarioName): string {
  return path.join(FIXTURE_DIR, `${name}.json`);
}
