// Mirrors Postfix's cleanup/cleanup_out.c and the buffered queue-file
// stream under it: records are encoded in memory and written to the queue
// file in large pieces; text longer than line_length_limit is cut into L
// records ending in an N record; a multi-line header goes out one record per
// line (continuation lines get a leading tab when the rewriting machinery
// left them bare), cut at header_size_limit. The queue file may not grow past
// message_size_limit: Postfix sets the file size limit of the process, so a
// write past it fails as EFBIG ("queue file size limit exceeded"). Postfix
// notices that when its 4096-byte stream buffer is written out (or at the
// final flush), so the failure is reported at the same point here.
// Touches only the queue file it is given.
import type { FsFailure } from '../queue/layout.js';
import type { QueueFile } from '../queue/queue-file.js';
import { CLEANUP_STAT_SIZE, CLEANUP_STAT_WRITE } from './api.js';
import { errnoFailureText } from './text.js';
import type { CleanupState } from './state.js';

const FLUSH_AT = 64 * 1024;
/** VSTREAM_BUFSIZE: Postfix writes queue files in blocks of this size. */
const VSTREAM_BUFSIZE = 4096;
/** The buffer a session starts with; it doubles up to FLUSH_AT and more for one long record. */
const INITIAL_BUFFER = 8192;

/** Bytes of a record header: the type and the length in 7-bit groups, low group first. */
function headerSize(len: number): number {
  let n = 2;
  for (let rest = len >>> 7; rest !== 0; rest >>>= 7) n++;
  return n;
}

/**
 * A write-behind buffer over a queue file; offsets are file offsets.
 * Records are encoded straight into one buffer, and a small message
 * reaches the disk in a single write together with its final SIZE record.
 */
export class QueueOutput {
  private buf = Buffer.allocUnsafe(INITIAL_BUFFER);
  /** Bytes in buf; buf[0] is at file offset `flushed`. */
  private used = 0;
  private flushed = 0;
  /** File offset of the next record. */
  offset = 0;
  /** Set once a write failed; later writes do nothing. */
  failure: FsFailure | null = null;

  constructor(
    private readonly file: QueueFile,
    /** message_size_limit; 0 means none. */
    private readonly limit: number,
  ) {}

  /** Appends one record. A failure is sticky and reported by the caller through the return value. */
  put(type: string, data: string): FsFailure | null {
    if (this.failure) return this.failure;
    const len = data.length;
    const size = headerSize(len) + len;
    // A full buffer is written out when the next byte arrives.
    const written = Math.floor((this.offset + size - 1) / VSTREAM_BUFSIZE) * VSTREAM_BUFSIZE;
    if (this.limit > 0 && written > this.limit) return this.tooBig();
    this.reserve(size);
    const buf = this.buf;
    let at = this.used;
    buf[at++] = type.charCodeAt(0) & 0xff;
    let rest = len;
    do {
      const b = rest & 0x7f;
      rest >>>= 7;
      buf[at++] = rest !== 0 ? b | 0x80 : b;
    } while (rest !== 0);
    if (len > 0) at += buf.write(data, at, len, 'latin1');
    this.used = at;
    this.offset += size;
    return this.used >= FLUSH_AT ? this.writeOut() : null;
  }

  private reserve(size: number): void {
    if (this.used + size <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.used + size) cap *= 2;
    const grown = Buffer.allocUnsafe(cap);
    this.buf.copy(grown, 0, 0, this.used);
    this.buf = grown;
  }

  private tooBig(): FsFailure {
    this.failure = { code: 'EFBIG', error: Object.assign(new Error('File too large'), { code: 'EFBIG' }) };
    return this.failure;
  }

  /** Writes what is buffered (vstream_fflush). */
  flush(): FsFailure | null {
    if (this.failure) return this.failure;
    if (this.limit > 0 && this.offset > this.limit) return this.tooBig();
    return this.writeOut();
  }

  private writeOut(): FsFailure | null {
    if (this.used === 0) return null;
    this.failure = this.file.writeAt(this.buf.subarray(0, this.used), this.flushed);
    this.flushed += this.used;
    this.used = 0;
    return this.failure;
  }

  /** Whether closing the stream would fail: a write failed, or what is buffered cannot be written. */
  closeFails(): boolean {
    return this.failure !== null || (this.limit > 0 && this.offset > this.limit);
  }

  /**
   * The last step before the commit: overwrite bytes at an earlier offset
   * (the SIZE record) and write everything out. Bytes still in the buffer
   * are patched there, so the file gets one write.
   */
  finish(offset: number, bytes: Buffer): FsFailure | null {
    if (this.failure) return this.failure;
    if (this.limit > 0 && this.offset > this.limit) return this.tooBig();
    if (this.limit > 0 && offset + bytes.length > this.limit) {
      return { code: 'EFBIG', error: Object.assign(new Error('File too large'), { code: 'EFBIG' }) };
    }
    if (offset >= this.flushed && offset + bytes.length <= this.flushed + this.used) {
      bytes.copy(this.buf, offset - this.flushed);
      return this.writeOut();
    }
    const f = this.writeOut();
    return f ?? this.file.writeAt(bytes, offset);
  }
}

/** The warning and error bit of a failed write (EFBIG is the size limit). */
export function noteWriteError(state: CleanupState, f: FsFailure): void {
  if (f.code === 'EFBIG') {
    state.ctx.log.warning(`${state.queueId}: queue file size limit exceeded`);
    state.errs |= CLEANUP_STAT_SIZE;
  } else {
    state.ctx.log.warning(`${state.queueId}: write queue file: ${errnoFailureText(f)}`);
    state.errs |= CLEANUP_STAT_WRITE;
  }
}

const isText = (type: string): boolean => type === 'N' || type === 'L';

/** cleanup_out(): one record, unless an error stopped output; long text becomes L records. */
export function cleanupOut(state: CleanupState, type: string, data: string): void {
  if (!state.outOk()) return;
  const limit = state.ctx.params.lineLimit;
  let rest = data;
  let f: FsFailure | null = null;
  while (rest.length > limit && isText(type) && f === null) {
    f = state.out.put('L', rest.slice(0, limit));
    rest = rest.slice(limit);
  }
  if (f === null) f = state.out.put(type, rest);
  if (f !== null) noteWriteError(state, f);
}
