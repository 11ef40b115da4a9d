// Mirrors what smtpd's pre_jail_init() and smtpd_check_init() set up once
// per process: the parameters, the host and string lists, every table the
// restriction lists name (Postfix's map_command_table), the recipient
// validation tables, the restriction classes and policy clients. One
// SmtpdContext serves every session of a service; it is built
// asynchronously (tables open asynchronously) before the first session.
import type { Config } from '../config/config.js';
import type { CleanupService } from '../cleanup/api.js';
import type { MailLogger } from '../log/logger.js';
import { DICT_FLAG_FOLD_FIX, DICT_FLAG_LOCK, DICT_FLAG_UTF8_REQUEST, O_RDONLY, type Dict } from '../dict/dict.js';
import { tokenizeQuoted, CHARS_COMMA_SP } from '../util/tokens.js';
import type { AddrFindEnv } from '../address/addr-find.js';
import { Maps, type TableCache } from '../address/maps.js';
import { foldCase, MatchList, matchParentStyle } from '../address/match-list.js';
import { OwnAddresses } from '../address/resolve-local.js';
import type { AddressResolver, ResolveResult } from '../address/resolve.js';
import { NamadrList, MATCH_FLAG_RETURN } from './namadr-list.js';
import { readSmtpdParams, type SmtpdParams } from './params.js';
import { PolicyClient } from './check/policy.js';
import { toText } from './text.js';
import { ehloMask } from './ehlo.js';
import { inetFamilies, type Families } from './hostname.js';
import { systemDns } from './dns.js';
import { tlsPolicy, type TlsPolicy } from './tls.js';
import type { AnvilClient } from './anvil.js';

/** Flags smtpd opens access tables with (command_map_register). */
export const ACCESS_DICT_FLAGS = DICT_FLAG_LOCK | DICT_FLAG_FOLD_FIX | DICT_FLAG_UTF8_REQUEST;

/** Hooks a daemon can supply; all optional. */
export interface SmtpdHooks {
  /** Sleeps for smtpd_error_sleep_time and the "sleep" restriction; tests can shorten it. */
  sleep?: (seconds: number) => Promise<void>;
  /** anvil(8): connection counts and event rates per service and client, shared by every process of the service. */
  connectionCounter?: AnvilClient;
  /** ETRN: stands in for the flush service (public/flush) when given (tests). */
  flushSite?: (site: string) => Promise<'ok' | 'deny' | 'bad' | 'fail'>;
  /** Client hostname lookup; defaults to the system resolver (getnameinfo/getaddrinfo). */
  dns?: DnsHooks;
}

/** The older name of the anvil client interface. */
export type ConnectionCounter = AnvilClient;

/** The smtpd_client_*_limit settings that anvil enforces (0: no limit). */
export interface AnvilLimits {
  connCount: number;
  connRate: number;
  mail: number;
  rcpt: number;
  newTls: number;
}

/** What the restriction code asks the name service. Errors: 'temp' (try again) or 'perm' (no such name). */
export interface DnsHooks {
  reverse(addr: string): Promise<{ name: string } | { error: 'temp' | 'perm' }>;
  forward(name: string, family: number): Promise<{ addrs: string[] } | { error: 'temp' | 'perm' }>;
  /** dns_lookup_l() of the given types in order, stopping early on the listed statuses (and on 'ok'). */
  records(name: string, types: string[], stopOn: DnsStatus[]): Promise<DnsStatus>;
}

/** dns_lookup() results: DNS_OK, DNS_POLICY, DNS_RETRY, DNS_INVAL, DNS_FAIL, DNS_NULLMX, DNS_NOTFOUND. */
export type DnsStatus = 'ok' | 'policy' | 'retry' | 'inval' | 'fail' | 'nullmx' | 'notfound';

