// smtp(8) and lmtp(8) as a delivery agent (Postfix's smtp/smtp.c
// deliver_message): one request's recipients go to the request's next hop
// through ./connect.ts; the reply says whether anything was deferred, and
// carries the hop status when the destination failed as a whole, so that
// qmgr treats it as dead. The agent is one object per process with its
// settings, its next-hop lookup and its connection cache; each request
// gets its own SmtpState. Touches sockets to servers, and the queue file
// and status logs through the status calls.
import type { Config } from '../../config/config.js';
import { AddressResolver } from '../../address/resolve.js';
import { TableCache } from '../../address/maps.js';
import { HeaderOptsTable } from '../../mail/header-opts.js';
import type { MailLogger } from '../../log/logger.js';
import { DEL_STAT_DEFER, DEL_STAT_FINAL, type DeliveryReply } from '../api.js';
import type { AgentDelivery, AgentHandler } from '../agent.js';
import { SessionCache } from './cache.js';
import { type ConnectDeps, type HopFinder, smtpConnect } from './connect.js';
import { TlsPolicyEngine } from './tls-policy.js';
import { readSmtpSettings, type SmtpSettings } from './settings.js';
import { SmtpState } from './state.js';
import { type SaslSettings, readSaslSettings } from './sasl.js';
import { GenericMaps } from './generic.js';
import { ContentChecks } from './hbc.js';
import type { ContentRules } from './rewrite.js';

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
  let content: ContentRules | null = null;
  let deps: ConnectDeps | undefined;
  const cache = new SessionCache();
  const tables = new TableCache(opts.log, settings.smtputf8);
  const ready = Promise.all([
    readSaslSettings(opts.config, settings.prefix), contentRules(opts.config, settings.prefix, opts.log),
    TlsPolicyEngine.create(settings.tls.policy, tables, opts.log, settings.smtputf8),
  ]).then(([s, c, tlsPolicy]) => {
    sasl = s;
    content = c;
    deps = { hops: opts.hops, cache, service: opts.service, tlsPolicy };
  });
  const handle = async (delivery: AgentDelivery): Promise<DeliveryReply> => {
    const { request, status, log } = delivery;
    if (request.nexthop === '') {
      log.warning(`${request.queueId}: empty nexthop hostname`);
      return { status: DEL_STAT_DEFER };
    }
    await ready;
    const state = new SmtpState(request, status, settings, log, sasl!);
    state.content = content;
    await smtpConnect(state, deps!);
    const reply: DeliveryReply = { status: state.status === 0 ? DEL_STAT_FINAL : DEL_STAT_DEFER };
    if (state.hopStatus) reply.hopStatus = state.hopStatus;
    return reply;
  };
  return { ready, handle, settings, close: () => cache.closeAll() };
}

/** The output rewriting the configuration asks for: generic maps, header and body checks; null when none. */
async function contentRules(config: Config, prefix: string, log: MailLogger): Promise<ContentRules | null> {
  const cache = new TableCache(log, config.getBool('smtputf8_enable'));
  const checks = await ContentChecks.create((name) => config.get(name), prefix, cache);
  // The address lookups of the generic maps need trivial-rewrite's view of local domains and canonical forms.
  const generic = config.get(`${prefix}_generic_maps`) !== ''
    ? await GenericMaps.create(config, prefix, cache, new AddressResolver(config, { cache, log }).addrFindEnv(), log)
    : undefined;
  return {
    generic,
    checks,
    headerOpts: new HeaderOptsTable(config.get('message_drop_headers')),
    limits: {
      headerLimit: config.getInt('header_size_limit'),
      boundLimit: config.getInt('mime_boundary_length_limit'),
      maxDepth: config.getInt('mime_nesting_limit'),
    },
  };
}
