// Mirrors Postfix's util/msg_logger.c, util/logwriter.c and the choice made
// by global/maillog_client.c: where the lines of a MailLogger end up. With
// maillog_file set, every line is appended to that file as postlogd(8)
// writes it ("Mmm dd hh:mm:ss host tag[pid]: text"); this project has no
// postlogd process, each process appends whole lines itself (O_APPEND keeps
// concurrent writers' lines apart). With maillog_file empty, lines go to
// syslog (src/log/syslog.ts). Touches only the log file it is given.
import * as fs from 'node:fs';
import { dirname } from 'node:path';
import type { LogSink } from './logger.js';
import { syslogSink } from './syslog.js';
import { errnoText } from '../util/errno.js';

/** msg_logger.c's MSG_LOGGER_RECLEN: longer texts are cut. */
export const MSG_LOGGER_RECLEN = 2000;

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const two = (n: number): string => (n < 10 ? `0${n}` : String(n));

/** strftime("%b %d %H:%M:%S") in local time, C locale (the day is zero-padded, unlike syslog's). */
export function logTimestamp(now: Date = new Date()): string {
  return `${MONTHS[now.getMonth()]} ${two(now.getDate())} ${two(now.getHours())}:${two(now.getMinutes())}:${two(now.getSeconds())}`;
}

/** The host name as msg_logger prints it: the first label only. */
export function logHostLabel(hostname: string): string {
  const dot = hostname.indexOf('.');
  return dot < 0 ? hostname : hostname.slice(0, dot);
}

/** One maillog_file line without its newline. */
export function formatMaillogLine(host: string, tag: string, text: string, now?: Date): string {
  return `${logTimestamp(now)} ${logHostLabel(host)} ${tag}: ${text.slice(0, MSG_LOGGER_RECLEN)}`;
}

/** Why a maillog_file setting cannot be used (maillog_client.c's prefix check), or null. */
export function maillogPrefixError(maillogFile: string, prefixes: string[]): string | null {
  if (prefixes.some((p) => maillogFile.startsWith(p))) return null;
  return `maillog_file value '${maillogFile}' does not match any prefix in maillog_file_prefixes`;
}

/**
 * logwriter_open_or_die()'s open, with util/safe_open.c's checks: a new
 * file is created exclusively with mode 0644; an existing one must have one
 * link and not be a directory, and may be a symbolic link only when root
 * owns the link and its directory (so /dev/stdout works, for start-fg).
 * Returns the descriptor or Postfix's fatal text.
 */
export function openMaillogFile(path: string): { fd: number } | { error: string } {
  const fail = (why: string) => ({ error: `open logfile '${path}': ${why}` });
  const { O_WRONLY, O_APPEND, O_CREAT, O_EXCL } = fs.constants;
  let fd: number;
  try {
    fd = fs.openSync(path, O_WRONLY | O_APPEND);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') return fail(`cannot open file: ${errnoText(e as NodeJS.ErrnoException)}`);
    try {
      return { fd: fs.openSync(path, O_WRONLY | O_APPEND | O_CREAT | O_EXCL, 0o644) };
    } catch (e2) {
      return fail(`cannot create file exclusively: ${errnoText(e2 as NodeJS.ErrnoException)}`);
    }
  }
  const why = existingFileProblem(fd, path);
  if (why === null) return { fd };
  fs.closeSync(fd);
  return fail(why);
}

/** safe_open_exist()'s checks of an opened file; null when it may be used. */
function existingFileProblem(fd: number, path: string): string | null {
  const st = fs.fstatSync(fd);
  if (st.nlink !== 1) return `file has ${st.nlink} hard links`;
  if (st.isDirectory()) return 'file is a directory';
  let lst: fs.Stats;
  try {
    lst = fs.lstatSync(path);
  } catch (e) {
    return `file status changed unexpectedly: ${errnoText(e as NodeJS.ErrnoException)}`;
  }
  if (lst.isSymbolicLink()) {
    if (lst.uid !== 0) return 'file is a symbolic link';
    try {
      const parent = fs.statSync(dirname(path));
      if (parent.uid === 0 && (parent.mode & 0o022) === 0) return null;
    } catch {
      // no usable parent: refuse below
    }
    return 'file is a symbolic link';
  }
  if (st.dev !== lst.dev || st.ino !== lst.ino || st.nlink !== lst.nlink || st.mode !== lst.mode) return 'file status changed unexpectedly';
  return null;
}

