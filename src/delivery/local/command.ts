// Mirrors Postfix's global/pipe_command.c, util/exec_command.c and
// global/sys_exits.c as local(8) uses them for "|command" destinations and
// mailbox_command: the command runs as the recipient in its own session,
// with a clean environment (export_environment, PATH=/usr/bin:/bin, then
// the delivery's variables), umask 077, the message on standard input, and
// its first 4096 bytes of output (stdout and stderr) kept for the reason.
// Its exit status maps to a DSN by the sysexits table; past the time limit
// the whole process group is killed. Touches only the child it starts.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { isMainThread } from 'node:worker_threads';
import { dsnSplit, dsnValid } from '../../mail/dsn.js';
import { bytesToText, textToBytes } from '../../util/bytes.js';
import { printable } from '../../util/printable.js';
import { buildMessageCopy, corruptOutcome, type CopySource } from './mail-copy.js';
import { privileged, type RunAs } from './privs.js';
import { delivered, errText, failed, type LocalOutcome } from './outcome.js';

export interface CommandOptions {
  source: CopySource;
  /** MAIL_COPY_FROM | MAIL_COPY_RETURN | MAIL_COPY_ORIG_RCPT [| MAIL_COPY_DELIVERED]. */
  copyFlags: number;
  /** The delivery's variables (HOME, LOGNAME, USER, SENDER, RECIPIENT, LOCAL, ...), already filtered. */
  env: Record<string, string>;
  /** The working directory (command_execution_directory, else the queue directory). */
  cwd: string;
  /** local_command_shell: "" runs the command as exec_command() does. */
  shell: string;
  /** command_time_limit, seconds. */
  timeLimit: number;
  orcptForReason?: string;
  /** export_environment: names kept from this process's environment, or name=value settings. Default "TZ MAIL_CONFIG LANG". */
  exportEnv?: string[];
  /** The line end written to the command ("\n"). */
  eol?: string;
  /** smtputf8_enable: UTF-8 in the command output survives printable(). Default yes. */
  utf8?: boolean;
  warn?: (text: string) => void;
  /**
   * The file size limit the command inherits (local(8) runs under
   * RLIMIT_FSIZE = mailbox_size_limit); 0 = none. Node cannot set it for a
   * child, so prlimit(1) does when it is installed.
   */
  fileSizeLimit?: number;
}

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

const PATH_DEFPATH = '/usr/bin:/bin';
const OUTPUT_MAX = 4096;
const DEFAULT_EXPORT = ['TZ', 'MAIL_CONFIG', 'LANG'];
const EXEC_OK = /^[0-9!@%\-_=+:,./a-zA-Z \t]*$/;

/** The child's environment: exported names, PATH, then the delivery's variables. */
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

/** What to exec: local_command_shell plus the command, the words of a plain command, else sh -c. */
export function commandArgv(command: string, shell: string): { file: string; args: string[]; argv0?: string; plain: boolean } {
  if (shell.trim() !== '') {
    const words = shell.trim().split(/[ \t\r\n]+/);
    return { file: words[0]!, args: [...words.slice(1), command], plain: false };
  }
  if (EXEC_OK.test(command) && command.trim() !== '') {
    const words = command.trim().split(/[ \t]+/);
    return { file: words[0]!, args: words.slice(1), plain: true };
  }
  return { file: '/bin/sh', args: ['-c', command], argv0: 'sh', plain: false };
}

const PRLIMIT = '/usr/bin/prlimit';

/** The argv behind prlimit --fsize when a limit applies and prlimit exists. */
function withFileLimit(argv: ReturnType<typeof commandArgv>, limit: number): ReturnType<typeof commandArgv> {
  if (limit <= 0 || !fs.existsSync(PRLIMIT)) return argv;
  return { file: PRLIMIT, args: [`--fsize=${limit}`, '--', argv.file, ...argv.args], plain: false };
}

