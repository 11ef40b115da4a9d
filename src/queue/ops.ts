// Mirrors the queue-file operations Postfix's daemons share:
// global/mail_queue.c (mail_queue_rename, mail_queue_open, mail_queue_remove)
// and global/deliver_completed.c with rec_put_type() from global/record.c.
// Moving a file between queues honours the hashed layout (a missing hash
// directory is made and the rename retried); marking a recipient done
// rewrites only the type byte of its record. Failures are values. The
// metadata calls (rename, unlink, mkdir) are made synchronously, as
// Postfix's daemons make them: each takes microseconds, while the same
// call through libuv's thread pool costs several times the CPU in thread
// hand-offs. Touches only the queue tree it is given.
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { type QueueHandle, openQueueHandle } from './handle.js';
import { type FsFailure, type QueueLayout, mailQueuePath } from './layout.js';
import { REC_TYPE } from './rec-type.js';

function failure(e: unknown): FsFailure {
  const error = e as NodeJS.ErrnoException;
  return { code: error.code ?? 'EIO', error };
}

/** Creates the directories above a queue path (mode 0700), as mail_queue_mkdirs. */
function mkdirsFor(queueDir: string, relPath: string): FsFailure | null {
  try {
    fs.mkdirSync(path.dirname(path.resolve(queueDir, relPath)), { recursive: true, mode: 0o700 });
    return null;
  } catch (e) {
    return failure(e);
  }
}

/**
 * mail_queue_rename(): moves a queue file (or a log) from one queue to
 * another, e.g. incoming to active, active to deferred, to hold or corrupt.
 * The ID stays; the hash subdirectories follow each queue's layout.
 */
export async function moveQueueFile(
  queueDir: string, layout: QueueLayout, id: string, fromQueue: string, toQueue: string,
): Promise<FsFailure | null> {
  const from = path.resolve(queueDir, mailQueuePath(layout, fromQueue, id));
  const toRel = mailQueuePath(layout, toQueue, id);
  const to = path.resolve(queueDir, toRel);
  try {
    fs.renameSync(from, to);
    return null;
  } catch (e) {
    const first = failure(e);
    if (first.code !== 'ENOENT' || mkdirsFor(queueDir, toRel) !== null) return first;
  }
  try {
    fs.renameSync(from, to);
    return null;
  } catch (e) {
    return failure(e);
  }
}

/** mail_queue_remove(). */
export async function removeQueueFile(queueDir: string, layout: QueueLayout, queue: string, id: string): Promise<FsFailure | null> {
  try {
    fs.unlinkSync(path.resolve(queueDir, mailQueuePath(layout, queue, id)));
    return null;
  } catch (e) {
    return failure(e);
  }
}

/**
 * A file (and hash directories) that root creates in a queue -- a local
 * delivery agent appending to defer/ or trace/, where Postfix's bounce
 * daemon would have written as mail_owner -- is given to the owner of the
 * queue's directory, so that qmgr and bounce, which run as mail_owner, can
 * read and remove it.
 */
async function adoptQueueOwner(queueDir: string, queue: string, rel: string, fh: QueueHandle): Promise<void> {
  const top = await fsp.stat(path.resolve(queueDir, queue));
  if (top.uid === 0) return;
  const st = await fh.stat();
  if (st.uid === 0) await fh.chown(top.uid, top.gid);
  const parts = rel.split('/').slice(1, -1);
  for (let i = 1; i <= parts.length; i++) {
    const dir = path.resolve(queueDir, queue, ...parts.slice(0, i));
    const d = await fsp.stat(dir);
    if (d.uid === 0) await fsp.chown(dir, top.uid, top.gid);
  }
}

/**
 * mail_queue_open(): opens a file in a queue; with a creating flag, a
 * missing hash directory is made and the open retried.
 */
export async function openQueueFile(
  queueDir: string, layout: QueueLayout, queue: string, id: string, flags: string | number = 'r', mode = 0o600,
): Promise<{ fh: QueueHandle; path: string } | FsFailure> {
  const rel = mailQueuePath(layout, queue, id);
  const full = path.resolve(queueDir, rel);
  const creating = typeof flags === 'number' ? (flags & fsp.constants.O_CREAT) !== 0 : /[wa]/.test(flags);
  for (let attempt = 0; ; attempt++) {
    try {
      const fh = openQueueHandle(full, flags, mode);
      if (creating && process.geteuid?.() === 0) await adoptQueueOwner(queueDir, queue, rel, fh);
      return { fh, path: rel };
    } catch (e) {
      const f = failure(e);
      if (attempt > 0 || !creating || f.code !== 'ENOENT') return f;
      const m = mkdirsFor(queueDir, rel);
      if (m !== null) return m;
    }
  }
}

export interface MarkOptions {
  /** The new type: D (done, the default), '/' (canceled) or K (killed). */
  type?: number;
  /**
   * fsync after the write (default false). Postfix only flushes its stream
   * here: the mark survives a crash of any process (the kernel has it), and
   * a crash of the whole machine may deliver that recipient again, as with
   * Postfix. An fsync per delivered recipient cost local a second disk
   * flush per message.
   */
  sync?: boolean;
}

/**
 * deliver_completed(): marks the recipient whose record starts at offset
 * as done, by rewriting that one type byte in place. The offset comes from
 * the reader (QueueRecipient.offset). The file must be open for writing.
 */
export async function markRecipientDone(fh: QueueHandle, offset: number, opts: MarkOptions = {}): Promise<FsFailure | null> {
  const type = opts.type ?? REC_TYPE.DONE;
  if (!Number.isInteger(offset) || offset <= 0) {
    const error = Object.assign(new Error(`deliver_completed: bad offset ${offset}`), { code: 'EINVAL' });
    return { code: 'EINVAL', error };
  }
  try {
    // One byte into the page cache: a blocking pwrite, not a pool hop.
    const bytesWritten = fs.writeSync(fh.fd, Buffer.of(type), 0, 1, offset);
    if (bytesWritten !== 1) {
      const error = Object.assign(new Error(`short write at offset ${offset}`), { code: 'EIO' });
      return { code: 'EIO', error };
    }
    if (opts.sync === true) await fh.sync();
    return null;
  } catch (e) {
    return failure(e);
  }
}
