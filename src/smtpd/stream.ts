// Mirrors Postfix's global/smtp_stream.c over util/vstream.c as smtpd uses
// them: line reads bounded by line_length_limit with CRLF/LF stripping and
// optional bare-LF detection, exact byte reads for BDAT, and buffered
// replies. The buffering is what makes Postfix's pipelining visible on
// the wire: replies accumulate while unread input is waiting and go out in
// one write when smtpd would block for more input (or the buffer fills,
// or smtpd is about to sleep). End of input, a read timeout and the other
// reasons Postfix long-jumps out of a session arrive as a thrown
// SessionExit, caught at the top of the session (smtpd_proto's setjmp).
import type { Socket } from 'node:net';
import tls from 'node:tls';

/** Why the session loop was left: smtp_stream.h's SMTP_ERR_* plus XCLIENT's restart. */
export type ExitReason = 'eof' | 'timeout' | 'quiet' | 'data' | 'restart';

export class SessionExit extends Error {
  constructor(readonly reason: ExitReason) {
    super(reason);
  }
}

/** VSTREAM_BUFSIZE: output is written when this much is pending, and BDAT is read in pieces this large. */
const OUT_BUFSIZE = 4096;
export const VSTREAM_BUFSIZE = 4096;

/**
 * Unread input above which the socket is paused until the session asks for
 * more: what a client sends ahead (a BDAT chunk, an endless line) waits in
 * the kernel, not here, so a session's memory does not follow the client.
 */
const INPUT_HIGH_WATER = 256 * 1024;

export interface LineResult {
  /** The line without its terminator (byte string). */
  line: string;
  /** True when the line ended with LF (possibly after stripping CR). */
  complete: boolean;
  /** smtp_got_bare_lf: the detection flags when the line ended in a bare LF, else 0. */
  gotBareLf: number;
}

export class SmtpStream {
  private inbuf = '';
  private pos = 0;
  private out = '';
  private eof = false;
  private waiter: (() => void) | null = null;
  private timedOut = false;
  /** Time of the last read or write (vstream_ftime), in ms. */
  lastIo = Date.now();
  /** smtp_detect_bare_lf for this session. */
  detectBareLf = 0;

  private readonly onData = (chunk: Buffer): void => {
    if (this.skipping && this.pos >= this.inbuf.length) {
      // The rest of an over-long line: dropped as bytes, never decoded, up to its LF.
      const nl = chunk.indexOf(10);
      this.lastIo = Date.now();
      if (nl < 0) return;
      this.skipping = false;
      this.inbuf = chunk.toString('latin1', nl);
      this.pos = 0;
      this.arrivals++;
      this.wake();
      return;
    }
    this.inbuf += chunk.toString('latin1');
    this.arrivals++;
    if (this.inbuf.length - this.pos > INPUT_HIGH_WATER) this.socket.pause();
    this.wake();
  };

  private readonly onEnd = (): void => {
    this.eof = true;
    this.wake();
  };

  private readonly onTimeout = (): void => {
    if (this.waiter) {
      this.timedOut = true;
      this.wake();
    }
  };

  private attached = false;
  /** Counts the data events that added unread input: what fill() waits for. */
  private arrivals = 0;
  /** Dropping input up to the next LF (the tail of an over-long line). */
  private skipping = false;

  constructor(
    private socket: Socket,
    /** smtpd_timeout in ms. */
    public timeoutMs: number,
    /** Wrapper mode: read nothing until startTls(), so the client's handshake stays unread. */
    deferRead = false,
  ) {
    if (!deferRead) this.attach(socket);
  }

  private attach(socket: Socket): void {
    this.attached = true;
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('close', this.onEnd);
    socket.on('error', this.onEnd);
    // The socket's own idle timer (reset by any traffic) stands for the
    // per-read deadline; it only matters while a read is waiting.
    socket.setTimeout(this.timeoutMs);
    socket.on('timeout', this.onTimeout);
  }

  private detach(socket: Socket): void {
    this.attached = false;
    socket.removeListener('data', this.onData);
    socket.removeListener('end', this.onEnd);
    socket.removeListener('close', this.onEnd);
    socket.removeListener('error', this.onEnd);
    socket.removeListener('timeout', this.onTimeout);
    socket.setTimeout(0);
  }

  /** The TLS session once one is up (cipher and protocol for the log and headers). */
  get tlsSocket(): tls.TLSSocket | null {
    return this.socket instanceof tls.TLSSocket ? this.socket : null;
  }

  /**
   * Turns the connection into TLS (tls_server_start): pending replies are
   * sent first and unread plaintext is thrown away, so that nothing a
   * client sent before the handshake counts afterwards. Null on success,
   * else why the handshake failed.
   */
  startTls(context: tls.SecureContext, timeoutMs: number): Promise<string | null> {
    this.flush();
    const plain = this.socket;
    if (this.attached) this.detach(plain);
    this.inbuf = '';
    this.pos = 0;
    const secure = new tls.TLSSocket(plain, { isServer: true, secureContext: context });
    return new Promise((resolve) => {
      const done = (why: string | null): void => {
        clearTimeout(timer);
        secure.removeListener('secure', onSecure);
        secure.removeListener('error', onError);
        resolve(why);
      };
      const onSecure = (): void => {
        this.socket = secure;
        this.attach(secure);
        done(null);
      };
      const onError = (e: Error): void => {
        this.eof = true;
        done(e.message);
      };
      const timer = setTimeout(() => {
        secure.destroy();
        this.eof = true;
        done('timeout');
      }, timeoutMs);
      secure.once('secure', onSecure);
      secure.once('error', onError);
    });
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = null;
    if (w) w();
  }

  /** Bytes received but not yet read (vstream_peek). */
  get pending(): number {
    return this.inbuf.length - this.pos;
  }

