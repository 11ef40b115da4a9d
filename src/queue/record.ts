// Mirrors Postfix's global/record.c (rec_get_raw, rec_goto, rec_put,
// rec_put_type, rec_pad) over a byte input modelled on VSTREAM: a type
// byte, a 7-bit little-endian length, the data. Reading follows pointer
// records, skips padding and stops at END as the flags ask. Failures are
// values carrying Postfix's warning text; only the edge prints them.
// Touches only the file descriptors it is given.
import * as fs from 'node:fs';
import { isatty } from 'node:tty';
import { REC_TYPE, REC_TYPE_EOF, REC_TYPE_ERROR } from './rec-type.js';

export const REC_FLAG_NONE = 0;
export const REC_FLAG_FOLLOW_PTR = 1;
export const REC_FLAG_SKIP_DTXT = 2;
export const REC_FLAG_SEEK_END = 4;
export const REC_FLAG_DEFAULT = REC_FLAG_FOLLOW_PTR | REC_FLAG_SKIP_DTXT | REC_FLAG_SEEK_END;

/** strerror() texts for the errors a seek or read can give here. */
const ERRNO_TEXT: Record<string, string> = {
  ESPIPE: 'Illegal seek',
  EINVAL: 'Invalid argument',
  EISDIR: 'Is a directory',
  EIO: 'Input/output error',
  EBADF: 'Bad file descriptor',
};
export function ioErrorText(code: string, fallback = code): string {
  return ERRNO_TEXT[code] ?? fallback;
}

export type SeekResult = { ok: true; offset: number } | { ok: false; code: string; text: string };

/**
 * A readable byte stream with VSTREAM's observable behaviour: getc() gives
 * -1 at end of file and after a read error (which stays recorded for the
 * close), tell() gives -1 when the input cannot seek (a pipe).
 */
export interface ByteInput {
  readonly path: string;
  getc(): number;
  /** Steps back over the byte that getc() just returned. */
  ungetc(): void;
  /** Up to n bytes; fewer at end of file. */
  read(n: number): Buffer;
  tell(): number;
  seek(offset: bigint | number, whence?: 'set' | 'end'): SeekResult;
  /** The sticky read error, if any (Postfix reports it when closing). */
  readonly error: NodeJS.ErrnoException | null;
  /** Pointer-loop accounting (rec_goto); shared between inputs when given. */
  gotoState: RecGotoState;
}

/** rec_goto's loop guard: Postfix keeps it per path, across files of the same name. */
export class RecGotoState {
  path: string | null = null;
  savedOffset = 0n;
  reverseCount = 0;
}

const WINDOW = 65536;
const OFF_T_MAX = (1n << 63n) - 1n;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** A regular file read through a window with pread; seekable. */
export class FileInput implements ByteInput {
  error: NodeJS.ErrnoException | null = null;
  gotoState = new RecGotoState();
  private buf = Buffer.alloc(0);
  private bufStart = 0;
  private pos = 0;

  /** maxOffset: the largest offset lseek() accepts on this file system. */
  constructor(
    readonly fd: number,
    readonly path: string,
    private readonly maxOffset = OFF_T_MAX,
  ) {}

  private fill(): boolean {
    if (this.error) return false;
    const buf = Buffer.allocUnsafe(WINDOW);
    let n: number;
    try {
      n = fs.readSync(this.fd, buf, 0, WINDOW, this.pos);
    } catch (e) {
      this.error = e as NodeJS.ErrnoException;
      return false;
    }
    this.buf = buf.subarray(0, n);
    this.bufStart = this.pos;
    return n > 0;
  }

  getc(): number {
    let i = this.pos - this.bufStart;
    if (i < 0 || i >= this.buf.length) {
      if (!this.fill()) return -1;
      i = 0;
    }
    this.pos++;
    return this.buf[i]!;
  }

  ungetc(): void {
    this.pos--;
  }

  read(n: number): Buffer {
    const parts: Buffer[] = [];
    let want = n;
    while (want > 0) {
      let i = this.pos - this.bufStart;
      if (i < 0 || i >= this.buf.length) {
        if (!this.fill()) break;
        i = 0;
      }
      const take = Math.min(want, this.buf.length - i);
      parts.push(this.buf.subarray(i, i + take));
      this.pos += take;
      want -= take;
    }
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  }

