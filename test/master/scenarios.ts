// Scenarios for the postfix command: each one makes a fresh private
// configuration (Debian's master.cf with chroot off, smtpd on a 127.0.0.1
// test port, maillog_file in the run directory), changes it as the
// scenario says, runs a list of `postfix` commands and records for each
// the exit status, stdout and stderr in a pipe and what a terminal shows,
// then the maillog and, after start, the queue directories' modes and
// owners. Run with 'postfix' (/usr/sbin/postfix, to record) or 'ours'
// (bin/postfix, to compare). Only for use inside a private network
// namespace, as root (real Postfix refuses anything else).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { repoRoot } from '../lib/cases.js';
import { type DaemonKind, runPaths } from '../lib/daemon.js';

/** Where record.ts keeps what Postfix did. */
export const FIXTURE_PATH = path.join(repoRoot(), 'test', 'master', 'fixtures', 'scenarios.json');

export interface StepResult {
  args: string[];
  status: number;
  stdout: string;
  stderr: string;
  /** What a terminal shows (stdout and stderr together, through script(1)). */
  tty: string;
  ttyStatus: number;
}

export interface ScenarioResult {
  name: string;
  steps: StepResult[];
  /** The maillog lines of the postfix command and the master's start/reload lines, masked. */
  maillog: string[];
  /** "name mode owner group" of every queue directory, when the scenario looks. */
  queueDirs?: string[];
  /** The PID file as bytes are laid out ("%32lu\n" with the PID masked). */
  pidFile?: string;
}

interface Scenario {
  name: string;
  /** Changes to the fresh run directory before the commands. */
  setup?: (dir: string, postfix: string) => void;
  /** Arguments of each postfix command; "@CONF@" is the configuration directory. */
  commands: string[][];
  /** Record the queue directory layout and pid file after the commands (before the final stop). */
  inspect?: boolean;
}

const PORT = 10925;

function masterCf(): string {
  const src = fs.readFileSync(path.join(repoRoot(), 'fixtures', 'smtpd', '01-defaults', 'master.cf'), 'utf8');
  return src.replace(/^127\.0\.0\.1:\d+(\s)/m, `127.0.0.1:${PORT}$1`);
}

function mainCf(dir: string): string {
  return [
    'compatibility_level = 3.6',
    'myhostname = mx.example.com',
    'inet_interfaces = 127.0.0.1',
    'inet_protocols = ipv4',
    'alias_maps =',
    'alias_database =',
    ...runPaths(dir),
    '',
  ].join('\n');
}

const C = '@CONF@';
const up = [['-c', C, 'start']];
const down = [['-c', C, 'stop']];

