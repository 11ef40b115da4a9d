// cleanup(8) and trivial-rewrite(8) as a daemon process other than smtpd
// uses them in-process (pickup, local's forwarding, bounce notices made in
// qmgr's process): the cleanup service named by cleanup_service_name (or
// the one given), with main.cf plus that service's -o settings from
// master.cf, its own table cache and logger tagged postfix/cleanup, as
// Postfix's separate cleanup process would have; each queued message wakes
// qmgr. Opens cleanup's tables and the queue directory through
// src/cleanup, writes to qmgr's endpoint; listens on nothing.
import { AddressResolver } from '../address/resolve.js';
import { TableCache } from '../address/maps.js';
import type { CleanupService } from '../cleanup/api.js';
import { createCleanupService } from '../cleanup/service.js';
import { createLogger, type LogSink } from '../log/logger.js';
import type { Config } from '../config/config.js';
import { loadServiceConfig } from '../config/service-config.js';
import type { WorkerInit } from './protocol.js';
import { mailTrigger } from '../queue/mail-trigger.js';
import type { MsgLog } from '../util/msg.js';
import { TRIGGER_REQ } from './program.js';

/**
 * Wakes qmgr after a message is queued, as Postfix's mail_stream does after
 * each file: a W request to public/$queue_service. Requests made while one
 * is on its way are folded into one more, sent after it: qmgr scans the
 * whole incoming queue on each, so a burst needs one wakeup, not hundreds.
 */
class QmgrWakeup {
  private sending = false;
  private again = false;

  constructor(
    private readonly queueDir: string,
    private readonly endpoint: string,
    private readonly log: MsgLog,
  ) {}

  poke(): void {
    if (this.sending) {
      this.again = true;
      return;
    }
    this.sending = true;
    void mailTrigger(this.queueDir, this.endpoint, TRIGGER_REQ.WAKEUP, this.log).finally(() => {
      this.sending = false;
      if (this.again) {
        this.again = false;
        this.poke();
      }
    });
  }
}

export interface CleanupStack {
  readonly cleanup: CleanupService;
  /** Resolves when cleanup's tables are open; rejects on a configuration it cannot run with. */
  readonly ready: Promise<void>;
  close(): Promise<void>;
}

/**
 * The in-process cleanup for a worker whose own configuration is
 * `config`: cleanup_service_name is read from it, as the client does.
 */
export function buildCleanupStack(init: WorkerInit, config: Config, sink: LogSink): CleanupStack {
  const name = config.get('cleanup_service_name') || 'cleanup';
  const cleanupConfig = loadServiceConfig(init.configDir, name, 'cleanup', init.unixOptions[name] ?? []);
  const utf8 = cleanupConfig.getBool('smtputf8_enable');
  const log = createLogger(sink, `${cleanupConfig.get('syslog_name')}/cleanup`, process.pid, utf8);
  const resolver = new AddressResolver(cleanupConfig, { cache: new TableCache(log, utf8), log });
  const wakeup = new QmgrWakeup(cleanupConfig.get('queue_directory'), `public/${cleanupConfig.get('queue_service_name') || 'qmgr'}`, log);
  const cleanup = createCleanupService({ config: cleanupConfig, resolver, logger: log, onQueued: (queue) => queue === 'incoming' && wakeup.poke() });
  const ready = Promise.all([cleanup.ready, resolver.ready()]).then(() => undefined);
  ready.catch(() => undefined);
  return {
    cleanup,
    ready,
    close: async () => {
      await cleanup.close();
      await resolver.close().catch(() => undefined);
    },
  };
}
