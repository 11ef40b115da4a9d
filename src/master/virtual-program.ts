// virtual(8) as a program of the master's registry: it serves qmgr's
// stream connections on its unix socket (private/virtual) with
// delivery/agent.ts and the handler of delivery/virtual/, many
// connections at once in one process. Its tables are opened once per
// process, under its logger, and closed when the program retires. The
// relay named in its log lines is the master.cf service name.
import type { Socket } from 'node:net';
import { TableCache } from '../address/maps.js';
import { agentOptions, serveAgentConnection } from '../delivery/agent.js';
import { virtualAgent } from '../delivery/virtual/virtual.js';
import type { Program, ProgramModule } from './program.js';

export const virtualProgram: ProgramModule = {
  skeleton: 'stream',
  start(ctx): Program {
    const config = ctx.config();
    const opts = agentOptions(config, ctx.log);
    const cache = new TableCache(ctx.log, config.getBool('smtputf8_enable'));
    const handler = virtualAgent(config, cache, ctx.init.service);
    const running = new Set<Promise<void>>();
    const all = (): Promise<void> => Promise.all([...running]).then(() => undefined);
    return {
      ready: handler.ready,
      connection(socket: Socket) {
        const done = serveAgentConnection(socket, handler, opts).done;
        running.add(done);
        void done.then(() => running.delete(done));
      },
      drain: all,
      close: async () => {
        await all();
        await cache.close();
      },
    };
  },
};
