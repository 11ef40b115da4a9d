// qmgr(8) as a program of the master's registry: one process, a trigger
// server on the qmgr FIFO or socket (public/qmgr), running the queue
// manager of src/qmgr with trivial-rewrite in-process, the delivery agents
// reached over their master.cf unix services (private/<transport>), the
// status library of src/queue/delivery-status.ts for the recipients qmgr
// defers itself, and the bounce service for notices. The master's
// periodic wake-up arrives as a W trigger. Opens tables and the queue
// directory; listens on nothing itself (the skeleton does).
import { TableCache } from '../address/maps.js';
import { AddressResolver } from '../address/resolve.js';
import { ConfigError } from '../config/config.js';
import { layoutFromConfig } from '../queue/layout.js';
import { deferRecipient, sentRecipient } from '../queue/delivery-status.js';
import { SocketAgentClient } from '../qmgr/agent.js';
import { qmgrParams } from '../qmgr/params.js';
import { Qmgr } from '../qmgr/qmgr.js';
import type { BounceService, NoticeRequest, StatusOps } from '../qmgr/status.js';
import type { MailLogger } from '../log/logger.js';
import type { ProgramContext, ProgramModule } from './program.js';

const status: StatusOps = { deferRecipient, sentRecipient };

/**
 * TODO(lead): wire the real bounce service once src/bounce/api.ts is on
 * main:
 *   const stack = buildCleanupStack(ctx.init, config, ctx.sink);   // ./cleanup-stack.ts
 *   const bounce = createBounceService({ config, cleanup: stack.cleanup,
 *     log: createLogger(ctx.sink, `${config.get('syslog_name')}/bounce`), queueDir, layout });
 * (and close the stack in close()). Until then notices cannot be sent:
 * every call fails (-1), so messages with bounce logs or past their
 * lifetime stay in the deferred queue, as with Postfix's bounce service down.
 */
function bounceStandIn(log: MailLogger): BounceService {
  let warned = false;
  const fail = (req: NoticeRequest) => {
    if (!warned) log.warning(`${req.queueId}: bounce service is not available in this build: notice not sent`);
    warned = true;
    return Promise.resolve(-1);
  };
  return { flushBounces: fail, flushDefers: fail, warnDelayed: fail, flushTrace: fail };
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
    const qmgr = new Qmgr({
      queueDir, layout, config, params: qmgrParams(config, ctx.log), resolver, agents: new SocketAgentClient(queueDir),
      bounce: bounceStandIn(ctx.log), status, log: ctx.log,
    });
    const ready = resolver.ready().then(() => qmgr.start());
    ready.catch(() => undefined);
    return {
      ready,
      trigger: (request) => qmgr.trigger(request),
      drain: () => qmgr.drain(),
      close: async () => {
        await qmgr.close();
        await resolver.close().catch(() => undefined);
      },
    };
  },
};
