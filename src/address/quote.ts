// Mirrors Postfix's global/quote_822_local.c and quote_flags.c: turning an
// internal (unquoted) address into external form by quoting the localpart
// when it is not an RFC 822 dot-string, and the reverse. A source route
// ("@a,@b:") in front is left alone; the domain after the last '@' is never
// quoted. Pure functions on strings.

export const QUOTE_FLAG_8BITCLEAN = 1 << 0;
/** '@' is ordinary localpart text. */
export const QUOTE_FLAG_EXPOSE_AT = 1 << 1;
/** Kept for parity with Postfix; callers concatenate the returned string themselves. */
export const QUOTE_FLAG_APPEND = 1 << 2;
/** The whole input is a localpart: there is no @domain. */
export const QUOTE_FLAG_BARE_LOCALPART = 1 << 3;
export const QUOTE_FLAG_DEFAULT = QUOTE_FLAG_8BITCLEAN;

const QUOTE_FLAG_NAMES: ReadonlyArray<[string, number]> = [
  ['8bitclean', QUOTE_FLAG_8BITCLEAN],
  ['expose_at', QUOTE_FLAG_EXPOSE_AT],
  ['append', QUOTE_FLAG_APPEND],
  ['bare_localpart', QUOTE_FLAG_BARE_LOCALPART],
];

/** quote_flags_from_string: "8bitclean|expose_at", any case; unknown names are warned about and ignored. */
export function quoteFlagsFromString(text: string, warn: (msg: string) => void): number {
  let flags = 0;
  for (const name of text.split('|')) {
    if (name === '') continue;
    const hit = QUOTE_FLAG_NAMES.find(([n]) => n === name.toLowerCase());
    if (hit) flags |= hit[1];
    else warn(`unknown quote_flags_from_string value "${name}" in "${text}"`);
  }
  return flags;
}

/** quote_flags_to_string: the names of the flags set, joined by '|'. */
export function quoteFlagsToString(flags: number, warn: (msg: string) => void): string {
  const names: string[] = [];
  let rest = flags;
  for (const [name, bit] of QUOTE_FLAG_NAMES) {
    if (rest & bit) {
      names.push(name);
      rest &= ~bit;
    }
  }
  if (rest) warn(`name_mask: unknown quote_flags_to_string bit in mask: 0x${rest.toString(16)}`);
  return names.join('|');
}

const isCntrl = (code: number): boolean => code < 0x20 || code === 0x7f;
const DOT_STRING_SPECIALS = '()<>,;:\\"[]';

/** is_822_dot_string: atoms separated by single dots, nothing RFC 822 would need quoted. */
function isDotString(local: string, flags: number): boolean {
  if (local.length === 0 || local[0] === '.' || local[local.length - 1] === '.') return false;
  for (let i = 0; i < local.length; i++) {
    const ch = local[i]!;
    const code = ch.charCodeAt(0);
    if (ch === '.' && local[i + 1] === '.') return false;
    // RFC 822 is 7-bit, but Postfix passes 8-bit data through unquoted when asked.
    if (code > 127 && !(flags & QUOTE_FLAG_8BITCLEAN)) return false;
    if (ch === ' ' || isCntrl(code)) return false;
    if (DOT_STRING_SPECIALS.includes(ch)) return false;
    if (ch === '@' && !(flags & QUOTE_FLAG_EXPOSE_AT)) return false;
  }
  return true;
}

/** make_822_quoted_string: "local" with '"', '\', CR (and 8-bit unless 8bitclean) backslashed. */
function quotedString(local: string, flags: number): string {
  let out = '"';
  for (const ch of local) {
    const code = ch.charCodeAt(0);
    if ((code > 127 && !(flags & QUOTE_FLAG_8BITCLEAN)) || ch === '"' || ch === '\\' || ch === '\r') out += '\\';
    out += ch;
  }
  return out + '"';
}

/** Where the localpart starts: after a leading "@route:" if there is one. */
function localStart(mbox: string): number {
  if (mbox[0] === '@') {
    const colon = mbox.indexOf(':');
    if (colon >= 0) return colon + 1;
  }
  return 0;
}

function cString(s: string): string {
  const nul = s.indexOf('\0');
  return nul < 0 ? s : s.slice(0, nul);
}

/** quote_822_local_flags: internal to external form; the localpart is quoted unless it is a dot-string. */
export function quote822LocalFlags(mbox: string, flags: number): string {
  const text = cString(mbox);
  const start = localStart(text);
  const at = flags & QUOTE_FLAG_BARE_LOCALPART ? -1 : text.lastIndexOf('@');
  const end = at >= start ? at : text.length;
  const local = text.slice(start, end);
  if (isDotString(local, flags)) return text;
  return text.slice(0, start) + quotedString(local, flags & QUOTE_FLAG_8BITCLEAN) + text.slice(end);
}

/** quote_822_local: with the default flags (8-bit clean). */
export function quote822Local(mbox: string): string {
  return quote822LocalFlags(mbox, QUOTE_FLAG_DEFAULT);
}

/**
 * unquote_822_local: external to internal form. Quotes and backslashes are
 * removed up to the last unquoted '@'; the text from there on is kept as is.
 * A leading "@route:" is kept as is too.
 */
export function unquote822Local(mbox: string): string {
  const text = cString(mbox);
  const start = localStart(text);
  let out = text.slice(0, start);
  let inQuote = false;
  let bareAtOut = -1;
  let bareAtIn = -1;
  for (let i = start; i < text.length; i++) {
    let ch = text[i]!;
    if (ch === '"') {
      inQuote = !inQuote;
      continue;
    } else if (ch === '@') {
      if (!inQuote) {
        bareAtOut = out.length;
        bareAtIn = i;
      }
    } else if (ch === '\\') {
      if (i + 1 >= text.length) continue; // a trailing backslash is dropped
      ch = text[++i]!;
    }
    out += ch;
  }
  return bareAtOut >= 0 ? out.slice(0, bareAtOut) + text.slice(bareAtIn) : out;
}
