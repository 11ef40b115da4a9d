// smtp_generic_maps and lmtp_generic_maps (Postfix's smtp/smtp_map11.c and
// smtp_rewrite_generic_internal of smtp_misc.c): one lookup per address,
// never repeated, by the usual address lookup order (user+ext@domain,
// user@domain, @domain); a multi-valued result uses its first address with
// a warning; an unmatched extension is carried over when
// propagate_unmatched_extensions names "generic". Used for the envelope
// sender and recipients of MAIL FROM and RCPT TO and for the addresses of
// the primary sender and recipient headers. Reads tables only.
import type { Config } from '../../config/config.js';
import { DICT_FLAG_FOLD_FIX, DICT_FLAG_LOCK, DICT_FLAG_UTF8_REQUEST } from '../../dict/dict.js';
import type { MailLogger } from '../../log/logger.js';
import { mailAddrMapInternal, type AddrFindEnv } from '../../address/addr-find.js';
import { EXT_PROP_GENERIC, extPropMask } from '../../address/canonical.js';
import { Maps, type TableCache } from '../../address/maps.js';
import { quote822Local } from '../../address/quote.js';
import type { Tok822 } from '../../address/tok822.js';
import { tok822Scan } from '../../address/tok822.js';
import { tok822Internalize, TOK822_STR_DEFL } from '../../address/tok822-format.js';

/** A table failure: Postfix's smtp(8) stops there ("map lookup problem"). */
export class GenericLookupError extends Error {}

export class GenericMaps {
  private constructor(
    private readonly maps: Maps,
    private readonly propagate: boolean,
    private readonly env: AddrFindEnv,
    private readonly log: MailLogger,
  ) {}

  /** The PREFIX_generic_maps tables, or undefined when the parameter is empty. */
  static async create(config: Config, prefix: string, cache: TableCache, env: AddrFindEnv, log: MailLogger): Promise<GenericMaps | undefined> {
    const title = `${prefix}_generic_maps`;
    const value = config.get(title);
    if (value === '') return undefined;
    const maps = await Maps.create(title, value, DICT_FLAG_LOCK | DICT_FLAG_FOLD_FIX | DICT_FLAG_UTF8_REQUEST, cache);
    return new GenericMaps(maps, (extPropMask(config) & EXT_PROP_GENERIC) !== 0, env, log);
  }

  /** smtp_map11_internal(): the new internal-form address, or null when the tables have none. Throws GenericLookupError. */
  async internal(addr: string): Promise<string | null> {
    const r = await mailAddrMapInternal(this.maps, addr, this.propagate, this.env, (t) => this.log.warning(t));
    if (r.status === 'found') {
      if (r.addresses.length > 1) this.log.warning(`multi-valued ${this.maps.title} result for ${addr}`);
      return r.addresses[0]!;
    }
    if (r.status === 'error') throw new GenericLookupError(`${this.maps.title} map lookup problem for ${addr}`);
    return null;
  }

  /** smtp_rewrite_generic_internal(): an envelope address as it goes out (the null sender stays). */
  async envelope(addr: string): Promise<string> {
    if (addr === '') return addr;
    return (await this.internal(addr)) ?? addr;
  }

  /** smtp_map11_tree(): rewrites one address node of a parsed header in place; true when the tables had it. */
  async tree(node: Tok822): Promise<boolean> {
    const internal = tok822Internalize(node.head, TOK822_STR_DEFL);
    const found = await this.internal(internal);
    const s = tok822Scan(quote822Local(found ?? internal));
    node.head = s.head;
    node.tail = s.tail;
    return found !== null;
  }
}
