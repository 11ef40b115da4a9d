// smtp(8) and lmtp(8) as a delivery agent (Postfix's smtp/smtp.c
// deliver_message): one request's recipients go to the request's next hop
// through ./connect.ts; the reply says whether anything was deferred, and
// carries the hop status when the destination failed as a whole, so that
// qmgr treats it as dead. The agent is one object per process with its
// settings, its next-hop lookup and its connection cache; each request
// gets its own SmtpState. Touches sockets to servers, and the queue file
// and status logs through the status calls.
import type { Config } from '../../config/config.js';
import type { MailLogger } from '../../log/logger.js';
import { DEL_STAT_DEFER, DEL_STAT_FINAL, type DeliveryReply } from '../api.js';
import type { AgentDelivery, AgentHandler } from '../agent.js';
import { SessionCache } from './cache.js';
import { type HopFinder, smtpConnect } from './connect.js';
import { readSmtpSettings, type SmtpSettings } from './settings.js';
import { SmtpState } from './state.js';
import { type SaslSettings, readSaslSettings } from './sasl.js';

export interface SmtpAgent {
  /** Resolves once the tables are open; rejects with a ConfigError. */
  ready: Promise<void>;
  handle: AgentHandler;
  settings: SmtpSettings;
  /** Closes the cached sessions. */
  close(): void;
}

export interface SmtpAgentOptions {
  config: Config;
  log: MailLogger;
  /** The master.cf service name. */
  service: string;
  lmtp: boolean;
  hops: HopFinder;
}

/** The agent; throws ConfigError for settings it cannot run with. */
export function smtpAgent(opts: SmtpAgentOptions): SmtpAgent {
  const settings = readSmtpSettings(opts.config, opts.lmtp);
  let sasl: SaslSettings | undefined;
  const ready = readSaslSettings(opts.config, settings.prefix).then((s) => {
    sasl = s;
  });
  const cache = new SessionCache();
  const deps = { hops: opts.hops, cache, service: opts.service };
  const handle = async (delivery: AgentDelivery): Promise<DeliveryReply> => {
    const { request, status, log } = delivery;
    if (request.nexthop === '') {
      log.warning(`${request.queueId}: empty nexthop hostname`);
      return { status: DEL_STAT_DEFER };
    }
    await ready;
    const state = new SmtpState(request, status, settings, log, sasl!);
    await smtpConnect(state, deps);
    const reply: DeliveryReply = { status: state.status === 0 ? DEL_STAT_FINAL : DEL_STAT_DEFER };
    if (state.hopStatus) reply.hopStatus = state.hopStatus;
    return reply;
  };
  return { ready, handle, settings, close: () => cache.closeAll() };
}
