// Mirrors Postfix's global/split_addr.c, plus the localpart/domain split that
// Postfix does inline (strrchr on internal form, the last unquoted '@' on
// external form, as unquote_822_local finds it). split_addr cuts an address
// extension off a localpart at the first character of recipient_delimiter,
// except for addresses that must never be split.
import { casefold, lowercaseAscii } from '../dict/utf8.js';

/** The parameters split_addr reads. */
export interface SplitAddrOptions {
  /** double_bounce_sender (default "double-bounce"). */
  doubleBounceSender?: string;
  /** owner_request_special (default yes): owner-foo and foo-request stay whole when '-' is a delimiter. */
  ownerRequestSpecial?: boolean;
  /** smtputf8_enable (default off): Unicode case folding for double_bounce_sender. */
  utf8?: boolean;
}

export interface SplitLocalpart {
  /** The localpart before the delimiter. */
  localpart: string;
  /** What follows the delimiter, without the delimiter itself. */
  extension: string;
  /** The delimiter character that was found. */
  delimiter: string;
}

const MAIL_ADDR_POSTMASTER = 'postmaster';
const MAIL_ADDR_MAIL_DAEMON = 'MAILER-DAEMON';

/** strcasecmp_utf8: Unicode case folding when SMTPUTF8 is on, ASCII otherwise. */
function sameUtf8Caseless(a: string, b: string, utf8: boolean): boolean {
  return utf8 ? casefold(a) === casefold(b) : lowercaseAscii(a) === lowercaseAscii(b);
}

function sameAsciiCaseless(a: string, b: string): boolean {
  return lowercaseAscii(a) === lowercaseAscii(b);
}

/** Addresses that are never split, whatever the delimiter. */
function neverSplit(localpart: string, delimiterSet: string, opts: SplitAddrOptions): boolean {
  if (sameAsciiCaseless(localpart, MAIL_ADDR_POSTMASTER)) return true;
  if (sameAsciiCaseless(localpart, MAIL_ADDR_MAIL_DAEMON)) return true;
  if (sameUtf8Caseless(localpart, opts.doubleBounceSender ?? 'double-bounce', opts.utf8 ?? false)) return true;
  // Backwards compatibility with mailing-list conventions.
  if (delimiterSet.includes('-') && (opts.ownerRequestSpecial ?? true)) {
    if (sameAsciiCaseless(localpart.slice(0, 6), 'owner-')) return true;
    if (localpart.length - 8 > 0 && sameAsciiCaseless(localpart.slice(-8), '-request')) return true;
  }
  return false;
}

/**
 * split_addr: splits a localpart (no @domain) at the first delimiter
 * character. Null when it must not be split, has no delimiter, or would be
 * left with an empty localpart.
 */
export function splitAddr(localpart: string, delimiterSet: string, opts: SplitAddrOptions = {}): SplitLocalpart | null {
  if (neverSplit(localpart, delimiterSet, opts)) return null;
  let len = 0;
  while (len < localpart.length && !delimiterSet.includes(localpart[len]!)) len++;
  if (len === 0 || len === localpart.length) return null;
  return { localpart: localpart.slice(0, len), extension: localpart.slice(len + 1), delimiter: localpart[len]! };
}

export interface LocalDomain {
  localpart: string;
  /** The text after the '@', or null when the address has no '@'. */
  domain: string | null;
}

/** An internal-form address split at its last '@' (a quoted '@' is already plain text there). */
export function splitInternal(addr: string): LocalDomain {
  const at = addr.lastIndexOf('@');
  return at < 0 ? { localpart: addr, domain: null } : { localpart: addr.slice(0, at), domain: addr.slice(at + 1) };
}

/**
 * An external-form address split at its last '@' outside double quotes
 * ("a@b"@c has domain c); a backslash-escaped '@' does not count. A leading
 * "@route:" is part of the localpart.
 */
export function splitExternal(addr: string): LocalDomain {
  let start = 0;
  if (addr[0] === '@' && addr.includes(':')) start = addr.indexOf(':') + 1;
  let inQuote = false;
  let at = -1;
  for (let i = start; i < addr.length; i++) {
    const ch = addr[i];
    if (ch === '"') inQuote = !inQuote;
    else if (ch === '\\') i++;
    else if (ch === '@' && !inQuote) at = i;
  }
  return at < 0 ? { localpart: addr, domain: null } : { localpart: addr.slice(0, at), domain: addr.slice(at + 1) };
}
