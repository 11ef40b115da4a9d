// Mirrors Postfix's trivial-rewrite/resolve.c and the resolver half of
// trivial-rewrite.c: an internal-form recipient becomes (transport, nexthop,
// recipient, flags). Local domains are stripped off repeatedly, %, ! and
// quoted routing are cracked open, then the address class decides the
// route: local (mydestination, our address literals), virtual alias
// (error:User unknown), virtual mailbox, relay, or default (with
// sender-dependent transports and relayhosts); transport_maps and
// relocated_maps have the last word. The "verify" personality uses the
// address_verify_* parameters. One AddressResolver per daemon configuration;
// it opens its tables once, on first use.
import { ConfigError, type Config } from '../config/config.js';
import { DICT_FLAG_FOLD_FIX, DICT_FLAG_LOCK, DICT_FLAG_NO_REGSUB, DICT_FLAG_UTF8_REQUEST } from '../dict/dict.js';
import { validUtf8Text } from '../dict/utf8.js';
import { TOK822_QSTRING, tok822Alloc, tok822RfindType, tok822Scan, tok822ScanAddr, tok822SubAppend,
  tok822SubKeepBefore, tokOp, type Tok822 } from './tok822.js';
import { tok822Internalize, TOK822_STR_DEFL } from './tok822-format.js';
import { quote822Local } from './quote.js';
import { mailAddrFind, type AddrFindEnv } from './addr-find.js';
import { MATCH_FLAG_RETURN, MatchList, matchParentStyle, sameCaseless, type MatchResult } from './match-list.js';
import { defaultLog, Maps, TableCache, type AddressLog } from './maps.js';
import { LocalDestinations, validHostaddr, validMailhostLiteral, validUtf8Hostname } from './resolve-local.js';
import { rewriteExternal, rewriteInternal, rewriteParamsFromConfig, rewriteTree,
  type RewriteContextName, type RewriteEnv, type RewriteParams } from './rewrite.js';
import { MAIL_SERVICE_ERROR, TransportTable } from './transport.js';

export const RESOLVE_FLAG_FINAL = 1 << 0; // final delivery
export const RESOLVE_FLAG_ROUTED = 1 << 1; // routed destination
export const RESOLVE_FLAG_ERROR = 1 << 2; // bad destination syntax
export const RESOLVE_FLAG_FAIL = 1 << 3; // request failed
export const RESOLVE_CLASS_LOCAL = 1 << 8; // mydestination/inet_interfaces
export const RESOLVE_CLASS_ALIAS = 1 << 9; // virtual_alias_domains
export const RESOLVE_CLASS_VIRTUAL = 1 << 10; // virtual_mailbox_domains
export const RESOLVE_CLASS_RELAY = 1 << 11; // relay_domains
export const RESOLVE_CLASS_DEFAULT = 1 << 12; // raise reject_unauth_destination
export const RESOLVE_CLASS_FINAL = RESOLVE_CLASS_LOCAL | RESOLVE_CLASS_VIRTUAL;
export const RESOLVE_CLASS_MASK = RESOLVE_CLASS_LOCAL | RESOLVE_CLASS_ALIAS | RESOLVE_CLASS_VIRTUAL
  | RESOLVE_CLASS_RELAY | RESOLVE_CLASS_DEFAULT;

export interface ResolveResult {
  transport: string;
  nexthop: string;
  /** The final recipient, internal form. */
  recipient: string;
  /** RESOLVE_FLAG_* and RESOLVE_CLASS_* bits, numbered as in Postfix. */
  flags: number;
}

/** Parameter names of one resolver personality (RES_CONTEXT). */
interface PersonalityNames {
  local: string;
  virtual: string;
  relay: string;
  def: string;
  sndDefXportMaps: string;
  relayhost: string;
  sndRelayMaps: string;
  transportMaps: string;
}

const REGULAR: PersonalityNames = {
  local: 'local_transport', virtual: 'virtual_transport', relay: 'relay_transport', def: 'default_transport',
  sndDefXportMaps: 'sender_dependent_default_transport_maps', relayhost: 'relayhost',
  sndRelayMaps: 'sender_dependent_relayhost_maps', transportMaps: 'transport_maps',
};

const VERIFY: PersonalityNames = {
  local: 'address_verify_local_transport', virtual: 'address_verify_virtual_transport',
  relay: 'address_verify_relay_transport', def: 'address_verify_default_transport',
  sndDefXportMaps: 'address_verify_sender_dependent_default_transport_maps', relayhost: 'address_verify_relayhost',
  sndRelayMaps: 'address_verify_sender_dependent_relayhost_maps', transportMaps: 'address_verify_transport_maps',
};

