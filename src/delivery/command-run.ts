// Mirrors the parts of Postfix's global/pipe_command.c and global/sys_exits.c
// that local(8) and pipe(8) share: a command runs as a given uid and gid in
// a session of its own (setsid), with umask 077 and the environment it is
// given, the message on its standard input, and the first 4096 bytes of what
// it writes (stdout and stderr) kept for the reason text; past its time
// limit the whole process group is killed. Its exit status maps to a DSN
// and a reason through the <sysexits.h> table, or through a "D.S.N text"
// line of its own output. Touches only the child it starts.
import { spawn, type ChildProcess } from 'node:child_process';
import * as os from 'node:os';
import { isMainThread } from 'node:worker_threads';
import { dsnSplit, dsnValid } from '../mail/dsn.js';
import { bytesToText, textToBytes } from '../util/bytes.js';
import { printable } from '../util/printable.js';

/** One sysexits.h code: its DSN and text (global/sys_exits.c). */
export interface SysExitsDetail {
  dsn: string;
  text: string;
}

const SYS_EXITS: Record<number, SysExitsDetail> = {
  64: { dsn: '5.3.0', text: 'command line usage error' },
  65: { dsn: '5.6.0', text: 'data format error' },
  66: { dsn: '5.3.0', text: 'cannot open input' },
  67: { dsn: '5.1.1', text: 'user unknown' },
  68: { dsn: '5.1.2', text: 'host name unknown' },
  69: { dsn: '5.3.0', text: 'service unavailable' },
  70: { dsn: '5.3.0', text: 'internal software error' },
  71: { dsn: '4.3.0', text: 'system resource problem' },
  72: { dsn: '5.3.0', text: 'critical OS file missing' },
  73: { dsn: '5.2.0', text: "can't create user output file" },
  74: { dsn: '5.3.0', text: 'input/output error' },
  75: { dsn: '4.3.0', text: 'temporary failure' },
  76: { dsn: '5.5.0', text: 'remote error in protocol' },
  77: { dsn: '5.7.0', text: 'permission denied' },
  78: { dsn: '5.3.5', text: 'local configuration error' },
};

/** sys_exits_detail(): a known code's entry, else "unknown mail system error N" with 5.3.0. */
export function sysExitsDetail(code: number): SysExitsDetail {
  return SYS_EXITS[code] ?? { dsn: '5.3.0', text: `unknown mail system error ${code}` };
}

export function sysExitsCode(code: number): boolean {
  return code >= 64 && code <= 78;
}

/** <sysexits.h> codes whose texts stand in for missing command output. */
export const EX_SOFTWARE = 70;
export const EX_OSERR = 71;

const PATH_DEFPATH = '/usr/bin:/bin';
const OUTPUT_MAX = 4096;

/** The child's environment: exported names (or name=value settings), PATH, then the delivery's variables. */
export function commandEnvironment(exportEnv: readonly string[], env: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of exportEnv) {
    const eq = item.indexOf('=');
    if (eq > 0) out[item.slice(0, eq)] = item.slice(eq + 1);
    else if (process.env[item] !== undefined) out[item] = process.env[item]!;
  }
  out.PATH = PATH_DEFPATH;
  Object.assign(out, env);
  return out;
}

/** translit "\t\n" to blanks, then printable() with '_' (UTF-8 survives with smtputf8_enable). */
export function cleanOutput(buf: Buffer, utf8: boolean): string {
  const text = utf8 ? bytesToText(buf) : buf.toString('latin1');
  const shown = printable(text.replace(/[\t\n]/g, ' '), '_', utf8);
  return utf8 ? textToBytes(shown).toString('latin1') : shown;
}

/** What to run and how. */
export interface CommandSpec {
  file: string;
  args: string[];
  argv0?: string;
  /** Used only when this process runs as root. */
  uid: number;
  gid: number;
  env: Record<string, string>;
  cwd: string;
  input: Buffer;
  /** Seconds. */
  timeLimit: number;
}

export interface RunResult {
  /** The first 4096 bytes of output, as a byte string. */
  output: string;
  timedOut: boolean;
  code: number | null;
  signal: NodeJS.Signals | null;
  spawnError: NodeJS.ErrnoException | null;
  writeError: NodeJS.ErrnoException | null;
}

function killGroup(child: ChildProcess): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
}

function runsAsRoot(): boolean {
  return typeof process.geteuid === 'function' && process.geteuid() === 0;
}

