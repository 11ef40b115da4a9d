// qmgr(8) as a program of the master's registry: one process, a trigger
// server on the qmgr FIFO or socket (public/qmgr), running the queue
// manager of src/qmgr with trivial-rewrite in-process, the delivery agents
// reached over their master.cf unix services (private/<transport>), the
// status library of src/queue/delivery-status.ts for the recipients qmgr
// defers itself (which tells the fast flush service), and the bounce service (src/bounce) with its own
// in-process cleanup for notices. The master's periodic wake-up arrives
// as a W trigger. Opens tables and the queue directory; listens on
// nothing itself (the skeleton does).
import { TableCache } from '../address/maps.js';
import { AddressResolver } from '../address/resolve.js';
import { type BounceService as NoticeService, createBounceService } from '../bounce/api.js';
import { ConfigError } from '../config/config.js';
import { createLogger } from '../log/logger.js';
import { layoutFromConfig } from '../queue/layout.js';
import { deferRecipient, sentRecipient } from '../queue/delivery-status.js';
import { FlushClient } from '../queue/flush-client.js';
import { type BounceService, type NoticeRequest, Qmgr, SocketAgentClient, type StatusOps, qmgrParams } from '../qmgr/api.js';
import type { Config } from '../config/config.js';
import { buildCleanupStack } from './cleanup-stack.js';
import type { ProgramContext, ProgramModule } from './program.js';
import { readServices } from './services.js';

/** The status library, with the fast flush service told of the recipients qmgr defers itself. */
function statusOps(flush: FlushClient, flushService: string): StatusOps {
  return {
    deferRecipient: (ctx, rcpt, relay, dsn) => deferRecipient({ ...ctx, flush, flushService }, rcpt, relay, dsn),
    sentRecipient,
  };
}

/** A notice queued by the bounce service is new mail for this very qmgr: wake it up. */
function wakingBounce(notices: NoticeService, wake: () => void): BounceService {
  const after = (op: (req: NoticeRequest) => Promise<number>) => async (req: NoticeRequest) => {
    const r = await op(req);
    if (r === 0) wake();
    return r;
  };
  return {
    flushBounces: after((r) => notices.flushBounces(r)),
    flushDefers: after((r) => notices.flushDefers(r)),
    warnDelayed: after((r) => notices.warnDelayed(r)),
    flushTrace: after((r) => notices.flushTrace(r)),
  };
}

/**
 * The process limit of each private unix service in master.cf: how many
 * deliveries its agent takes at once, so that qmgr picks the next entry
 * when one is free, as Postfix's qmgr does when an agent process is ready.
 */
async function agentLimits(config: Config, into: Map<string, number>): Promise<void> {
  const r = await readServices({
    configDir: config.get('config_directory'), defaultProcessLimit: config.getInt('default_process_limit'),
    compatibilityLevel: config.get('compatibility_level'), masterServiceDisable: config.get('master_service_disable'),
    families: [], bareAddresses: [],
  });
  if (!r.ok) return;
  for (const s of r.services) if (s.type === 'unix' && s.entry.private) into.set(s.ext, s.entry.maxProc);
}

export const qmgrProgram: ProgramModule = {
  skeleton: 'trigger',
  start(ctx: ProgramContext) {
    const config = ctx.config();
    const layout = layoutFromConfig(config);
    if ('error' in layout) throw new ConfigError(layout.error);
    const queueDir = config.get('queue_directory');
    const utf8 = config.getBool('smtputf8_enable');
    const resolver = new AddressResolver(config, { cache: new TableCache(ctx.log, utf8), log: ctx.log });
    const cleanupStack = buildCleanupStack(ctx.init, config, ctx.sink);
    const notices = createBounceService({
      config, cleanup: cleanupStack.cleanup, queueDir, layout,
      log: createLogger(ctx.sink, `${config.get('syslog_name')}/bounce`, process.pid, utf8),
    });
    const limits = new Map<string, number>();
    const status = statusOps(FlushClient.deferred(config, (t) => ctx.log.warning(t), ctx.log), config.get('flush_service_name'));
    const q: Qmgr = new Qmgr({
      queueDir, layout, config, params: qmgrParams(config, ctx.log), resolver, agents: new SocketAgentClient(queueDir),
      bounce: wakingBounce(notices, () => q.trigger('I')), status, log: ctx.log, agentLimit: (t) => limits.get(t) ?? 0,
    });
    const ready = Promise.all([resolver.ready(), cleanupStack.ready, agentLimits(config, limits)]).then(() => q.start());
    ready.catch(() => undefined);
    return {
      ready,
      trigger: (request) => q.trigger(request),
      drain: () => q.drain(),
      close: async () => {
        await q.close();
        await cleanupStack.close();
        await resolver.close().catch(() => undefined);
      },
    };
  },
};