interface Personality {
  names: PersonalityNames;
  value: (name: string) => string;
  sndDefXport?: Maps;
  sndRelay?: Maps;
  transport?: TransportTable;
}

interface Tables {
  localDests: Promise<LocalDestinations> | undefined;
  virtAliasDoms?: MatchList;
  virtMailboxDoms?: MatchList;
  relayDomains?: MatchList;
  relocated?: Maps;
  regular: Personality;
  verify: Personality;
}

/** The flags trivial-rewrite opens sender-dependent and relocated tables with. */
const SENDER_MAP_FLAGS = DICT_FLAG_LOCK | DICT_FLAG_FOLD_FIX | DICT_FLAG_NO_REGSUB | DICT_FLAG_UTF8_REQUEST;
const RELOCATED_FLAGS = DICT_FLAG_LOCK | DICT_FLAG_FOLD_FIX | DICT_FLAG_UTF8_REQUEST;

/** trivial-rewrite's string parameters with a minimum length of 1. */
const NON_EMPTY_PARAMS = [
  'local_transport', 'virtual_transport', 'relay_transport', 'default_transport', 'empty_address_recipient',
  'address_verify_local_transport', 'address_verify_virtual_transport', 'address_verify_relay_transport',
  'address_verify_default_transport', 'empty_address_relayhost_maps_lookup_key',
  'empty_address_default_transport_maps_lookup_key',
];

export interface ResolverOptions {
  log?: AddressLog;
  /** Share open tables with other users of the same configuration (smtpd's maps, cleanup's maps). */
  cache?: TableCache;
}

export class AddressResolver {
  readonly log: AddressLog;
  readonly cache: TableCache;
  /** smtputf8_enable of this configuration (Postfix's util_utf8_enable), handed to its tables and comparisons. */
  readonly utf8: boolean;
  readonly rewriteParams: RewriteParams;
  private tables: Promise<Tables> | undefined;
  private localhostDefault = false;

  /** Throws ConfigError with trivial-rewrite's fatal text when a required parameter is empty. */
  constructor(readonly config: Config, opts: ResolverOptions = {}) {
    for (const name of NON_EMPTY_PARAMS) {
      const value = config.get(name);
      if (value.length < 1) throw new ConfigError(`bad string length ${value.length} < 1: ${name} = ${value}`);
    }
    this.log = opts.log ?? opts.cache?.log ?? defaultLog;
    this.utf8 = config.getBool('smtputf8_enable');
    this.cache = opts.cache ?? new TableCache(this.log, this.utf8);
    this.rewriteParams = rewriteParamsFromConfig(config);
  }

  /** Opens the tables now rather than at the first request. */
  async ready(): Promise<void> {
    await this.getTables();
  }

  private getTables(): Promise<Tables> {
    this.tables ??= this.openTables();
    return this.tables;
  }

  /**
   * Opens the tables in trivial-rewrite's order (which decides the order of
   * its start-up complaints): the domain lists, relocated_maps, both
   * personalities' transport tables, sender-dependent tables, then the
   * transport wildcards. mydestination is read at its first use.
   */
  private async openTables(): Promise<Tables> {
    const c = this.config;
    const opts = { cache: this.cache, log: this.log };
    const list = async (name: string, make: typeof MatchList.stringList, flags = MATCH_FLAG_RETURN) =>
      c.get(name) !== '' ? make(name, flags, c.get(name), opts) : undefined;
    const maps = async (name: string, flags: number) => (c.get(name) !== '' ? Maps.create(name, c.get(name), flags, this.cache) : undefined);
    const virtAliasDoms = await list('virtual_alias_domains', MatchList.stringList);
    const virtMailboxDoms = await list('virtual_mailbox_domains', MatchList.stringList);
    const relayStyle = await matchParentStyle(c.get('parent_domain_matches_subdomains'), 'relay_domains', opts);
    const relayDomains = await list('relay_domains', MatchList.domainList, MATCH_FLAG_RETURN | relayStyle);
    const relocated = await maps('relocated_maps', RELOCATED_FLAGS);
    const transportStyle = await matchParentStyle(c.get('parent_domain_matches_subdomains'), 'transport_maps', opts);
    const transport = async (names: PersonalityNames) => c.get(names.transportMaps) !== ''
      ? TransportTable.create(names.transportMaps, c.get(names.transportMaps), transportStyle, this.cache) : undefined;
    const regular: Personality = { names: REGULAR, value: (n) => c.get(n), transport: await transport(REGULAR) };
    const verify: Personality = { names: VERIFY, value: (n) => c.get(n), transport: await transport(VERIFY) };
    for (const rp of [regular, verify]) rp.sndRelay = await maps(rp.names.sndRelayMaps, SENDER_MAP_FLAGS);
    for (const rp of [regular, verify]) rp.sndDefXport = await maps(rp.names.sndDefXportMaps, SENDER_MAP_FLAGS);
    for (const rp of [regular, verify]) await rp.transport?.initWildcard();
    const t: Tables = { localDests: undefined, virtAliasDoms, virtMailboxDoms, relayDomains, relocated, regular, verify };
    // Only the append_dot_mydomain compatibility notice needs to know whether "localhost" has a class.
    if (this.rewriteParams.warnCompatAppendDotMydomain) this.localhostDefault = (await this.classOf(t, 'localhost')) === RESOLVE_CLASS_DEFAULT;
    return t;
  }