export const SCENARIOS: Scenario[] = [
  {
    name: 'lifecycle',
    commands: [['-c', C, 'status'], ['-c', C, 'stop'], ['-c', C, 'abort'], ['-c', C, 'reload'], ...up, ['-c', C, 'start'], ['-c', C, 'status'], ['-c', C, 'reload'], ['-c', C, 'check'], ...down, ['-c', C, 'status']],
    inspect: true,
  },
  {
    name: 'abort',
    commands: [...up, ['-c', C, 'abort'], ['-c', C, 'status']],
  },
  {
    name: 'usage',
    commands: [['-c', C, 'bogus'], ['-c', C], ['-c', 'relative/dir', 'status'], ['-x', 'status'], ['-c'], ['-c', C, 'start_msg'], ['-c', C, 'stop_msg']],
  },
  {
    name: 'flush-down',
    commands: [['-c', C, 'flush']],
  },
  {
    name: 'no-postlog-service',
    setup: (dir) => {
      const file = path.join(dir, 'conf', 'master.cf');
      fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace(/^postlog .*\n/m, ''));
    },
    commands: [['-c', C, 'start'], ['-c', C, 'check']],
  },
  {
    name: 'no-master-cf',
    setup: (dir) => fs.rmSync(path.join(dir, 'conf', 'master.cf')),
    commands: [['-c', C, 'check']],
  },
  {
    name: 'no-queue-directory',
    setup: (dir) => fs.rmSync(path.join(dir, 'spool'), { recursive: true }),
    commands: [['-c', C, 'status'], ['-c', C, 'start']],
  },
  {
    name: 'maillog-prefix',
    setup: (dir) => rewriteMain(dir, (t) => t.replace(/^maillog_file_prefixes = .*$/m, 'maillog_file_prefixes = /var')),
    commands: [['-c', C, 'status']],
  },
  {
    name: 'compatibility-notice',
    setup: (dir) => rewriteMain(dir, (t) => t.replace(/^compatibility_level = .*$/m, 'compatibility_level = 2')),
    commands: [['-c', C, 'status']],
  },
  {
    name: 'stale-pid-file',
    setup: (dir) => {
      fs.mkdirSync(path.join(dir, 'spool', 'pid'));
      fs.writeFileSync(path.join(dir, 'spool', 'pid', 'master.pid'), `${'99999'.padStart(32)}\n`);
    },
    commands: [['-c', C, 'status'], ...up, ['-c', C, 'status'], ...down],
  },
  {
    name: 'check-warnings',
    setup: (dir, postfix) => {
      const spool = path.join(dir, 'spool');
      run([postfix, '-c', path.join(dir, 'conf'), 'check'], false);
      fs.chmodSync(spool, 0o775);
      fs.chmodSync(path.join(dir, 'conf'), 0o775);
      fs.chownSync(path.join(spool, 'pid'), 65534, 0);
      fs.chownSync(path.join(dir, 'data'), 65534, 0);
      fs.writeFileSync(path.join(dir, 'data', 'x'), '');
      fs.chmodSync(path.join(dir, 'data', 'x'), 0o666);
      fs.chownSync(path.join(spool, 'saved'), 65534, 0);
      fs.writeFileSync(path.join(spool, 'corrupt', 'ABCDEF'), '');
      fs.chownSync(path.join(spool, 'public'), postfixUid(), 0);
    },
    commands: [['-c', C, 'check']],
  },
];

function rewriteMain(dir: string, edit: (text: string) => string): void {
  const file = path.join(dir, 'conf', 'main.cf');
  fs.writeFileSync(file, edit(fs.readFileSync(file, 'utf8')));
}

function postfixUid(): number {
  const line = fs.readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('postfix:'));
  return line ? Number(line.split(':')[2]) : 0;
}

function runEnv(): NodeJS.ProcessEnv {
  return { PATH: '/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin', TZ: 'UTC', LANG: 'C' };
}

function run(argv: string[], tty: boolean): { status: number; stdout: string; stderr: string } {
  const quoted = argv.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const r = tty
    ? spawnSync('script', ['-qec', quoted, '/dev/null'], { env: { ...runEnv(), TERM: 'dumb' }, encoding: 'utf8', timeout: 60000 })
    : spawnSync(argv[0]!, argv.slice(1), { env: runEnv(), encoding: 'utf8', timeout: 60000 });
  return { status: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

function program(kind: DaemonKind): string {
  return kind === 'postfix' ? '/usr/sbin/postfix' : path.join(repoRoot(), 'bin', 'postfix');
}

/** A fresh run directory: conf/ (main.cf, master.cf), spool/ and data/ (owned by postfix, as the oracle recipe has it). */
function freshDir(): string {
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'master-')));
  fs.chmodSync(dir, 0o755);
  fs.mkdirSync(path.join(dir, 'conf'), { mode: 0o755 });
  fs.mkdirSync(path.join(dir, 'spool'), { mode: 0o755 });
  fs.mkdirSync(path.join(dir, 'data'), { mode: 0o755 });
  fs.chownSync(path.join(dir, 'data'), postfixUid(), 0);
  fs.writeFileSync(path.join(dir, 'conf', 'main.cf'), mainCf(dir));
  fs.writeFileSync(path.join(dir, 'conf', 'master.cf'), masterCf());
  return dir;
}

