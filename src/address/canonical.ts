// Mirrors the address half of Postfix's cleanup: cleanup_map11.c
// (canonical_maps, sender_canonical_maps, recipient_canonical_maps: one
// address in, one out, repeated until it maps to itself),
// cleanup_masquerade.c (masquerade_domains with "!" exceptions,
// masquerade_exceptions), cleanup_addr.c and cleanup_message.c (which
// envelope and header addresses each step applies to, through the *_classes
// parameters). Table failures are reported as CLEANUP_STAT_WRITE bits, as
// cleanup does ("try again later"); the address comes back usable anyway.
import { ConfigError, type Config } from '../config/config.js';
import { DICT_FLAG_FOLD_FIX, DICT_FLAG_LOCK, DICT_FLAG_UTF8_REQUEST } from '../dict/dict.js';
import { MA_FORM_EXTERNAL } from './crunch.js';
import { mailAddrMapOpt, type AddrFindEnv } from './addr-find.js';
import { foldCase, MATCH_FLAG_RETURN, MatchList, sameCaseless } from './match-list.js';
import { defaultLog, Maps, TableCache, type AddressLog } from './maps.js';
import { quote822Local, unquote822Local } from './quote.js';
import type { AddressResolver } from './resolve.js';
import { tok822Scan, type Tok822 } from './tok822.js';
import { tok822Externalize, TOK822_STR_DEFL } from './tok822-format.js';

export const CLEANUP_CANON_FLAG_ENV_FROM = 1 << 0;
export const CLEANUP_CANON_FLAG_ENV_RCPT = 1 << 1;
export const CLEANUP_CANON_FLAG_HDR_FROM = 1 << 2;
export const CLEANUP_CANON_FLAG_HDR_RCPT = 1 << 3;
export const CLEANUP_MASQ_FLAG_ENV_FROM = 1 << 0;
export const CLEANUP_MASQ_FLAG_ENV_RCPT = 1 << 1;
export const CLEANUP_MASQ_FLAG_HDR_FROM = 1 << 2;
export const CLEANUP_MASQ_FLAG_HDR_RCPT = 1 << 3;

export const EXT_PROP_CANONICAL = 1 << 0;
export const EXT_PROP_VIRTUAL = 1 << 1;
export const EXT_PROP_ALIAS = 1 << 2;
export const EXT_PROP_FORWARD = 1 << 3;
export const EXT_PROP_INCLUDE = 1 << 4;
export const EXT_PROP_GENERIC = 1 << 5;

/** cleanup status bits (global/cleanup_user.h) that address rewriting can set. */
export const CLEANUP_STAT_WRITE = 1 << 1;
export const CLEANUP_STAT_DEFER = 1 << 8;

const CLASS_NAMES: ReadonlyArray<[string, number]> = [
  ['envelope_sender', CLEANUP_CANON_FLAG_ENV_FROM],
  ['envelope_recipient', CLEANUP_CANON_FLAG_ENV_RCPT],
  ['header_sender', CLEANUP_CANON_FLAG_HDR_FROM],
  ['header_recipient', CLEANUP_CANON_FLAG_HDR_RCPT],
];

const EXT_PROP_NAMES: ReadonlyArray<[string, number]> = [
  ['canonical', EXT_PROP_CANONICAL], ['virtual', EXT_PROP_VIRTUAL], ['alias', EXT_PROP_ALIAS],
  ['forward', EXT_PROP_FORWARD], ['include', EXT_PROP_INCLUDE], ['generic', EXT_PROP_GENERIC],
];

/** name_mask with NAME_MASK_FATAL: exact names separated by commas and white space. */
export function nameMask(context: string, table: ReadonlyArray<[string, number]>, names: string): number {
  let mask = 0;
  for (const name of names.split(/[, \t\r\n]+/)) {
    if (name === '') continue;
    const hit = table.find(([n]) => n === name);
    if (!hit) throw new ConfigError(`unknown ${context} value "${name}" in "${names}"`);
    mask |= hit[1];
  }
  return mask;
}

/** propagate_unmatched_extensions as a mask of EXT_PROP_* bits. */
export function extPropMask(config: Config): number {
  return nameMask('propagate_unmatched_extensions', EXT_PROP_NAMES, config.get('propagate_unmatched_extensions'));
}

