// smtp(8) and lmtp(8) as a program of the master's registry: one process
// serves qmgr's connections on private/<service> with the client of
// src/delivery/smtp/, many deliveries at once. As in Postfix 3.7 the two
// are one program: the master.cf command name ("smtp" or "lmtp") selects
// the protocol and the parameter family, whatever the service is called
// ("relay" runs command smtp). Next hops are resolved through
// delivery/smtp/addr.ts with the system's resolver. Touches sockets to
// mail servers, the queue files of its requests and the status logs.
import type { Socket } from 'node:net';
import { agentOptions, serveAgentConnection } from '../delivery/agent.js';
import { createHopResolver, destinationLookups, hopSettingsProblem, leftoverFailure, ownAddressCheck, type HopOptions } from '../delivery/smtp/addr.js';
import { ConfigError } from '../config/config.js';
import type { HopFinder } from '../delivery/smtp/connect.js';
import { smtpAgent } from '../delivery/smtp/smtp.js';
import type { Program, ProgramModule } from './program.js';

export const smtpProgram: ProgramModule = {
  skeleton: 'stream',
  start(ctx): Program {
    const config = ctx.config();
    const log = ctx.log;
    const lmtp = ctx.init.command === 'lmtp';
    const opts = agentOptions(config, log);
    const problem = hopSettingsProblem(config, lmtp);
    if (problem !== null) throw new ConfigError(problem);
    // The loop test's own addresses are worked out once per process.
    const hopOptions: HopOptions = { config, lmtp, resolver: createHopResolver(), log, isSelf: ownAddressCheck(config) };
    const hops: HopFinder = {
      lookups: (nexthop, port) => destinationLookups(nexthop, port, hopOptions),
      leftover: (why, stoppedAt, nexthop) => leftoverFailure(why, stoppedAt, nexthop, hopOptions),
    };
    const agent = smtpAgent({ config, log, service: ctx.init.service, lmtp, hops });
    const running = new Set<Promise<void>>();
    const all = (): Promise<void> => Promise.all([...running]).then(() => undefined);
    return {
      ready: agent.ready,
      connection(socket: Socket) {
        const done = serveAgentConnection(socket, agent.handle, opts).done;
        running.add(done);
        void done.then(() => running.delete(done));
      },
      drain: all,
      close: async () => {
        await all();
        agent.close();
      },
    };
  },
};
