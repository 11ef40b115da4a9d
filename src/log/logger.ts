// Mirrors Postfix's util/msg_syslog.c and global/maillog_client.c: the daemon
// parts report through one MailLogger, which tags each line as
// "<syslog_name>/<process>[pid]:" and severity ("warning: ", "fatal: ") and
// hands it to the log sink chosen by the configuration (maillog_file, or
// syslog via /dev/log). Lines are formatted here so every part logs alike.

export interface MailLogger {
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

/** A logger for one program: tag is e.g. "postfix/smtpd" (syslog_name + "/" + process name). */
export function createLogger(sink: LogSink, tag: string, pid: number = process.pid): MailLogger {
  const head = `${tag}[${pid}]`;
  return {
    info: (t) => sink.write(head, t),
    warning: (t) => sink.write(head, `warning: ${t}`),
    error: (t) => sink.write(head, `error: ${t}`),
    fatal: (t) => sink.write(head, `fatal: ${t}`),
  };
}

/** A sink that keeps lines in memory (tests). */
export function memorySink(lines: string[]): LogSink {
  return { write: (tag, text) => lines.push(`${tag}: ${text}`) };
}