export interface SmtpdContext {
  readonly config: Config;
  readonly params: SmtpdParams;
  readonly log: MailLogger;
  readonly cleanup: CleanupService;
  readonly resolver: AddressResolver;
  readonly cache: TableCache;
  readonly addrFindEnv: AddrFindEnv;
  readonly hooks: SmtpdHooks;
  readonly mynetworks: NamadrList;
  readonly xclientHosts: NamadrList;
  readonly xforwardHosts: NamadrList;
  readonly verpClients: NamadrList;
  /** smtpd_client_event_limit_exceptions: clients that anvil's limits do not apply to. */
  readonly eventLimitExceptions: NamadrList;
  readonly anvilLimits: AnvilLimits;
  /** The anvil client, when some limit needs one (smtpd's anvil_clnt); null: no anvil requests at all. */
  readonly anvil: AnvilClient | null;
  readonly bareLfExclusions: NamadrList;
  readonly relayDomains: MatchList;
  readonly fastFlushDomains: MatchList;
  readonly forbiddenCommands: MatchList;
  readonly noopCommands: MatchList;
  readonly permitLog: MatchList;
  readonly ownAddresses: OwnAddresses;
  /** inet_protocols. */
  readonly families: Families;
  /** smtpd_forbid_bare_newline as detection flags (0, or BARE_LF_* bits). */
  readonly bareLfMask: number;
  readonly ehloDiscardMask: number;
  readonly ehloDiscardMaps: Maps | null;
  /** STARTTLS and wrapper mode (smtpd_tls_*). */
  readonly tls: TlsPolicy;
  /**
   * Stand-alone mode (smtpd -S behind sendmail -bs): the client is the local
   * user on standard input, so no smtpd_*_restrictions, address checks,
   * TLS, SASL, XCLIENT/XFORWARD, ETRN, pipelining or bare-LF policing.
   */
  readonly standAlone: boolean;
  /** smtpd_command_filter: one table that rewrites command lines. */
  readonly commandFilter: Dict | null;
  /** Tables named in restriction lists, by "type:name" (map_command_table). */
  readonly accessMaps: Map<string, Maps>;
  readonly restrictions: {
    client: string[];
    helo: string[];
    sender: string[];
    relay: string[];
    recipient: string[];
    data: string[];
    eod: string[];
    etrn: string[];
  };
  readonly restrictionClasses: Map<string, string[]>;
  readonly localRewriteClients: string[];
  readonly policyClients: Map<string, PolicyClient>;
  readonly accessParentStyle: number;
  readonly unknownNameTempfailAct: number;
  readonly unknownAddrTempfailAct: number;
  readonly recipientMaps: {
    local: Maps;
    virtualAlias: Maps;
    virtualMailbox: Maps;
    relay: Maps;
    canonical: Maps;
    senderCanonical: Maps;
    recipientCanonical: Maps;
  };
  readonly dns: DnsHooks;
  readonly rblReplyMaps: Maps | null;
  /** smtpd_forbid_unauth_pipelining or reject_unauth_pipelining is in use. */
  readonly watchPipelining: boolean;
  /** smtpd_reject_footer (with its literal backslash-n line breaks). */
  readonly rejectFooter: string;
  /** smtpd_expansion_filter, unescaped, as a set of characters. */
  readonly expansionFilter: Set<string>;
  /** Sleeps (smtpd_error_sleep_time, the "sleep" restriction); a hook may shorten it for tests. */
  sleep(seconds: number): Promise<void>;
  /** The "this configuration cannot work" message, when smtpd would refuse to start. */
  readonly fatal: string | null;
  /** smtpd_resolve_addr(): rewrite in the local context, then resolve (cached per service). */
  resolve(sender: string | null, addr: string): Promise<ResolveResult>;
}

/** bare_lf_mask_table. */
export const BARE_LF_FLAG_WANT_STD_EOD = 1 << 0;
export const BARE_LF_FLAG_REPLY_REJECT = 1 << 1;

function bareLfMask(value: string): number | null {
  switch (value.toLowerCase()) {
    case 'normalize':
    case 'yes':
      return BARE_LF_FLAG_WANT_STD_EOD;
    case 'reject':
      return BARE_LF_FLAG_WANT_STD_EOD | BARE_LF_FLAG_REPLY_REJECT;
    case 'no':
      return 0;
    default:
      return null;
  }
}

/** smtpd_check_parse(): a restriction list split at commas and white space, {braces} kept. */
export function parseRestrictions(text: string): string[] {
  return tokenizeQuoted(text, CHARS_COMMA_SP);
}

/** The restriction words that make a recipient list safe (rcpt_required). */
const RCPT_REQUIRED = ['reject_unauth_destination', 'defer_unauth_destination', 'reject', 'defer', 'defer_if_permit', 'check_relay_domains'];

