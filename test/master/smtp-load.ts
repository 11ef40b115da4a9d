// A small SMTP load generator for the daemon tests and benchmarks: N
// concurrent sessions, each sending messages of a given size until it has
// sent its share (or is told to stop, or the server goes away), MAIL, RCPT
// and DATA pipelined as smtp-source does with PIPELINING. Every message
// carries a unique token in its Subject, and every "250 ... queued as QID"
// is reported with its token, so a test can later find the message in the
// queue. Only for use inside a private network namespace.
import * as net from 'node:net';

export interface LoadOptions {
  host?: string;
  port: number;
  sessions: number;
  /** Messages per session; Infinity: until stopped. */
  messagesPerSession: number;
  /** Approximate message size in bytes. */
  size?: number;
  from?: string;
  to?: string;
  /** Send every message on its own connection (as smtp-source does by default). */
  connectionPerMessage?: boolean;
  /** Polled between messages. */
  stop?: () => boolean;
}

export interface Acked {
  queueId: string;
  token: string;
}

export interface LoadResult {
  acked: Acked[];
  /** Sessions that ended on a connection error or an unexpected reply. */
  failures: number;
  elapsedMs: number;
}

/** Reads whole SMTP replies ("250-..." lines up to "250 ...") from a socket. */
export class ReplyReader {
  private buf = '';
  private waiting: Array<(r: string | null) => void> = [];
  private replies: string[] = [];
  private closed = false;

  constructor(socket: net.Socket) {
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      this.buf += d;
      for (;;) {
        const m = /^(?:\d{3}-[^\n]*\n)*\d{3}(?: [^\n]*)?\n/.exec(this.buf);
        if (!m) break;
        this.buf = this.buf.slice(m[0].length);
        this.push(m[0]);
      }
    });
    const end = () => {
      this.closed = true;
      for (const w of this.waiting.splice(0)) w(null);
    };
    socket.on('close', end);
    socket.on('error', end);
  }

  private push(reply: string): void {
    const w = this.waiting.shift();
    if (w) w(reply);
    else this.replies.push(reply);
  }

  next(): Promise<string | null> {
    const r = this.replies.shift();
    if (r !== undefined) return Promise.resolve(r);
    if (this.closed) return Promise.resolve(null);
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  /** The next reply, or 'timeout' when none comes within ms. */
  within(ms: number): Promise<string | null | 'timeout'> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        const i = this.waiting.indexOf(take);
        if (i >= 0) this.waiting.splice(i, 1);
        resolve('timeout');
      }, ms);
      const take = (r: string | null) => {
        clearTimeout(timer);
        resolve(r);
      };
      const ready = this.replies.shift();
      if (ready !== undefined) take(ready);
      else if (this.closed) take(null);
      else this.waiting.push(take);
    });
  }
}

/** A connected socket, or null when the connection failed. */
export function connect(host: string, port: number): Promise<net.Socket | null> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    s.once('connect', () => resolve(s));
    s.once('error', () => resolve(null));
  });
}

/** A message of about size bytes with token as its Subject, ending in "." */
export function body(token: string, size: number): string {
  const head = `From: <load@example.org>\r\nTo: <load@example.org>\r\nSubject: ${token}\r\nMessage-Id: <${token}@example.org>\r\n\r\n`;
  const line = 'abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789\r\n';
  const lines = Math.max(1, Math.ceil((size - head.length) / line.length));
  return `${head}${line.repeat(lines)}.\r\n`;
}

const QUEUED = /^250 2\.0\.0 Ok: queued as (\S+)\r?\n$/;

interface Session {
  socket: net.Socket;
  reader: ReplyReader;
}

async function open(host: string, port: number): Promise<Session | null> {
  const socket = await connect(host, port);
  if (!socket) return null;
  socket.on('error', () => undefined);
  const reader = new ReplyReader(socket);
  if (!(await reader.next())?.startsWith('220')) return null;
  socket.write('EHLO load.example.org\r\n');
  if (!(await reader.next())?.startsWith('250')) return null;
  return { socket, reader };
}

/** One message: true when it was queued (and reported). */
async function sendOne(s: Session, opts: LoadOptions, token: string, acked: Acked[]): Promise<boolean> {
  const from = opts.from ?? 'load@example.org';
  const to = opts.to ?? 'root@mx.example.com';
  s.socket.write(`MAIL FROM:<${from}>\r\nRCPT TO:<${to}>\r\nDATA\r\n`);
  const replies = [await s.reader.next(), await s.reader.next(), await s.reader.next()];
  if (!replies[2]?.startsWith('354')) return false;
  s.socket.write(body(token, opts.size ?? 1024));
  const m = QUEUED.exec((await s.reader.next()) ?? '');
  if (!m) return false;
  acked.push({ queueId: m[1]!, token });
  return true;
}

async function session(index: number, opts: LoadOptions, acked: Acked[]): Promise<boolean> {
  const host = opts.host ?? '127.0.0.1';
  let s: Session | null = null;
  try {
    for (let n = 0; n < opts.messagesPerSession && !opts.stop?.(); n++) {
      if (!s) s = await open(host, opts.port);
      if (!s) return false;
      if (!(await sendOne(s, opts, `load-${index}-${n}`, acked))) return false;
      if (opts.connectionPerMessage) {
        s.socket.write('QUIT\r\n');
        await s.reader.next();
        s.socket.destroy();
        s = null;
      }
    }
    if (s) {
      s.socket.write('QUIT\r\n');
      await s.reader.next();
    }
    return true;
  } finally {
    s?.socket.destroy();
  }
}

/** Runs the sessions to the end; the failures are counted, not thrown. */
export async function runLoad(opts: LoadOptions): Promise<LoadResult> {
  const acked: Acked[] = [];
  const t0 = process.hrtime.bigint();
  const outcomes = await Promise.all(Array.from({ length: opts.sessions }, (_, i) => session(i, opts, acked)));
  return { acked, failures: outcomes.filter((ok) => !ok).length, elapsedMs: Number(process.hrtime.bigint() - t0) / 1e6 };
}
