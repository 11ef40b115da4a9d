// The cleanup service: Postfix's cleanup(8) daemon (cleanup/cleanup.c,
// cleanup_init.c) as an object that receiving programs in this process
// open sessions on. One service per configuration: it reads the
// parameters, opens the tables once (canonical, virtual alias, header and
// body checks, BCC maps; shared with the resolver's table cache), creates
// each queue file in incoming/ with its queue ID, removes stale defer,
// bounce and trace logs of a reused ID, and batches the fsyncs of sessions
// that finish together. Touches only the queue directory it is given.
//
// Contract:
//   const cleanup = createCleanupService({ config, resolver, logger, queueDir?, onQueued?, clock? });
//   await cleanup.ready;                  // tables open (open() waits for this too)
//   const s = await cleanup.open(flags);  // queue file exists, s.queueId known
//   s.record('T', ...) ... s.record('E', '');
//   const { status, reason } = await s.finish();   // 0: durable in incoming/ or hold/
//   await cleanup.close();                // after the last session
import type { Config } from '../config/config.js';
import type { AddressResolver } from '../address/resolve.js';
import { CleanupAddressRules } from '../address/canonical.js';
import { VirtualAliasExpander } from '../address/virtual.js';
import type { Maps } from '../address/maps.js';
import { DICT_FLAG_FOLD_FIX, DICT_FLAG_LOCK, DICT_FLAG_UTF8_REQUEST } from '../dict/dict.js';
import type { MailLogger } from '../log/logger.js';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  MAIL_QUEUE_BOUNCE, MAIL_QUEUE_DEFER, MAIL_QUEUE_TRACE, layoutFromConfig, mailQueuePath, type FsFailure,
  type QueueLayout,
} from '../queue/layout.js';
import { errnoText } from '../util/errno.js';
import { commitAll, createQueueFile, type QueueFile, type TimeVal } from '../queue/queue-file.js';
import type { CleanupService, CleanupSession } from './api.js';
import { HeaderOptsTable } from '../mail/header-opts.js';
import { readCleanupParams } from './params.js';
import { Session } from './session.js';
import type { CleanupContext } from './state.js';

export interface CleanupServiceOptions {
  /** main.cf plus the master.cf -o overrides of the cleanup service. */
  config: Config;
  /** The address layer of the same configuration; its table cache is shared. */
  resolver: AddressResolver;
  /** Lines as "postfix/cleanup[pid]: ..." (the caller chooses the tag). */
  logger: MailLogger;
  /** queue_directory; default: the configuration's. */
  queueDir?: string;
  /** Called once a message is durable in incoming/ (qmgr's wakeup). */
  onQueued?: (queue: string, queueId: string) => void;
  /** Clock for queue IDs (tests). */
  clock?: () => TimeVal;
}

export interface CleanupServiceHandle extends CleanupService {
  /** Resolves once the tables are open; rejects (after a fatal log line) when the configuration is unusable. */
  readonly ready: Promise<void>;
  /** Waits for sessions being finished; open() fails afterwards. */
  close(): Promise<void>;
}

/** Collects the files that finish in the same turn of the event loop and fsyncs them together. */
class CommitBatcher {
  private batch: Array<{ file: QueueFile; done: (r: FsFailure | null) => void }> = [];
  private scheduled = false;

  commit(file: QueueFile): Promise<FsFailure | null> {
    return new Promise((done) => {
      this.batch.push({ file, done });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.run());
      }
    });
  }

  private run(): void {
    const batch = this.batch;
    this.batch = [];
    this.scheduled = false;
    commitAll(batch.map((b) => b.file)).then(
      (results) => batch.forEach((b, i) => b.done(results[i] ?? null)),
      (e) => batch.forEach((b) => b.done({ code: 'EIO', error: e as NodeJS.ErrnoException })),
    );
  }
}

