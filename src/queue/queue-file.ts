// Mirrors Postfix's global/mail_queue.c (mail_queue_enter) and
// global/mail_stream.c (mail_stream_finish_file, the QUEUE control): a new
// queue file is created under a temporary name with O_EXCL, renamed to an
// ID made of the clock and its inode, written, then committed: mode 0700
// (the "complete" mark), fsync, close. Commits return promises, so many
// sessions' fsyncs run at once and the file system can join them in one
// journal commit. Touches only the queue directory it is given.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { type FsFailure, type QueueLayout, MAIL_QUEUE_INCOMING, MAIL_QUEUE_MAILDROP, MAIL_QUEUE_STAT_READY, mailQueueMkdirs, mailQueuePath, mailQueueRename } from './layout.js';
import { longQueueId, shortQueueId } from './queue-id.js';
import { recPutType } from './record.js';
import { errnoText } from '../util/errno.js';

/** gettimeofday(): whole seconds and microseconds. */
export interface TimeVal {
  sec: number;
  usec: number;
}

/** The wall clock to the millisecond, the microsecond digits from the monotonic clock. */
export function getTimeOfDay(): TimeVal {
  const ms = Date.now();
  const micro = Number(process.hrtime.bigint() / 1000n) % 1000;
  return { sec: Math.floor(ms / 1000), usec: (ms % 1000) * 1000 + micro };
}

export interface QueueFileOptions {
  /** queue_directory; queue paths are relative to it. */
  queueDir: string;
  layout: QueueLayout;
  /** Default "incoming". */
  queue?: string;
  /** enable_long_queue_ids. */
  longIds?: boolean;
  /** Creation mode; Postfix's cleanup uses 0600. */
  mode?: number;
  clock?: () => TimeVal;
}

const RENAME_ATTEMPTS = 1000;

function failure(e: unknown): FsFailure {
  const error = e as NodeJS.ErrnoException;
  return { code: error.code ?? 'EIO', error };
}

/** An open queue file being written. Offsets are file offsets. */
export class QueueFile {
  /** Where the next append() goes. */
  size = 0;
  private closed = false;

  constructor(
    readonly queueDir: string,
    readonly layout: QueueLayout,
    public queue: string,
    readonly id: string,
    readonly fd: number,
    /** The time taken when the ID was made (the second gettimeofday). */
    readonly time: TimeVal,
  ) {}

  /** Path relative to queue_directory, e.g. "incoming/1423120E980". */
  get relPath(): string {
    return mailQueuePath(this.layout, this.queue, this.id);
  }

  get fullPath(): string {
    return path.resolve(this.queueDir, this.relPath);
  }

  /** Writes bytes at the end. EFBIG and ENOSPC come back as values. */
  append(bytes: Buffer): FsFailure | null {
    const r = this.writeAt(bytes, this.size);
    if (r === null) this.size += bytes.length;
    return r;
  }

  /** Overwrites bytes in place (the SIZE record at offset 0, a pointer). */
  writeAt(bytes: Buffer, offset: number): FsFailure | null {
    try {
      let done = 0;
      while (done < bytes.length) done += fs.writeSync(this.fd, bytes, done, bytes.length - done, offset + done);
      if (offset + bytes.length > this.size) this.size = offset + bytes.length;
      return null;
    } catch (e) {
      return failure(e);
    }
  }

  /** rec_put_type() on this file. */
  putType(type: number, offset: number): FsFailure | null {
    const r = recPutType(this.fd, type, offset);
    return r === null ? null : { code: r.code, error: Object.assign(new Error(r.code), { code: r.code }) };
  }

  /** mail_stream_ctl(QUEUE): move to another queue (hold) before the commit. */
  moveTo(queue: string): FsFailure | null {
    const r = mailQueueRename(this.queueDir, this.layout, this.id, this.queue, queue);
    if (r === null) this.queue = queue;
    return r;
  }

