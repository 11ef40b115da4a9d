// Mirrors Postfix's trivial-rewrite/transport.c: transport_maps, which may
// override the transport and/or nexthop that the address class chose. Keys
// are tried as user+ext@domain, user@domain, domain, then parent domains
// (".parent" unless transport_maps is in parent_domain_matches_subdomains),
// and finally the "*" wildcard. A value is "transport:nexthop"; an empty
// transport keeps the current one, an empty nexthop resets it to the
// recipient domain (or a fixed text for the error and retry transports).
import { DICT_FLAG_FOLD_FIX, DICT_FLAG_LOCK, DICT_FLAG_NO_REGSUB, DICT_FLAG_UTF8_REQUEST } from '../dict/dict.js';
import {
  MA_FIND_DOMAIN, MA_FIND_FULL, MA_FIND_NOEXT, MA_FIND_PDDMDS, MA_FIND_PDMS,
  mailAddrFindStrategy, type AddrFindEnv,
} from './addr-find.js';
import { MATCH_FLAG_PARENT } from './match-list.js';
import { Maps, type TableCache } from './maps.js';

export const MAIL_SERVICE_ERROR = 'error';
export const MAIL_SERVICE_RETRY = 'retry';

/** The flags trivial-rewrite opens transport_maps with. */
export const TRANSPORT_DICT_FLAGS = DICT_FLAG_LOCK | DICT_FLAG_FOLD_FIX | DICT_FLAG_NO_REGSUB | DICT_FLAG_UTF8_REQUEST;

export interface Route {
  channel: string;
  nexthop: string;
}

export type TransportLookup = { status: 'found'; route: Route } | { status: 'notfound' } | { status: 'error' };

/**
 * update_entry: ":" alone changes nothing; ":nexthop" changes the nexthop
 * only; "transport" changes the transport and resets the nexthop.
 */
export function updateEntry(newChannel: string, newNexthop: string, rcptDomain: string, cur: Route): Route {
  if (newChannel === '') return newNexthop !== '' ? { channel: cur.channel, nexthop: newNexthop } : cur;
  if (newNexthop !== '') return { channel: newChannel, nexthop: newNexthop };
  if (newChannel !== MAIL_SERVICE_ERROR && newChannel !== MAIL_SERVICE_RETRY) return { channel: newChannel, nexthop: rcptDomain };
  return { channel: newChannel, nexthop: 'Address is undeliverable' };
}

/** parse_transport_entry: the value split at its first colon. */
export function parseTransportEntry(value: string, rcptDomain: string, cur: Route): Route {
  const colon = value.indexOf(':');
  const channel = colon < 0 ? value : value.slice(0, colon);
  const nexthop = colon < 0 ? '' : value.slice(colon + 1);
  return updateEntry(channel, nexthop, rcptDomain, cur);
}

/** The "*" entry: absent (null), present (its route, possibly with empty fields), or unreadable. */
type Wildcard = { route: Route | null; error: boolean; expires: number };

/** How long the wildcard entry is remembered, in milliseconds. */
const WILDCARD_TTL = 30_000;

export class TransportTable {
  private wildcard: Wildcard = { route: null, error: false, expires: 0 };

  private constructor(
    readonly maps: Maps,
    private readonly strategy: number,
  ) {}

  /**
   * transport_pre_init and transport_post_init: opens the tables; parentStyle
   * is match_parent_style("transport_maps").
   */
  static async create(title: string, mapNames: string, parentStyle: number, cache?: TableCache): Promise<TransportTable> {
    const maps = await Maps.create(title, mapNames, TRANSPORT_DICT_FLAGS, cache);
    const strategy = MA_FIND_FULL | MA_FIND_NOEXT | MA_FIND_DOMAIN
      | (parentStyle === MATCH_FLAG_PARENT ? MA_FIND_PDMS : MA_FIND_PDDMDS);
    return new TransportTable(maps, strategy);
  }

  /** transport_wildcard_init: looks up "*" and remembers the answer for a while. */
  async initWildcard(): Promise<void> {
    const r = await this.maps.find('*', 0);
    const route = r.status === 'found' ? parseTransportEntry(r.value, '', { channel: '', nexthop: '' }) : null;
    this.wildcard = { route, error: r.status === 'error', expires: Date.now() + WILDCARD_TTL };
  }

  /**
   * transport_lookup: the route for a resolved recipient (user@domain,
   * internal form), starting from the class's route. The wildcard is
   * consulted only when nothing more specific matched.
   */
  async lookup(addr: string, rcptDomain: string, cur: Route, env: AddrFindEnv): Promise<TransportLookup> {
    if (addr === '') return { status: 'notfound' };
    const r = await mailAddrFindStrategy(this.maps, addr, this.strategy, env);
    if (r.status === 'found') return { status: 'found', route: parseTransportEntry(r.value, rcptDomain, cur) };
    if (r.status === 'error') return { status: 'error' };
    if (this.wildcard.error || Date.now() > this.wildcard.expires) await this.initWildcard();
    if (this.wildcard.error) return { status: 'error' };
    const wild = this.wildcard.route;
    if (wild === null) return { status: 'notfound' };
    // The wildcard entry was parsed without a domain; it applies like any other entry.
    return { status: 'found', route: updateEntry(wild.channel, wild.nexthop, rcptDomain, cur) };
  }
}