  tell(): number {
    return this.pos;
  }

  seek(offset: bigint | number, whence: 'set' | 'end' = 'set'): SeekResult {
    let target = BigInt(offset);
    if (whence === 'end') {
      try {
        target += BigInt(fs.fstatSync(this.fd).size);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code ?? 'EIO';
        return { ok: false, code, text: ioErrorText(code) };
      }
    }
    if (target < 0n || target > this.maxOffset) return { ok: false, code: 'EINVAL', text: ioErrorText('EINVAL') };
    // Past 2^53 there is nothing to read anyway.
    this.pos = Number(target > MAX_SAFE ? MAX_SAFE : target);
    return { ok: true, offset: this.pos };
  }
}

/** Bytes already in memory: a pipe's content (not seekable) or a test's file image. */
export class MemoryInput implements ByteInput {
  error: NodeJS.ErrnoException | null = null;
  gotoState = new RecGotoState();
  private pos = 0;

  constructor(
    private readonly data: Buffer,
    readonly path: string,
    readonly seekable = true,
  ) {}

  getc(): number {
    return this.pos < this.data.length ? this.data[this.pos++]! : -1;
  }

  ungetc(): void {
    this.pos--;
  }

  read(n: number): Buffer {
    const out = this.data.subarray(this.pos, Math.min(this.data.length, this.pos + n));
    this.pos += out.length;
    return out;
  }

  tell(): number {
    return this.seekable ? this.pos : -1;
  }

  seek(offset: bigint | number, whence: 'set' | 'end' = 'set'): SeekResult {
    if (!this.seekable) return { ok: false, code: 'ESPIPE', text: ioErrorText('ESPIPE') };
    const target = BigInt(offset) + (whence === 'end' ? BigInt(this.data.length) : 0n);
    if (target < 0n || target > OFF_T_MAX) return { ok: false, code: 'EINVAL', text: ioErrorText('EINVAL') };
    this.pos = Number(target > MAX_SAFE ? MAX_SAFE : target);
    return { ok: true, offset: this.pos };
  }
}

/**
 * One record, or the end of the input, or a malformed record with Postfix's
 * warning. offset is where the record's type byte is in the file (after any
 * pointer jumps), -1 when the input cannot tell (a pipe).
 */
export type RecordResult =
  | { type: number; data: Buffer; offset: number }
  | { type: typeof REC_TYPE_EOF }
  | { type: typeof REC_TYPE_ERROR; warning: string };

/** The data of a successful read, else null. */
export function recordData(r: RecordResult): Buffer | null {
  return 'data' in r ? r.data : null;
}

/** Record data up to its first NUL byte, as a C string (printf "%s") sees it. */
export function cString(data: Buffer): Buffer {
  const nul = data.indexOf(0);
  return nul < 0 ? data : data.subarray(0, nul);
}

// An int has 32 bits: more length bytes than that are refused.
const LENGTH_BITS = 32;

/** Reads the length field: 7 bits a byte, low bits first, as a C int accumulates them. */
function readLength(input: ByteInput, type: number): number | { warning: string } {
  let len = 0;
  for (let shift = 0; ; shift += 7) {
    if (shift >= LENGTH_BITS) return { warning: `${input.path}: too many length bits, record type ${type}` };
    const b = input.getc();
    if (b < 0) return { warning: `${input.path}: unexpected EOF reading length, record type ${type}` };
    // The shifted byte is an int in C: bits past 31 fall off and bit 31 is the sign.
    len |= (b & 0x7f) << shift;
    if ((b & 0x80) === 0) return len;
  }
}

/**
 * rec_get_raw(): the next record. maxsize 0 means no limit. flags: follow
 * pointers, skip padding, seek to the end after END (REC_FLAG_DEFAULT is
 * rec_get()).
 */
