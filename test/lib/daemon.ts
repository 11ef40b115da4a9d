// Start and stop a mail daemon -- real Postfix 3.7.11 or this project's -- on a
// fixture configuration (fixtures/smtpd/<NN-name>/). The fixture is copied to a
// fresh temporary directory DIR (mode 0755) as DIR/conf, main.cf gets the
// run-specific paths appended (queue_directory DIR/spool, data_directory
// DIR/data, maillog_file DIR/maillog), the tables listed in tables.txt are
// built with that implementation's own postmap/postalias, and then
// `postfix -c DIR/conf start` runs: /usr/sbin/postfix for 'postfix',
// <checkout>/bin/postfix for 'ours'. startDaemon() returns once every inet
// port of master.cf accepts connections. It refuses to run outside a private
// network namespace (test/lib/netns.ts).

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { copyInputs, repoRoot } from './cases.js';
import { assertNamespace } from './netns.js';

export type DaemonKind = 'postfix' | 'ours';

export interface Daemon {
  kind: DaemonKind;
  /** The temporary run directory (conf/, spool/, data/, maillog). */
  dir: string;
  /** The configuration directory passed as -c. */
  configDir: string;
  /** The 127.0.0.1 ports of master.cf's inet services. */
  ports: number[];
  /** The maillog so far ('' when none). */
  log(): string;
  /** `postfix -c DIR stop`, wait for the listeners to go away, remove DIR (unless kept). */
  stop(): Promise<void>;
}

export interface StartOptions {
  /** Keep the run directory after stop() (for debugging). */
  keep?: boolean;
  /** How long to wait for the ports (ms). */
  timeoutMs?: number;
}

/** Files of a fixture directory that are not configuration. */
const NOT_CONFIG = new Set(['sessions.json', 'README.md']);
const START_TIMEOUT = 30000;

/** The programs of each implementation. */
export function programPath(kind: DaemonKind, cmd: string): string {
  return kind === 'postfix' ? path.join('/usr/sbin', cmd) : path.join(repoRoot(), 'bin', cmd);
}

function runEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin', TZ: 'UTC', LANG: 'C' };
  // For profiling a benchmark (src/master/supervisor.ts): reaches the master
  // only where main.cf's import_environment names it.
  if (process.env.POSTFIX_TS_PROFILE) env.POSTFIX_TS_PROFILE = process.env.POSTFIX_TS_PROFILE;
  return env;
}

function run(file: string, args: string[], cwd: string): { status: number; output: string } {
  const r = spawnSync(file, args, { cwd, env: runEnv(), encoding: 'utf8', timeout: START_TIMEOUT });
  const output = `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? `[${r.error.message}]\n` : ''}`;
  return { status: r.status ?? -1, output };
}

/** uid and gid of a user from /etc/passwd, or null. */
function userIds(name: string): { uid: number; gid: number } | null {
  for (const line of fs.readFileSync('/etc/passwd', 'utf8').split('\n')) {
    const f = line.split(':');
    if (f[0] === name && f.length >= 4) return { uid: Number(f[2]), gid: Number(f[3]) };
  }
  return null;
}

