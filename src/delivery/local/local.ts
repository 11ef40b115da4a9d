// Mirrors Postfix's local/local.c: the local delivery agent's request loop
// and set-up. localAgent() builds, from a configuration, what every
// delivery of the process shares (alias tables with their owners, the
// transport and command tables, default_privs, the exported environment)
// and returns the handler that serves one delivery request: for each
// recipient, a fresh duplicate filter, the delivery graph of
// ./recipient.ts, the forwarded copies sent (./forward.ts), and the
// recipient marked done in the queue file when it is finished.
// Touches the queue file (reads, done marks), the queue's logs through the
// status library, and, through the leaves, mailboxes, files and commands.
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import type { Config } from '../../config/config.js';
import { ConfigError } from '../../config/config.js';
import type { MailLogger } from '../../log/logger.js';
import { AddressResolver } from '../../address/resolve.js';
import { Maps, TableCache, splitTableList } from '../../address/maps.js';
import type { CleanupService } from '../../cleanup/api.js';
import {
  DICT_FLAG_FOLD_FIX, DICT_FLAG_LOCK, DICT_FLAG_NO_REGSUB, DICT_FLAG_PARANOID, DICT_FLAG_UTF8_REQUEST,
} from '../../dict/dict.js';
import { layoutFromConfig, mailQueuePath } from '../../queue/layout.js';
import { markRecipientDone } from '../../queue/ops.js';
import { inputFromFd } from '../../queue/record.js';
import type { StatusContext } from '../../queue/delivery-status.js';
import type { AgentDelivery, AgentHandler } from '../agent.js';
import { DEL_REQ_FLAG_SUCCESS, DEL_STAT_DEFER, DEL_STAT_FINAL, type DeliveryReply, type DeliveryRequest } from '../api.js';
import { NO_USER, type DeliverAttr } from './attr.js';
import { DeliveredHeaders } from './delivered.js';
import { PasswdFile } from './passwd.js';
import { type AliasTable, type LocalEnv, LocalRequest, type PassFunction } from './request.js';
import { localSettings } from './settings.js';
import { deliverRecipient } from './recipient.js';
import { socketPass } from './pass.js';

export interface LocalAgentOptions {
  config: Config;
  log: MailLogger;
  cleanup: CleanupService;
  /** The master.cf service name (relay= and the transport that means "here"); default "local". */
  service?: string;
  resolver?: AddressResolver;
  cache?: TableCache;
  /** How recipients are handed to mailbox_transport / fallback_transport; default: private/<transport> sockets. */
  pass?: PassFunction;
  passwdFile?: string;
}

export interface LocalAgent {
  handle: AgentHandler;
  close(): Promise<void>;
}

const ALIAS_FLAGS = DICT_FLAG_LOCK | DICT_FLAG_PARANOID | DICT_FLAG_FOLD_FIX | DICT_FLAG_UTF8_REQUEST;
const TRANSPORT_FLAGS = DICT_FLAG_LOCK | DICT_FLAG_NO_REGSUB | DICT_FLAG_UTF8_REQUEST;
const COMMAND_FLAGS = DICT_FLAG_LOCK | DICT_FLAG_PARANOID | DICT_FLAG_UTF8_REQUEST;

/** The file that holds a table, for its owner; null for tables that are not files (trusted). */
function tableFile(spec: string): string | null {
  const colon = spec.indexOf(':');
  if (colon < 0) return null;
  const type = spec.slice(0, colon);
  const name = spec.slice(colon + 1);
  switch (type) {
    case 'hash': case 'btree': return `${name}.db`;
    case 'lmdb': return `${name}.lmdb`;
    case 'cdb': return `${name}.cdb`;
    case 'dbm': case 'sdbm': return `${name}.dir`;
    case 'texthash': case 'regexp': case 'pcre': case 'cidr': return name;
    default: return null;
  }
}

/** Postfix's dict owner: a table file owned by root is trusted, another owner's is run as that owner. */
async function tableOwner(spec: string): Promise<AliasTable['owner']> {
  const file = tableFile(spec);
  if (file === null) return { status: 'trusted' };
  try {
    const st = await fsp.stat(file);
    return st.uid === 0 ? { status: 'trusted' } : { status: 'user', uid: st.uid };
  } catch {
    // The table itself reports why it cannot be read at each lookup.
    return { status: 'trusted' };
  }
}

/** export_environment; MAIL_CONFIG is the configuration in force when this process has none in its environment. */
function exportedEnvironment(config: Config, names: string[]): string[] {
  return names.map((n) => (n === 'MAIL_CONFIG' && process.env.MAIL_CONFIG === undefined ? `MAIL_CONFIG=${config.configDir}` : n));
}

