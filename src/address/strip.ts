// Mirrors Postfix's global/strip_addr.c: an internal-form address without its
// address extension, for recipient_delimiter (any one of its characters is a
// delimiter; the first one in the localpart counts). The domain is kept.
import { splitAddr, type SplitAddrOptions } from './split.js';

export interface StrippedAddr {
  /** The address without its extension. */
  stripped: string;
  /** The extension, delimiter included ("+ext"). */
  extension: string;
}

/**
 * strip_addr: null when there is nothing to strip (no delimiter set, no
 * delimiter in the address, or an address split_addr leaves whole).
 */
export function stripAddr(full: string, delimiterSet: string, opts: SplitAddrOptions = {}): StrippedAddr | null {
  if (delimiterSet === '' || ![...full].some((c) => delimiterSet.includes(c))) return null;
  const at = full.lastIndexOf('@');
  const localpart = at < 0 ? full : full.slice(0, at);
  const split = splitAddr(localpart, delimiterSet, opts);
  if (split === null) return null;
  const domainPart = at < 0 ? '' : full.slice(at);
  return { stripped: split.localpart + domainPart, extension: split.delimiter + split.extension };
}
