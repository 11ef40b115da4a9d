// Mirrors Postfix's qmgr/qmgr_scan.c with util/scan_dir.c: one scanner per
// queue (incoming, deferred) walks the queue directory and its hash
// subdirectories one name at a time, so a queue of any size is never
// listed in memory at once. A request made while a scan is running
// restarts the scan when it ends. Directories are read with blocking
// calls, as Postfix's scanner reads them (a hop through libuv's pool per
// entry costs more than the read). Reads directories only.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { mailQueueIdOk } from '../queue/queue-id.js';

/** QMGR_SCAN_* request bits. */
export const SCAN_START = 1;
/** Ignore the files' time stamps (postqueue -f, the A trigger). */
export const SCAN_ALL = 2;
/** Forget dead destinations before the scan (the F trigger). */
export const FLUSH_ONCE = 4;
/** Ignore defer_transports for the files of this scan. */
export const FLUSH_DFXP = 8;

function closeQuietly(dir: fs.Dir): void {
  try {
    dir.closeSync();
  } catch {
    // already closed
  }
}

export class QueueScan {
  /** The flags of the scan running now; 0 when none runs. */
  flags = 0;
  /** Flags requested while a scan runs: it is restarted with them. */
  private pending = 0;
  private stack: Array<{ dir: fs.Dir; rel: string }> = [];
  private opening: Promise<void> | null = null;

  constructor(readonly queueDir: string, readonly queue: string) {}

  get running(): boolean {
    return this.flags !== 0;
  }

  /** qmgr_scan_request(): start a scan, or restart the running one when it ends. */
  request(flags: number): void {
    if (this.running) this.pending |= flags;
    else this.flags = flags | SCAN_START;
  }

  private async open(rel: string): Promise<void> {
    try {
      const dir = fs.opendirSync(path.join(this.queueDir, rel));
      this.stack.push({ dir, rel });
    } catch {
      // A missing queue directory scans as empty.
    }
  }

  /** The next queue ID in this queue, or null when the scan is over (it may then restart itself). */
  async next(): Promise<{ id: string; flags: number } | null> {
    if (!this.running) return null;
    if (this.stack.length === 0 && this.opening === null) {
      this.opening = this.open(this.queue);
      await this.opening;
    }
    for (;;) {
      const top = this.stack[this.stack.length - 1];
      if (!top) {
        this.opening = null;
        this.flags = 0;
        if (this.pending) {
          const again = this.pending;
          this.pending = 0;
          this.flags = again | SCAN_START;
          this.opening = this.open(this.queue);
          await this.opening;
          continue;
        }
        return null;
      }
      let ent: fs.Dirent | null;
      try {
        ent = top.dir.readSync();
      } catch {
        ent = null;
      }
      if (ent === null) {
        this.stack.pop();
        closeQuietly(top.dir);
        continue;
      }
      const rel = `${top.rel}/${ent.name}`;
      // Hash subdirectories have one-character names.
      if (ent.name.length === 1 && ent.isDirectory()) {
        await this.open(rel);
        continue;
      }
      if (ent.isFile() && mailQueueIdOk(ent.name)) return { id: ent.name, flags: this.flags };
    }
  }

  async close(): Promise<void> {
    for (const { dir } of this.stack.splice(0)) closeQuietly(dir);
    this.flags = this.pending = 0;
  }
}