/** has_required(): some path through the list (and its classes) ends in a rejecting restriction. */
function hasRequired(list: string[], classes: Map<string, string[]>, log: MailLogger, depth = 0): boolean {
  for (let i = 0; i < list.length; i++) {
    const word = list[i]!.toLowerCase();
    if (word === 'warn_if_reject' && i + 1 < list.length) {
      i++;
      continue;
    }
    if (word === 'permit') {
      if (i + 1 < list.length) log.warning(`restriction \`${list[i + 1]}' after \`${list[i]}' is ignored`);
      return false;
    }
    if (RCPT_REQUIRED.includes(word)) return true;
    const expansion = classes.get(list[i]!);
    if (expansion && depth < 100 && hasRequired(expansion, classes, log, depth + 1)) return true;
  }
  return false;
}

function tempfailAction(name: string, value: string): number | string {
  if (value === 'defer') return 0;
  if (value === 'defer_if_permit') return 1;
  return `bad configuration: ${name} = ${value}`;
}

export interface ContextDeps {
  config: Config;
  serviceName: string;
  cleanup: CleanupService;
  resolver: AddressResolver;
  logger: MailLogger;
  hooks?: SmtpdHooks;
  /** Where smtpd's own tables are opened (default: the resolver's cache). */
  cache?: TableCache;
  /** Stand-alone mode (sendmail -bs): no restrictions, TLS, SASL, XCLIENT or anvil. */
  standAlone?: boolean;
}

