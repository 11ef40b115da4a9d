// The receiving side of Postfix assembled in one worker process: smtpd(8)
// for a master.cf service, with the cleanup(8) and trivial-rewrite(8) work
// it hands off done in the same process (src/cleanup, src/address). Each
// part gets the configuration Postfix would give its own daemon: smtpd
// main.cf plus its service's -o settings, cleanup main.cf plus the -o
// settings of the service named by cleanup_service_name. Opens tables and
// the queue directory through those parts; listens on nothing.
import type { Socket } from 'node:net';
import { AddressResolver } from '../address/resolve.js';
import { TableCache } from '../address/maps.js';
import type { CleanupService, CleanupSession } from '../cleanup/api.js';
import { buildCleanupStack } from './cleanup-stack.js';
import { createLogger, type LogSink } from '../log/logger.js';
import { systemDns } from '../smtpd/dns.js';
import { type AnvilClient, createSmtpdService, localConnectionCounter } from '../smtpd/service.js';
import { cachingDns } from './dns-cache.js';
import type { WorkerInit } from './protocol.js';
import { loadServiceConfig } from '../config/service-config.js';

export interface ReceiveStack {
  /** Starts one SMTP session; it ends the socket itself. */
  handle(socket: Socket): void;
  /** Resolves when tables are open; rejects (after a fatal log line) when the configuration is unusable. */
  readonly ready: Promise<void>;
  /** Messages whose commit is under way (their 250 is about to be sent). */
  commitsInFlight(): number;
  /** Resolves when no commit is under way. */
  commitsDone(): Promise<void>;
  /** Waits for the sessions in progress, then closes tables. */
  close(): Promise<void>;
}

/** Counts finish() calls in progress, so that a stop can let them answer. */
class CommitTracker {
  private inFlight = 0;
  private waiters: Array<() => void> = [];

  wrap(service: CleanupService): CleanupService {
    return {
      open: async (flags: number): Promise<CleanupSession> => {
        const session = await service.open(flags);
        return {
          get queueId() {
            return session.queueId;
          },
          get contentSize() {
            return session.contentSize;
          },
          record: (type, data) => session.record(type, data),
          abort: () => session.abort(),
          abandon: () => session.abandon(),
          finish: async () => {
            this.inFlight++;
            try {
              return await session.finish();
            } finally {
              this.inFlight--;
              if (this.inFlight === 0) this.waiters.splice(0).forEach((w) => w());
            }
          },
        };
      },
    };
  }

  get count(): number {
    return this.inFlight;
  }

  done(): Promise<void> {
    return this.inFlight === 0 ? Promise.resolve() : new Promise((r) => this.waiters.push(r));
  }
}

/**
 * Builds smtpd with its in-process cleanup for one worker. Throws
 * ConfigError on a bad main.cf. anvil: the master's (over IPC); without
 * one, this process counts on its own.
 */
export function buildReceiveStack(init: WorkerInit, sink: LogSink, anvil?: AnvilClient): ReceiveStack {
  const smtpdConfig = loadServiceConfig(init.configDir, init.service, init.command, init.options);
  const smtpdUtf8 = smtpdConfig.getBool('smtputf8_enable');
  const smtpdLog = createLogger(sink, `${smtpdConfig.get('syslog_name')}/${init.command}`, process.pid, smtpdUtf8);
  // One table cache per Postfix daemon: each part's tables report under its
  // own tag (a broken header_checks line as postfix/cleanup[pid]), as
  // Postfix's separate processes do.
  const smtpdResolver = new AddressResolver(smtpdConfig, { cache: new TableCache(smtpdLog, smtpdUtf8), log: smtpdLog });
  const cleanupStack = buildCleanupStack(init, smtpdConfig, sink);
  const cleanup = cleanupStack.cleanup;
  const tracker = new CommitTracker();
  const smtpd = createSmtpdService({
    config: smtpdConfig,
    serviceName: init.service,
    cleanup: tracker.wrap(cleanup),
    resolver: smtpdResolver,
    logger: smtpdLog,
    connectionCounter: anvil ?? localConnectionCounter(),
    hooks: { dns: cachingDns(systemDns()) },
  });
  const ready = Promise.all([cleanupStack.ready, smtpd.ready, smtpdResolver.ready()]).then(() => undefined);
  ready.catch(() => undefined);
  return {
    handle: (socket) => smtpd.handle(socket),
    ready,
    commitsInFlight: () => tracker.count,
    commitsDone: () => tracker.done(),
    close: async () => {
      await smtpd.close();
      await cleanupStack.close();
      await smtpdResolver.close().catch(() => undefined);
    },
  };
}
