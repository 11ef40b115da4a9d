// Mirrors Postfix's util/dict_sockmap.c: socketmap:inet:host:port:name or
// socketmap:unix:/path:name, the Sendmail socketmap protocol. A query is the
// netstring "name key"; the reply is the netstring "OK value", "NOTFOUND ",
// or "TEMP|TIMEOUT|PERM reason". One connection per server endpoint is
// kept open between lookups (closed after 10 s idle or 100 s in all), and a
// connection that the server dropped is retried once. Timeouts are 100 s.
// The small stream client here is shared with tcp: tables.
import { connect as netConnect, type Socket } from 'node:net';
import type { MsgLog } from '../util/msg.js';
import { errnoText } from '../util/errno.js';
import {
  type Dict, type DictOpener, type LookupResult, NOT_FOUND, found, lookupError, surrogateDict,
  O_RDONLY, DICT_FLAG_PATTERN, DICT_FLAG_NO_UNAUTH, DICT_FLAG_FOLD_MUL, STDERR_DICT_ENV,
} from './dict.js';
import { asciiLower, fromBytes, toBytes } from './pattern-common.js';

/** Why a stream operation failed: 'eof', 'time' (timeout), 'format', 'size', or a connect error text. */
export class StreamError extends Error {
  constructor(readonly kind: 'eof' | 'time' | 'format' | 'size' | 'connect', message: string) {
    super(message);
  }
}

/** A byte stream to a server with buffered reads and a time limit per operation. */
export class StreamClient {
  private buf: Buffer = Buffer.alloc(0);
  private ended = false;
  private waiter: (() => void) | null = null;
  readonly openedAt = Date.now();

  private constructor(private readonly sock: Socket, private readonly timeoutMs: number) {
    sock.on('data', (d: Buffer) => {
      this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
      this.wake();
    });
    sock.on('end', () => {
      this.ended = true;
      this.wake();
    });
    sock.on('error', () => {
      this.ended = true;
      this.wake();
    });
    sock.on('close', () => {
      this.ended = true;
      this.wake();
    });
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }

  /** Connects to "host:port" (inet) or a socket path (unix), within the time limit. */
  static connect(transport: 'inet' | 'unix', endpoint: string, timeoutMs: number): Promise<StreamClient> {
    return new Promise((resolve, reject) => {
      let sock: Socket;
      if (transport === 'unix') {
        sock = netConnect({ path: endpoint });
      } else {
        const colon = endpoint.lastIndexOf(':');
        const host = endpoint.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
        sock = netConnect({ host: host || 'localhost', port: Number(endpoint.slice(colon + 1)) });
      }
      const timer = setTimeout(() => {
        sock.destroy();
        reject(new StreamError('connect', 'Connection timed out'));
      }, timeoutMs);
      sock.once('connect', () => {
        clearTimeout(timer);
        sock.removeAllListeners('error');
        // An idle connection must not keep a command from exiting; a read in
        // progress keeps the process alive through its own timer.
        sock.unref();
        resolve(new StreamClient(sock, timeoutMs));
      });
      sock.once('error', (e: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(new StreamError('connect', errnoText(e)));
      });
    });
  }

  write(data: Buffer): void {
    this.sock.write(data);
  }

  /** Waits until at least `n` bytes are buffered; false at end of stream. */
  private async fill(n: number): Promise<boolean> {
    const deadline = Date.now() + this.timeoutMs;
    while (this.buf.length < n) {
      if (this.ended) return false;
      const left = deadline - Date.now();
      if (left <= 0) throw new StreamError('time', 'time limit exceeded');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
    return true;
  }

  private take(n: number): Buffer {
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }

  /** netstring_get(): "len:data," with a size limit. */
  async readNetstring(limit: number): Promise<Buffer> {
    let len = 0;
    for (;;) {
      if (!(await this.fill(1))) throw new StreamError('eof', 'unexpected disconnect');
      const ch = this.take(1)[0]!;
      if (ch === 0x3a) break;
      if (ch < 0x30 || ch > 0x39) throw new StreamError('format', 'input format error');
      len = len * 10 + (ch - 0x30);
      if (len > Number.MAX_SAFE_INTEGER / 10) throw new StreamError('size', 'input exceeds size limit');
    }
    if (limit > 0 && len > limit) throw new StreamError('size', 'input exceeds size limit');
    if (!(await this.fill(len + 1))) throw new StreamError('eof', 'unexpected disconnect');
    const data = Buffer.from(this.take(len));
    if (this.take(1)[0] !== 0x2c) throw new StreamError('format', 'input format error');
    return data;
  }

  /** One line without its newline; `bounded` is true when the limit cut it short. */
  async readLine(limit: number): Promise<{ line: Buffer; eof: boolean; bounded: boolean }> {
    for (;;) {
      const nl = this.buf.indexOf(0x0a);
      if (nl >= 0 && nl < limit) {
        const line = Buffer.from(this.take(nl + 1).subarray(0, nl));
        return { line, eof: false, bounded: false };
      }
      if (this.buf.length >= limit) return { line: Buffer.from(this.take(limit)), eof: false, bounded: true };
      if (!(await this.fill(this.buf.length + 1))) return { line: Buffer.from(this.take(this.buf.length)), eof: true, bounded: false };
    }
  }

  get closed(): boolean {
    return this.ended;
  }

  close(): void {
    this.sock.destroy();
  }
}

const TIMEOUT_MS = 100_000;
const MAX_REPLY = 100_000;
const MAX_IDLE_MS = 10_000;
const MAX_TTL_MS = 100_000;

/** One shared, reference-counted connection per "transport:endpoint". */
class Endpoint {
  refs = 0;
  private client: StreamClient | null = null;
  private idleTimer: NodeJS.Timeout | null = null;