export function recGetRaw(input: ByteInput, maxsize = 0, flags = REC_FLAG_DEFAULT): RecordResult {
  for (;;) {
    const offset = input.tell();
    const type = input.getc();
    if (type < 0) return { type: REC_TYPE_EOF };
    const len = readLength(input, type);
    if (typeof len !== 'number') return { type: REC_TYPE_ERROR, warning: len.warning };
    if (len < 0 || (maxsize > 0 && len > maxsize)) {
      for (let n = len; n > 0 && input.getc() >= 0; n--);
      return { type: REC_TYPE_ERROR, warning: `${input.path}: illegal length ${len}, record type ${type}` };
    }
    const data = input.read(len);
    if (data.length !== len) {
      return { type: REC_TYPE_ERROR, warning: `${input.path}: unexpected EOF in data, record type ${type} length ${len}` };
    }
    if (flags === 0) return { type, data, offset };
    if (type === REC_TYPE.PTR && flags & REC_FLAG_FOLLOW_PTR) {
      const r = recGoto(input, data);
      if (r === null) continue;
      return { type: REC_TYPE_ERROR, warning: r.warning };
    }
    if (type === REC_TYPE.DTXT && flags & REC_FLAG_SKIP_DTXT) continue;
    if (type === REC_TYPE.END && flags & REC_FLAG_SEEK_END) {
      const s = input.seek(0, 'end');
      if (!s.ok) return { type: REC_TYPE_ERROR, warning: `${input.path}: seek error after reading END record: ${s.text}` };
    }
    return { type, data, offset };
  }
}

const REVERSE_JUMP_LIMIT = 10000;

/** Parses a pointer value as off_cvt_string() does: digits only (none is 0), no overflow; -1 if bad. */
export function parseOffset(text: string): bigint {
  if (!/^[0-9]*$/.test(text)) return -1n;
  const v = BigInt(text || '0');
  return v > OFF_T_MAX ? -1n : v;
}

/**
 * rec_goto(): jump to the offset in a pointer record's data. null on
 * success (a zero pointer is a dummy and does not move); else the warning.
 * More than 10000 backward jumps in one file count as a loop.
 */
export function recGoto(input: ByteInput, data: Buffer): null | { warning: string } {
  const st = input.gotoState;
  if (st.path !== input.path) {
    st.path = input.path;
    st.reverseCount = 0;
    st.savedOffset = 0n;
  }
  let text = cString(data).toString('latin1');
  text = text.replace(/^[ \t\n\v\f\r]+/, '');
  const offset = parseOffset(text);
  if (offset < 0n) return { warning: `${input.path}: malformed pointer record value: ${text}` };
  if (offset === 0n) return null;
  if (offset <= st.savedOffset && ++st.reverseCount > REVERSE_JUMP_LIMIT) {
    return { warning: `${input.path}: too many reverse jump records` };
  }
  const s = input.seek(offset);
  if (!s.ok) return { warning: `${input.path}: seek error after pointer record: ${s.text}` };
  st.savedOffset = offset;
  return null;
}

// ---- writing ----

/** The length field of rec_put(): 7 bits a byte, low bits first, 0x80 = more. */
export function encodeLength(len: number): Buffer {
  const bytes: number[] = [];
  let rest = len;
  do {
    let b = rest % 128;
    rest = Math.floor(rest / 128);
    if (rest !== 0) b |= 0x80;
    bytes.push(b);
  } while (rest !== 0);
  return Buffer.from(bytes);
}

/** rec_put(): one record as bytes. Strings are taken byte for byte (latin1). */
export function encodeRecord(type: number, data: Buffer | string = ''): Buffer {
  if (!Number.isInteger(type) || type < 0 || type > 255) throw new Error(`rec_put: bad record type ${type}`);
  const len = data.length;
  let head = 2;
  for (let rest = Math.floor(len / 128); rest !== 0; rest = Math.floor(rest / 128)) head++;
  const out = Buffer.allocUnsafe(head + len);
  out[0] = type;
  let at = 1;
  let rest = len;
  do {
    const b = rest % 128;
    rest = Math.floor(rest / 128);
    out[at++] = rest !== 0 ? b | 0x80 : b;
  } while (rest !== 0);
  if (typeof data === 'string') out.write(data, at, len, 'latin1');
  else data.copy(out, at);
  return out;
}

