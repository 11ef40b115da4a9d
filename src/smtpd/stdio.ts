// The client side of smtpd in stand-alone mode (smtpd -S, run by
// `sendmail -bs`): the SMTP dialogue on standard input and output instead
// of a socket. StdioConnection offers the part of node:net's Socket that
// SmtpStream and the session use (data/end/close/error/timeout events, an
// idle timer for smtpd_timeout, write, end, destroy, pause, resume), so the
// protocol engine is the same one the daemon runs. Replies are written to
// the output descriptor with blocking writes, in order, as Postfix's
// VSTREAM does; nothing is left buffered when the session ends.
// Touches the two descriptors it is given, nothing else.
import { EventEmitter } from 'node:events';
import * as fs from 'node:fs';
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';

export class StdioConnection extends EventEmitter {
  destroyed = false;
  writable = true;
  /** Not a network peer: smtpd takes the client to be this host (smtpd_peer_not_inet). */
  readonly remoteAddress = undefined;
  private idleMs = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly input: Readable,
    private readonly outFd: number,
  ) {
    super();
    input.on('data', (chunk: Buffer) => {
      this.touch();
      this.emit('data', chunk);
    });
    input.on('end', () => this.emit('end'));
    input.on('error', (e) => this.emit('error', e));
  }

  /** The view SmtpStream and the session take. */
  asSocket(): Socket {
    return this as unknown as Socket;
  }

  /** The idle timer: 'timeout' when neither side has moved for ms (0 turns it off). */
  setTimeout(ms: number): this {
    this.idleMs = ms;
    this.touch();
    return this;
  }

  setNoDelay(): this {
    return this;
  }

  private touch(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = this.idleMs > 0 && !this.destroyed ? setTimeout(() => this.emit('timeout'), this.idleMs) : null;
  }

  write(data: string | Buffer, encoding: BufferEncoding = 'latin1'): boolean {
    if (this.destroyed) return false;
    const buf = typeof data === 'string' ? Buffer.from(data, encoding) : data;
    let off = 0;
    while (off < buf.length) {
      try {
        off += fs.writeSync(this.outFd, buf, off, buf.length - off);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EAGAIN') continue;
        // The client is gone (EPIPE): the next read finds the end of input.
        this.writable = false;
        process.nextTick(() => this.emit('error', e));
        return false;
      }
    }
    this.touch();
    return true;
  }

  pause(): this {
    this.input.pause();
    return this;
  }

  resume(): this {
    this.input.resume();
    return this;
  }

  isPaused(): boolean {
    return this.input.isPaused();
  }

  end(): this {
    return this.destroy();
  }

  /** Stops reading, so that the process can end once the session is over. */
  destroy(): this {
    if (this.destroyed) return this;
    this.destroyed = true;
    this.writable = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.input.pause();
    this.input.removeAllListeners('data');
    if ('destroy' in this.input) this.input.destroy();
    process.nextTick(() => this.emit('close'));
    return this;
  }
}