  constructor(readonly transport: 'inet' | 'unix', readonly endpoint: string) {}

  /** auto_clnt_access(): the open stream, connecting when needed; log: the asking table's. */
  async access(log: MsgLog): Promise<StreamClient> {
    if (this.client && (this.client.closed || Date.now() - this.client.openedAt > MAX_TTL_MS)) this.recover();
    if (!this.client) {
      try {
        this.client = await StreamClient.connect(this.transport, this.endpoint, TIMEOUT_MS);
      } catch (e) {
        log.warning(`connect to ${this.endpoint}: ${(e as Error).message}`);
        throw e;
      }
    }
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => this.recover(), MAX_IDLE_MS);
    this.idleTimer.unref();
    return this.client;
  }

  recover(): void {
    this.client?.close();
    this.client = null;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
  }
}

const endpoints = new Map<string, Endpoint>();

class SocketmapDict implements Dict {
  readonly type = 'socketmap';
  constructor(readonly name: string, public flags: number, private readonly mapName: string, private readonly ep: Endpoint, private readonly epKey: string, private readonly log: MsgLog) {}

  async lookup(key: string): Promise<LookupResult> {
    const k = this.flags & DICT_FLAG_FOLD_MUL ? asciiLower(key) : key;
    let reply: string;
    for (let attempt = 0; ; attempt++) {
      let client: StreamClient;
      try {
        client = await this.ep.access(this.log);
      } catch (e) {
        this.log.warning(`table socketmap:${this.name} lookup error: ${(e as Error).message}`);
        return lookupError('retry');
      }
      try {
        const query = Buffer.from(toBytes(`${this.mapName} ${k}`), 'latin1');
        client.write(Buffer.concat([Buffer.from(`${query.length}:`), query, Buffer.from(',')]));
        reply = (await client.readNetstring(MAX_REPLY)).toString('latin1');
        break;
      } catch (e) {
        const err = e as StreamError;
        this.ep.recover();
        if (attempt === 0 && err.kind === 'eof') continue;
        this.log.warning(`table socketmap:${this.name} lookup error: ${err.message}`);
        return lookupError('retry');
      }
    }
    return this.parseReply(reply);
  }

  private parseReply(reply: string): LookupResult {
    const space = reply.indexOf(' ');
    const status = space < 0 ? reply : reply.slice(0, space);
    const payload = space < 0 ? null : reply.slice(space + 1);
    if (status === 'OK') return payload === null ? NOT_FOUND : found(fromBytes(payload));
    if (status === 'NOTFOUND') return NOT_FOUND;
    const kind = status === 'TEMP' ? 'temporary' : status === 'TIMEOUT' ? 'timeout' : status === 'PERM' ? 'permanent' : 'unknown';
    const reason = (payload ?? '').replace(/^[ \t\n\r\v\f]+/, '');
    const shown = reason.replace(/[^\x20-\x7e]/g, '?').slice(0, 200);
    this.log.warning(`socketmap:${this.name} socketmap server ${kind} error${reason ? ': ' : ''}${shown}`);
    return lookupError(status === 'PERM' ? 'config' : 'retry');
  }

  close(): void {
    if (--this.ep.refs === 0) {
      this.ep.recover();
      endpoints.delete(this.epKey);
    }
  }
}

export const open: DictOpener = (name, openFlags, dictFlags, env = STDERR_DICT_ENV) => {
  if (openFlags !== O_RDONLY) return surrogateDict('socketmap', name, dictFlags, `socketmap:${name} map requires O_RDONLY access mode`);
  if (dictFlags & DICT_FLAG_NO_UNAUTH) {
    return surrogateDict('socketmap', name, dictFlags, `socketmap:${name} map is not allowed for security-sensitive data`);
  }
  const last = name.lastIndexOf(':');
  if (last < 0) return surrogateDict('socketmap', name, dictFlags, 'socketmap requires server:socketmap argument');
  const service = name.slice(0, last);
  const mapName = name.slice(last + 1);
  const colon = service.indexOf(':');
  const transport = colon < 0 ? '' : service.slice(0, colon);
  const endpoint = colon < 0 ? '' : service.slice(colon + 1);
  if (colon < 0 || transport === '' || endpoint === '') {
    return surrogateDict('socketmap', name, dictFlags, `need service transport:endpoint instead of "${service}"`);
  }
  if (transport !== 'inet' && transport !== 'unix' && transport !== 'local') {
    return surrogateDict('socketmap', name, dictFlags, `invalid transport name: ${transport} in service: ${service}`);
  }
  let ep = endpoints.get(service);
  if (!ep) {
    ep = new Endpoint(transport === 'inet' ? 'inet' : 'unix', endpoint);
    endpoints.set(service, ep);
  }
  ep.refs++;
  return new SocketmapDict(name, dictFlags | DICT_FLAG_PATTERN, mapName, ep, service, env.log);
};