/** Where a sink reports that it cannot write (once); the daemon passes stderr or a fallback. */
export type SinkTrouble = (text: string) => void;

const stderrTrouble: SinkTrouble = (text) => {
  try {
    process.stderr.write(`${text}\n`);
  } catch {
    // nothing left to tell
  }
};

function writeAll(fd: number, data: Buffer): void {
  let done = 0;
  while (done < data.length) done += fs.writeSync(fd, data, done, data.length - done);
}

/**
 * A sink that appends lines to an open maillog_file descriptor. With
 * batch, the lines of one turn of the event loop go out in one write
 * (a busy daemon logs several lines per message); they are written at the
 * end of the turn and when the process exits.
 */
export function fileSink(fd: number, hostname: string, path: string, trouble: SinkTrouble = stderrTrouble, batch = false): LogSink {
  let failed = false;
  let pending: string[] = [];
  const flush = (): void => {
    if (!pending.length) return;
    const data = Buffer.from(pending.join(''), 'utf8');
    const lines = pending;
    pending = [];
    try {
      writeAll(fd, data);
      failed = false;
    } catch (e) {
      if (!failed) trouble(`logfile '${path}' write error: ${errnoText(e as NodeJS.ErrnoException)}`);
      failed = true;
      for (const line of lines) trouble(line.trimEnd());
    }
  };
  if (batch) process.on('exit', flush);
  return {
    write(tag, text) {
      pending.push(`${formatMaillogLine(hostname, tag, text)}\n`);
      if (!batch) flush();
      else if (pending.length === 1) setImmediate(flush);
    },
  };
}

/** Copies every line to standard error as "tag: text" (msg_vstream), for commands run from a terminal. */
export function stderrSink(stripPid = true): LogSink {
  return {
    write(tag, text) {
      const name = stripPid ? tag.replace(/\[\d+\]$/, '') : tag;
      process.stderr.write(`${name}: ${text}\n`);
    },
  };
}

/** Sends each line to all the given sinks. */
export function teeSink(...sinks: LogSink[]): LogSink {
  return { write: (tag, text) => sinks.forEach((s) => s.write(tag, text)) };
}

/** What the logging of a process needs from the configuration. */
export interface LogSettings {
  maillogFile: string;
  maillogFilePrefixes: string[];
  /** myhostname (only its first label is printed). */
  hostname: string;
  /** syslog_facility. */
  facility: string;
}

export type OpenedSink = { sink: LogSink; fd?: number; close(): void } | { error: string };

/**
 * The sink a process uses: maillog_file when set (after the prefix check;
 * an already open descriptor may be passed in, as the master hands its
 * workers one), else syslog.
 */
export function openLogSink(settings: LogSettings, opts: { fd?: number; trouble?: SinkTrouble; batch?: boolean } = {}): OpenedSink {
  if (settings.maillogFile === '') {
    const s = syslogSink({ facility: settings.facility, trouble: opts.trouble ?? stderrTrouble });
    return { sink: s, close: () => s.close() };
  }
  const bad = maillogPrefixError(settings.maillogFile, settings.maillogFilePrefixes);
  if (bad) return { error: bad };
  let fd = opts.fd;
  if (fd === undefined) {
    const r = openMaillogFile(settings.maillogFile);
    if ('error' in r) return { error: r.error };
    fd = r.fd;
  }
  const owned = opts.fd === undefined;
  const sink = fileSink(fd, settings.hostname, settings.maillogFile, opts.trouble, opts.batch);
  return {
    sink,
    fd,
    close: () => {
      if (owned) fs.closeSync(fd);
    },
  };
}

/** Reads the logging settings from something with Postfix's parameter values. */
export function logSettingsFrom(get: (name: string) => string): LogSettings {
  return {
    maillogFile: get('maillog_file'),
    maillogFilePrefixes: get('maillog_file_prefixes').split(/[\s,]+/).filter((w) => w !== ''),
    hostname: get('myhostname') || process.env.POSTLOG_HOSTNAME || 'amnesiac',
    facility: get('syslog_facility') || 'mail',
  };
}
