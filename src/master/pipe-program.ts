// pipe(8) as a program of the master's registry: each master.cf pipe
// service ("mypipe unix - n n - - pipe flags=... user=... argv=...", which
// must have "n" in the unprivileged column) gets its attributes from the words after the command, checked as Postfix's
// pipe checks them (a bad attribute is the service's fatal error), and
// serves qmgr's connections on private/<service> with
// delivery/pipe/pipe.ts, many deliveries at once in one process. The
// lookups behind user= and group= and the mail_owner/setgid_group checks
// are getpwnam() and getgrnam() on /etc/passwd and /etc/group. Opens the
// queue files of its requests and starts the configured command.
import * as path from 'node:path';
import { ConfigError } from '../config/config.js';
import { transportTime } from '../config/transport-params.js';
import { type AgentHandler } from '../delivery/agent.js';
import { parsePipeAttr } from '../delivery/pipe/attr.js';
import { type PipeService, pipeAgent } from '../delivery/pipe/pipe.js';
import { agentProgram } from './agent-programs.js';
import type { ProgramContext, ProgramModule } from './program.js';
import { lookupGroup, lookupUser } from './users.js';

/** The handler of the service the context describes; throws ConfigError with pipe's fatal text. */
export function pipeHandler(ctx: ProgramContext): AgentHandler {
  // The command's uid and gid can only be set by a root process.
  if (ctx.init.unprivileged) throw new ConfigError(`service ${ctx.init.service} requires privileged operation`);
  const config = ctx.config();
  const filter = config.get('pipe_delivery_status_filter');
  if (filter !== '') throw new ConfigError(`pipe_delivery_status_filter = ${filter}: delivery status filters are not supported by this Postfix replacement`);
  const mailOwner = config.get('mail_owner');
  const sgidGroup = config.get('setgid_group');
  const owner = lookupUser(mailOwner);
  const attr = parsePipeAttr(ctx.init.args ?? [], {
    user: (name) => lookupUser(name),
    group: (name) => lookupGroup(name),
    mailOwner,
    ownerUid: owner?.uid ?? -1,
    ownerGid: owner?.gid ?? -1,
    sgidGroup,
    sgidGid: lookupGroup(sgidGroup) ?? -1,
  });
  if ('error' in attr) throw new ConfigError(attr.error);
  const service = ctx.init.service;
  const svc: PipeService = {
    service,
    attr,
    timeLimit: transportTime(config, service, '_time_limit'),
    exportEnv: config.getList('export_environment')
      .map((n) => (n === 'MAIL_CONFIG' && process.env.MAIL_CONFIG === undefined ? `MAIL_CONFIG=${config.configDir}` : n)),
    queueDir: config.get('queue_directory'),
    masterCf: path.join(config.configDir, 'master.cf'),
    delimiter: config.get('recipient_delimiter'),
    split: {
      doubleBounceSender: config.get('double_bounce_sender'),
      ownerRequestSpecial: config.getBool('owner_request_special'),
      utf8: config.getBool('smtputf8_enable'),
    },
    utf8: config.getBool('smtputf8_enable'),
  };
  return pipeAgent(svc);
}

export const pipeProgram: ProgramModule = {
  skeleton: 'stream',
  start: (ctx) => agentProgram(ctx, pipeHandler(ctx)),
};