  /** resolve_local_init, on first use. */
  private local(t: Tables): Promise<LocalDestinations> {
    t.localDests ??= LocalDestinations.create(this.config, this.cache);
    return t.localDests;
  }

  /** The settings mail_addr_find uses for this configuration. */
  addrFindEnv(): AddrFindEnv {
    return {
      recipientDelimiter: this.config.get('recipient_delimiter'),
      myorigin: this.config.get('myorigin'),
      resolveLocal: (domain) => this.resolveLocal(domain),
      split: {
        doubleBounceSender: this.config.get('double_bounce_sender'),
        ownerRequestSpecial: this.config.getBool('owner_request_special'),
        utf8: this.utf8,
      },
      utf8: this.utf8,
      canonicalize: (addr) => this.rewriteExternal('local', addr),
    };
  }

  /** A table list opened through this configuration's shared tables (maps_create). */
  maps(title: string, mapNames: string, dictFlags: number): Promise<Maps> {
    return Maps.create(title, mapNames, dictFlags, this.cache);
  }

  private rewriteEnv(): RewriteEnv {
    return { log: this.log, localhostIsDefaultClass: () => this.localhostDefault };
  }

  /** rewrite_clnt: external (quoted) form in and out. */
  rewriteExternal(context: RewriteContextName, address: string): string {
    return rewriteExternal(this.rewriteParams, context, address, this.rewriteEnv());
  }

  /** rewrite_clnt_internal: internal (unquoted) form in and out. */
  async rewrite(context: RewriteContextName, address: string): Promise<string> {
    if (this.rewriteParams.warnCompatAppendDotMydomain) await this.getTables();
    return rewriteInternal(this.rewriteParams, context, address, this.rewriteEnv());
  }

  /** resolve_local: 1 for a local domain, 0 otherwise, negative when a table failed. */
  async resolveLocal(domain: string): Promise<number> {
    return (await this.local(await this.getTables())).resolveLocal(domain);
  }

  /** resolve_class: the RESOLVE_CLASS_* of a domain, or -1 when a table failed. */
  async resolveClass(domain: string): Promise<number> {
    return this.classOf(await this.getTables(), domain);
  }

  private async classOf(t: Tables, domain: string): Promise<number> {
    const rc = await (await this.local(t)).resolveLocal(domain);
    if (rc !== 0) return rc > 0 ? RESOLVE_CLASS_LOCAL : -1;
    const steps: Array<[MatchList | undefined, number]> = [
      [t.virtAliasDoms, RESOLVE_CLASS_ALIAS], [t.virtMailboxDoms, RESOLVE_CLASS_VIRTUAL], [t.relayDomains, RESOLVE_CLASS_RELAY],
    ];
    for (const [list, cls] of steps) {
      if (!list) continue;
      const m = await list.match(domain);
      if (m === 'match') return cls;
      if (m === 'error') return -1;
    }
    return RESOLVE_CLASS_DEFAULT;
  }

  /** resolve_clnt_query_from: the regular personality. */
  async resolve(address: string, sender = ''): Promise<ResolveResult> {
    const t = await this.getTables();
    return this.resolveAddr(t, t.regular, sender, address);
  }

  /** resolve_clnt_verify_from: the address verification personality. */
  async resolveVerify(address: string, sender = ''): Promise<ResolveResult> {
    const t = await this.getTables();
    return this.resolveAddr(t, t.verify, sender, address);
  }

