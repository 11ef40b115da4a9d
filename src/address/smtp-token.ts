// Mirrors Postfix's smtpd/smtpd_token.c and the address half of smtpd.c's
// extract_addr(): an SMTP command line split into words the way smtpd splits
// it (white space separates words, except inside <...> and "..."; "to:" and
// "from:" end a word), and the MAIL/RCPT argument reduced to one internal
// address with the syntax verdicts smtpd bases its 501 replies on.
import { TOK822_ADDR, type Tok822, tok822Parse, tokOp } from './tok822.js';
import { tok822Internalize } from './tok822-format.js';

export const SMTPD_TOK_OTHER = 0;
export const SMTPD_TOK_ADDR = 1;
/** An unterminated <...> or "..." (the word runs to the end of the line). */
export const SMTPD_TOK_ERROR = 2;

export interface SmtpdToken {
  tokval: number;
  strval: string;
}

/** Postfix's ISSPACE: the C locale's isspace() on ASCII. */
const isSpace = (c: string | undefined): boolean =>
  c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\v' || c === '\f';

interface Cursor {
  s: string;
  i: number;
}

/**
 * smtp_quoted: copies from the opening character to its match. Inside <...>
 * a nested '<' opens another level and '"' opens a string in which only '"'
 * closes; a backslash protects the next character. Returns false when the
 * line ends first.
 */
function readQuoted(cur: Cursor, start: string, last: string, out: string[]): boolean {
  const stack = [last];
  out.push(start);
  while (cur.i < cur.s.length) {
    const c = cur.s[cur.i++]!;
    out.push(c);
    const wanted = stack[stack.length - 1];
    if (c === '\\') {
      if (cur.i >= cur.s.length) break;
      out.push(cur.s[cur.i++]!);
    } else if (c === wanted) {
      if (stack.length === 1) return true;
      stack.pop();
    } else if (c === '"') {
      stack.push('"');
    } else if (c === '<' && wanted === '>') {
      stack.push('>');
    }
  }
  return false;
}

/** smtp_next_token: the next word, or null at the end of the line. */
function nextToken(cur: Cursor): SmtpdToken | null {
  const out: string[] = [];
  let tokval = SMTPD_TOK_OTHER;
  const lower = () => out.join('').replace(/[A-Z]/g, (ch) => ch.toLowerCase());
  while (cur.i < cur.s.length) {
    let c = cur.s[cur.i++]!;
    if (isSpace(c)) {
      while (cur.i < cur.s.length && isSpace(cur.s[cur.i])) cur.i++;
      if (out.length > 0) break;
    } else if (c === '<' || c === '"') {
      if (!readQuoted(cur, c, c === '<' ? '>' : '"', out)) tokval = SMTPD_TOK_ERROR;
    } else if (c === ':') {
      // "MAIL FROM:<addr>" and "RCPT TO:<addr>" without a space still split here.
      out.push(c);
      const word = lower();
      if ('to:'.startsWith(word) || 'from:'.startsWith(word)) break;
    } else {
      if (c === '\\') {
        out.push(c);
        if (cur.i >= cur.s.length) break;
        c = cur.s[cur.i++]!;
      }
      out.push(c);
    }
  }
  return out.length > 0 ? { tokval, strval: out.join('') } : null;
}

/** C strings end at the first NUL. */
function cString(s: string): string {
  const nul = s.indexOf('\0');
  return nul < 0 ? s : s.slice(0, nul);
}

/** smtpd_token: an SMTP command line as smtpd's words. */
export function smtpdToken(line: string): SmtpdToken[] {
  const cur: Cursor = { s: cString(line), i: 0 };
  const tokens: SmtpdToken[] = [];
  for (let t = nextToken(cur); t !== null; t = nextToken(cur)) tokens.push(t);
  return tokens;
}

export interface EnvelopeAddress {
  /** The address in internal form; "" for the null address or when none was found. */
  addr: string;
  /** Number of address forms found (more than one is a syntax error). */
  naddr: number;
  /** Number of tokens that are neither an address nor '<' or '>'. */
  nonAddr: number;
  /**
   * extract_addr's verdict before smtpd_check_addr: several addresses; with
   * strict_rfc821_envelopes, extra text, a missing '<', or a source route;
   * an empty address where none is allowed. smtpd still asks trivial-rewrite
   * (smtpd_check_addr) about an address that passes this.
   */
  syntaxError: boolean;
}

/**
 * The address part of smtpd's extract_addr(): strips one pair of <>, drops
 * a deprecated "@route:" prefix, parses the rest as an RFC 822 address list
 * and internalizes the last address found.
 */
export function extractEnvelopeAddress(word: string, allowEmpty: boolean, strictRfc821: boolean): EnvelopeAddress {
  let text = word.length >= 2 && word[0] === '<' && word[word.length - 1] === '>' ? word.slice(1, -1) : word;
  if (text[0] === '@' && text.includes(':')) text = text.slice(text.indexOf(':') + 1);
  const tree = tok822Parse(text);
  let naddr = 0;
  let nonAddr = 0;
  let found: Tok822 | null = null;
  for (let tp = tree; tp; tp = tp.next) {
    if (tp.type === TOK822_ADDR) {
      found = tp;
      naddr++;
    } else if (tp.type !== tokOp('<') && tp.type !== tokOp('>')) {
      nonAddr++;
    }
  }
  const addr = found ? tok822Internalize(found.head) : '';
  const syntaxError =
    naddr > 1 ||
    (strictRfc821 && (nonAddr > 0 || word[0] !== '<')) ||
    (addr === '' && !allowEmpty) ||
    (strictRfc821 && addr[0] === '@');
  return { addr, naddr, nonAddr, syntaxError };
}
