// The delivery agents as programs of the master's registry: each serves
// qmgr's stream connections on its unix socket (private/<service>) with
// delivery/agent.ts, many connections at once in one process (the
// service's process_limit bounds the connections, see ./supervisor.ts).
// error(8) knows from its master.cf service name whether it is "error" or
// "retry". Opens the queue files of the requests it serves.
import type { Socket } from 'node:net';
import { ConfigError } from '../config/config.js';
import { type AgentConnection, type AgentHandler, agentOptions, serveAgentConnection } from '../delivery/agent.js';
import { discardAgent } from '../delivery/discard/discard.js';
import { errorAgent } from '../delivery/error/error.js';
import type { Program, ProgramContext, ProgramModule } from './program.js';

/** A program that serves every connection with one agent handler. */
export function agentProgram(ctx: ProgramContext, handler: AgentHandler): Program {
  const opts = agentOptions(ctx.config(), ctx.log);
  const running = new Set<AgentConnection>();
  return {
    ready: Promise.resolve(),
    connection(socket: Socket) {
      const conn = serveAgentConnection(socket, handler, opts);
      running.add(conn);
      void conn.done.then(() => running.delete(conn));
    },
    // A stop waits for the deliveries under way; a retirement for qmgr to hang up.
    drain: () => Promise.all([...running].map((c) => c.idle())).then(() => undefined),
    close: () => Promise.all([...running].map((c) => c.done)).then(() => undefined),
  };
}

export const errorProgram: ProgramModule = {
  skeleton: 'stream',
  start(ctx) {
    const handler = errorAgent(ctx.init.service);
    if ('error' in handler) throw new ConfigError(handler.error);
    return agentProgram(ctx, handler);
  },
};

export const discardProgram: ProgramModule = {
  skeleton: 'stream',
  start: (ctx) => agentProgram(ctx, discardAgent),
};
