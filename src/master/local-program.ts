// local(8) as a program of the master's registry: qmgr's stream
// connections on private/<service> are served by delivery/agent.ts with the
// local delivery agent of delivery/local/local.ts, many at once in one
// process. The process also holds what local(8) reaches as other Postfix
// daemons: trivial-rewrite (an AddressResolver on local's configuration)
// and cleanup (./cleanup-stack.ts, for forwarded copies). The relay named
// in its log lines is the master.cf service name. Opens tables, the queue
// files of its requests, and what the deliveries write.
import type { Socket } from 'node:net';
import { AddressResolver } from '../address/resolve.js';
import { TableCache } from '../address/maps.js';
import { agentOptions, serveAgentConnection } from '../delivery/agent.js';
import { type LocalAgent, localAgent } from '../delivery/local/local.js';
import { buildCleanupStack } from './cleanup-stack.js';
import type { Program, ProgramModule } from './program.js';

export const localProgram: ProgramModule = {
  skeleton: 'stream',
  start(ctx): Program {
    const config = ctx.config();
    const log = ctx.log;
    const opts = agentOptions(config, log);
    const cleanup = buildCleanupStack(ctx.init, config, ctx.sink);
    const resolver = new AddressResolver(config, { cache: new TableCache(log, config.getBool('smtputf8_enable')), log });
    let agent: LocalAgent | undefined;
    const ready = (async () => {
      await cleanup.ready;
      await resolver.ready();
      // A ConfigError rejects ready; the skeleton logs it as the fatal error.
      agent = await localAgent({ config, log, cleanup: cleanup.cleanup, resolver, service: ctx.init.service });
    })();
    ready.catch(() => undefined);
    const running = new Set<Promise<void>>();
    const all = (): Promise<void> => Promise.all([...running]).then(() => undefined);
    return {
      ready,
      connection(socket: Socket) {
        // The skeleton hands over connections only once ready has resolved.
        if (agent === undefined) {
          socket.destroy();
          return;
        }
        const done = serveAgentConnection(socket, agent.handle, opts).done;
        running.add(done);
        void done.then(() => running.delete(done));
      },
      drain: all,
      close: async () => {
        await all();
        await agent?.close();
        await cleanup.close();
        await resolver.close().catch(() => undefined);
      },
    };
  },
};