  /** The unread bytes, up to max (vstream_peek_data). */
  peekData(max: number): string {
    return this.inbuf.slice(this.pos, this.pos + max);
  }

  /** True once the peer closed or the connection broke. */
  get closed(): boolean {
    return this.eof;
  }

  /**
   * Waits for more input: flushes pending replies first (as a VSTREAM
   * does when its read buffer runs dry), then waits up to timeoutMs.
   * Returns false at end of input.
   */
  private async fill(): Promise<boolean> {
    this.flush();
    if (this.pos > 65536 && this.pos === this.inbuf.length) {
      this.inbuf = '';
      this.pos = 0;
    }
    const before = this.arrivals;
    if (this.socket.isPaused()) this.socket.resume();
    while (this.arrivals === before && !this.eof) {
      this.socket.setTimeout(this.timeoutMs);
      await new Promise<void>((resolve) => {
        this.waiter = resolve;
      });
      if (this.timedOut) throw new SessionExit('timeout');
    }
    this.lastIo = Date.now();
    return this.arrivals !== before;
  }

  private compact(): void {
    if (this.pos > 65536) {
      this.inbuf = this.inbuf.slice(this.pos);
      this.pos = 0;
    }
  }

  /** One byte, or null at end of input (VSTREAM_GETC). */
  private async getc(): Promise<string | null> {
    while (this.pos >= this.inbuf.length) {
      if (!(await this.fill())) return null;
    }
    return this.inbuf[this.pos++]!;
  }

  /**
   * smtp_get(): a line of at most `bound` bytes (0: unbounded). With
   * `skip`, the rest of an over-long line is read and dropped. End of
   * input anywhere, even after a partial line, ends the session.
   */
  async getLine(bound: number, skip: boolean): Promise<LineResult> {
    let line = '';
    let last: string | null = null;
    for (;;) {
      if (this.pos >= this.inbuf.length) {
        if (!(await this.fill())) break;
        continue;
      }
      const room = bound > 0 ? bound - line.length : Infinity;
      const nl = this.inbuf.indexOf('\n', this.pos);
      if (nl >= 0 && nl - this.pos < room) {
        line += this.inbuf.slice(this.pos, nl + 1);
        this.pos = nl + 1;
        last = '\n';
        break;
      }
      const take = Math.min(room, this.inbuf.length - this.pos);
      line += this.inbuf.slice(this.pos, this.pos + take);
      this.pos += take;
      if (bound > 0 && line.length >= bound) {
        last = line[line.length - 1]!;
        break;
      }
    }
    this.compact();
    if (last === null) throw new SessionExit('eof');
    let gotBareLf = 0;
    if (last === '\r') {
      const next = await this.getc();
      if (next === '\n') {
        line += '\n';
        last = '\n';
      } else if (next !== null) {
        this.pos--;
      }
    }
    if (last === '\n') {
      line = line.slice(0, -1);
      if (this.detectBareLf) {
        if (line.length === 0 || line[line.length - 1] !== '\r') gotBareLf = this.detectBareLf;
        else line = line.slice(0, -1);
      } else {
        let end = line.length;
        while (end > 0 && line[end - 1] === '\r') end--;
        line = line.slice(0, end);
      }
    } else if (skip && !this.eof) {
      await this.skipPastNewline();
    }
    if (this.eof && this.pos >= this.inbuf.length && last !== '\n') throw new SessionExit('eof');
    return { line, complete: last === '\n', gotBareLf };
  }

  /** The rest of an over-long line is dropped as it arrives, a buffer at a time. */
  private async skipPastNewline(): Promise<void> {
    for (;;) {
      const nl = this.inbuf.indexOf('\n', this.pos);
      if (nl >= 0) {
        this.pos = nl + 1;
        this.compact();
        return;
      }
      this.pos = this.inbuf.length;
      this.skipping = true;
      try {
        if (!(await this.fill())) throw new SessionExit('eof');
      } finally {
        this.skipping = false;
      }
    }
  }

  /**
   * smtp_fread_buf(): exactly n bytes, or the session ends. Callers keep n
   * to VSTREAM_BUFSIZE or so: a BDAT chunk is read a piece at a time.
   */
  async readBytes(n: number): Promise<string> {
    while (this.inbuf.length - this.pos < n) {
      if (!(await this.fill())) throw new SessionExit('eof');
    }
    const data = this.inbuf.slice(this.pos, this.pos + n);
    this.pos += n;
    this.compact();
    return data;
  }

  /** skip_bdat()'s reads: n bytes are read and dropped as they arrive; end of input ends the session. */
  async skipBytes(n: number): Promise<void> {
    let left = n;
    for (;;) {
      const take = Math.min(left, this.inbuf.length - this.pos);
      this.pos += take;
      left -= take;
      this.compact();
      if (left === 0) return;
      if (!(await this.fill())) throw new SessionExit('eof');
    }
  }

  /** smtp_fputs(): one reply line, buffered. */
  putLine(text: string): void {
    this.out += text + '\r\n';
    if (this.out.length >= OUT_BUFSIZE) this.flush();
  }

  /** vstream_fflush(). */
  flush(): void {
    if (this.out === '') return;
    const data = this.out;
    this.out = '';
    this.lastIo = Date.now();
    if (!this.socket.destroyed && this.socket.writable) this.socket.write(data, 'latin1');
  }

  /** shutdown(SHUT_RDWR): drops the connection without another word. */
  hangup(): void {
    this.out = '';
    this.socket.destroy();
  }

  /** Ends the connection after sending what is pending. */
  close(): void {
    if (!this.attached) this.attach(this.socket);
    this.flush();
    if (this.waiter) this.wake();
    if (!this.socket.destroyed) this.socket.end();
  }
}
