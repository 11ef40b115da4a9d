// cleanup(8) and trivial-rewrite(8) as a daemon process other than smtpd
// uses them in-process (pickup, local's forwarding, bounce notices made in
// qmgr's process): the cleanup service named by cleanup_service_name (or
// the one given), with main.cf plus that service's -o settings from
// master.cf, its own table cache and logger tagged postfix/cleanup, as
// Postfix's separate cleanup process would have. Opens cleanup's tables
// and the queue directory through src/cleanup; listens on nothing.
import { AddressResolver } from '../address/resolve.js';
import { TableCache } from '../address/maps.js';
import type { CleanupService } from '../cleanup/api.js';
import { createCleanupService } from '../cleanup/service.js';
import { createLogger, type LogSink } from '../log/logger.js';
import type { Config } from '../config/config.js';
import { loadServiceConfig } from '../config/service-config.js';
import type { WorkerInit } from './protocol.js';

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
  const cleanup = createCleanupService({ config: cleanupConfig, resolver, logger: log });
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