async function optionalMaps(title: string, value: string, flags: number, cache: TableCache): Promise<Maps | undefined> {
  return value === '' ? undefined : Maps.create(title, value, flags, cache);
}

/** Builds the shared environment; throws ConfigError for a configuration local(8) refuses. */
export async function createLocalEnv(opts: LocalAgentOptions): Promise<LocalEnv> {
  const { config, log } = opts;
  const settings = localSettings(config);
  const utf8 = config.getBool('smtputf8_enable');
  const cache = opts.cache ?? opts.resolver?.cache ?? new TableCache(log, utf8);
  const resolver = opts.resolver ?? new AddressResolver(config, { cache, log });
  const layout = layoutFromConfig(config);
  if ('error' in layout) throw new ConfigError(layout.error);
  const passwd = new PasswdFile(opts.passwdFile);
  const privs = passwd.byNameLookup(settings.defaultPrivs);
  if (!privs.ok || privs.pw === null) throw new ConfigError(`unknown default_privs user: ${settings.defaultPrivs}`);
  if (privs.pw.uid === 0) throw new ConfigError(`default_privs: ${settings.defaultPrivs}: privileged user is not allowed`);
  const aliasTables: AliasTable[] = [];
  for (const spec of splitTableList(settings.aliasMaps)) {
    aliasTables.push({ spec, maps: await Maps.create('alias_maps', spec, ALIAS_FLAGS, cache), owner: await tableOwner(spec) });
  }
  const queueDir = settings.queueDirectory;
  return {
    config,
    settings,
    log,
    resolver,
    cleanup: opts.cleanup,
    passwd,
    aliasTables,
    mailboxTransportMaps: await optionalMaps('mailbox_transport_maps', settings.mailboxTransportMaps, TRANSPORT_FLAGS, cache),
    fallbackTransportMaps: await optionalMaps('fallback_transport_maps', settings.fallbackTransportMaps, TRANSPORT_FLAGS, cache),
    mailboxCommandMaps: await optionalMaps('mailbox_command_maps', settings.mailboxCommandMaps, COMMAND_FLAGS, cache),
    service: opts.service ?? 'local',
    queueDir,
    layout,
    pass: opts.pass ?? socketPass(queueDir),
    exportEnv: exportedEnvironment(config, settings.exportEnvironment),
    defaultUid: privs.pw.uid,
    defaultGid: privs.pw.gid,
  };
}

function topAttr(req: DeliveryRequest, rcpt: DeliveryRequest['recipients'][number]): DeliverAttr {
  return {
    level: 0, sender: req.sender, dsnEnvid: req.dsnEnvid, dsnRet: req.dsnRet, rcpt: { ...rcpt },
    domain: '', local: '', user: '', extension: null, unmatched: null,
    owner: null, delivered: null, expType: 0, expFrom: null,
  };
}

/**
 * local_deliver: one request on its open queue file. The status library
 * gets no file handle: a recipient is marked done here, once all of its
 * expansion is finished (one deferred branch keeps it in the queue).
 */
export async function localDeliver(env: LocalEnv, delivery: AgentDelivery): Promise<DeliveryReply> {
  const { request: req, fh } = delivery;
  const rel = mailQueuePath(env.layout, req.queueName, req.queueId);
  const input = inputFromFd(fh.fd, rel, path.resolve(env.queueDir, rel));
  const status: StatusContext = { ...delivery.status, fh: undefined };
  const lr = new LocalRequest(env, req, status, input, fh.fd, DeliveredHeaders.read(input, req.dataOffset));
  let msgStat = 0;
  for (const rcpt of req.recipients) {
    lr.resetRecipient();
    const attr = topAttr(req, rcpt);
    let rcptStat = await deliverRecipient(lr, attr, NO_USER);
    if (lr.forwarder !== null) rcptStat |= await lr.forwarder.finish(attr, rcptStat);
    if (rcptStat === 0 && (req.flags & DEL_REQ_FLAG_SUCCESS)) {
      const failed = await markRecipientDone(fh, rcpt.offset);
      if (failed !== null) {
        env.log.warning(`update queue file ${rel}: ${failed.error.message}`);
        rcptStat = DEL_STAT_DEFER;
      }
    }
    msgStat |= rcptStat;
  }
  return { status: msgStat === 0 ? DEL_STAT_FINAL : DEL_STAT_DEFER };
}

/** The local delivery agent of one process: set-up now, then one handler call per request. */
export async function localAgent(opts: LocalAgentOptions): Promise<LocalAgent> {
  const env = await createLocalEnv(opts);
  const ownsResolver = opts.resolver === undefined;
  return {
    handle: (delivery) => localDeliver(env, delivery),
    close: async () => {
      if (ownsResolver) await env.resolver.close().catch(() => undefined);
    },
  };
}
