// local(8) as a program of the master's registry: qmgr's stream
// connections on private/<service> are served by delivery/agent.ts with the
// local delivery agent of delivery/local/local.ts. The process also holds
// what local(8) reaches as other Postfix daemons: trivial-rewrite (an
// AddressResolver) and cleanup (for forwarded copies: the configuration of
// cleanup_service_name with its -o settings, its lines tagged
// postfix/cleanup), as ./smtpd-stack.ts does for smtpd. Opens tables, the
// queue files of its requests, and what the deliveries write.
import type { Socket } from 'node:net';
import { AddressResolver } from '../address/resolve.js';
import { TableCache } from '../address/maps.js';
import { createCleanupService } from '../cleanup/service.js';
import { loadServiceConfig } from '../config/service-config.js';
import { agentOptions, serveAgentConnection } from '../delivery/agent.js';
import { type LocalAgent, localAgent } from '../delivery/local/local.js';
import { createLogger } from '../log/logger.js';
import type { ProgramModule } from './program.js';

export const localProgram: ProgramModule = {
  skeleton: 'stream',
  start(ctx) {
    const init = ctx.init;
    const config = ctx.config();
    const utf8 = config.getBool('smtputf8_enable');
    const log = ctx.log;
    const cleanupName = config.get('cleanup_service_name') || 'cleanup';
    const cleanupConfig = loadServiceConfig(init.configDir, cleanupName, 'cleanup', init.unixOptions[cleanupName] ?? []);
    const cleanupUtf8 = cleanupConfig.getBool('smtputf8_enable');
    const cleanupLog = createLogger(ctx.sink, `${cleanupConfig.get('syslog_name')}/cleanup`, process.pid, cleanupUtf8);
    const cleanupResolver = new AddressResolver(cleanupConfig, { cache: new TableCache(cleanupLog, cleanupUtf8), log: cleanupLog });
    const cleanup = createCleanupService({ config: cleanupConfig, resolver: cleanupResolver, logger: cleanupLog });
    const resolver = new AddressResolver(config, { cache: new TableCache(log, utf8), log });
    const opts = agentOptions(config, log);
    let agent: LocalAgent | undefined;
    const ready = (async () => {
      await Promise.all([cleanup.ready, resolver.ready(), cleanupResolver.ready()]);
      agent = await localAgent({ config, log, cleanup, resolver, service: init.service });
    })();
    ready.catch((e: unknown) => log.fatal((e as Error).message));
    const running = new Set<Promise<void>>();
    const all = () => Promise.all([...running]).then(() => undefined);
    return {
      ready,
      connection(socket: Socket) {
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
        await cleanupResolver.close().catch(() => undefined);
      },
    };
  },
};
