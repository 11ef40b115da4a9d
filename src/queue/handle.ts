// An open queue file as the daemons use it (qmgr reading a message, an
// agent reading it and marking recipients done): the methods of
// node:fs/promises' FileHandle that they call, so that either serves. The
// handle made here opens, reads, writes, stats and closes with blocking
// calls, as Postfix's daemons do: each of those takes microseconds on a
// file that exists, while a FileHandle sends every call through libuv's
// thread pool (measured at 0.14 ms of the agent's time per open under the
// delivery benchmark's load). Only sync(), which waits for the disk, goes
// through the pool. Touches only the file it opens.
import * as fs from 'node:fs';
import { promisify } from 'node:util';

/** What the daemons do with an open queue file; a FileHandle of node:fs/promises is one. */
export interface QueueHandle {
  readonly fd: number;
  read(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number; buffer: Buffer }>;
  write(buffer: Buffer, offset?: number, length?: number, position?: number | null): Promise<{ bytesWritten: number; buffer: Buffer }>;
  stat(): Promise<fs.Stats>;
  sync(): Promise<void>;
  truncate(len?: number): Promise<void>;
  chown(uid: number, gid: number): Promise<void>;
  close(): Promise<void>;
}

const fsyncAsync = promisify(fs.fsync);

class BlockingQueueHandle implements QueueHandle {
  constructor(private descriptor: number) {}

  /** The descriptor; -1 once closed, as a FileHandle's. */
  get fd(): number {
    return this.descriptor;
  }

  async read(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number; buffer: Buffer }> {
    return { bytesRead: fs.readSync(this.fd, buffer, offset, length, position), buffer };
  }

  async write(buffer: Buffer, offset = 0, length = buffer.length - offset, position: number | null = null): Promise<{ bytesWritten: number; buffer: Buffer }> {
    return { bytesWritten: fs.writeSync(this.fd, buffer, offset, length, position), buffer };
  }

  async stat(): Promise<fs.Stats> {
    return fs.fstatSync(this.fd);
  }

  sync(): Promise<void> {
    return fsyncAsync(this.fd);
  }

  async truncate(len = 0): Promise<void> {
    fs.ftruncateSync(this.fd, len);
  }

  async chown(uid: number, gid: number): Promise<void> {
    fs.fchownSync(this.fd, uid, gid);
  }

  /** Closes once; later calls do nothing, as a FileHandle's do. */
  async close(): Promise<void> {
    if (this.descriptor < 0) return;
    const fd = this.descriptor;
    this.descriptor = -1;
    fs.closeSync(fd);
  }
}

/** Opens path with open(2) flags or an fopen-style string; throws the open's error as fs.openSync does. */
export function openQueueHandle(path: string, flags: string | number, mode = 0o600): QueueHandle {
  return new BlockingQueueHandle(fs.openSync(path, flags, mode));
}
