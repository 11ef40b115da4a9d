// Mirrors Postfix's cleanup/cleanup_map1n.c, with the duplicate filter of
// cleanup_out_recipient.c and global/been_here.c: virtual_alias_maps
// expansion of one envelope recipient into many. Each result is expanded
// again, up to virtual_alias_recursion_limit levels and
// virtual_alias_expansion_limit addresses; an address that maps to itself
// (among other results) is kept and not expanded again. Over a limit, or
// when a table fails, the recipient stays unexpanded and cleanup is told to
// defer the message ("4.6.0 Alias expansion error").
import type { Config } from '../config/config.js';
import { mailAddrMapInternal } from './addr-find.js';
import {
  CLEANUP_MAP_FLAGS, CLEANUP_STAT_DEFER, CLEANUP_STAT_WRITE, EXT_PROP_VIRTUAL, extPropMask,
} from './canonical.js';
import { foldCase, sameCaseless } from './match-list.js';
import { defaultLog, Maps, TableCache, type AddressLog } from './maps.js';
import type { AddressResolver } from './resolve.js';

export interface VirtualExpansion {
  /** The recipients to deliver to (internal form); the original one alone after an error. */
  addresses: string[];
  /** CLEANUP_STAT_* bits: DEFER over a limit, WRITE after a table failure; 0 when all went well. */
  errs: number;
  /** The text cleanup reports with a non-zero errs. */
  reason?: string;
}

const EXPANSION_ERROR = '4.6.0 Alias expansion error';

/**
 * been_here with BH_FLAG_FOLD: remembers strings case-insensitively, up to
 * a limit (0: no limit); past the limit new strings are not remembered.
 */
export class DuplicateFilter {
  private readonly seen = new Set<string>();

  /** utf8: the program's smtputf8_enable, which decides the case folding. */
  constructor(private readonly limit = 0, private readonly utf8 = false) {}

  /** True when the string was seen before; otherwise it is remembered (room permitting). */
  check(text: string): boolean {
    const key = foldCase(text, this.utf8);
    if (this.seen.has(key)) return true;
    if (this.limit <= 0 || this.limit > this.seen.size) this.seen.add(key);
    return false;
  }

  has(text: string): boolean {
    return this.seen.has(foldCase(text, this.utf8));
  }

  add(text: string): void {
    this.seen.add(foldCase(text, this.utf8));
  }
}

/**
 * The key cleanup_out_recipient uses to drop duplicate recipients of one
 * message: the whole recipient with its DSN attributes when
 * enable_original_recipient is on, else the address alone.
 */
export function duplicateKey(enableOrcpt: boolean, dsnOrcpt: string, dsnNotify: number, orcpt: string, recipient: string): string {
  return enableOrcpt ? `${dsnOrcpt}\n${dsnNotify}\n${orcpt}\n${recipient}` : recipient;
}

export class VirtualAliasExpander {
  private constructor(
    readonly resolver: AddressResolver,
    readonly maps: Maps | undefined,
    private readonly log: AddressLog,
    private readonly recursionLimit: number,
    private readonly expansionLimit: number,
    private readonly addressLengthLimit: number,
    private readonly propagate: boolean,
  ) {}

  /** Opens virtual_alias_maps of the resolver's configuration; log is cleanup's logger. */
  static async create(resolver: AddressResolver, opts: { log?: AddressLog; cache?: TableCache } = {}): Promise<VirtualAliasExpander> {
    const c: Config = resolver.config;
    const log = opts.log ?? defaultLog;
    const names = c.get('virtual_alias_maps');
    const maps = names !== '' ? await Maps.create('virtual_alias_maps', names, CLEANUP_MAP_FLAGS, opts.cache ?? new TableCache(log, resolver.utf8)) : undefined;
    return new VirtualAliasExpander(resolver, maps, log,
      c.getInt('virtual_alias_recursion_limit'), c.getInt('virtual_alias_expansion_limit'),
      c.getInt('virtual_alias_address_length_limit'), (extPropMask(c) & EXT_PROP_VIRTUAL) !== 0);
  }

  /** True when there is something to expand with (cleanup skips expansion otherwise). */
  get enabled(): boolean {
    return this.maps !== undefined;
  }

  /** cleanup_map1n_internal: expands one recipient (internal form). */
  async expand(recipient: string, queueId = 'NOQUEUE'): Promise<VirtualExpansion> {
    const maps = this.maps;
    if (!maps) return { addresses: [recipient], errs: 0 };
    const argv = [recipient];
    const self = new DuplicateFilter(0, this.resolver.utf8);
    const env = this.resolver.addrFindEnv();
    const giveUp = (errs: number, warning: string): VirtualExpansion => {
      this.log.warning(`${queueId}: ${warning} -- message not accepted, try again later`);
      return { addresses: [recipient], errs, reason: EXPANSION_ERROR };
    };
    for (let arg = 0; arg < argv.length; arg++) {
      if (argv.length > this.expansionLimit) {
        return giveUp(CLEANUP_STAT_DEFER, `unreasonable ${maps.title} map expansion size for ${recipient}`);
      }
      for (let count = 0; ; count++) {
        // An address that already expanded into itself is not expanded again.
        if (self.has(argv[arg]!)) break;
        if (count >= this.recursionLimit) {
          return giveUp(CLEANUP_STAT_DEFER, `unreasonable ${maps.title} map nesting for ${recipient}`);
        }
        const r = await mailAddrMapInternal(maps, argv[arg]!, this.propagate, env, (t) => this.log.warning(t));
        if (r.status === 'error') {
          return giveUp(CLEANUP_STAT_WRITE, `${maps.title} map lookup problem for ${recipient}`);
        }
        if (r.status === 'notfound') break;
        const lhs = argv[arg]!;
        for (let i = 0; i < r.addresses.length; i++) {
          const addr = r.addresses[i]!;
          if (Buffer.byteLength(addr, 'utf8') > this.addressLengthLimit) {
            return giveUp(CLEANUP_STAT_DEFER, `unreasonable ${maps.title} result ${addr.slice(0, 300)}...`);
          }
          if (i === 0) argv[arg] = addr;
          else argv.push(addr);
          if (sameCaseless(lhs, addr, this.resolver.utf8)) self.add(lhs);
        }
      }
    }
    return { addresses: argv, errs: 0 };
  }
}

const expanders = new WeakMap<AddressResolver, Promise<VirtualAliasExpander>>();

/**
 * Expands a recipient with the resolver's virtual_alias_maps (opened once
 * per resolver). errs is 0 on success; otherwise addresses holds the
 * recipient unexpanded and reason says why, as cleanup reports it.
 */
export async function expandVirtualAlias(resolver: AddressResolver, recipient: string, queueId = 'NOQUEUE',
  log?: AddressLog): Promise<VirtualExpansion> {
  let e = expanders.get(resolver);
  if (!e) {
    e = VirtualAliasExpander.create(resolver, { log });
    expanders.set(resolver, e);
  }
  return (await e).expand(recipient, queueId);
}