  async close(): Promise<void> {
    await this.cache.close();
  }

  /**
   * resolve_addr, first half: strips local domains and routing operators
   * until a remote domain (returned as 'remote') or a bare local address
   * remains; the tree then holds the recipient. Null means a table failed.
   */
  private async stripLocal(t: Tables, addr: string, tree: Tok822): Promise<'local' | 'remote' | null> {
    const p = this.rewriteParams;
    const c = this.config;
    const AT = tokOp('@');
    const DOT = tokOp('.');
    let saved: Tok822 | null = null;
    const loopMax = addr.length + 100;
    for (let loopCount = 0; ; loopCount++) {
      if (loopCount > loopMax) {
        this.log.warning(`resolve_addr: <${addr}>: giving up after ${loopCount} iterations`);
        return null;
      }
      const tail = tree.tail;
      if (tail && tail.type === DOT && tok822RfindType(tail, AT) !== null && tail.prev!.type !== DOT && tail.prev!.type !== AT) {
        tok822SubKeepBefore(tree, tail);
      }
      if (c.getBool('resolve_null_domain') && tree.tail && tree.tail.type === AT) tok822SubKeepBefore(tree, tree.tail);

      const domain = tok822RfindType(tree.tail, AT);
      if (domain !== null) {
        if (domain.next) {
          const rc = await (await this.local(t)).resolveLocal(tok822Internalize(domain.next, TOK822_STR_DEFL));
          if (rc < 0) return null;
          if (rc === 0) return 'remote';
        }
        tok822SubKeepBefore(tree, domain);
        saved = domain;
      }

      if (tok822RfindType(tree.tail, AT) || (p.swapBangpath && tok822RfindType(tree.tail, tokOp('!')))
        || (p.allowPercentHack && tok822RfindType(tree.tail, tokOp('%')))) {
        rewriteTree(p, 'local', tree, this.rewriteEnv());
        continue;
      }
      if (this.crackQuotedLocalpart(tree)) {
        rewriteTree(p, 'local', tree, this.rewriteEnv());
        continue;
      }
      // An empty localpart becomes the local MAILER-DAEMON, then is resolved again.
      if (tree.head && tree.head === tree.tail && tree.head.type === TOK822_QSTRING && tree.head.text === '') tree.head = null;
      if (tree.head === null) {
        const s = tok822Scan(c.get('empty_address_recipient'));
        tree.head = s.head;
        tree.tail = s.tail;
        continue;
      }
      if (saved === null) {
        appendDomain(tree, c.get('myhostname'));
        continue;
      }
      tok822SubAppend(tree, saved);
      return 'local';
    }
  }

  /**
   * With resolve_dequoted_address, a quoted localpart holding @, % or ! is
   * opened up so that "user@remote"@local cannot be used to relay.
   */
  private crackQuotedLocalpart(tree: Tok822): boolean {
    const p = this.rewriteParams;
    const head = tree.head;
    if (!this.config.getBool('resolve_dequoted_address') || !head || head !== tree.tail || head.type !== TOK822_QSTRING) return false;
    const local = head.text;
    let oper = local.lastIndexOf('@');
    if (oper < 0 && p.allowPercentHack) oper = local.lastIndexOf('%');
    if (oper < 0 && p.swapBangpath) oper = local.lastIndexOf('!');
    if (oper < 0) return false;
    let text = local[oper] === '%' ? local.slice(0, oper) + '@' + local.slice(oper + 1) : local;
    if (text[oper] === '@') text = quote822Local(text);
    const s = tok822Scan(text);
    tree.head = s.head;
    tree.tail = s.tail;
    return true;
  }

