// Small string helpers of cleanup. Cleanup works on "byte strings" (one
// JavaScript character per byte, latin1) so that lengths, limits and record
// contents are byte-exact; tables, the address layer and the log take text,
// and toText()/toBytes() (util/bytes.ts) convert at those edges. Also
// printable() as Postfix's msg(3) applies it to every log line, and
// strerror() texts.
import { validUtf8 as validUtf8Bytes } from '../dict/utf8.js';
import type { FsFailure } from '../queue/layout.js';
import { allAscii } from '../util/bytes.js';
import { errnoText } from '../util/errno.js';

export { allAscii, toBytes, toText } from '../util/bytes.js';

/** valid_utf8_string() on a byte string. */
export function validUtf8(bytes: string): boolean {
  return allAscii(bytes) || validUtf8Bytes(Buffer.from(bytes, 'latin1'));
}

/**
 * printable(text, '?') on a byte string: every non-printable byte becomes
 * '?'; with UTF-8 enabled, a lead byte 194..254 followed by tail bytes is
 * kept whole, as Postfix's check is no stricter than that.
 */
export function printable(s: string, utf8: boolean): string {
  if (/^[\x20-\x7e]*$/.test(s)) return s;
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x20 && c <= 0x7e) {
      out += s[i];
    } else if (utf8 && c >= 194 && c <= 254 && i + 1 < s.length && s.charCodeAt(i + 1) >= 128 && s.charCodeAt(i + 1) < 192) {
      out += s[i];
      while (i + 1 < s.length && s.charCodeAt(i + 1) >= 128 && s.charCodeAt(i + 1) < 192) out += s[++i];
    } else {
      out += '?';
    }
  }
  return out;
}

/** A byte string as a C "%s" sees it: up to the first NUL. */
export function cstr(s: string): string {
  const nul = s.indexOf('\0');
  return nul < 0 ? s : s.slice(0, nul);
}

/** "%.Ns": at most n bytes. */
export function trunc(s: string, n: number): string {
  return s.length > n ? s.slice(0, n) : s;
}

/** strerror() text of a failed file operation. */
export function errnoFailureText(f: FsFailure): string {
  if (f.code === 'EFBIG') return 'File too large';
  return errnoText(f.error as NodeJS.ErrnoException);
}

/** isspace() in the C locale. */
export function isCSpace(c: string | undefined): boolean {
  return c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\v' || c === '\f';
}
