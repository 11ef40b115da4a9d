// A small stand-in for memcached, for tests on machines without it: the
// text protocol's get (one or more keys), set, add, replace, delete and
// flush_all, with expiry times, and the replies memcached 1.6 gives to what
// Postfix's memcache client sends (keys over 250 bytes, unknown commands,
// data blocks of the wrong length). Listens on 127.0.0.1 or a UNIX socket
// only. A postmap fixture suite that holds a `memcached.txt` file (one line:
// the port) gets one of these on that port while it is replayed.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';

const MAX_KEY = 250;
const CLIENT_ERROR_FORMAT = 'CLIENT_ERROR bad command line format';

interface Item {
  flags: string;
  data: Buffer;
  /** ms since the epoch; 0 means never. */
  expires: number;
}

export interface FakeMemcached {
  /** "127.0.0.1:PORT" or the socket path. */
  readonly address: string;
  readonly port: number;
  /** Every command line received, in order (tests look at what the client sent). */
  readonly commands: string[];
  readonly items: Map<string, Item>;
  /** Replaces the reply to the next matching command line (tests of odd servers). */
  script: ((line: string, sock: net.Socket) => boolean) | null;
  close(): Promise<void>;
}

/** memcached's exptime: 0 never, up to 30 days relative, above that a UNIX time; negative is already expired. */
function expiry(exptime: number): number {
  if (exptime === 0) return 0;
  if (exptime < 0) return 1;
  if (exptime <= 60 * 60 * 24 * 30) return Date.now() + exptime * 1000;
  return exptime * 1000;
}

function live(items: Map<string, Item>, key: string): Item | undefined {
  const it = items.get(key);
  if (it && it.expires !== 0 && it.expires <= Date.now()) {
    items.delete(key);
    return undefined;
  }
  return it;
}

/** Starts a server on 127.0.0.1:port (0 picks a free port) or on a UNIX socket path. */
export function startFakeMemcached(where: number | string = 0): Promise<FakeMemcached> {
  const items = new Map<string, Item>();
  const commands: string[] = [];
  const sockets = new Set<net.Socket>();
  const state: { script: FakeMemcached['script'] } = { script: null };

  const server = net.createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => undefined);
    let buf = Buffer.alloc(0);
    /** A storage command waiting for its data block. */
    let pending: { verb: string; key: string; flags: string; exptime: number; bytes: number; bad: boolean } | null = null;
    const reply = (text: string) => sock.write(`${text}\r\n`);

    const command = (line: string) => {
      commands.push(line);
      if (state.script?.(line, sock)) return;
      const words = line.split(' ').filter((w) => w !== '');
      const verb = words[0] ?? '';
      if (verb === 'get' || verb === 'gets') {
        if (words.length < 2 || words.slice(1).some((k) => k.length > MAX_KEY)) return reply(CLIENT_ERROR_FORMAT);
        let out = '';
        for (const key of words.slice(1)) {
          const it = live(items, key);
          if (it) out += `VALUE ${key} ${it.flags} ${it.data.length}\r\n${it.data.toString('latin1')}\r\n`;
        }
        sock.write(Buffer.from(`${out}END\r\n`, 'latin1'));
      } else if (verb === 'set' || verb === 'add' || verb === 'replace') {
        const [, key = '', flags = '', exptime = '', bytes = ''] = words;
        if (words.length < 5 || !/^[0-9]+$/.test(bytes) || !/^[0-9]+$/.test(flags) || !/^-?[0-9]+$/.test(exptime)) {
          return reply('ERROR');
        }
        pending = { verb, key, flags, exptime: Number(exptime), bytes: Number(bytes), bad: key.length > MAX_KEY };
        if (pending.bad) {
          // memcached answers at once and then skips the data block.
          reply(CLIENT_ERROR_FORMAT);
        }
      } else if (verb === 'delete') {
        const key = words[1] ?? '';
        if (words.length < 2 || key.length > MAX_KEY) return reply(CLIENT_ERROR_FORMAT);
        reply(live(items, key) && items.delete(key) ? 'DELETED' : 'NOT_FOUND');
      } else if (verb === 'flush_all') {
        items.clear();
        reply('OK');
      } else if (verb === 'quit') {
        sock.end();
      } else {
        reply('ERROR');
      }
    };

    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        if (pending) {
          if (buf.length < pending.bytes + 2) return;
          const data = Buffer.from(buf.subarray(0, pending.bytes));
          const ok = buf[pending.bytes] === 0x0d && buf[pending.bytes + 1] === 0x0a;
          buf = buf.subarray(pending.bytes + 2);
          const p = pending;
          pending = null;
          if (p.bad) continue;
          if (!ok) {
            reply('CLIENT_ERROR bad data chunk');
            continue;
          }
          const exists = live(items, p.key) !== undefined;
          if ((p.verb === 'add' && exists) || (p.verb === 'replace' && !exists)) {
            reply('NOT_STORED');
            continue;
          }
          items.set(p.key, { flags: p.flags, data, expires: expiry(p.exptime) });
          reply('STORED');
          continue;
        }
        const nl = buf.indexOf(0x0a);
        if (nl < 0) return;
        let line = buf.subarray(0, nl);
        buf = buf.subarray(nl + 1);
        if (line.length && line[line.length - 1] === 0x0d) line = line.subarray(0, -1);
        command(line.toString('latin1'));
      }
    });
  });

  return new Promise((resolve, reject) => {
    server.once('error', reject);
    const onListen = () => {
      const addr = server.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      resolve({
        address: typeof where === 'string' ? where : `127.0.0.1:${port}`,
        port,
        commands,
        items,
        get script() {
          return state.script;
        },
        set script(f) {
          state.script = f;
        },
        close: () =>
          new Promise<void>((done) => {
            for (const s of sockets) s.destroy();
            server.close(() => done());
          }),
      });
    };
    if (typeof where === 'string') server.listen(where, onListen);
    else server.listen(where, '127.0.0.1', onListen);
  });
}

/** The file in a fixture suite naming the port its memcache tables use. */
export const SUITE_MEMCACHED_FILE = 'memcached.txt';

/**
 * Starts a fake memcached for a fixture suite that asks for one; the
 * returned function stops it. When the port is already taken (a real
 * memcached, as when recording) that server is used instead.
 */
export async function startSuiteMemcached(suiteDir: string): Promise<() => Promise<void>> {
  const file = path.join(suiteDir, SUITE_MEMCACHED_FILE);
  if (!fs.existsSync(file)) return async () => undefined;
  const port = Number(fs.readFileSync(file, 'utf8').trim());
  try {
    const server = await startFakeMemcached(port);
    return () => server.close();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EADDRINUSE') return async () => undefined;
    throw e;
  }
}