  /** resolve_addr. */
  private async resolveAddr(t: Tables, rp: Personality, sender: string, addr: string): Promise<ResolveResult> {
    const r: ResolveResult = { transport: 'CHANNEL NOT UPDATED', nexthop: 'NEXTHOP NOT UPDATED', recipient: 'NEXTRCPT NOT UPDATED', flags: 0 };
    const fail = (warning?: string): ResolveResult => {
      if (warning) this.log.warning(warning);
      r.flags |= RESOLVE_FLAG_FAIL;
      return r;
    };
    const tree = tok822ScanAddr(quote822Local(addr));
    const where = await this.stripLocal(t, addr, tree);
    if (where === null) return fail();
    let remote = where === 'remote';

    // The recipient in user@domain form, with a syntax check of the domain.
    r.recipient = tok822Internalize(tree, TOK822_STR_DEFL);
    let at = r.recipient.lastIndexOf('@');
    if (at < 0) throw new Error(`no @ in address: "${r.recipient}"`);
    let rcptDomain = r.recipient.slice(at + 1);
    const smtputf8 = this.config.getBool('smtputf8_enable');
    if (rcptDomain.startsWith('[')) {
      if (!validMailhostLiteral(rcptDomain)) r.flags |= RESOLVE_FLAG_ERROR;
    } else if (smtputf8 && !validUtf8Text(r.recipient)) {
      r.flags |= RESOLVE_FLAG_ERROR;
    } else if (!validUtf8Hostname(smtputf8, rcptDomain, this.log)) {
      if (this.config.getBool('resolve_numeric_domain') && validHostaddr(rcptDomain)) {
        r.recipient = `${r.recipient.slice(0, at + 1)}[${rcptDomain}]`;
        at = r.recipient.lastIndexOf('@');
        rcptDomain = r.recipient.slice(at + 1);
        const rc = await (await this.local(t)).resolveLocal(rcptDomain);
        if (rc > 0) remote = false;
        else if (rc < 0) return fail();
      } else {
        r.flags |= RESOLVE_FLAG_ERROR;
      }
    }
    if (r.flags & RESOLVE_FLAG_ERROR) {
      r.flags |= RESOLVE_CLASS_DEFAULT;
      return r;
    }

    // Routing operators in the localpart, whatever our own settings: the next hop may honour them.
    const first = r.recipient.search(/[@!%]/);
    if (r.recipient.slice(first + 1) !== rcptDomain) r.flags |= RESOLVE_FLAG_ROUTED;

    const blame = remote ? await this.routeRemote(t, rp, sender, rcptDomain, r) : await this.routeLocal(t, rp, rcptDomain, r);
    if (blame === null) return fail();

    // A transport:nexthop setting in main.cf overrides the nexthop.
    const colon = r.transport.indexOf(':');
    if (colon >= 0) {
      const destination = r.transport.slice(colon + 1);
      r.transport = r.transport.slice(0, colon);
      if (destination !== '') r.nexthop = destination;
    }
    if (r.transport === '') {
      return fail(`file ${this.config.configDir}/main.cf: parameter ${blame}: null transport is not allowed`);
    }

    // transport_maps may override any of it, except the virtual alias class's error.
    const env = this.addrFindEnv();
    if (rp.transport && !(r.flags & RESOLVE_CLASS_ALIAS)) {
      const x = await rp.transport.lookup(r.recipient, rcptDomain, { channel: r.transport, nexthop: r.nexthop }, env);
      if (x.status === 'error') return fail(`${rp.names.transportMaps} lookup failure`);
      if (x.status === 'found') {
        r.transport = x.route.channel;
        r.nexthop = x.route.nexthop;
      }
    }

    // Recipients who have moved bounce whatever their class.
    if (t.relocated) {
      const x = await mailAddrFind(t.relocated, r.recipient, env);
      if (x.status === 'error') return fail('relocated_maps lookup failure');
      if (x.status === 'found') {
        r.transport = MAIL_SERVICE_ERROR;
        r.nexthop = `5.1.6 User has moved to ${x.value}`;
      }
    }

    // A recipient that starts with '-' could pass for a command-line option.
    if (!this.config.getBool('allow_min_user') && r.recipient.startsWith('-')) r.flags |= RESOLVE_FLAG_ERROR;
    return r;
  }

  /** Local delivery: $local_transport to the recipient domain. Returns the parameter to blame. */
  private async routeLocal(t: Tables, rp: Personality, rcptDomain: string, r: ResolveResult): Promise<string> {
    await this.helpfulWarnings(rcptDomain, 'mydestination', [[t.virtAliasDoms, 'virtual_alias_domains'], [t.virtMailboxDoms, 'virtual_mailbox_domains']]);
    r.transport = rp.value(rp.names.local);
    r.nexthop = rcptDomain;
    r.flags |= RESOLVE_CLASS_LOCAL;
    return rp.names.local;
  }

  /** "do not list domain X in BOTH a and b", when helpful_warnings is on. Failures are ignored. */
  private async helpfulWarnings(domain: string, mine: string, others: Array<[MatchList | undefined, string]>): Promise<void> {
    if (!this.config.getBool('helpful_warnings')) return;
    for (const [list, name] of others) {
      if (list && (await list.match(domain)) === 'match') this.log.warning(`do not list domain ${domain} in BOTH ${mine} and ${name}`);
    }
  }

