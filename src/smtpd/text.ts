// Mirrors the small string helpers smtpd leans on: util/printable.c,
// util/unescape.c (escape), util/alldig.c, util/allprint.c, global/xtext.c,
// global/uxtext.c, global/dsn_util.c (dsn_valid, dsn_split),
// global/is_header.c, global/off_cvt.c, and neuter() from util/stringops.
// smtpd works on "byte strings": JavaScript strings whose characters are
// the bytes received (latin1), so that lengths, limits and echoed replies
// are byte-exact. toText()/toBytes() (util/bytes.ts) convert at the edges
// (tables, the resolver, the log), keeping bytes that are not UTF-8 intact.
import { isUtf8 } from 'node:buffer';
import { allAscii } from '../util/bytes.js';

export { toBytes, toText } from '../util/bytes.js';

/** valid_utf8_string() on a byte string. */
export function validUtf8Bytes(bytes: string): boolean {
  if (allAscii(bytes)) return true;
  return isUtf8(Buffer.from(bytes, 'latin1'));
}

const isPrintAscii = (c: number): boolean => c >= 0x20 && c <= 0x7e;

/**
 * printable_except(): non-printable bytes become the replacement; with
 * UTF-8 enabled a lead byte 194..254 followed by tail bytes is kept whole,
 * as Postfix does (it does not validate the sequence further).
 */
export function printableExcept(s: string, replacement: string, except: string, utf8: boolean): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80 && (isPrintAscii(c) || (except !== '' && except.includes(s[i]!)))) {
      out += s[i];
    } else if (utf8 && c >= 194 && c <= 254 && i + 1 < s.length && s.charCodeAt(i + 1) >= 128 && s.charCodeAt(i + 1) < 192) {
      out += s[i];
      while (i + 1 < s.length && s.charCodeAt(i + 1) >= 128 && s.charCodeAt(i + 1) < 192) out += s[++i];
    } else {
      out += replacement;
    }
  }
  return out;
}

/** printable(). */
export function printable(s: string, replacement: string, utf8: boolean): string {
  // eslint-disable-next-line no-control-regex
  if (/^[\x20-\x7e]*$/.test(s)) return s;
  return printableExcept(s, replacement, '', utf8);
}

/** neuter(): every byte found in `chars` becomes the replacement. */
export function neuter(s: string, chars: string, replacement: string): string {
  let out = '';
  for (const ch of s) out += chars.includes(ch) ? replacement : ch;
  return out;
}

/** escape(): C-style escapes for logging raw input. */
export function escapeBytes(s: string): string {
  const named: Record<number, string> = { 7: '\\a', 8: '\\b', 12: '\\f', 10: '\\n', 13: '\\r', 9: '\\t', 11: '\\v' };
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80 && isPrintAscii(c)) out += c === 0x5c ? '\\\\' : s[i];
    else if (named[c] !== undefined) out += named[c];
    else out += '\\' + c.toString(8).padStart(3, '0');
  }
  return out;
}

/** alldig(): non-empty and only ASCII digits. */
export function allDigits(s: string): boolean {
  return /^[0-9]+$/.test(s);
}

/** allprint(): non-empty and only printable ASCII. */
export function allPrint(s: string): boolean {
  return /^[\x20-\x7e]+$/.test(s);
}

/** C strings end at the first NUL. */
export function cString(s: string): string {
  const nul = s.indexOf('\0');
  return nul < 0 ? s : s.slice(0, nul);
}

const OFF_T_MAX = (1n << 63n) - 1n;

/** off_cvt_string(): a non-negative decimal size, or -1 for junk or overflow. */
export function offCvtString(s: string): number {
  if (!/^[0-9]*$/.test(s)) return -1;
  const v = s === '' ? 0n : BigInt(s);
  return v > OFF_T_MAX ? -1 : Number(v);
}

function hexValue(ch: string | undefined): number {
  if (ch === undefined) return -1;
  const c = ch.charCodeAt(0);
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  return -1;
}