/** A rewritten address and what happened on the way. */
export interface Rewritten {
  address: string;
  /** True when the address text changed. */
  changed: boolean;
  /** CLEANUP_STAT_* bits; 0 when all went well. */
  errs: number;
}

/** The flags cleanup opens canonical and virtual alias tables with. */
export const CLEANUP_MAP_FLAGS = DICT_FLAG_LOCK | DICT_FLAG_FOLD_FIX | DICT_FLAG_UTF8_REQUEST;

/** One-to-one mapping gives up after this many steps. */
const MAX_RECURSION = 10;

/** What cleanup_init sets up for address rewriting. */
export class CleanupAddressRules {
  private constructor(
    readonly resolver: AddressResolver,
    readonly log: AddressLog,
    readonly common: Maps | undefined,
    readonly sender: Maps | undefined,
    readonly recipient: Maps | undefined,
    readonly commonFlags: number,
    readonly senderFlags: number,
    readonly recipientFlags: number,
    readonly masqDomains: string[],
    readonly masqExceptions: MatchList | undefined,
    readonly masqFlags: number,
    readonly extProp: number,
  ) {}

  /**
   * Opens the tables named by the configuration of the resolver. Log is
   * cleanup's logger. Throws ConfigError for a bad *_classes value.
   */
  static async create(resolver: AddressResolver, opts: { log?: AddressLog; cache?: TableCache } = {}): Promise<CleanupAddressRules> {
    const c = resolver.config;
    const log = opts.log ?? defaultLog;
    const cache = opts.cache ?? new TableCache(log, resolver.utf8);
    const maps = async (name: string) => (c.get(name) !== '' ? Maps.create(name, c.get(name), CLEANUP_MAP_FLAGS, cache) : undefined);
    const classes = (name: string, allowed: number) =>
      c.get(name) !== '' ? nameMask('canonical_classes', CLASS_NAMES.filter(([, m]) => m & allowed), c.get(name)) : 0;
    const masq = c.get('masquerade_domains');
    return new CleanupAddressRules(
      resolver, log,
      await maps('canonical_maps'), await maps('sender_canonical_maps'), await maps('recipient_canonical_maps'),
      classes('canonical_classes', 0xf),
      classes('sender_canonical_classes', CLEANUP_CANON_FLAG_ENV_FROM | CLEANUP_CANON_FLAG_HDR_FROM),
      classes('recipient_canonical_classes', CLEANUP_CANON_FLAG_ENV_RCPT | CLEANUP_CANON_FLAG_HDR_RCPT),
      masq.split(/[, \t\r\n]+/).filter((d) => d !== ''),
      c.get('masquerade_exceptions') !== ''
        ? await MatchList.stringList('masquerade_exceptions', MATCH_FLAG_RETURN, c.get('masquerade_exceptions'), { cache, log })
        : undefined,
      c.get('masquerade_classes') !== '' ? nameMask('masquerade_classes', CLASS_NAMES, c.get('masquerade_classes')) : 0,
      extPropMask(c),
    );
  }

  /** mail_addr_map's environment: the resolver's, with cleanup's view of the configuration. */
  addrFindEnv(): AddrFindEnv {
    return this.resolver.addrFindEnv();
  }

  /**
   * cleanup_map11_external: maps an external-form address until it maps to
   * itself. A multi-valued entry uses its first address, with a warning.
   */
  async map11External(addr: string, maps: Maps, propagate: boolean, queueId: string): Promise<Rewritten> {
    let address = addr;
    let changed = false;
    for (let count = 0; count < MAX_RECURSION; count++) {
      const r = await mailAddrMapOpt(maps, address, propagate, MA_FORM_EXTERNAL, MA_FORM_EXTERNAL, MA_FORM_EXTERNAL,
        this.addrFindEnv(), (t) => this.log.warning(t));
      if (r.status === 'found') {
        if (r.addresses.length > 1) this.log.warning(`${queueId}: multi-valued ${maps.title} entry for ${address}`);
        const saved = address;
        changed ||= r.addresses[0] !== address;
        address = r.addresses[0]!;
        if (sameCaseless(saved, address, this.resolver.utf8)) return { address, changed, errs: 0 };
      } else if (r.status === 'error') {
        this.log.warning(`${queueId}: ${maps.title} map lookup problem for ${address} -- message not accepted, try again later`);
        return { address, changed, errs: CLEANUP_STAT_WRITE };
      } else {
        return { address, changed, errs: 0 };
      }
    }
    this.log.warning(`${queueId}: unreasonable ${maps.title} map nesting for ${address} -- message not accepted, try again later`);
    return { address, changed, errs: 0 };
  }