function spawnAs(spec: CommandSpec): ChildProcess {
  const ids = runsAsRoot() ? { uid: spec.uid, gid: spec.gid } : {};
  const { file, args, argv0, env, cwd } = spec;
  if (!isMainThread) {
    // A worker thread cannot change the process umask: let a shell set it.
    return spawn('/bin/sh', ['-c', 'umask 077; exec "$@"', 'sh', file, ...args], { cwd, env, detached: true, stdio: ['pipe', 'pipe', 'pipe'], ...ids });
  }
  // The umask is inherited at fork time, which happens inside spawn().
  const saved = process.umask(0o077);
  try {
    return spawn(file, args, { argv0, cwd, env, detached: true, stdio: ['pipe', 'pipe', 'pipe'], ...ids });
  } finally {
    process.umask(saved);
  }
}

/** Runs the command to its end (or its time limit); never throws. */
export function runCommand(spec: CommandSpec): Promise<RunResult> {
  return new Promise((resolve) => {
    const res: RunResult = { output: '', timedOut: false, code: null, signal: null, spawnError: null, writeError: null };
    const chunks: Buffer[] = [];
    let kept = 0;
    let pending = 3; // stdout end, stderr end, exit
    let child: ChildProcess;
    try {
      child = spawnAs(spec);
    } catch (e) {
      res.spawnError = e as NodeJS.ErrnoException;
      resolve(res);
      return;
    }
    const timer = setTimeout(() => {
      res.timedOut = true;
      killGroup(child);
      // As Postfix, stop reading: a descendant in another session may hold the pipe open.
      child.stdout!.destroy();
      child.stderr!.destroy();
    }, Math.max(1, spec.timeLimit) * 1000);
    const finish = (): void => {
      if (--pending > 0) return;
      clearTimeout(timer);
      resolve(res);
    };
    const collect = (b: Buffer): void => {
      if (kept >= OUTPUT_MAX) return;
      const take = b.subarray(0, OUTPUT_MAX - kept);
      chunks.push(take);
      kept += take.length;
      res.output = Buffer.concat(chunks).toString('latin1');
    };
    child.on('error', (e) => {
      res.spawnError = e as NodeJS.ErrnoException;
      pending = 1;
      finish();
    });
    for (const s of [child.stdout!, child.stderr!]) {
      s.on('data', collect);
      s.on('error', () => undefined);
      s.on('close', finish);
    }
    child.on('exit', (code, signal) => {
      res.code = code;
      res.signal = signal;
      finish();
    });
    child.stdin!.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code !== 'EPIPE') res.writeError = e;
    });
    child.stdin!.end(spec.input);
  });
}

/** How a finished command went, as pipe_command() reports it. */
export type CommandStatus =
  /** output: the cleaned command output (the reason of a successful delivery). */
  | { ok: true; output: string }
  /** dtext: the x-unix diagnostic. */
  | { ok: false; dsn: string; reason: string; dtext: string };

/**
 * The outcome of a command that ran (spawn errors are the caller's): time
 * limit, signal, "D.S.N text" output, sysexits code, another status, a
 * failed write, else success. `command` names the command in the texts.
 */
export function commandStatus(r: RunResult, command: string, utf8: boolean, warn?: (text: string) => void): CommandStatus {
  const out = cleanOutput(Buffer.from(r.output, 'latin1'), utf8);
  const tail = out.length > 0 ? `. Command output: ${out}` : '';
  const fail = (dsn: string, reason: string, dtext: string): CommandStatus => ({ ok: false, dsn, reason, dtext });
  if (r.timedOut) {
    warn?.('pipe_command_read: read time limit exceeded');
    return fail('5.3.0', `Command time limit exceeded: "${command}"${tail}`, out || sysExitsDetail(EX_SOFTWARE).text);
  }
  if (r.signal !== null) {
    const num = os.constants.signals[r.signal] ?? 0;
    return fail('4.3.0', `Command died with signal ${num}: "${command}"${tail}`, out || sysExitsDetail(EX_SOFTWARE).text);
  }
  const status = r.code ?? 0;
  if (status !== 0) {
    if (dsnValid(out) > 0) {
      const d = dsnSplit('5.3.0', out);
      return fail(d.dsn, d.text, d.text);
    }
    const sp = sysExitsDetail(status);
    if (sysExitsCode(status)) return fail(sp.dsn, `${sp.text}${tail}`, out || sp.text);
    return fail(sp.dsn, `Command died with status ${status}: "${command}"${tail}`, out || sp.text);
  }
  return { ok: true, output: out };
}
