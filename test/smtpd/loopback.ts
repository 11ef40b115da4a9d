// Runs this project's smtpd service in the test's own process on
// 127.0.0.1 (an ephemeral port, no network namespace needed) with a
// cleanup that counts what it is sent without keeping it, for tests that
// push large or many sessions through: the memory bounds of BDAT, the CPU
// cost of over-long lines, and the fuzzer. Name lookups fail at once.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { TableCache } from '../../src/address/maps.js';
import { AddressResolver } from '../../src/address/resolve.js';
import type { CleanupResult, CleanupService, CleanupSession } from '../../src/cleanup/api.js';
import { createLogger, memorySink } from '../../src/log/logger.js';
import { createSmtpdService, localConnectionCounter, type SmtpdService } from '../../src/smtpd/service.js';
import { loadWithComputedDefaults } from '../lib/config.js';
import { tempDir } from '../lib/tmp.js';

/** What the counting cleanup saw: sessions opened, finished, aborted, content bytes. */
export interface CleanupCounts {
  opened: number;
  finished: number;
  aborted: number;
  contentBytes: number;
  /** Messages finished with an E record after at least one content record. */
  complete: number;
}

/** A cleanup that keeps counts only, so that its memory does not grow with the mail. */
export class CountingCleanup implements CleanupService {
  readonly counts: CleanupCounts = { opened: 0, finished: 0, aborted: 0, contentBytes: 0, complete: 0 };
  result: CleanupResult = { status: 0, reason: '' };
  private next = 0;

  async open(): Promise<CleanupSession> {
    const c = this.counts;
    c.opened++;
    const queueId = (0x3b0000000 + ++this.next).toString(16).toUpperCase();
    let size = 0;
    let sawEnd = false;
    let sawX = false;
    return {
      queueId,
      record: (type, data) => {
        if (type === 'N' || type === 'L') {
          size += data.length;
          c.contentBytes += data.length;
        }
        if (type === 'X') sawX = true;
        if (type === 'E' && sawX) sawEnd = true;
      },
      get contentSize() {
        return size;
      },
      finish: async () => {
        c.finished++;
        if (sawEnd) c.complete++;
        return this.result;
      },
      abort: async () => {
        c.aborted++;
      },
      abandon: async () => {
        c.aborted++;
      },
    };
  }
}

export interface LoopbackSmtpd {
  port: number;
  logLines: string[];
  cleanup: CountingCleanup;
  service: SmtpdService;
  /** Sessions whose handler is still running. */
  active(): number;
  stop(): Promise<void>;
}

const NO_DNS = {
  reverse: async () => ({ error: 'perm' as const }),
  forward: async () => ({ error: 'perm' as const }),
  records: async () => 'notfound' as const,
};

/**
 * Starts smtpd with main.cf = `mainCf` (plus tables written next to it).
 * keepLine: which log lines to keep (all by default; a long run keeps few).
 */
export async function startLoopbackSmtpd(mainCf: string, files: Record<string, string> = {},
  keepLine: (line: string) => boolean = () => true): Promise<LoopbackSmtpd> {
  const conf = tempDir('smtpd-loop-');
  fs.writeFileSync(path.join(conf, 'main.cf'), mainCf);
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(conf, name), text);
  const config = loadWithComputedDefaults(conf, [['service_name', 'smtp']]);
  const logLines: string[] = [];
  const keep = memorySink(logLines);
  const logger = createLogger({ write: (tag, text) => (keepLine(text) ? keep.write(tag, text) : undefined) }, 'postfix/smtpd');
  const resolver = new AddressResolver(config, { cache: new TableCache(logger, false), log: logger });
  const cleanup = new CountingCleanup();
  const service = createSmtpdService({
    config, serviceName: 'smtp', cleanup, resolver, logger, connectionCounter: localConnectionCounter(),
    hooks: { sleep: async () => undefined, dns: NO_DNS },
  });
  await service.ready;
  let open = 0;
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    open++;
    socket.once('close', () => open--);
    service.handle(socket);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  return {
    port, logLines, cleanup, service,
    active: () => open,
    async stop() {
      await new Promise<void>((r) => server.close(() => r()));
      await service.close();
      await resolver.close();
      fs.rmSync(conf, { recursive: true, force: true });
    },
  };
}

/** Reads CRLF-terminated reply lines from a client socket, one complete reply at a time. */
export class ReplyLines {
  private buf = '';
  private waiters: Array<() => void> = [];
  ended = false;

  constructor(readonly socket: net.Socket) {
    socket.on('data', (d: Buffer) => {
      this.buf += d.toString('latin1');
      this.wake();
    });
    socket.on('close', () => {
      this.ended = true;
      this.wake();
    });
    socket.on('error', () => undefined);
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** The next complete reply (all its lines), or null once the connection closed without one. */
  async next(): Promise<string | null> {
    for (;;) {
      const m = /^(?:\d{3}-[^\n]*\n)*\d{3}(?: [^\n]*)?\r?\n/.exec(this.buf);
      if (m) {
        this.buf = this.buf.slice(m[0].length);
        return m[0];
      }
      if (this.ended) return null;
      await new Promise<void>((r) => this.waiters.push(r));
    }
  }
}

/** Connects to 127.0.0.1:port. */
export function connectLoopback(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => resolve(s));
    s.once('error', reject);
  });
}

/** Writes `total` bytes of `fill` (repeated) honouring the socket's backpressure. */
export async function writeBulk(socket: net.Socket, total: number, fill: Buffer): Promise<void> {
  let left = total;
  while (left > 0) {
    const piece = left >= fill.length ? fill : fill.subarray(0, left);
    left -= piece.length;
    if (!socket.write(piece)) {
      await new Promise<void>((resolve) => {
        const done = () => {
          socket.removeListener('drain', done);
          socket.removeListener('close', done);
          resolve();
        };
        socket.on('drain', done);
        socket.on('close', done);
      });
      if (socket.destroyed) return;
    }
  }
}
