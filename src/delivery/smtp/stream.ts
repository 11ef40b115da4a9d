// The byte stream under one smtp(8)/lmtp(8) session, as Postfix's
// global/smtp_stream.c gives it to the client: lines read with a time limit
// (CRLF or bare LF ends a line, trailing CRs go, an over-long line is cut
// and the rest of it skipped), commands buffered and flushed before a read,
// and every I/O problem turned into one of three faults -- the connection
// was lost, a time limit ran out, or local data could not be read -- that
// the protocol engine reports as "lost connection with ... while ...",
// "conversation with ... timed out while ..." or "local data error".
// Touches only its socket.
import type { Socket } from 'node:net';

export type FaultKind = 'eof' | 'time' | 'data';

/** An I/O problem of a session: what Postfix's smtp_stream longjmp()s with. */
export class StreamFault extends Error {
  constructor(readonly kind: FaultKind) {
    super(`smtp stream: ${kind}`);
  }
}

/** One line as read: its text (latin1) and whether it ended with a newline. */
export interface StreamLine {
  text: string;
  complete: boolean;
}

export class SmtpStream {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private out: Buffer[] = [];
  private outBytes = 0;
  private eof = false;
  private failed = false;
  /** A read or write timed out or hit the end: the stream is unusable (Postfix's vstream error flags). */
  private faulted = false;
  private wake: (() => void) | null = null;
  /** When the last byte was read or written (Postfix's vstream_ftime), ms. */
  lastActivity = Date.now();

  constructor(readonly socket: Socket) {
    socket.on('data', (b: Buffer) => {
      this.chunks.push(b);
      this.buffered += b.length;
      this.lastActivity = Date.now();
      this.poke();
    });
    socket.on('end', () => {
      this.eof = true;
      this.poke();
    });
    socket.on('close', () => {
      this.eof = true;
      this.poke();
    });
    socket.on('error', () => {
      this.failed = true;
      this.poke();
    });
  }

  private poke(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  /** True once the peer went away or the socket failed (vstream_feof/ferror). */
  get broken(): boolean {
    return this.eof || this.failed || this.faulted || this.socket.destroyed;
  }

  /** Queues bytes for the next flush. */
  write(data: Buffer | string): void {
    const b = typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
    this.out.push(b);
    this.outBytes += b.length;
  }

  /** Bytes written but not flushed (vstream_bufstat pending output). */
  get pending(): number {
    return this.outBytes;
  }

  /** Sends what is queued; waits (up to timeoutSec) while the socket's buffer is full. */
  async flush(timeoutSec: number): Promise<void> {
    if (this.outBytes === 0) return;
    const data = this.out.length === 1 ? this.out[0]! : Buffer.concat(this.out);
    this.out = [];
    this.outBytes = 0;
    if (this.broken) throw this.fault('eof');
    this.lastActivity = Date.now();
    if (this.socket.write(data)) return;
    await this.waitFor(() => this.socket.writableLength === 0 || this.broken, timeoutSec, 'drain');
    if (this.failed || this.socket.destroyed) throw this.fault('eof');
  }

  private fault(kind: 'eof' | 'time'): StreamFault {
    this.faulted = true;
    return new StreamFault(kind);
  }

  private waitFor(done: () => boolean, timeoutSec: number, event?: 'drain'): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const finish = (fault?: StreamFault): void => {
        if (timer) clearTimeout(timer);
        if (event) this.socket.off(event, check);
        this.wake = null;
        if (fault) {
          this.faulted = true;
          reject(fault);
        }
        else resolve();
      };
      const check = (): void => {
        if (done()) finish();
        else this.wake = check;
      };
      if (timeoutSec > 0) timer = setTimeout(() => finish(new StreamFault('time')), timeoutSec * 1000);
      if (event) this.socket.on(event, check);
      check();
    });
  }

  /** Takes one line (up to bound bytes) out of what was read, or null when none is complete yet. */
  private takeLine(bound: number): StreamLine | null {
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks)];
    const buf = this.chunks[0];
    if (!buf) return null;
    const nl = buf.indexOf(10);
    if (nl < 0 && buf.length <= bound && !this.eof) return null;
    let end = nl < 0 ? buf.length : nl;
    let complete = nl >= 0;
    let skipTo = nl < 0 ? buf.length : nl + 1;
    if (end > bound) {
      // An over-long line: keep bound bytes, skip the rest up to the newline.
      if (nl < 0 && !this.eof) return null;
      end = bound;
      complete = false;
    }
    let text = buf.subarray(0, end).toString('latin1');
    if (complete) text = text.replace(/\r+$/, '');
    skipTo = Math.min(skipTo, buf.length);
    const rest = buf.subarray(skipTo);
    this.chunks = rest.length ? [rest] : [];
    this.buffered = rest.length;
    return { text, complete };
  }

  /** Reads one line within timeoutSec; a fault when the peer goes away or is silent too long. */
  async readLine(bound: number, timeoutSec: number): Promise<StreamLine> {
    await this.flush(timeoutSec);
    let line = this.takeLine(bound);
    if (line) return line;
    await this.waitFor(() => (line = this.takeLine(bound)) !== null || this.eof || this.failed, timeoutSec);
    if (line) return line;
    throw this.fault('eof');
  }

  /** Whether unread input is waiting (a server that talks out of turn). */
  get hasInput(): boolean {
    return this.buffered > 0;
  }

  close(): void {
    this.socket.destroy();
  }
}