/** REC_SPACE_NEED: the bytes a record with len data bytes takes. */
export function recordSpace(len: number): number {
  let c = 1;
  for (let l = Math.floor(len / 128); l !== 0; l = Math.floor(l / 128)) c++;
  return 1 + c + len;
}

/** rec_pad(): a record of len bytes in all, its data a right-aligned "0" (at least one byte). */
export function encodePad(type: number, len: number): Buffer {
  const width = Math.max(1, len - 2);
  return encodeRecord(type, '0'.padStart(width, ' '));
}

/**
 * Builds a queue file's records in memory. offset is where the next record
 * starts (relative to base), so callers can note where a record lives to
 * update it in place later.
 */
export class RecordWriter {
  private chunks: Buffer[] = [];
  private size = 0;

  constructor(readonly base = 0) {}

  get offset(): number {
    return this.base + this.size;
  }

  /** Appends a record; returns the offset it starts at. */
  put(type: number, data: Buffer | string = ''): number {
    const at = this.offset;
    const rec = encodeRecord(type, data);
    this.chunks.push(rec);
    this.size += rec.length;
    return at;
  }

  pad(type: number, len: number): number {
    const at = this.offset;
    const rec = encodePad(type, len);
    this.chunks.push(rec);
    this.size += rec.length;
    return at;
  }

  /** The bytes written since the last take(), and forget them. */
  take(): Buffer {
    const out = Buffer.concat(this.chunks);
    this.chunks = [];
    return out;
  }
}

/**
 * rec_put_type(): change the type byte of the record at offset (R to D once
 * delivered, K when killed). Returns the error code on failure.
 */
export function recPutType(fd: number, type: number, offset: number): null | { code: string } {
  if (!Number.isInteger(type) || type < 0 || type > 255) throw new Error(`rec_put_type: bad record type ${type}`);
  try {
    if (fs.writeSync(fd, Buffer.of(type), 0, 1, offset) !== 1) return { code: 'EIO' };
    return null;
  } catch (e) {
    return { code: (e as NodeJS.ErrnoException).code ?? 'EIO' };
  }
}

// ---- opening inputs ----

const EXT_SUPER_MAGIC = 0xef53;

/** The largest offset lseek() accepts: ext2/3/4 stop at 2^32 - 1 blocks; others take any off_t. */
function maxSeekOffset(path: string): bigint {
  try {
    const st = fs.statfsSync(path);
    if (st.type === EXT_SUPER_MAGIC) return (2n ** 32n - 1n) * BigInt(st.bsize);
  } catch {
    // fall through: no limit known
  }
  return OFF_T_MAX;
}

/** Reads a stream (pipe, FIFO, terminal) to its end, as a sequence of read(2) calls. */
function slurp(fd: number): { data: Buffer; error: NodeJS.ErrnoException | null } {
  const parts: Buffer[] = [];
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (;;) {
    const buf = Buffer.allocUnsafe(WINDOW);
    let n: number;
    try {
      n = fs.readSync(fd, buf, 0, WINDOW, null);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      if (err.code === 'EAGAIN') {
        Atomics.wait(pause, 0, 0, 5);
        continue;
      }
      return { data: Buffer.concat(parts), error: err };
    }
    if (n === 0) return { data: Buffer.concat(parts), error: null };
    parts.push(buf.subarray(0, n));
  }
}

/** The input over an open descriptor: positional reads when it can seek, else its whole content. */
export function inputFromFd(fd: number, path: string, fsPath?: string): ByteInput {
  const st = fs.fstatSync(fd);
  const stream = st.isFIFO() || st.isSocket() || (st.isCharacterDevice() && isatty(fd));
  if (!stream) return new FileInput(fd, path, fsPath === undefined ? OFF_T_MAX : maxSeekOffset(fsPath));
  const { data, error } = slurp(fd);
  const input = new MemoryInput(data, path, false);
  input.error = error;
  return input;
}

/** vstream_fopen(path, O_RDONLY): the input, or the open error. */
export function openInput(path: string): { input: ByteInput; fd: number } | { error: NodeJS.ErrnoException } {
  let fd: number;
  try {
    fd = fs.openSync(path, 'r');
  } catch (e) {
    return { error: e as NodeJS.ErrnoException };
  }
  return { input: inputFromFd(fd, path, path), fd };
}
