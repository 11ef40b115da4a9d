// Postfix's global/quote_821_local.c as smtp(8) uses it for MAIL FROM and
// RCPT TO (smtp_quote_rfc821_envelope): the local part (up to the last
// "@") is sent as is when it is an RFC 821 dot-string, and as a quoted
// string otherwise, with backslashes before CR, LF, quote and backslash.
// Pure.

/** Bytes (latin1) not allowed in a dot-string. */
const SPECIALS = new Set(['<', '>', '(', ')', '[', ']', '\\', ',', ';', ':', '@', '"']);

function isDotString(local: string): boolean {
  if (local === '' || local[0] === '.' || local.endsWith('.')) return false;
  for (let i = 0; i < local.length; i++) {
    const ch = local[i]!;
    const c = ch.charCodeAt(0);
    if (ch === '.' && local[i + 1] === '.') return false;
    if (ch === ' ' || c < 32 || c === 127 || SPECIALS.has(ch)) return false;
  }
  return true;
}

/** The address with its local part quoted as RFC 821 requires. */
export function quote821(addr: string): string {
  const at = addr.lastIndexOf('@');
  const local = at < 0 ? addr : addr.slice(0, at);
  const domain = at < 0 ? '' : addr.slice(at);
  if (addr === '' || isDotString(local)) return addr;
  let q = '"';
  for (const ch of local) {
    if (ch === '\r' || ch === '\n' || ch === '"' || ch === '\\') q += '\\';
    q += ch;
  }
  return `${q}"${domain}`;
}
