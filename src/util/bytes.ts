// Bytes and text: the conversions between what files, sockets and tables
// hold (bytes, not always UTF-8) and JavaScript strings. Text keeps bytes
// that are not UTF-8 as lone surrogates U+DC80..U+DCFF (Python's
// "surrogateescape"), so a round trip loses nothing. The mail code also
// works on "byte strings" (one JavaScript character per byte, latin1) so
// that lengths and limits are byte-exact; toText()/toBytes() convert those
// at the edges (tables, the address layer, the log).
import { isUtf8 } from 'node:buffer';

/** allascii(): only 7-bit characters. */
export function allAscii(s: string): boolean {
  // eslint-disable-next-line no-control-regex
  return /^[\x00-\x7f]*$/.test(s);
}

/** Bytes to text; invalid UTF-8 bytes become U+DC80+byte so that textToBytes gives them back. */
export function bytesToText(buf: Uint8Array): string {
  const b = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.length);
  if (isUtf8(b)) return b.toString('utf8');
  let outText = '';
  let i = 0;
  while (i < b.length) {
    const n = utf8SeqLen(b, i);
    if (n > 0) {
      outText += b.toString('utf8', i, i + n);
      i += n;
    } else {
      outText += String.fromCharCode(0xdc00 + b[i]!);
      i++;
    }
  }
  return outText;
}

/** Text to bytes, the inverse of bytesToText. */
export function textToBytes(s: string): Buffer {
  if (s.isWellFormed()) return Buffer.from(s, 'utf8');
  const parts: Buffer[] = [];
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xdc80 && c <= 0xdcff && !(i > 0 && isHighSurrogate(s.charCodeAt(i - 1)))) {
      parts.push(Buffer.from(s.slice(start, i), 'utf8'), Buffer.from([c - 0xdc00]));
      start = i + 1;
    }
  }
  parts.push(Buffer.from(s.slice(start), 'utf8'));
  return Buffer.concat(parts);
}

function isHighSurrogate(c: number): boolean {
  return c >= 0xd800 && c <= 0xdbff;
}

/** Length of the valid UTF-8 sequence at b[i] (valid_utf8_string's rules), or 0. */
function utf8SeqLen(b: Uint8Array, i: number): number {
  const c0 = b[i]!;
  const end = b.length;
  const tail = (k: number) => i + k < end && (b[i + k]! & 0xc0) === 0x80;
  if (c0 <= 0x7f) return 1;
  if (c0 <= 0xdf) return c0 >= 0xc2 && tail(1) ? 2 : 0;
  if (c0 <= 0xef) {
    if (i + 2 >= end) return 0;
    const c1 = b[i + 1]!;
    if (c1 < (c0 === 0xe0 ? 0xa0 : 0x80) || c1 > (c0 === 0xed ? 0x9f : 0xbf)) return 0;
    return tail(2) ? 3 : 0;
  }
  if (c0 <= 0xf4) {
    if (i + 3 >= end) return 0;
    const c1 = b[i + 1]!;
    if (c1 < (c0 === 0xf0 ? 0x90 : 0x80) || c1 > (c0 === 0xf4 ? 0x8f : 0xbf)) return 0;
    return tail(2) && tail(3) ? 4 : 0;
  }
  return 0;
}

/** Byte string (latin1) to text; bytes that are not UTF-8 survive the round trip. */
export function toText(bytes: string): string {
  if (allAscii(bytes)) return bytes;
  return bytesToText(Buffer.from(bytes, 'latin1'));
}

/** Text to a byte string (latin1). */
export function toBytes(text: string): string {
  if (allAscii(text)) return text;
  return textToBytes(text).toString('latin1');
}
