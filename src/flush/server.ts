// Mirrors the protocol half of Postfix's flush/flush.c (flush_service and
// flush_request_receive): on each connection to public/flush the server
// names its protocol, then reads either a short trigger (the master's
// one-byte wake-up, string-and-NUL form) or an attribute list that begins
// with "request", runs the request (./service.ts) and answers with a
// status; refresh and purge are answered before the work starts. Requests
// run one at a time, in the order they arrive. Touches nothing itself.
import type { Socket } from 'node:net';
import type { MailLogger } from '../log/logger.js';
import {
  FLUSH_REQ_ADD, FLUSH_REQ_PURGE, FLUSH_REQ_REFRESH, FLUSH_REQ_SEND_FILE, FLUSH_REQ_SEND_SITE, FLUSH_STAT_BAD,
  FLUSH_STAT_OK, MAIL_ATTR_PROTO_FLUSH, attrGroups, attrPrint0,
} from '../queue/flush-client.js';
import { mailQueueIdOk } from '../queue/queue-id.js';
import { FlushFatal, type FlushService, UNTHROTTLE_BEFORE } from './service.js';

/** ipc_timeout's default, in ms: how long a client may take to send its request. */
const IPC_TIMEOUT_MS = 3600_000;

/** A parsed request: its name and the attributes after "request", in order. */
interface Request {
  name: string;
  attrs: Array<[string, string]>;
}

/** Reads "name\0value\0...\0" into ordered pairs; null when the group is not complete. */
function orderedGroup(text: string): Array<[string, string]> | null {
  if (!attrGroups(text).groups.length) return null;
  const pairs: Array<[string, string]> = [];
  const parts = text.split('\0');
  for (let i = 0; i + 1 < parts.length && parts[i] !== ''; i += 2) pairs.push([parts[i]!, parts[i + 1]!]);
  return pairs;
}

/** attr_scan(ATTR_FLAG_STRICT) of exactly these names, in this order; null on a mismatch. */
function expect(attrs: Array<[string, string]>, names: string[]): string[] | null {
  if (attrs.length !== names.length) return null;
  const values: string[] = [];
  for (let i = 0; i < names.length; i++) {
    if (attrs[i]![0] !== names[i]) return null;
    values.push(attrs[i]![1]);
  }
  return values;
}

export class FlushServer {
  private queue: Promise<void> = Promise.resolve();

  constructor(
    private service: FlushService,
    private log: MailLogger,
    /** Called after a failure that ends Postfix's flush process (it is logged already). */
    private readonly onFatal: (text: string) => void = () => undefined,
  ) {}

  /** A reload: the new configuration's service and logger. */
  configure(service: FlushService, log: MailLogger): void {
    this.service = service;
    this.log = log;
  }

  /** One client connection. */
  connection(sock: Socket): void {
    sock.on('error', () => sock.destroy());
    sock.setTimeout(IPC_TIMEOUT_MS, () => {
      this.log.warning('timeout while waiting for data from public/flush socket');
      sock.destroy();
    });
    sock.write(attrPrint0([['protocol', MAIL_ATTR_PROTO_FLUSH]]));
    let data = '';
    let first = true;
    let short = false;
    let taken = false;
    const take = (req: Request | null) => {
      if (taken) return;
      taken = true;
      sock.setTimeout(0);
      this.run(() => this.answer(sock, req));
    };
    sock.on('data', (chunk: Buffer) => {
      data += chunk.toString('latin1');
      if (first) {
        first = false;
        short = chunk.length <= 2;
      }
      if (short) {
        const nul = data.indexOf('\0');
        if (nul >= 0) take({ name: data.slice(0, nul), attrs: [] });
        return;
      }
      const pairs = orderedGroup(data);
      if (pairs === null) return;
      if (!pairs.length || pairs[0]![0] !== 'request') return take(null);
      take({ name: pairs[0]![1], attrs: pairs.slice(1) });
    });
    sock.on('end', () => {
      if (short && data !== '') take({ name: data, attrs: [] });
      else if (!taken) {
        if (data === '') this.log.warning('end-of-input while reading request from public/flush socket: Success');
        taken = true;
        sock.destroy();
      }
    });
  }

  /** The master's wake-up: a refresh, after the requests before it. */
  wakeup(): void {
    this.run(async () => {
      this.service.refreshOld();
    });
  }

  /** Runs one request after those before it. */
  private run(job: () => Promise<void>): void {
    this.queue = this.queue.then(job).catch((e: unknown) => {
      if (!(e instanceof FlushFatal)) throw e;
      this.log.fatal(e.message);
      this.onFatal(e.message);
    });
  }

  private reply(sock: Socket, status: number): void {
    if (!sock.destroyed) sock.end(attrPrint0([['status', String(status)]]));
  }

  private async answer(sock: Socket, req: Request | null): Promise<void> {
    try {
      await this.serve(sock, req);
    } catch (e) {
      sock.destroy();
      throw e;
    }
  }

  private async serve(sock: Socket, req: Request | null): Promise<void> {
    const svc = this.service;
    if (req === null) return this.reply(sock, FLUSH_STAT_BAD);
    switch (req.name) {
      case FLUSH_REQ_ADD: {
        const v = expect(req.attrs, ['site', 'queue_id']);
        return this.reply(sock, v && mailQueueIdOk(v[1]!) ? await svc.add(v[0]!, v[1]!) : FLUSH_STAT_BAD);
      }
      case FLUSH_REQ_SEND_SITE: {
        const v = expect(req.attrs, ['site']);
        return this.reply(sock, v ? await svc.sendSite(v[0]!, UNTHROTTLE_BEFORE) : FLUSH_STAT_BAD);
      }
      case FLUSH_REQ_SEND_FILE: {
        const v = expect(req.attrs, ['queue_id']);
        return this.reply(sock, v ? svc.sendFile(v[0]!) : FLUSH_STAT_BAD);
      }
      case FLUSH_REQ_REFRESH:
      case 'W':
        this.reply(sock, FLUSH_STAT_OK);
        svc.refreshOld();
        return;
      case FLUSH_REQ_PURGE:
        this.reply(sock, FLUSH_STAT_OK);
        svc.refresh(0);
        return;
      default:
        // An unknown request gets no answer from Postfix's server either.
        sock.end();
    }
  }
}