/** xtext_unquote(): "+HH" escapes decoded; null for a malformed escape. */
export function xtextUnquote(s: string): string | null {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    if (s[i] !== '+') {
      out += s[i];
      continue;
    }
    const hi = hexValue(s[i + 1]);
    const lo = hi < 0 ? -1 : hexValue(s[i + 2]);
    if (hi < 0 || lo < 0) return null;
    out += String.fromCharCode((hi << 4) | lo);
    i += 2;
  }
  return cString(out);
}

/** uxtext_unquote(): "\x{HEX}" escapes become UTF-8 bytes; null when malformed. */
export function uxtextUnquote(s: string): string | null {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    if (!(s[i] === '\\' && s[i + 1] === 'x' && s[i + 2] === '{')) {
      out += s[i];
      continue;
    }
    let code = 0;
    i += 3;
    for (;; i++) {
      if (i >= s.length) return null;
      if (s[i] === '}') break;
      const v = hexValue(s[i]);
      if (v < 0) return null;
      code = code * 16 + v;
      if (code > 0x10ffff) return null;
    }
    out += utf8Encode(code);
  }
  return cString(out);
}

/** The UTF-8 bytes of one code point, as uxtext writes them (no surrogate check). */
function utf8Encode(cp: number): string {
  const b: number[] = [];
  if (cp < 0x80) b.push(cp);
  else if (cp < 0x800) b.push(0xc0 | (cp >> 6), 0x80 | (cp & 0x3f));
  else if (cp < 0x10000) b.push(0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f));
  else b.push(0xf0 | (cp >> 18), 0x80 | ((cp >> 12) & 0x3f), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f));
  return String.fromCharCode(...b.map((x) => x & 0xff));
}

const isSpace = (ch: string | undefined): boolean =>
  ch === ' ' || ch === '\t' || ch === '\n' || ch === '\r' || ch === '\v' || ch === '\f';

/** dsn_valid(): the length of an RFC 3463 code at the start of text, else 0. */
export function dsnValid(text: string): number {
  if (!(text[0] === '2' || text[0] === '4' || text[0] === '5') || text[1] !== '.') return 0;
  const digitRun = (from: number): number => {
    let n = 0;
    while (from + n < text.length && text.charCodeAt(from + n) >= 0x30 && text.charCodeAt(from + n) <= 0x39) n++;
    return n;
  };
  let i = 2;
  let n = digitRun(i);
  if (n < 1 || n > 3 || text[i + n] !== '.') return 0;
  i += n + 1;
  n = digitRun(i);
  if (n < 1 || n > 3) return 0;
  const next = text[i + n];
  if (next !== undefined && next !== '\0' && !isSpace(next)) return 0;
  return i + n;
}

export interface DsnSplit {
  dsn: string;
  text: string;
}

/** dsn_split(): an optional leading enhanced status code, else the default; then the free text. */
export function dsnSplit(defDsn: string, text: string): DsnSplit {
  let i = 0;
  while (isSpace(text[i])) i++;
  let dsn: string;
  const len = dsnValid(text.slice(i));
  if (len > 0) {
    dsn = text.slice(i, i + len);
    i += len + 1;
  } else {
    dsn = defDsn.slice(0, dsnValid(defDsn));
  }
  while (isSpace(text[i])) i++;
  return { dsn, text: text.slice(Math.min(i, text.length)) };
}

/** is_header(): "Name:" or "Name :" with printable ASCII name characters. */
export function isHeader(s: string): boolean {
  let state = 0; // 0 init, 1 in name, 2 in space after name
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (s[i] === ':') return state !== 0;
    if (s[i] === ' ' || s[i] === '\t') {
      if (state === 0) return false;
      state = 2;
      continue;
    }
    if (c === 0 || c >= 0x80 || c < 0x20 || c === 0x7f) return false;
    if (state === 2) return false;
    state = 1;
  }
  return false;
}

/** The local part of strcasecmp(): ASCII letters only. */
export function asciiLower(s: string): string {
  return /[A-Z]/.test(s) ? s.replace(/[A-Z]+/g, (m) => m.toLowerCase()) : s;
}

/** strcasecmp() == 0 for byte strings. */
export function strcaseEq(a: string, b: string): boolean {
  return a.length === b.length && asciiLower(a) === asciiLower(b);
}