/** Builds the service-wide state; tables are opened now, as smtpd opens them before entering its chroot. */
export async function buildContext(deps: ContextDeps): Promise<SmtpdContext> {
  const { config, logger: log, resolver } = deps;
  const params = readSmtpdParams(config);
  const cache = deps.cache ?? resolver.cache;
  const listOpts = { cache, log };
  const parentStyle = (name: string) => matchParentStyle(params.parentDomainMatches, name, listOpts);
  const namadr = async (pname: string, text: string) =>
    NamadrList.create(pname, MATCH_FLAG_RETURN | (await parentStyle(pname)), text, cache, log);
  let fatal: string | null = null;

  const restrictions = {
    client: parseRestrictions(params.clientRestrictions),
    helo: parseRestrictions(params.heloRestrictions),
    sender: parseRestrictions(params.senderRestrictions),
    relay: parseRestrictions(params.relayRestrictions),
    recipient: parseRestrictions(params.recipientRestrictions),
    data: parseRestrictions(params.dataRestrictions),
    eod: parseRestrictions(params.eodRestrictions),
    etrn: parseRestrictions(params.etrnRestrictions),
  };
  const restrictionClasses = new Map<string, string[]>();
  for (const name of tokenizeQuoted(params.restrictionClasses, CHARS_COMMA_SP)) {
    const value = config.isSet(name) ? config.get(name) : '';
    if (value === '') {
      fatal ??= `restriction class \`${name}' needs a definition`;
      continue;
    }
    restrictionClasses.set(name, parseRestrictions(value));
  }
  restrictionClasses.set('reject_sender_login_mismatch', ['reject_authenticated_sender_login_mismatch', 'reject_unauthenticated_sender_login_mismatch']);
  if (!hasRequired(restrictions.recipient, restrictionClasses, log) && !hasRequired(restrictions.relay, restrictionClasses, log)) {
    fatal ??= `in parameter smtpd_relay_restrictions or smtpd_recipient_restrictions, specify at least one working instance of: ${RCPT_REQUIRED.slice(0, -1).join(', ')} or ${RCPT_REQUIRED[RCPT_REQUIRED.length - 1]}`;
  }

  // Open every table and policy client the restriction lists name.
  const accessMaps = new Map<string, Maps>();
  const policyClients = new Map<string, PolicyClient>();
  const allLists = [...Object.values(restrictions), ...restrictionClasses.values()];
  for (const list of allLists) {
    for (let i = 0; i < list.length; i++) {
      const word = list[i]!;
      if (i > 0 && list[i - 1]!.toLowerCase() === 'check_policy_service') {
        if (!policyClients.has(word)) policyClients.set(word, PolicyClient.create(word, params.policy, log, params.queueDirectory));
      } else if (word[0] === '{' || word.includes(':')) {
        if (!accessMaps.has(word)) accessMaps.set(word, await Maps.create(word, word, ACCESS_DICT_FLAGS, cache));
      }
    }
  }
  const localRewriteClients = parseRestrictions(params.localHeaderRewriteClients);
  for (const word of localRewriteClients) {
    if (word.includes(':') && !accessMaps.has(word)) accessMaps.set(word, await Maps.create(word, word, ACCESS_DICT_FLAGS, cache));
  }

  const rcptMaps = (title: string, names: string) => Maps.create(title, names, ACCESS_DICT_FLAGS, cache);
  const unkName = tempfailAction('unknown_helo_hostname_tempfail_action', params.unknownHeloTempfailAction);
  const unkAddr = tempfailAction('unknown_address_tempfail_action', params.unknownAddressTempfailAction);
  if (typeof unkName === 'string') fatal ??= unkName;
  if (typeof unkAddr === 'string') fatal ??= unkAddr;
  const tls = tlsPolicy(params.tls, log);
  if (tls.fatal !== null) fatal ??= tls.fatal;
  const bareLf = bareLfMask(params.forbidBareNewline);
  if (bareLf === null) fatal ??= `bad smtpd_forbid_bare_newline value: ${params.forbidBareNewline}`;

  const anvilLimits: AnvilLimits = {
    connCount: config.getInt('smtpd_client_connection_count_limit'),
    connRate: config.getInt('smtpd_client_connection_rate_limit'),
    mail: config.getInt('smtpd_client_message_rate_limit'),
    rcpt: config.getInt('smtpd_client_recipient_rate_limit'),
    newTls: config.getInt('smtpd_client_new_tls_session_rate_limit'),
  };
  // Postfix opens anvil when any limit is set, AUTH's too (AUTH is not built here).
  const anvilNeeded = Object.values(anvilLimits).some((n) => n > 0) || config.getInt('smtpd_client_auth_rate_limit') > 0;
  deps.hooks?.connectionCounter?.setTimeUnit?.(config.getTime('anvil_rate_time_unit'));

  const resolveCache = new Map<string, Promise<ResolveResult>>();
  const ctx: SmtpdContext = {
    config,
    params,
    log,
    cleanup: deps.cleanup,
    resolver,
    cache,
    addrFindEnv: resolver.addrFindEnv(),
    hooks: deps.hooks ?? {},
    mynetworks: await namadr('mynetworks', params.mynetworks),
    xclientHosts: await namadr('smtpd_authorized_xclient_hosts', params.xclientHosts),
    xforwardHosts: await namadr('smtpd_authorized_xforward_hosts', params.xforwardHosts),
    verpClients: await namadr('smtpd_authorized_verp_clients', config.get('smtpd_authorized_verp_clients')),
    eventLimitExceptions: await namadr('smtpd_client_event_limit_exceptions', config.get('smtpd_client_event_limit_exceptions')),
    anvilLimits,
    anvil: anvilNeeded ? deps.hooks?.connectionCounter ?? null : null,
    bareLfExclusions: await namadr('smtpd_forbid_bare_newline_exclusions', params.forbidBareNewlineExclusions),
    relayDomains: await MatchList.domainList('relay_domains', MATCH_FLAG_RETURN | (await parentStyle('relay_domains')), config.get('relay_domains'), listOpts),
    fastFlushDomains: await MatchList.domainList('fast_flush_domains', MATCH_FLAG_RETURN | (await parentStyle('fast_flush_domains')), params.fastFlushDomains, listOpts),
    forbiddenCommands: await MatchList.stringList('smtpd_forbidden_commands', MATCH_FLAG_RETURN, params.forbiddenCommands, listOpts),
    noopCommands: await MatchList.stringList('smtpd_noop_commands', MATCH_FLAG_RETURN, params.noopCommands, listOpts),
    permitLog: await MatchList.stringList('smtpd_log_access_permit_actions', MATCH_FLAG_RETURN, params.logAccessPermitActions, listOpts),
    ownAddresses: OwnAddresses.fromConfig(config),
    families: inetFamilies(config.get('inet_protocols')),
    bareLfMask: bareLf ?? 0,
    ehloDiscardMask: ehloMask(params.discardEhloKeywords),
    ehloDiscardMaps: params.discardEhloKeywordAddressMaps !== ''
      ? await Maps.create('smtpd_discard_ehlo_keyword_address_maps', params.discardEhloKeywordAddressMaps, ACCESS_DICT_FLAGS, cache)
      : null,
    // Stand-alone mode turns TLS off after it was initialized, as smtpd -S does.
    tls: deps.standAlone ? { ...tls, useTls: false, enforceTls: false, wrappermode: false, authOnly: false } : tls,
    standAlone: deps.standAlone ?? false,
    commandFilter: config.get('smtpd_command_filter') !== ''
      ? await cache.open(config.get('smtpd_command_filter'), O_RDONLY, DICT_FLAG_LOCK | DICT_FLAG_FOLD_FIX)
      : null,
    accessMaps,
    restrictions,
    restrictionClasses,
    localRewriteClients,
    policyClients,
    accessParentStyle: await parentStyle('smtpd_access_maps'),
    unknownNameTempfailAct: typeof unkName === 'number' ? unkName : 1,
    unknownAddrTempfailAct: typeof unkAddr === 'number' ? unkAddr : 1,
    recipientMaps: {
      local: await rcptMaps('local_recipient_maps', params.localRecipientMaps),
      virtualAlias: await rcptMaps('virtual_alias_maps', params.virtualAliasMaps),
      virtualMailbox: await rcptMaps('virtual_mailbox_maps', params.virtualMailboxMaps),
      relay: await rcptMaps('relay_recipient_maps', params.relayRecipientMaps),
      canonical: await rcptMaps('canonical_maps', params.canonicalMaps),
      senderCanonical: await rcptMaps('sender_canonical_maps', params.senderCanonicalMaps),
      recipientCanonical: await rcptMaps('recipient_canonical_maps', params.recipientCanonicalMaps),
    },
    dns: deps.hooks?.dns ?? systemDns(),
    rblReplyMaps: config.get('rbl_reply_maps') !== ''
      ? await Maps.create('rbl_reply_maps', config.get('rbl_reply_maps'), ACCESS_DICT_FLAGS, cache)
      : null,
    rejectFooter: config.get('smtpd_reject_footer'),
    watchPipelining: params.forbidUnauthPipelining
      || allLists.some((l) => l.some((w) => w.toLowerCase() === 'reject_unauth_pipelining')),
    expansionFilter: new Set(unescape(config.get('smtpd_expansion_filter'))),
    sleep: deps.hooks?.sleep ?? ((sec) => new Promise((res) => setTimeout(res, sec * 1000))),
    fatal,
    resolve(sender: string | null, addr: string): Promise<ResolveResult> {
      const key = `${sender ?? ''}\n${addr}`;
      let hit = resolveCache.get(key);
      if (!hit) {
        hit = resolveAddr(resolver, sender, addr);
        if (resolveCache.size >= 100) resolveCache.delete(resolveCache.keys().next().value!);
        resolveCache.set(key, hit);
      }
      return hit;
    },
  };
  return ctx;
}

/** resolve_pagein(): both addresses rewritten in the local context, the result's recipient case-folded. */
async function resolveAddr(resolver: AddressResolver, sender: string | null, addr: string): Promise<ResolveResult> {
  const s = await resolver.rewrite('local', toText(sender ?? ''));
  const a = await resolver.rewrite('local', toText(addr));
  const r = await resolver.resolve(a, s);
  return { ...r, recipient: foldCase(r.recipient, resolver.utf8) };
}

/** unescape(): C escapes (backslash-t, -n, -ooo, a doubled backslash) in a parameter value. */
export function unescape(text: string): string {
  const named: Record<string, string> = { a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v' };
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (ch !== '\\' || i + 1 >= text.length) {
      out += ch;
      continue;
    }
    const next = text[++i]!;
    if (named[next] !== undefined) out += named[next];
    else if (/[0-7]/.test(next)) {
      let oct = next;
      while (oct.length < 3 && /[0-7]/.test(text[i + 1] ?? '')) oct += text[++i];
      out += String.fromCharCode(parseInt(oct, 8) & 0xff);
    } else out += next;
  }
  return out;
}
