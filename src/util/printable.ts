// Mirrors Postfix's util/printable.c: what a diagnostic shows of text that
// may hold control characters, non-ASCII or bytes that are not UTF-8.
// Postfix applies it once to every formatted message (msg_output.c); the
// UTF-8 switch (smtputf8_enable) is the caller's, passed in, never global.

/**
 * printable(): characters outside 0x20..0x7e become `replacement`, except
 * well-formed non-ASCII characters when utf8 is on. Bytes that are not
 * UTF-8 (lone surrogates U+DC80..U+DCFF, see util/bytes.ts) are always
 * replaced.
 */
export function printable(s: string, replacement = '?', utf8 = false): string {
  // eslint-disable-next-line no-control-regex
  if (/^[\x20-\x7e]*$/.test(s)) return s;
  let r = '';
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    if (cp >= 0x20 && cp <= 0x7e) r += ch;
    else if (utf8 && cp >= 0x80 && !(cp >= 0xd800 && cp <= 0xdfff)) r += ch;
    else r += replacement;
  }
  return r;
}
