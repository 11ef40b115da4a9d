// Mirrors Postfix's util/msg_syslog.c and global/maillog_client.c: the daemon
// parts report through one MailLogger, which tags each line as
// "<syslog_name>/<process>[pid]:" and severity ("warning: ", "fatal: ") and
// hands it to the log sink chosen by the configuration (maillog_file, or
// syslog via /dev/log). Lines are formatted here so every part logs alike,
// and printable() is applied here, once per line, as msg_vprintf does.
// A MailLogger is a MsgLog (util/msg.ts): it is what a daemon hands the
// tables, configuration and address code it opens.
import type { MsgLog } from '../util/msg.js';
import { printable } from '../util/printable.js';

export interface MailLogger extends MsgLog {
  /** Plain information, e.g. "connect from unknown[127.0.0.1]". */
  info(text: string): void;
  warning(text: string): void;
  error(text: string): void;
  /** Logs "fatal: text"; the caller then ends the process as Postfix would. */
  fatal(text: string): void;
}

/** Where formatted lines go; the daemon supplies the real one (maillog_file or syslog). */
export interface LogSink {
  /** One complete line without the trailing newline, tag included ("postfix/smtpd[42]: ..."). */
  write(tag: string, text: string): void;
}

/**
 * A logger for one program: tag is e.g. "postfix/smtpd" (syslog_name + "/"
 * + process name). utf8: that program's smtputf8_enable, which decides
 * whether printable() keeps well-formed non-ASCII text.
 */
export function createLogger(sink: LogSink, tag: string, pid: number = process.pid, utf8 = true): MailLogger {
  const head = `${tag}[${pid}]`;
  const line = (t: string) => sink.write(head, printable(t, '?', utf8));
  return {
    info: (t) => line(t),
    warning: (t) => line(`warning: ${t}`),
    error: (t) => line(`error: ${t}`),
    fatal: (t) => line(`fatal: ${t}`),
  };
}

/** A sink that keeps lines in memory (tests). */
export function memorySink(lines: string[]): LogSink {
  return { write: (tag, text) => lines.push(`${tag}: ${text}`) };
}
