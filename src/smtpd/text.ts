// Mirrors the small string helpers smtpd leans on: util/printable.c,
// util/unescape.c (escape), util/alldig.c, util/allprint.c,
// global/off_cvt.c, and neuter() from util/stringops. The mail-level ones
// (xtext, dsn_util, is_header) live in src/mail/.
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

/** The local part of strcasecmp(): ASCII letters only. */
export function asciiLower(s: string): string {
  return /[A-Z]/.test(s) ? s.replace(/[A-Z]+/g, (m) => m.toLowerCase()) : s;
}

/** strcasecmp() == 0 for byte strings. */
export function strcaseEq(a: string, b: string): boolean {
  return a.length === b.length && asciiLower(a) === asciiLower(b);
}
