// Mirrors Postfix's global/pipe_command.c, util/exec_command.c and
// global/sys_exits.c as local(8) uses them for "|command" destinations and
// mailbox_command: the command runs as the recipient in its own session,
// with a clean environment (export_environment, PATH=/usr/bin:/bin, then
// the delivery's variables), umask 077, the message on standard input, and
// its first 4096 bytes of output (stdout and stderr) kept for the reason.
// Its exit status maps to a DSN by the sysexits table; past the time limit
// the whole process group is killed. Touches only the child it starts.
// The running itself is ../command-run.ts, which pipe(8) shares.
import * as fs from 'node:fs';
import { EX_OSERR, commandEnvironment, commandStatus, runCommand, sysExitsDetail } from '../command-run.js';
import { buildMessageCopy, corruptOutcome, type CopySource } from './mail-copy.js';
import type { RunAs } from './privs.js';
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

export { sysExitsDetail, sysExitsCode, commandEnvironment, type SysExitsDetail } from '../command-run.js';

const DEFAULT_EXPORT = ['TZ', 'MAIL_CONFIG', 'LANG'];
const EXEC_OK = /^[0-9!@%\-_=+:,./a-zA-Z \t]*$/;

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

/** Runs the command with the message on its standard input; the outcome carries local(8)'s reason. */
export async function deliverCommand(command: string, user: RunAs, opts: CommandOptions): Promise<LocalOutcome> {
  const copy = buildMessageCopy(opts.source, opts.copyFlags, opts.eol ?? '\n');
  if (!copy.ok && copy.corrupt) return corruptOutcome(opts.source, copy.warning, opts.warn ?? (() => undefined));
  if (!copy.ok) return failed('5.3.0', `Command failed: error reading message: ${errText(copy.readError)}: "${command}"`);
  const env = commandEnvironment(opts.exportEnv ?? DEFAULT_EXPORT, opts.env);
  const argv = withFileLimit(commandArgv(command, opts.shell), opts.fileSizeLimit ?? 0);
  const spec = { uid: user.uid, gid: user.gid, env, cwd: opts.cwd, input: copy.data, timeLimit: opts.timeLimit };
  let r = await runCommand({ ...spec, file: argv.file, args: argv.args, argv0: argv.argv0 });
  if (argv.plain && r.spawnError?.code === 'ENOENT' && !argv.file.includes('/')) {
    r = await runCommand({ ...spec, file: '/bin/sh', args: ['-c', command], argv0: 'sh' });
  }
  if (r.spawnError) {
    opts.warn?.(`${argv.file}: ${errText(r.spawnError)}`);
    return failed('4.3.0', `Delivery failed: ${errText(r.spawnError)}`, sysExitsDetail(EX_OSERR).text);
  }
  const st = commandStatus(r, command, opts.utf8 ?? true, opts.warn);
  if (!st.ok) return failed(st.dsn, st.reason, st.dtext);
  if (r.writeError) return failed('5.3.0', `Command failed: error writing message: ${errText(r.writeError)}: "${command}"`);
  return delivered(`delivered to command: ${command}`);
}
