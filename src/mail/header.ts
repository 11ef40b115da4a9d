// Mirrors Postfix's global/is_header.c: whether a line starts a message
// header, "Name:" or the obsolete "Name :", the name being printable ASCII
// other than the colon. smtpd refuses such a line as an SMTP command and
// checks PREPEND texts with it; cleanup uses it on header_checks results
// and MIME headers. Byte strings in; pure.

/** is_header_buf(): the length of the header name when text starts a header, else 0. */
export function isHeaderBuf(text: string): number {
  let len = 0;
  let state = 0; // 0: initial, 1: in name, 2: blanks after the name
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x3a) return state !== 0 ? len : 0;
    if (c === 0x20 || c === 0x09) {
      if (state === 0) return 0;
      state = 2;
      continue;
    }
    if (c === 0 || c > 0x7e || c < 0x20) return 0;
    if (state === 2) return 0;
    state = 1;
    len++;
  }
  return 0;
}

/** is_header(): text starts with a header name and a colon. */
export function isHeader(text: string): boolean {
  return isHeaderBuf(text) > 0;
}
