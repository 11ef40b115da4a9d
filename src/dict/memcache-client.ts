// Mirrors Postfix's util/auto_clnt.c and global/memcache_proto.c as the
// memcache: table uses them: one connection to inet:host:port or unix:path,
// opened when first needed and closed after a failed exchange ("recover");
// request lines end in CRLF; a reply line is read with a length bound that
// counts its CRLF (a CR cut off at the bound is repaired when LF follows);
// a data block is exactly N bytes followed by CRLF. Postfix reports the C
// errno left over from the last system call ("%m"); `errno` keeps the text
// of that value as Postfix would have it. Talks only to the configured
// server; never throws for I/O trouble.
import { connect as netConnect, type Socket } from 'node:net';
import type { MsgLog } from '../util/msg.js';
import { errnoText } from '../util/errno.js';

const EINPROGRESS = 'Operation now in progress';
const ETIMEDOUT = 'Connection timed out';
const EADDRNOTAVAIL = 'Cannot assign requested address';

/** One open stream: buffered reads with the table's I/O time limit. */
class McStream {
  private buf: Buffer = Buffer.alloc(0);
  private ended = false;
  private waiter: (() => void) | null = null;

  constructor(private readonly sock: Socket, private readonly timeoutMs: number) {
    sock.on('data', (d: Buffer) => {
      this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
      this.wake();
    });
    const end = () => {
      this.ended = true;
      this.wake();
    };
    sock.on('end', end);
    sock.on('error', end);
    sock.on('close', end);
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }

  write(data: Buffer): void {
    if (!this.ended) this.sock.write(data);
  }

  /** Waits for at least n buffered bytes: 'ok', 'eof', or 'time' (the time limit passed). */
  private async fill(n: number): Promise<'ok' | 'eof' | 'time'> {
    const deadline = this.timeoutMs > 0 ? Date.now() + this.timeoutMs : Infinity;
    while (this.buf.length < n) {
      if (this.ended) return 'eof';
      const left = deadline - Date.now();
      if (left <= 0) return 'time';
      await new Promise<void>((resolve) => {
        const t = Number.isFinite(left) ? setTimeout(resolve, left) : null;
        this.waiter = () => {
          if (t) clearTimeout(t);
          resolve();
        };
      });
    }
    return 'ok';
  }

  private take(n: number): Buffer {
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }

  /**
   * memcache_get(): one line of at most `bound` bytes counting its
   * terminator, without CRLF or LF; 'time' or 'fail' (too long, EOF).
   */
  async getLine(bound: number): Promise<{ line: string } | 'time' | 'fail'> {
    for (;;) {
      const nl = this.buf.indexOf(0x0a);
      if (nl >= 0 && nl < bound) return { line: stripCr(this.take(nl + 1).subarray(0, nl)) };
      if (this.buf.length >= bound) {
        const cut = Buffer.from(this.take(bound));
        if (cut[bound - 1] !== 0x0d) return 'fail';
        // Stopped between CR and LF: the line is whole when LF comes next.
        const r = await this.fill(1);
        if (r !== 'ok') return r === 'time' ? 'time' : 'fail';
        if (this.buf[0] !== 0x0a) return 'fail';
        this.take(1);
        return { line: stripCr(cut) };
      }
      const r = await this.fill(this.buf.length + 1);
      if (r !== 'ok') return r === 'time' ? 'time' : 'fail';
    }
  }

  /** memcache_fread(): exactly n bytes, then CRLF. */
  async getData(n: number): Promise<{ data: string } | 'time' | 'fail'> {
    const r = await this.fill(n + 2);
    if (r !== 'ok') return r === 'time' ? 'time' : 'fail';
    const data = this.take(n).toString('latin1');
    const crlf = this.take(2);
    return crlf[0] === 0x0d && crlf[1] === 0x0a ? { data } : 'fail';
  }

  ref(): void {
    this.sock.ref();
  }

  unref(): void {
    this.sock.unref();
  }

  close(): void {
    this.sock.destroy();
  }
}

function stripCr(line: Buffer): string {
  const end = line.length > 0 && line[line.length - 1] === 0x0d ? line.length - 1 : line.length;
  return line.toString('latin1', 0, end);
}

/** Splits "host:port" as inet_connect() does; a bare number is a port on localhost. */
function hostPort(endpoint: string): { host: string; port: string } | { error: string } {
  const m = /^\[([^\]]*)\](?::(.*))?$/.exec(endpoint);
  if (m) return { host: m[1]!, port: m[2] ?? '' };
  const colon = endpoint.lastIndexOf(':');
  if (colon >= 0) return { host: endpoint.slice(0, colon), port: endpoint.slice(colon + 1) };
  if (/^[0-9]/.test(endpoint) && !/^[0-9]+$/.test(endpoint)) return { error: `${endpoint}: garbage after numerical service` };
  return { host: 'localhost', port: endpoint };
}