/** Replaces run-specific text: the directory, PIDs, time stamps. */
export function mask(text: string, dir: string): string {
  return text
    .split(dir)
    .join('@DIR@')
    .replace(/\r\n/g, '\n')
    .replace(/PID: \d+/g, 'PID: @PID@')
    .replace(/\[\d+\]:/g, '[@PID@]:');
}

/**
 * maillog lines worth comparing: the postfix command's own, and the
 * master's start and reload lines. Not compared: "waiting for ..." (a
 * matter of timing), and "stopping the Postfix mail system", which
 * Postfix itself loses now and then (the line goes through postlogd,
 * which the stop it announces may end first).
 */
function maillogLines(dir: string): string[] {
  let text = '';
  try {
    text = fs.readFileSync(path.join(dir, 'maillog'), 'utf8');
  } catch {
    return [];
  }
  const keep = /postfix\/postfix-script\[|postfix\[|master\[\d+\]: (daemon started|reload) /;
  return text
    .split('\n')
    .filter((l) => keep.test(l) && !/(waiting for the Postfix mail system to terminate|stopping the Postfix mail system)$/.test(l))
    .map((l) => mask(l.replace(/^[A-Z][a-z]{2} \d\d \d\d:\d\d:\d\d /, '@TIME@ '), dir));
}

function queueDirs(dir: string): string[] {
  const spool = path.join(dir, 'spool');
  const name = (file: string, id: number) => {
    const line = fs.readFileSync(file, 'utf8').split('\n').find((l) => l.split(':')[2] === String(id));
    return line ? line.split(':')[0]! : String(id);
  };
  return fs.readdirSync(spool).sort().map((n) => {
    const st = fs.statSync(path.join(spool, n));
    return `${n} ${(st.mode & 0o7777).toString(8)} ${name('/etc/passwd', st.uid)} ${name('/etc/group', st.gid)}`;
  });
}

/** The PID file's layout ("%32lu\n" when it is a right-aligned number in 32 columns) and its mode. */
function pidFile(dir: string): string {
  const file = path.join(dir, 'spool', 'pid', 'master.pid');
  const st = fs.statSync(file);
  const text = fs.readFileSync(file, 'latin1');
  const layout = text.length === 33 && /^ +\d+\n$/.test(text) ? '%32lu\\n' : JSON.stringify(text);
  return `${layout} ${(st.mode & 0o777).toString(8)}`;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs every scenario with one implementation. */
export async function runScenarios(kind: DaemonKind, only?: string[]): Promise<ScenarioResult[]> {
  const results: ScenarioResult[] = [];
  for (const s of SCENARIOS) {
    if (only && !only.includes(s.name)) continue;
    const dir = freshDir();
    const conf = path.join(dir, 'conf');
    try {
      s.setup?.(dir, program(kind));
      const steps: StepResult[] = [];
      for (const cmd of s.commands) {
        const argv = [program(kind), ...cmd.map((a) => (a === C ? conf : a))];
        const pipe = run(argv, false);
        // The terminal run repeats the command: only for commands that change nothing.
        const changes = ['start', 'stop', 'abort', 'reload'].includes(cmd[cmd.length - 1]!);
        const tty = changes ? { status: pipe.status, stdout: '' } : run(argv, true);
        steps.push({ args: cmd, status: pipe.status, stdout: mask(pipe.stdout, dir), stderr: mask(pipe.stderr, dir), tty: mask(tty.stdout, dir), ttyStatus: tty.status });
        if (changes) await sleep(300);
      }
      const result: ScenarioResult = { name: s.name, steps, maillog: [] };
      if (s.inspect) {
        result.queueDirs = queueDirs(dir);
        result.pidFile = fs.existsSync(path.join(dir, 'spool', 'pid', 'master.pid')) ? pidFile(dir) : undefined;
      }
      run([program(kind), '-c', conf, 'stop'], false);
      result.maillog = maillogLines(dir);
      results.push(result);
    } finally {
      run([program(kind), '-c', conf, 'abort'], false);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
  return results;
}
