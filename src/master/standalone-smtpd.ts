// smtpd in stand-alone mode, as Postfix's `smtpd -S` that `sendmail -bs`
// runs: one SMTP session with the invoking user on standard input and
// output, whether or not the mail system is running. The session is
// src/smtpd's own engine in stand-alone mode (no restrictions, TLS, SASL,
// XCLIENT or anvil; the client is localhost[127.0.0.1]); each accepted
// message goes into maildrop/ the way postdrop(1) puts it there, with
// postdrop's checks, and pickup is woken. Log lines go to the maillog as
// postfix/smtpd and postfix/postdrop; postdrop's warnings also reach
// standard error, as the real postdrop's do. Runs as the invoking user,
// touches maildrop/ and public/pickup only.
import type { Config } from '../config/config.js';
import { loadServiceConfig } from '../config/service-config.js';
import { AddressResolver } from '../address/resolve.js';
import { TableCache } from '../address/maps.js';
import {
  CLEANUP_STAT_BAD, CLEANUP_STAT_WRITE, type CleanupResult, type CleanupService, type CleanupSession,
} from '../cleanup/api.js';
import { createLogger, type LogSink } from '../log/logger.js';
import { logSettingsFrom, openLogSink } from '../log/sink.js';
import { layoutFromConfig, type QueueLayout } from '../queue/layout.js';
import { MemoryInput, RecordWriter } from '../queue/record.js';
import { copyToMaildrop, openMaildrop, type MaildropOptions } from '../pickup/maildrop.js';
import { createSmtpdService } from '../smtpd/service.js';
import { StdioConnection } from '../smtpd/stdio.js';
import { systemDns } from '../smtpd/dns.js';
import type { MsgLog } from '../util/msg.js';
import { printable } from '../util/printable.js';

export interface StandAloneOptions {
  /** The configuration directory sendmail used (MAIL_CONFIG or -C). */
  configDir: string;
  /** Where the dialogue comes from and goes to. */
  input: NodeJS.ReadableStream & import('node:stream').Readable;
  outFd: number;
  /** Standard error, for postdrop's messages. */
  stderr: (text: string) => void;
}

type PostdropLog = MsgLog & { fatal(text: string): void };

/** postdrop's messages: "postdrop: warning: ..." on stderr and postfix/postdrop in the maillog. */
function postdropLog(sink: LogSink, config: Config, stderr: (text: string) => void): PostdropLog {
  const log = createLogger(sink, `${config.get('syslog_name')}/postdrop`, process.pid, config.getBool('smtputf8_enable'));
  return {
    fatal: (t) => {
      stderr(`postdrop: fatal: ${printable(t)}\n`);
      log.fatal(t);
    },
    info: (t) => {
      stderr(`postdrop: ${printable(t)}\n`);
      log.info(t);
    },
    warning: (t) => {
      stderr(`postdrop: warning: ${printable(t)}\n`);
      log.warning(t);
    },
    error: (t) => {
      stderr(`postdrop: error: ${printable(t)}\n`);
      log.error(t);
    },
  };
}

/**
 * The "cleanup" of a stand-alone smtpd: each session is a maildrop file,
 * created when smtpd opens the stream (so the queue ID is known for the
 * log and the Received: header) and filled when the message is complete.
 */
function postdropService(config: Config, layout: QueueLayout, log: PostdropLog): CleanupService {
  const uid = process.getuid?.() ?? 0;
  const opts: MaildropOptions = {
    queueDir: config.get('queue_directory'),
    layout,
    longIds: config.getBool('enable_long_queue_ids'),
    uid,
    lineLimit: config.getInt('line_length_limit'),
    log,
    pickupService: config.get('pickup_service_name'),
    triggerTimeoutMs: config.getTime('trigger_timeout', 's') * 1000,
    messageSizeLimit: config.getInt('message_size_limit'),
  };
  return {
    open: async (): Promise<CleanupSession> => {
      const opened = openMaildrop(opts);
      if ('fatal' in opened) {
        log.fatal(opened.fatal);
        throw new Error(opened.fatal);
      }
      const records = new RecordWriter();
      let size = 0;
      let done = false;
      return {
        queueId: opened.file.id,
        get contentSize() {
          return size;
        },
        record: (type, data) => {
          records.put(type.charCodeAt(0), data);
          if (type === 'N' || type === 'L') size += data.length + (type === 'N' ? 1 : 0);
        },
        finish: async (): Promise<CleanupResult> => {
          done = true;
          const result = await copyToMaildrop(opened, new MemoryInput(records.take(), 'stdin', false), opts);
          if (result.kind === 'done') return { status: result.status, reason: result.reason };
          if (result.kind === 'fatal') log.fatal(result.text);
          return { status: result.kind === 'fatal' ? CLEANUP_STAT_WRITE : CLEANUP_STAT_BAD, reason: '' };
        },
        abort: async () => {
          if (done) return;
          done = true;
          opened.file.abort();
        },
        // A maildrop file has no cleanup behind it to process what came: as abort().
        abandon: async () => {
          if (done) return;
          done = true;
          opened.file.abort();
        },
      };
    },
  };
}

/** Runs the session; resolves with the exit status (0, or 1 after a fatal error). */
export async function runStandAloneSmtpd(o: StandAloneOptions): Promise<number> {
  const config = loadServiceConfig(o.configDir, 'smtpd', 'smtpd', []);
  const utf8 = config.getBool('smtputf8_enable');
  const opened = openLogSink(logSettingsFrom((n) => config.get(n)));
  if ('error' in opened) {
    o.stderr(`smtpd: fatal: ${opened.error}\n`);
    return 1;
  }
  const smtpdLog = createLogger(opened.sink, `${config.get('syslog_name')}/smtpd`, process.pid, utf8);
  // A fatal error ends smtpd with status 1, whichever part reports it.
  let status = 0;
  const log = { ...smtpdLog, fatal: (t: string) => { status = 1; smtpdLog.fatal(t); } };
  try {
    const layout = layoutFromConfig(config);
    if ('error' in layout) {
      log.fatal(layout.error);
      return 1;
    }
    const resolver = new AddressResolver(config, { cache: new TableCache(log, utf8), log });
    const smtpd = createSmtpdService({
      config,
      serviceName: 'smtpd',
      cleanup: postdropService(config, layout, postdropLog(opened.sink, config, o.stderr)),
      resolver,
      logger: log,
      hooks: { dns: systemDns() },
      standAlone: true,
    });
    try {
      await smtpd.ready;
    } catch (e) {
      log.fatal(String((e as Error).message ?? e));
      return 1;
    }
    const conn = new StdioConnection(o.input, o.outFd);
    smtpd.handle(conn.asSocket());
    await smtpd.close();
    await resolver.close().catch(() => undefined);
    conn.destroy();
    return status;
  } finally {
    opened.close();
  }
}