/** translit "\t\n" to blanks, then printable() with '_'. */
function cleanOutput(buf: Buffer, utf8: boolean): string {
  const text = utf8 ? bytesToText(buf) : buf.toString('latin1');
  const shown = printable(text.replace(/[\t\n]/g, ' '), '_', utf8);
  return utf8 ? textToBytes(shown).toString('latin1') : shown;
}

interface RunResult {
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

function spawnAs(file: string, args: string[], argv0: string | undefined, user: RunAs, env: Record<string, string>, cwd: string): ChildProcess {
  const ids = privileged() ? { uid: user.uid, gid: user.gid } : {};
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

function run(file: string, args: string[], argv0: string | undefined, user: RunAs, env: Record<string, string>, cwd: string, input: Buffer, timeLimit: number): Promise<RunResult> {
  return new Promise((resolve) => {
    const res: RunResult = { output: '', timedOut: false, code: null, signal: null, spawnError: null, writeError: null };
    const chunks: Buffer[] = [];
    let kept = 0;
    let pending = 3; // stdout end, stderr end, exit
    let child: ChildProcess;
    try {
      child = spawnAs(file, args, argv0, user, env, cwd);
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
    }, Math.max(1, timeLimit) * 1000);
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
    child.stdin!.end(input);
  });
}

/** <sysexits.h> codes whose texts stand in for missing command output. */
const EX_SOFTWARE = 70;
const EX_OSERR = 71;

/** Runs the command with the message on its standard input; the outcome carries local(8)'s reason. */
export async function deliverCommand(command: string, user: RunAs, opts: CommandOptions): Promise<LocalOutcome> {
  const copy = buildMessageCopy(opts.source, opts.copyFlags, opts.eol ?? '\n');
  if (!copy.ok && copy.corrupt) return corruptOutcome(opts.source, copy.warning, opts.warn ?? (() => undefined));
  if (!copy.ok) return failed('5.3.0', `Command failed: error reading message: ${errText(copy.readError)}: "${command}"`);
  const env = commandEnvironment(opts.exportEnv ?? DEFAULT_EXPORT, opts.env);
  const argv = withFileLimit(commandArgv(command, opts.shell), opts.fileSizeLimit ?? 0);
  let r = await run(argv.file, argv.args, argv.argv0, user, env, opts.cwd, copy.data, opts.timeLimit);
  if (argv.plain && r.spawnError?.code === 'ENOENT' && !argv.file.includes('/')) {
    r = await run('/bin/sh', ['-c', command], 'sh', user, env, opts.cwd, copy.data, opts.timeLimit);
  }
  if (r.spawnError) {
    opts.warn?.(`${argv.file}: ${errText(r.spawnError)}`);
    return failed('4.3.0', `Delivery failed: ${errText(r.spawnError)}`, sysExitsDetail(EX_OSERR).text);
  }
  const out = cleanOutput(Buffer.from(r.output, 'latin1'), opts.utf8 ?? true);
  const tail = out.length > 0 ? `. Command output: ${out}` : '';
  if (r.timedOut) {
    opts.warn?.('pipe_command_read: read time limit exceeded');
    return failed('5.3.0', `Command time limit exceeded: "${command}"${tail}`, out || sysExitsDetail(EX_SOFTWARE).text);
  }
  if (r.signal !== null) {
    const num = os.constants.signals[r.signal] ?? 0;
    return failed('4.3.0', `Command died with signal ${num}: "${command}"${tail}`, out || sysExitsDetail(EX_SOFTWARE).text);
  }
  const status = r.code ?? 0;
  if (status !== 0) {
    if (dsnValid(out) > 0) {
      const d = dsnSplit('5.3.0', out);
      return failed(d.dsn, d.text, d.text);
    }
    const sp = sysExitsDetail(status);
    if (sysExitsCode(status)) return failed(sp.dsn, `${sp.text}${tail}`, out || sp.text);
    return failed(sp.dsn, `Command died with status ${status}: "${command}"${tail}`, out || sp.text);
  }
  if (r.writeError) return failed('5.3.0', `Command failed: error writing message: ${errText(r.writeError)}: "${command}"`);
  return delivered(`delivered to command: ${command}`);
}