  /**
   * The remote classes: virtual alias, virtual mailbox, relay, default.
   * Returns the parameter to blame for the transport, or null after a
   * table failure (already logged).
   */
  private async routeRemote(t: Tables, rp: Personality, sender: string, rcptDomain: string, r: ResolveResult): Promise<string | null> {
    const failed = (name: string): null => {
      this.log.warning(`${name} lookup failure`);
      return null;
    };
    const alias = t.virtAliasDoms ? await t.virtAliasDoms.match(rcptDomain) : 'nomatch';
    if (alias === 'match') {
      await this.helpfulWarnings(rcptDomain, 'virtual_alias_domains',
        [[t.virtMailboxDoms, 'virtual_mailbox_domains'], [t.relayDomains, 'relay_domains']]);
      r.transport = MAIL_SERVICE_ERROR;
      r.nexthop = `5.1.1 User unknown${this.config.getBool('show_user_unknown_table_name') ? ' in virtual alias table' : ''}`;
      r.flags |= RESOLVE_CLASS_ALIAS;
      return MAIL_SERVICE_ERROR;
    }
    if (alias === 'error') return failed('virtual_alias_domains');

    const mailbox: MatchResult = t.virtMailboxDoms ? await t.virtMailboxDoms.match(rcptDomain) : 'nomatch';
    if (mailbox === 'match') {
      await this.helpfulWarnings(rcptDomain, 'virtual_mailbox_domains', [[t.relayDomains, 'relay_domains']]);
      r.transport = rp.value(rp.names.virtual);
      r.nexthop = rcptDomain;
      r.flags |= RESOLVE_CLASS_VIRTUAL;
      return rp.names.virtual;
    }
    if (mailbox === 'error') return failed('virtual_mailbox_domains');

    let blame: string;
    const relay = t.relayDomains ? await t.relayDomains.match(rcptDomain) : 'nomatch';
    if (relay === 'match') {
      r.transport = rp.value(rp.names.relay);
      blame = rp.names.relay;
      r.flags |= RESOLVE_CLASS_RELAY;
    } else if (relay === 'error') {
      return failed('relay_domains');
    } else {
      const x = await this.senderDefaultTransport(rp, sender);
      if (x === null) return failed(rp.names.sndDefXportMaps);
      r.transport = x.transport;
      blame = x.blame;
      r.flags |= RESOLVE_CLASS_DEFAULT;
    }

    // Off-host delivery: a sender-dependent relayhost, else relayhost, else the recipient domain.
    const relayhost = await this.senderRelayhost(rp, sender);
    if (relayhost === null) return failed(rp.names.sndRelayMaps);
    r.nexthop = relayhost !== '' ? relayhost : rp.value(rp.names.relayhost) !== '' ? rp.value(rp.names.relayhost) : rcptDomain;
    return blame;
  }

  /** sender_dependent_default_transport_maps, with DUNNO meaning default_transport. Null on failure. */
  private async senderDefaultTransport(rp: Personality, sender: string): Promise<{ transport: string; blame: string } | null> {
    const def = { transport: rp.value(rp.names.def), blame: rp.names.def };
    if (!rp.sndDefXport) return def;
    const key = sender !== '' ? sender : this.config.get('empty_address_default_transport_maps_lookup_key');
    const x = await mailAddrFind(rp.sndDefXport, key, this.addrFindEnv());
    if (x.status === 'error') return null;
    if (x.status === 'notfound') return def;
    const transport = x.value.toLowerCase() === 'dunno' ? def.transport : x.value;
    return { transport, blame: rp.names.sndDefXportMaps };
  }

  /** sender_dependent_relayhost_maps: the relay host, '' for none (or DUNNO), null on failure. */
  private async senderRelayhost(rp: Personality, sender: string): Promise<string | null> {
    if (!rp.sndRelay) return '';
    const key = sender !== '' ? sender : this.config.get('empty_address_relayhost_maps_lookup_key');
    const x = await mailAddrFind(rp.sndRelay, key, this.addrFindEnv());
    if (x.status === 'error') return null;
    if (x.status === 'notfound' || sameCaseless(x.value, 'DUNNO', this.utf8)) return '';
    return x.value;
  }
}

/** Appends "@domain" (scanned into tokens) to the tree. */
function appendDomain(tree: Tok822, domain: string): void {
  tok822SubAppend(tree, tok822Alloc(tokOp('@')));
  const s = tok822Scan(domain);
  if (s.head) tok822SubAppend(tree, s.head);
}