/** The result of one request: the reply text, or why there is none. */
export type Exchange = { line: string } | { failed: true };

export class MemcacheClient {
  private stream: McStream | null = null;
  /** Text of the C errno Postfix would report now; null while it is 0. */
  errno: string | null = null;
  /**
   * Set when the endpoint cannot be used at all: the text Postfix's
   * inet_connect() dies with. Returned as a value; the caller's edge
   * decides (a command ends with it, a daemon defers the lookup).
   */
  fatal: string | null = null;

  constructor(
    readonly transport: 'inet' | 'unix',
    readonly endpoint: string,
    /** Connect and I/O time limit in ms; 0 means none. */
    private readonly timeoutMs: number,
    private readonly log: MsgLog,
  ) {}

  /** auto_clnt_access(): the open stream, connecting first when needed; null after a warning. */
  async access(): Promise<boolean> {
    if (this.stream) return true;
    const sock = await this.connect();
    if (!sock) return false;
    this.stream = new McStream(sock, this.timeoutMs);
    this.stream.unref();
    return true;
  }

  private connect(): Promise<Socket | null> {
    return new Promise((resolve) => {
      let sock: Socket;
      if (this.transport === 'unix') {
        sock = netConnect({ path: this.endpoint });
      } else {
        const hp = hostPort(this.endpoint);
        if ('error' in hp) {
          this.fatal = hp.error;
          resolve(null);
          return;
        }
        const { host, port } = hp;
        const portNum = /^[0-9]+$/.test(port) ? Number(port) : NaN;
        if (!(portNum >= 0 && portNum < 65536)) {
          this.log.warning(`host or service ${this.endpoint} not found: Servname not supported for ai_socktype`);
          this.log.warning(`connect to ${this.endpoint}: ${EADDRNOTAVAIL}`);
          this.errno = EADDRNOTAVAIL;
          resolve(null);
          return;
        }
        sock = netConnect({ host: host || 'localhost', port: portNum });
      }
      const timer = this.timeoutMs > 0
        ? setTimeout(() => fail(ETIMEDOUT), this.timeoutMs)
        : null;
      const fail = (why: string, lookup = false) => {
        if (timer) clearTimeout(timer);
        sock.destroy();
        if (lookup) {
          this.log.warning(`host or service ${this.endpoint} not found: Name or service not known`);
          why = EADDRNOTAVAIL;
        }
        this.log.warning(`connect to ${this.endpoint}: ${why}`);
        this.errno = why;
        resolve(null);
      };
      sock.once('connect', () => {
        if (timer) clearTimeout(timer);
        sock.removeAllListeners('error');
        // A non-blocking connect() leaves EINPROGRESS behind (inet only).
        if (this.transport === 'inet') this.errno = EINPROGRESS;
        resolve(sock);
      });
      sock.once('error', (e: NodeJS.ErrnoException) => fail(errnoText(e), e.code === 'ENOTFOUND' || e.code === 'EAI_AGAIN'));
    });
  }

  /** auto_clnt_recover(): drop the connection; the next access reconnects. */
  recover(): void {
    this.stream?.close();
    this.stream = null;
  }

  /**
   * Sends a request (a command line, optionally a data block) and reads one
   * reply line; access() must have succeeded. Failures recover nothing:
   * the caller decides, as Postfix's callers do.
   */
  async request(command: string, data: string | null, bound: number): Promise<Exchange> {
    const s = this.stream!;
    s.ref();
    try {
      const parts = [Buffer.from(`${command}\r\n`, 'latin1')];
      if (data !== null) parts.push(Buffer.from(`${data}\r\n`, 'latin1'));
      s.write(Buffer.concat(parts));
      return this.settle(await s.getLine(bound));
    } finally {
      s.unref();
    }
  }

  /** Reads one more reply line. */
  async readLine(bound: number): Promise<Exchange> {
    const s = this.stream!;
    s.ref();
    try {
      return this.settle(await s.getLine(bound));
    } finally {
      s.unref();
    }
  }

  /** Reads a data block of n bytes and its CRLF; null on failure. */
  async readData(n: number): Promise<string | null> {
    const s = this.stream!;
    s.ref();
    try {
      const r = await s.getData(n);
      if (r === 'time') this.errno = ETIMEDOUT;
      return r === 'time' || r === 'fail' ? null : r.data;
    } finally {
      s.unref();
    }
  }

  private settle(r: { line: string } | 'time' | 'fail'): Exchange {
    if (r === 'time') this.errno = ETIMEDOUT;
    return r === 'time' || r === 'fail' ? { failed: true } : r;
  }

  close(): void {
    this.recover();
  }
}
