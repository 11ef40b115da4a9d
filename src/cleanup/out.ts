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
import { encodeRecord } from '../queue/record.js';
import { CLEANUP_STAT_SIZE, CLEANUP_STAT_WRITE } from './api.js';
import { errnoFailureText } from './text.js';
import type { CleanupState } from './state.js';

const FLUSH_AT = 64 * 1024;
/** VSTREAM_BUFSIZE: Postfix writes queue files in blocks of this size. */
const VSTREAM_BUFSIZE = 4096;

/** A write-behind buffer over a queue file; offsets are file offsets. */
export class QueueOutput {
  private chunks: Buffer[] = [];
  private buffered = 0;
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
    const rec = encodeRecord(type.charCodeAt(0), data);
    // A full buffer is written out when the next byte arrives.
    const written = Math.floor((this.offset + rec.length - 1) / VSTREAM_BUFSIZE) * VSTREAM_BUFSIZE;
    if (this.limit > 0 && written > this.limit) return this.tooBig();
    this.chunks.push(rec);
    this.buffered += rec.length;
    this.offset += rec.length;
    return this.buffered >= FLUSH_AT ? this.writeOut() : null;
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
    if (this.buffered === 0) return null;
    const data = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
    this.chunks = [];
    this.buffered = 0;
    this.failure = this.file.append(data);
    return this.failure;
  }

  /** Whether closing the stream would fail: a write failed, or what is buffered cannot be written. */
  closeFails(): boolean {
    return this.failure !== null || (this.limit > 0 && this.offset > this.limit);
  }

  /** Overwrites bytes at an offset that was already flushed (the SIZE record). */
  rewrite(offset: number, bytes: Buffer): FsFailure | null {
    const f = this.flush();
    if (f) return f;
    if (this.limit > 0 && offset + bytes.length > this.limit) {
      return { code: 'EFBIG', error: Object.assign(new Error('File too large'), { code: 'EFBIG' }) };
    }
    return this.file.writeAt(bytes, offset);
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
