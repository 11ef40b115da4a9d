// Mirrors Postfix's global/xtext.c and uxtext.c: the RFC 3461 xtext form of
// ENVID and ORCPT values ("+HH" for '+', '=', blanks, controls and bytes
// outside ASCII) and the RFC 6533 utf-8-addr-xtext form ("\x{HEX}" for a
// code point). Byte strings in and out (one character per byte); text ends
// at the first NUL byte, as the C strings of Postfix do. A malformed input
// gives null.

/** Text up to the first NUL byte. */
function cText(s: string): string {
  const nul = s.indexOf('\0');
  return nul < 0 ? s : s.slice(0, nul);
}

function hexValue(ch: string | undefined): number {
  if (ch === undefined) return -1;
  const c = ch.charCodeAt(0);
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  return -1;
}

const hex2 = (c: number): string => c.toString(16).toUpperCase().padStart(2, '0');

/** xtext_quote(): '+', bytes outside 33..126 and those in special become "+HH" (upper-case hex). */
export function xtextQuote(unquoted: string, special = ''): string {
  let out = '';
  for (const ch of cText(unquoted)) {
    const c = ch.charCodeAt(0);
    out += ch !== '+' && c > 32 && c < 127 && !special.includes(ch) ? ch : `+${hex2(c & 0xff)}`;
  }
  return out;
}

/** xtext_unquote(): "+HH" escapes (either case) decoded; null for a malformed escape. */
export function xtextUnquote(quoted: string): string | null {
  const s = cText(quoted);
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
  return cText(out);
}

/**
 * uxtext_quote(): like xtext_quote() but '\' is the escape, and a UTF-8
 * sequence becomes one "\x{HEX}" of its code point; null when the bytes
 * are not well-formed UTF-8 lead and tail bytes.
 */
export function uxtextQuote(unquoted: string, special = ''): string | null {
  const s = cText(unquoted);
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const ch = s[i]!;
    const c = ch.charCodeAt(0) & 0xff;
    if (ch !== '\\' && c > 32 && c < 127 && !special.includes(ch)) {
      out += ch;
      continue;
    }
    let code: number;
    let tail: number;
    if (c < 0x80) [code, tail] = [c, 0];
    else if ((c & 0xe0) === 0xc0) [code, tail] = [c & 0x1f, 1];
    else if ((c & 0xf0) === 0xe0) [code, tail] = [c & 0x0f, 2];
    else if ((c & 0xf8) === 0xf0) [code, tail] = [c & 0x07, 3];
    else if ((c & 0xfc) === 0xf8) [code, tail] = [c & 0x03, 4];
    else if ((c & 0xfe) === 0xfc) [code, tail] = [c & 0x01, 5];
    else return null;
    for (; tail > 0; tail--) {
      const t = (s.charCodeAt(++i) || 0) & 0xff;
      if ((t & 0xc0) !== 0x80) return null;
      code = code * 64 + (t & 0x3f);
    }
    out += `\\x{${hex2(code)}}`;
  }
  return out;
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

/** uxtext_unquote(): "\x{HEX}" escapes (at most U+10FFFF) become UTF-8 bytes; null when malformed. */
export function uxtextUnquote(quoted: string): string | null {
  const s = cText(quoted);
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
  return cText(out);
}