  /**
   * cleanup_masquerade_external: user@sub.example.com becomes
   * user@example.com when example.com is in masquerade_domains, unless a
   * "!sub.example.com" comes first or the user is in masquerade_exceptions.
   */
  async masqueradeExternal(addr: string, queueId: string): Promise<Rewritten> {
    const at = addr.lastIndexOf('@');
    if (at < 0) return { address: addr, changed: false, errs: 0 };
    const domain = foldCase(addr.slice(at + 1), this.resolver.utf8);
    let errs = 0;
    if (this.masqExceptions) {
      const m = await this.masqExceptions.match(addr.slice(0, at));
      if (m === 'error') {
        this.log.info(`${queueId}: masquerade_exceptions map lookup problem -- message not accepted, try again later`);
        errs |= CLEANUP_STAT_WRITE;
      }
      if (m === 'match') return { address: addr, changed: false, errs };
    }
    for (const item of this.masqDomains) {
      let truncate = true;
      let masq = item;
      while (masq.startsWith('!')) {
        truncate = !truncate;
        masq = masq.slice(1);
      }
      masq = foldCase(masq, this.resolver.utf8);
      if (masq === '') continue;
      if (masq.length === domain.length) {
        if (masq === domain) break;
      } else if (masq.length < domain.length) {
        const parent = domain.length - masq.length;
        if (domain[parent - 1] === '.' && domain.slice(parent) === masq) {
          if (truncate) return { address: `${addr.slice(0, at + 1)}${masq}`, changed: true, errs };
          break;
        }
      }
    }
    return { address: addr, changed: false, errs };
  }

    /**
   * The steps cleanup applies to an address of this class, in order: the
   * sender or recipient canonical table, canonical_maps, masquerading. Each
   * takes and returns external form.
   */
  steps(cls: AddressClass, queueId: string): Array<(addr: string) => Promise<Rewritten>> {
    const flag = CLASS_FLAG[cls];
    const propagate = (this.extProp & EXT_PROP_CANONICAL) !== 0;
    const own = cls.endsWith('sender') ? [this.sender, this.senderFlags] as const : [this.recipient, this.recipientFlags] as const;
    const out: Array<(addr: string) => Promise<Rewritten>> = [];
    for (const [maps, flags] of [own, [this.common, this.commonFlags] as const]) {
      if (maps && flags & flag) out.push((addr) => this.map11External(addr, maps, propagate, queueId));
    }
    if (this.masqDomains.length && this.masqFlags & flag) out.push((addr) => this.masqueradeExternal(addr, queueId));
    return out;
  }
}

export type AddressClass = 'envelope_sender' | 'envelope_recipient' | 'header_sender' | 'header_recipient';

const CLASS_FLAG: Record<AddressClass, number> = {
  envelope_sender: CLEANUP_CANON_FLAG_ENV_FROM,
  envelope_recipient: CLEANUP_CANON_FLAG_ENV_RCPT,
  header_sender: CLEANUP_CANON_FLAG_HDR_FROM,
  header_recipient: CLEANUP_CANON_FLAG_HDR_RCPT,
};

/** Runs steps on an external-form address. */
async function chain(steps: Array<(addr: string) => Promise<Rewritten>>, addr: string, internal: boolean): Promise<Rewritten> {
  let cur: Rewritten = { address: addr, changed: false, errs: 0 };
  for (const step of steps) {
    // cleanup converts internal form to external form and back around each step.
    const r = await step(internal ? quote822Local(cur.address) : cur.address);
    cur = { address: internal ? unquote822Local(r.address) : r.address, changed: cur.changed || r.changed, errs: cur.errs | r.errs };
  }
  return cur;
}