async function openContext(opts: CleanupServiceOptions, queueDir: string, layout: QueueLayout): Promise<CleanupContext> {
  const { config, resolver, logger } = opts;
  const params = readCleanupParams(config);
  const cache = resolver.cache;
  const maps = async (name: string, value: string, flags: number): Promise<Maps | undefined> =>
    (value !== '' ? resolver.maps(name, value, flags) : undefined);
  const addrFlags = DICT_FLAG_LOCK | DICT_FLAG_FOLD_FIX | DICT_FLAG_UTF8_REQUEST;
  return {
    params,
    queueDir,
    layout,
    resolver,
    log: logger,
    rules: await CleanupAddressRules.create(resolver, { log: logger, cache }),
    virtual: await VirtualAliasExpander.create(resolver, { log: logger, cache }),
    headerOpts: new HeaderOptsTable(params.dropHeaders),
    headerChecks: await maps('header_checks', params.headerChecks, DICT_FLAG_LOCK),
    mimeHeaderChecks: await maps('mime_header_checks', params.mimeHeaderChecks, DICT_FLAG_LOCK),
    nestedHeaderChecks: await maps('nested_header_checks', params.nestedHeaderChecks, DICT_FLAG_LOCK),
    bodyChecks: await maps('body_checks', params.bodyChecks, DICT_FLAG_LOCK),
    senderBcc: await maps('sender_bcc_maps', params.senderBccMaps, addrFlags),
    recipientBcc: await maps('recipient_bcc_maps', params.recipientBccMaps, addrFlags),
  };
}

/**
 * cleanup_open()'s housekeeping: logs of an earlier message with the same
 * ID would confuse mailq. Such a log is almost never there, so a cheap
 * existence check comes first and only a log that exists is removed.
 */
function removeSpuriousLogs(queueDir: string, layout: QueueLayout, id: string, log: MailLogger): void {
  for (const queue of [MAIL_QUEUE_DEFER, MAIL_QUEUE_BOUNCE, MAIL_QUEUE_TRACE]) {
    const file = path.resolve(queueDir, mailQueuePath(layout, queue, id));
    try {
      if (fs.lstatSync(file, { throwIfNoEntry: false }) === undefined) continue;
      fs.unlinkSync(file);
      log.warning(`${queue}: removed spurious ${id} log`);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      if (err.code !== 'ENOENT') log.warning(`${queue}: remove ${id} log: ${errnoText(err)}`);
    }
  }
}

export function createCleanupService(opts: CleanupServiceOptions): CleanupServiceHandle {
  const queueDir = opts.queueDir ?? opts.config.get('queue_directory');
  const layoutOrError = layoutFromConfig(opts.config);
  const ctxPromise = (async () => {
    if ('error' in layoutOrError) throw new Error(layoutOrError.error);
    return openContext(opts, queueDir, layoutOrError);
  })();
  const ready = ctxPromise.then(() => undefined, (e: unknown) => {
    opts.logger.fatal((e as Error).message);
    throw e;
  });
  ready.catch(() => undefined);
  const batcher = new CommitBatcher();
  const finishing = new Set<Promise<unknown>>();
  let closing = false;
  const hooks = {
    commit: (file: QueueFile) => {
      const p = batcher.commit(file);
      finishing.add(p);
      void p.finally(() => finishing.delete(p));
      return p;
    },
    queued: (queue: string, id: string) => opts.onQueued?.(queue, id),
  };

  const open = async (flags: number): Promise<CleanupSession> => {
    if (closing) throw new Error('cleanup service is closed');
    const ctx = await ctxPromise;
    const layout = layoutOrError as QueueLayout;
    const r = createQueueFile({ queueDir, layout, longIds: ctx.params.longQueueIds, mode: 0o600, clock: opts.clock });
    for (const w of r.warnings) opts.logger.warning(w);
    if ('error' in r) {
      opts.logger.warning(r.error);
      throw new Error(r.error);
    }
    removeSpuriousLogs(queueDir, layout, r.file.id, opts.logger);
    return new Session(ctx, r.file, flags, hooks);
  };

  const close = async (): Promise<void> => {
    closing = true;
    await Promise.allSettled([...finishing]);
  };

  return { open, ready, close };
}
