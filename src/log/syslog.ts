// Mirrors Postfix's util/msg_syslog.c: log lines to the system logger when
// maillog_file is empty, with facility syslog_facility and the severity of
// each line (info, warning, error; fatal and panic as LOG_CRIT).
// Node.js cannot open the AF_UNIX datagram socket /dev/log (its dgram module
// knows only UDP, net only stream sockets), so each tag is handed to one
// long-lived util-linux logger(1) process that reads lines on its standard
// input ("--prio-prefix": a "<PRI>" in front of each line) and sends them to
// /dev/log exactly as syslog(3) would ("<PRI>Mmm dd hh:mm:ss tag[pid]: text").
// When /dev/log or logger(1) is missing, lines are not dropped silently: the
// sink says so once through its trouble callback and passes every line there.
// Touches nothing but the logger processes it starts.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import type { LogSink } from './logger.js';

export const DEFAULT_SYSLOG_SOCKET = '/dev/log';

/** syslog(3) facility codes by the names syslog_facility accepts. */
const FACILITIES: Record<string, number> = {
  kern: 0, user: 1, mail: 2, daemon: 3, auth: 4, syslog: 5, lpr: 6, news: 7, uucp: 8, cron: 9, authpriv: 10, ftp: 11,
  local0: 16, local1: 17, local2: 18, local3: 19, local4: 20, local5: 21, local6: 22, local7: 23,
};

const LOG_CRIT = 2;
const LOG_ERR = 3;
const LOG_WARNING = 4;
const LOG_INFO = 6;

/** The facility number for a syslog_facility value, or undefined for an unknown name. */
export function syslogFacility(name: string): number | undefined {
  return FACILITIES[name.toLowerCase()];
}

/** The severity msg_syslog.c uses for a line, read from the prefix the MailLogger put on it. */
export function syslogSeverity(text: string): number {
  if (text.startsWith('warning: ')) return LOG_WARNING;
  if (text.startsWith('error: ')) return LOG_ERR;
  if (text.startsWith('fatal: ') || text.startsWith('panic: ')) return LOG_CRIT;
  return LOG_INFO;
}

/** "postfix/smtpd[42]" -> name and pid; a tag without "[pid]" keeps the caller's pid. */
export function splitTag(tag: string): { name: string; pid: number } {
  const m = /^(.*)\[(\d+)\]$/.exec(tag);
  return m ? { name: m[1]!, pid: Number(m[2]) } : { name: tag, pid: process.pid };
}

/** null when path is a socket, else why syslog cannot be used. */
export function syslogUnavailable(path: string = DEFAULT_SYSLOG_SOCKET): string | null {
  try {
    if (!fs.statSync(path).isSocket()) return `${path} is not a socket`;
  } catch {
    return `${path} does not exist`;
  }
  return null;
}

export interface SyslogOptions {
  facility: string;
  socketPath?: string;
  /** Receives the one-time complaint and, after it, every line that could not be sent. */
  trouble: (text: string) => void;
  /** The logger(1) program (tests). */
  loggerProgram?: string;
}

export interface SyslogSink extends LogSink {
  /** Ends the logger processes once they have sent what they were given. */
  close(): void;
}

export function syslogSink(opts: SyslogOptions): SyslogSink {
  const socketPath = opts.socketPath ?? DEFAULT_SYSLOG_SOCKET;
  const known = syslogFacility(opts.facility) !== undefined;
  const facility = known ? syslogFacility(opts.facility)! : FACILITIES.mail!;
  const facilityName = known ? opts.facility.toLowerCase() : 'mail';
  const children = new Map<string, ChildProcess>();
  let broken: string | null = null;

  const giveUp = (why: string): void => {
    if (broken === null) opts.trouble(`warning: cannot log to syslog: ${why}; log lines follow here`);
    broken = why;
  };

  const childFor = (tag: string): ChildProcess | null => {
    const known = children.get(tag);
    if (known) return known;
    const why = syslogUnavailable(socketPath);
    if (why) {
      giveUp(why);
      return null;
    }
    const { name, pid } = splitTag(tag);
    const child = spawn(
      opts.loggerProgram ?? 'logger',
      ['-u', socketPath, '--socket-errors=on', '--prio-prefix', '-S', '8192', '-t', name, `--id=${pid}`, '-p', `${facilityName}.info`],
      { stdio: ['pipe', 'ignore', 'pipe'] },
    );
    child.on('error', (e) => giveUp(`logger: ${e.message}`));
    child.stderr?.on('data', (b: Buffer) => giveUp(`logger: ${b.toString('utf8').trim()}`));
    child.stdin?.on('error', () => giveUp('logger: broken pipe'));
    child.unref();
    (child.stdin as unknown as { unref?: () => void } | null)?.unref?.();
    (child.stderr as unknown as { unref?: () => void } | null)?.unref?.();
    children.set(tag, child);
    return child;
  };

  return {
    write(tag, text) {
      const clean = text.replace(/[\r\n]/g, ' ');
      const child = broken === null ? childFor(tag) : null;
      if (child?.stdin && broken === null) {
        child.stdin.write(`<${facility * 8 + syslogSeverity(clean)}>${clean}\n`);
        return;
      }
      opts.trouble(`${tag}: ${clean}`);
    },
    close() {
      for (const child of children.values()) child.stdin?.end();
      children.clear();
    },
  };
}