/** The inet ports of a master.cf ("127.0.0.1:10125 inet ..."). */
export function masterPorts(masterCf: string): number[] {
  const ports: number[] = [];
  for (const line of masterCf.split('\n')) {
    const m = /^(?:[^\s#:]+:)?(\d+)\s+inet\s/.exec(line);
    if (m) ports.push(Number(m[1]));
  }
  return ports;
}

/** The main.cf settings that put a run's queue, data and log files in dir. */
export function runPaths(dir: string): string[] {
  return [
    `queue_directory = ${dir}/spool`,
    `data_directory = ${dir}/data`,
    `maillog_file = ${dir}/maillog`,
    `maillog_file_prefixes = ${dir}`,
  ];
}

/** The main.cf lines that make a copy of a fixture runnable in dir. */
export function runSettings(dir: string): string {
  return ['', '# Added by test/lib/daemon.ts for this run:', ...runPaths(dir), ''].join('\n');
}

/**
 * Copy a fixture into dir/conf and make it runnable: run paths in main.cf, the
 * spool and data directories, and the tables of tables.txt built by `kind`.
 * tables.txt holds lines like "postmap hash:access" or "postalias hash:aliases";
 * each runs as PROGRAM -c dir/conf ARGS... with dir/conf as working directory.
 */
export function prepareRunDir(kind: DaemonKind, fixtureDir: string, dir: string): string {
  const conf = path.join(dir, 'conf');
  fs.mkdirSync(conf, { recursive: true });
  copyInputs(fixtureDir, conf);
  for (const name of NOT_CONFIG) fs.rmSync(path.join(conf, name), { force: true });
  fs.appendFileSync(path.join(conf, 'main.cf'), runSettings(dir));
  // The daemons run as mail_owner: they must reach the run directory.
  for (const d of [dir, conf]) fs.chmodSync(d, 0o755);
  fs.mkdirSync(path.join(dir, 'spool'), { mode: 0o755 });
  fs.mkdirSync(path.join(dir, 'data'), { mode: 0o700 });
  const owner = process.getuid?.() === 0 ? userIds(mailOwner(conf)) : null;
  if (owner) fs.chownSync(path.join(dir, 'data'), owner.uid, owner.gid);
  const tables = path.join(fixtureDir, 'tables.txt');
  if (fs.existsSync(tables)) {
    for (const line of fs.readFileSync(tables, 'utf8').split('\n')) {
      const words = line.replace(/#.*/, '').trim().split(/\s+/).filter(Boolean);
      if (!words.length) continue;
      const [cmd, ...args] = words;
      const r = run(programPath(kind, cmd!), ['-c', conf, ...args], conf);
      if (r.status !== 0) throw new Error(`${fixtureDir}: ${cmd} ${args.join(' ')} failed (${r.status}):\n${r.output}`);
    }
  }
  fs.rmSync(path.join(conf, 'tables.txt'), { force: true });
  return conf;
}

/** mail_owner as set in the fixture's main.cf (default "postfix"). */
function mailOwner(conf: string): string {
  const m = /^mail_owner\s*=\s*(\S+)/m.exec(fs.readFileSync(path.join(conf, 'main.cf'), 'utf8'));
  return m ? m[1]! : 'postfix';
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
    s.setTimeout(1000, () => done(false));
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitPorts(ports: number[], open: boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let all = true;
    for (const p of ports) if ((await canConnect(p)) !== open) all = false;
    if (all) return true;
    if (Date.now() > deadline) return false;
    await sleep(50);
  }
}

function readOr(file: string, dflt = ''): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return dflt;
  }
}

/** A live process (a zombie left to an init that does not reap it counts as gone). */
function alive(pid: number): boolean {
  const stat = readOr(`/proc/${pid}/stat`);
  if (!stat) return false;
  return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
}

/** Start `kind` on a copy of fixtureDir; resolves when all its inet ports accept connections. */
export async function startDaemon(kind: DaemonKind, fixtureDir: string, opts: StartOptions = {}): Promise<Daemon> {
  assertNamespace(`startDaemon(${kind}, ${fixtureDir})`);
  const postfix = programPath(kind, 'postfix');
  if (!fs.existsSync(postfix)) throw new Error(`${postfix} not found`);
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), `smtpd-${kind}-`)));
  const cleanupDir = () => {
    if (!opts.keep) fs.rmSync(dir, { recursive: true, force: true });
  };
  let conf: string;
  try {
    conf = prepareRunDir(kind, fixtureDir, dir);
  } catch (e) {
    cleanupDir();
    throw e;
  }
  const ports = masterPorts(readOr(path.join(conf, 'master.cf')));
  const log = () => readOr(path.join(dir, 'maillog'));
  const started = run(postfix, ['-c', conf, 'start'], dir);
  const timeout = opts.timeoutMs ?? START_TIMEOUT;
  const ready = started.status === 0 && (await waitPorts(ports, true, timeout));
  const stop = async () => {
    const pid = Number(readOr(path.join(dir, 'spool', 'pid', 'master.pid')).trim());
    // What `postfix stop` does, without its first one-second pause (it checks
    // once right after the signal, then sleeps a second before it looks again).
    if (pid > 0 && alive(pid)) process.kill(pid, 'SIGTERM');
    else run(postfix, ['-c', conf, 'stop'], dir);
    const deadline = Date.now() + timeout;
    while (pid > 0 && alive(pid) && Date.now() < deadline) await sleep(50);
    if (pid > 0 && alive(pid)) process.kill(pid, 'SIGKILL');
    await waitPorts(ports, false, Math.max(0, deadline - Date.now()));
    cleanupDir();
  };
  if (!ready) {
    const why = started.status !== 0 ? `exit status ${started.status}` : `ports ${ports.join(', ')} not listening`;
    const detail = `${started.output}${log()}`;
    await stop().catch(() => {});
    throw new Error(`${kind}: ${postfix} -c ${conf} start: ${why}\n${detail}`);
  }
  return { kind, dir, configDir: conf, ports, log, stop };
}
