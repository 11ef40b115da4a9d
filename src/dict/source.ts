// Mirrors Postfix's util/readlline.c and the source parser of postmap.c and
// dict_thash.c: logical lines (continuation lines start with whitespace,
// comment and blank lines vanish, even inside a logical line), then
// "key whitespace value" with quotes and backslashes guarding whitespace in
// the key. Works on bytes so that a million-line table parses quickly;
// warnings go to a callback with their line number. Reads no files itself.
import { bytesToText } from './utf8.js';

/** ISSPACE: the ASCII white space of C's isspace(). */
export function isSpace(c: number): boolean {
  return c === 32 || (c >= 9 && c <= 13);
}

export interface LogicalLine {
  /** Buffer holding the line: the source itself, or a joined copy for continued lines. */
  buf: Buffer;
  start: number;
  end: number;
  /** Number of the line's first physical line. */
  lineno: number;
}

/** readllines(): one logical line per call, undefined at the end. */
export class LogicalLineReader {
  private pos = 0;
  private lineno = 0;
  /** The line handed out by next(), reused: read it before calling next() again. */
  private readonly cur: LogicalLine = { buf: Buffer.alloc(0), start: 0, end: 0, lineno: 0 };

  constructor(private readonly src: Buffer, private readonly path: string, private readonly warn: (text: string) => void) {}

  next(): LogicalLine | undefined {
    for (;;) {
      const line = this.collect();
      if (!line) return undefined;
      if (line.end > line.start && isSpace(line.buf[line.start]!)) {
        const len = line.end - line.start;
        const shown = line.buf.subarray(line.start, line.start + Math.min(30, len));
        this.warn(`${this.path}: logical line must not start with whitespace: "${cstr(shown)}${len > 30 ? '...' : ''}"`);
        continue;
      }
      return line;
    }
  }

  /** Reads physical lines until a logical line is complete. */
  private collect(): LogicalLine | undefined {
    const src = this.src;
    const len = src.length;
    let parts: Buffer[] | undefined;
    let firstStart = -1;
    let firstEnd = 0;
    let firstLine = 0;
    while (this.pos < len) {
      const start = this.pos;
      let nl = src.indexOf(10, start);
      const hasNl = nl >= 0;
      if (!hasNl) nl = len;
      this.pos = hasNl ? nl + 1 : len;
      if (hasNl || nl > start) this.lineno++;
      let cp = start;
      while (cp < nl && isSpace(src[cp]!)) cp++;
      const ignored = cp === nl || src[cp] === 35; // '#'
      if (!ignored) {
        if (firstStart < 0) {
          firstStart = start;
          firstEnd = nl;
          firstLine = this.lineno;
        } else {
          parts ??= [src.subarray(firstStart, firstEnd)];
          parts.push(src.subarray(start, nl));
        }
      }
      if (!hasNl) break;
      if (firstStart >= 0) {
        const next = this.pos < len ? src[this.pos]! : -1;
        if (next !== 35 && !(next >= 0 && isSpace(next))) break;
      }
    }
    if (firstStart < 0) return undefined;
    const cur = this.cur;
    cur.lineno = firstLine;
    if (!parts) {
      cur.buf = src;
      cur.start = firstStart;
      cur.end = firstEnd;
      return cur;
    }
    const joined = Buffer.concat(parts);
    cur.buf = joined;
    cur.start = 0;
    cur.end = joined.length;
    return cur;
  }
}

/** Bytes up to the first NUL, as text for a message (the logger applies printable() to the line). */
export function cstr(b: Buffer): string {
  const z = b.indexOf(0);
  return bytesToText(z < 0 ? b : b.subarray(0, z));
}

export type ParsedLine =
  | {
    ok: true; keyStart: number; keyEnd: number; valStart: number; valEnd: number; aliasLike: boolean;
    /** The key has no upper-case ASCII, no non-ASCII byte and no backslash: folding leaves it as is. */
    keyPlain: boolean;
  }
  | { ok: false; why: 'unbalanced' | 'format' };

const UNBALANCED: ParsedLine = Object.freeze({ ok: false, why: 'unbalanced' });
const BAD_FORMAT: ParsedLine = Object.freeze({ ok: false, why: 'format' });
/** The result of parseKeyValue, reused: read it before the next call. */
const PARSED = { ok: true as const, keyStart: 0, keyEnd: 0, valStart: 0, valEnd: 0, aliasLike: false, keyPlain: false };

/**
 * Splits a logical line (already cut at any NUL) into key and value: the key
 * ends at the first whitespace outside quotes and not after a backslash; the
 * value loses leading and trailing whitespace. The key keeps its quotes.
 */
export function parseKeyValue(b: Buffer, start: number, end: number): ParsedLine {
  let inQuotes = false;
  let plain = true;
  let v = start;
  for (; v < end; v++) {
    const c = b[v]!;
    if ((c >= 65 && c <= 90) || c >= 128) plain = false;
    if (c === 92) {
      // backslash: the next byte is taken literally
      plain = false;
      if (++v >= end) break;
    } else if (c === 34) {
      inQuotes = !inQuotes;
    } else if (isSpace(c) && !inQuotes) {
      break;
    }
  }
  if (inQuotes) return UNBALANCED;
  if (v > end) v = end;
  const keyEnd = v;
  let valStart = v < end ? v + 1 : v;
  while (valStart < end && isSpace(b[valStart]!)) valStart++;
  let valEnd = end;
  while (valEnd > valStart && isSpace(b[valEnd - 1]!)) valEnd--;
  if (keyEnd === start || valEnd === valStart) return BAD_FORMAT;
  PARSED.keyStart = start;
  PARSED.keyEnd = keyEnd;
  PARSED.valStart = valStart;
  PARSED.valEnd = valEnd;
  PARSED.aliasLike = b[keyEnd - 1] === 58;
  PARSED.keyPlain = plain;
  return PARSED;
}

/** The end of the C string that starts at `start` (Postfix stops at a NUL byte). */
export function cEnd(b: Buffer, start: number, end: number): number {
  // Lines come in increasing order: remember where the next NUL is, so that a
  // file without NULs is searched once, not once per line.
  if (b !== nulBuf || start < nulFrom || (nulPos >= 0 && nulPos < start)) {
    nulBuf = b;
    nulFrom = start;
    nulPos = b.indexOf(0, start);
  }
  return nulPos >= 0 && nulPos < end ? nulPos : end;
}

let nulBuf: Buffer | undefined;
let nulFrom = 0;
let nulPos = -1;