  /**
   * mail_stream_finish_file(): optional time stamp (delayed delivery),
   * fchmod 0700 | extraMode, fsync, close. Resolves to null once the file
   * is durable and marked complete; the caller answers the client after.
   */
  async commit(opts: { stampTime?: number; extraMode?: number } = {}): Promise<FsFailure | null> {
    if (this.closed) throw new Error(`queue file ${this.id}: already closed`);
    // Only the fsync waits for the disk, so only it leaves the event loop;
    // the time stamp and the mode are quick inode updates made in place.
    try {
      if (opts.stampTime !== undefined) fs.futimesSync(this.fd, opts.stampTime, opts.stampTime);
      fs.fchmodSync(this.fd, MAIL_QUEUE_STAT_READY | (opts.extraMode ?? 0));
      await fsync(this.fd);
    } catch (e) {
      this.closeQuietly();
      return failure(e);
    }
    this.closed = true;
    try {
      fs.closeSync(this.fd);
      return null;
    } catch (e) {
      return failure(e);
    }
  }

  /** Gives up on the file: close and remove it (cleanup's error path). */
  abort(): void {
    this.closeQuietly();
    try {
      fs.unlinkSync(this.fullPath);
    } catch {
      // already gone
    }
  }

  private closeQuietly(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      fs.closeSync(this.fd);
    } catch {
      // nothing more to do
    }
  }
}

const fsync = promisify(fs.fsync);

/** Commits several files together: their fsyncs are in flight at the same time. */
export function commitAll(files: readonly QueueFile[]): Promise<Array<FsFailure | null>> {
  return Promise.all(files.map((f) => f.commit()));
}

export type CreateResult =
  | { file: QueueFile; warnings: string[] }
  | { error: string; warnings: string[] };

/**
 * mail_queue_enter(): create "queue/<usec>.<pid>" exclusively, read its
 * inode, and rename it to its queue ID. A rename that fails with EPERM or
 * EISDIR is a collision and is retried with a new time; ENOENT means a
 * hashed subdirectory is missing and it is made. Postfix retries a failed
 * create forever (sleeping 10s); here that failure is returned instead.
 */
export function createQueueFile(opts: QueueFileOptions): CreateResult {
  const queue = opts.queue ?? MAIL_QUEUE_INCOMING;
  const clock = opts.clock ?? getTimeOfDay;
  const warnings: string[] = [];
  let fd = -1;
  let temp = '';
  for (;;) {
    temp = `${queue}/${clock().usec | 0}.${process.pid}`;
    try {
      fd = fs.openSync(path.resolve(opts.queueDir, temp), fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_EXCL, opts.mode ?? 0o600);
      break;
    } catch (e) {
      const f = failure(e);
      if (f.code === 'EEXIST' || f.code === 'EISDIR') continue;
      return { error: `mail_queue_enter: create file ${temp}: ${errnoText(f.error)}`, warnings };
    }
  }
  const inode = fs.fstatSync(fd, { bigint: true }).ino;
  // Created by root (local(8) forwarding, or a command run as root): the
  // file goes to the queue's owner, as if cleanup had made it as
  // mail_owner, so that qmgr can open it.
  // (Not maildrop: there the owner says who submitted the message.)
  if (process.geteuid?.() === 0 && queue !== MAIL_QUEUE_MAILDROP) {
    const top = fs.statSync(path.resolve(opts.queueDir, queue));
    if (top.uid !== 0) fs.fchownSync(fd, top.uid, top.gid);
  }
  for (let count = 0; ; count++) {
    const tv = clock();
    const id = opts.longIds ? longQueueId(tv.sec, tv.usec, inode) : shortQueueId(tv.usec, inode);
    const rel = mailQueuePath(opts.layout, queue, id);
    try {
      fs.renameSync(path.resolve(opts.queueDir, temp), path.resolve(opts.queueDir, rel));
      return { file: new QueueFile(opts.queueDir, opts.layout, queue, id, fd, tv), warnings };
    } catch (e) {
      const f = failure(e);
      const collision = f.code === 'EPERM' || f.code === 'EISDIR';
      if (!collision && (f.code !== 'ENOENT' || mailQueueMkdirs(opts.queueDir, rel) !== null)) {
        warnings.push(`mail_queue_enter: rename ${temp} to ${rel}: ${errnoText(f.error)}`);
      }
      // Postfix does not count collisions; a bound keeps a persistent EPERM from spinning forever.
      if (count > RENAME_ATTEMPTS) {
        fs.closeSync(fd);
        fs.rmSync(path.resolve(opts.queueDir, temp), { force: true });
        return { error: `mail_queue_enter: rename ${temp} to ${rel}: giving up`, warnings };
      }
    }
  }
}
