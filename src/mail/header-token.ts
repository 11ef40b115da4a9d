// Mirrors Postfix's global/header_token.c: the small RFC 822 tokenizer that
// the MIME parser uses on Content-Type: and Content-Transfer-Encoding:
// values (comments skipped, quoted strings unquoted and unfolded, specials
// returned as single characters). Pure function over a byte string.

export const HEADER_TOK_TOKEN = 256;
export const HEADER_TOK_QSTRING = 257;

export interface HeaderToken {
  /** HEADER_TOK_TOKEN, HEADER_TOK_QSTRING, or the special character's code. */
  type: number;
  value: string;
}

const LEX_822_SPECIALS = '()<>@,;:\\".[]';
const isLwsp = (c: number): boolean => c === 0x20 || c === 0x09 || c === 0x0d || c === 0x0a;
const isCntrl = (c: number): boolean => c < 0x20 || c === 0x7f;

export interface HeaderTokenResult {
  /** Tokens found (at most the limit), or -1 when nothing was left to parse. */
  count: number;
  tokens: HeaderToken[];
  /** Where parsing stopped (after the terminator when one was found). */
  next: number;
}

/**
 * header_token(): up to limit tokens from text at pos. With a terminator
 * character, parsing goes on to the terminator and the tokens past the
 * limit are dropped.
 */
export function headerToken(text: string, pos: number, limit: number, specials: string | null, terminator: string): HeaderTokenResult {
  const sp = specials ?? LEX_822_SPECIALS;
  const tokens: HeaderToken[] = [];
  let i = pos;
  let ch = -1;
  // A NUL ends the C string the parser works on.
  const at = (k: number): number => (k < text.length ? text.charCodeAt(k) : 0);
  while ((ch = at(i)) !== 0 && (terminator !== '' || tokens.length < limit)) {
    i++;
    if (isLwsp(ch)) continue;
    if (terminator !== '' && ch === terminator.charCodeAt(0)) break;
    if (ch === 0x28) {
      let level = 1;
      while ((ch = at(i)) !== 0) {
        i++;
        if (ch === 0x28) level++;
        else if (ch === 0x29) {
          if (--level === 0) break;
        } else if (ch === 0x5c) {
          if (at(i) === 0) break;
          i++;
        }
      }
      continue;
    }
    if (ch === 0x22) {
      const keep = tokens.length < limit;
      let value = '';
      while ((ch = at(i)) !== 0) {
        i++;
        if (ch === 0x22) break;
        if (ch === 0x0a) {
          if (keep) value = value.replace(/[ \t\r\n]+$/, '');
          continue;
        }
        if (ch === 0x5c) {
          if ((ch = at(i)) === 0) break;
          i++;
        }
        if (keep) value += String.fromCharCode(ch);
      }
      if (keep) tokens.push({ type: HEADER_TOK_QSTRING, value });
      continue;
    }
    if (sp.includes(String.fromCharCode(ch)) || isCntrl(ch)) {
      if (tokens.length < limit) tokens.push({ type: ch, value: String.fromCharCode(ch) });
      continue;
    }
    let value = String.fromCharCode(ch);
    while ((ch = at(i)) !== 0 && !isLwsp(ch) && !isCntrl(ch) && !sp.includes(String.fromCharCode(ch))) {
      i++;
      value += String.fromCharCode(ch);
    }
    if (tokens.length < limit) tokens.push({ type: HEADER_TOK_TOKEN, value });
  }
  if (tokens.length === 0 && ch === 0) return { count: -1, tokens, next: i };
  return { count: tokens.length, tokens, next: i };
}