/** The canonical maps that apply to an external-form address of this class, without masquerading. */
export function canonicalize(rules: CleanupAddressRules, cls: AddressClass, addr: string, queueId = 'NOQUEUE'): Promise<Rewritten> {
  const steps = rules.steps(cls, queueId);
  return chain(rules.masqDomains.length && rules.masqFlags & CLASS_FLAG[cls] ? steps.slice(0, -1) : steps, addr, false);
}

/** masquerade_domains for an external-form address of this class (when masquerade_classes has it). */
export async function masquerade(rules: CleanupAddressRules, cls: AddressClass, addr: string, queueId = 'NOQUEUE'): Promise<Rewritten> {
  if (!rules.masqDomains.length || !(rules.masqFlags & CLASS_FLAG[cls])) return { address: addr, changed: false, errs: 0 };
  return rules.masqueradeExternal(addr, queueId);
}

/**
 * cleanup_addr_sender: the envelope sender (internal form) in the local
 * context; MAILER-DAEMON@$myorigin becomes the null sender; then the
 * canonical maps and masquerading when mapping is allowed.
 */
export async function envelopeSender(rules: CleanupAddressRules, addr: string, mapOk: boolean, queueId = 'NOQUEUE'): Promise<Rewritten> {
  const resolver = rules.resolver;
  let clean = await resolver.rewrite('local', addr);
  if (foldCase(clean.slice(0, 14), resolver.utf8) === foldCase('MAILER-DAEMON@', resolver.utf8)) {
    if (sameCaseless(clean, await resolver.rewrite('local', 'MAILER-DAEMON'), resolver.utf8)) clean = '';
  }
  return mapInternal(rules, 'envelope_sender', addr, clean, mapOk, queueId);
}

/**
 * cleanup_addr_recipient (and cleanup_addr_bcc_dsn with emptyOk): an
 * envelope recipient, empty_address_recipient standing in for the null
 * address, made canonical, before virtual alias expansion.
 */
export async function envelopeRecipient(rules: CleanupAddressRules, addr: string, mapOk: boolean, queueId = 'NOQUEUE'): Promise<Rewritten> {
  const resolver = rules.resolver;
  const clean = await resolver.rewrite('local', addr !== '' ? addr : resolver.config.get('empty_address_recipient'));
  return mapInternal(rules, 'envelope_recipient', addr, clean, mapOk, queueId);
}

async function mapInternal(rules: CleanupAddressRules, cls: AddressClass, orig: string, clean: string, mapOk: boolean,
  queueId: string): Promise<Rewritten> {
  if (!mapOk) return { address: clean, changed: clean !== orig, errs: 0 };
  const r = await chain(rules.steps(cls, queueId), clean, true);
  return { address: r.address, changed: r.address !== orig, errs: r.errs };
}

/**
 * cleanup_rewrite_sender / cleanup_rewrite_recip for one address of a
 * header (an ADDR node of the parsed header, rewritten in place): the
 * header rewriting context, then canonical maps and masquerading. As in
 * Postfix, each step starts from the node's external form and leaves new
 * tokens (not owned by the node) behind.
 */
export async function headerAddress(rules: CleanupAddressRules, side: 'sender' | 'recipient', node: Tok822,
  context: 'local' | 'remote', mapOk: boolean, queueId = 'NOQUEUE'): Promise<Rewritten> {
  const rewrite = async (addr: string): Promise<Rewritten> => {
    const address = rules.resolver.rewriteExternal(context, addr);
    return { address, changed: address !== addr, errs: 0 };
  };
  const steps = [rewrite, ...(mapOk ? rules.steps(side === 'sender' ? 'header_sender' : 'header_recipient', queueId) : [])];
  let cur: Rewritten = { address: '', changed: false, errs: 0 };
  for (const step of steps) {
    const r = await step(tok822Externalize(node.head, TOK822_STR_DEFL));
    const s = tok822Scan(r.address);
    node.head = s.head;
    node.tail = s.tail;
    cur = { address: r.address, changed: cur.changed || r.changed, errs: cur.errs | r.errs };
  }
  return cur;
}
