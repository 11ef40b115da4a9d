// Test harness for the queue manager: queue files written record by
// record, a fake delivery agent on a unix socket under private/, a fake
// bounce service and status library that record what they are asked,
// a table resolver, and a clock the test moves by hand.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { Config } from '../../src/config/config.js';
import { type DeliveryReply, type DeliveryRequest, decodeRequest, encodeReply } from '../../src/delivery/api.js';
import { createLogger, memorySink } from '../../src/log/logger.js';
import { DEFAULT_LAYOUT, mailQueuePath } from '../../src/queue/layout.js';
import type { TimeVal } from '../../src/queue/queue-file.js';
import { REC_TYPE, formatSizeRecord, formatWarnRecord } from '../../src/queue/rec-type.js';
import { encodeRecord } from '../../src/queue/record.js';
import { appendStatusRecord } from '../../src/queue/status-log.js';
import type { ResolveResult } from '../../src/address/resolve.js';
import { RESOLVE_CLASS_LOCAL } from '../../src/address/resolve.js';
import { SocketAgentClient } from '../../src/qmgr/agent.js';
import { qmgrParams } from '../../src/qmgr/params.js';
import { Qmgr, type QmgrClock } from '../../src/qmgr/qmgr.js';
import type { BounceService, NoticeRequest, QmgrRcptDsn, QmgrStatusContext, StatusOps } from '../../src/qmgr/status.js';
import type { DeliveryRecipient } from '../../src/delivery/api.js';
import { tempDir } from '../lib/tmp.js';

export interface MessageSpec {
  sender?: string;
  recipients: string[];
  /** Arrival and create time (seconds). */
  arrival: number;
  warnTime?: number;
  mode?: number;
  /** File mtime (seconds); default: arrival. */
  mtime?: number;
}

/** Writes a complete queue file as cleanup would. */
export function writeQueueFile(queueDir: string, queue: string, id: string, spec: MessageSpec): string {
  const body = Buffer.concat([encodeRecord(REC_TYPE.NORM, 'Subject: test'), encodeRecord(REC_TYPE.NORM, ''), encodeRecord(REC_TYPE.NORM, 'hello')]);
  const env = [
    encodeRecord(REC_TYPE.TIME, `${spec.arrival} 0`),
    encodeRecord(REC_TYPE.ATTR, `create_time=${spec.arrival}`),
    ...(spec.warnTime !== undefined ? [encodeRecord(REC_TYPE.WARN, formatWarnRecord(spec.warnTime))] : []),
    encodeRecord(REC_TYPE.FROM, spec.sender ?? 'sender@example.org'),
    ...spec.recipients.map((r) => encodeRecord(REC_TYPE.RCPT, r)),
    encodeRecord(REC_TYPE.MESG, formatWarnRecord(0)),
  ];
  const sizeLen = encodeRecord(REC_TYPE.SIZE, formatSizeRecord([0, 0, 0, 0, 0, 0])).length;
  const dataOffset = sizeLen + env.reduce((n, b) => n + b.length, 0);
  const size = encodeRecord(REC_TYPE.SIZE, formatSizeRecord([body.length, dataOffset, spec.recipients.length, 0, body.length, 0]));
  const bytes = Buffer.concat([size, ...env, body, encodeRecord(REC_TYPE.XTRA), encodeRecord(REC_TYPE.END)]);
  const rel = mailQueuePath(DEFAULT_LAYOUT, queue, id);
  const full = path.join(queueDir, rel);
  fs.mkdirSync(path.dirname(full), { recursive: true });
  fs.writeFileSync(full, bytes, { mode: 0o600 });
  fs.chmodSync(full, spec.mode ?? 0o700);
  const t = spec.mtime ?? spec.arrival;
  fs.utimesSync(full, t, t);
  return full;
}

export function queueId(n: number): string {
  return n.toString(16).toUpperCase().padStart(10, '0') + 'A';
}

/** A clock that moves only when told; timers run when their time has come. */
export class TestClock implements QmgrClock {
  private timers: Array<{ at: number; fn: () => void; live: boolean }> = [];
  constructor(public sec: number) {}
  now(): TimeVal {
    return { sec: this.sec, usec: 0 };
  }
  setTimer(fn: () => void, ms: number): () => void {
    const t = { at: this.sec * 1000 + ms, fn, live: true };
    this.timers.push(t);
    return () => {
      t.live = false;
    };
  }
  advance(sec: number): void {
    this.sec += sec;
    const due = this.timers.filter((t) => t.live && t.at <= this.sec * 1000);
    this.timers = this.timers.filter((t) => !due.includes(t));
    for (const t of due) t.fn();
  }
}

export type AgentHandler = (req: DeliveryRequest) => Promise<DeliveryReply> | DeliveryReply;

/** A delivery agent listening on private/<name>, counting requests in flight. */
export class FakeAgent {
  readonly requests: DeliveryRequest[] = [];
  inFlight = 0;
  maxInFlight = 0;
  private server: net.Server;
  ready: Promise<void>;

  constructor(queueDir: string, readonly name: string, public handler: AgentHandler) {
    fs.mkdirSync(path.join(queueDir, 'private'), { recursive: true });
    this.server = net.createServer((s) => this.serve(s));
    this.ready = new Promise((resolve) => this.server.listen(path.join(queueDir, 'private', name), resolve));
  }

  private serve(s: net.Socket): void {
    let buf = '';
    s.on('error', () => undefined);
    s.on('data', (d) => {
      buf += d.toString('utf8');
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const req = decodeRequest(line)!;
        this.requests.push(req);
        this.inFlight++;
        this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
        void Promise.resolve(this.handler(req)).then((reply) => {
          this.inFlight--;
          s.write(encodeReply(reply) + '\n');
        });
      }
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

export class FakeBounce implements BounceService {
  readonly calls: Array<{ op: string; req: NoticeRequest }> = [];
  status = 0;
  constructor(readonly queueDir: string) {}
  private call(op: string, req: NoticeRequest): Promise<number> {
    this.calls.push({ op, req });
    return Promise.resolve(this.status);
  }
  flushBounces(req: NoticeRequest): Promise<number> {
    if (this.status === 0) fs.rmSync(path.join(this.queueDir, mailQueuePath(DEFAULT_LAYOUT, 'bounce', req.queueId)), { force: true });
    return this.call('flushBounces', req);
  }
  flushDefers(req: NoticeRequest): Promise<number> {
    return this.call('flushDefers', req);
  }
  warnDelayed(req: NoticeRequest): Promise<number> {
    return this.call('warnDelayed', req);
  }
  flushTrace(req: NoticeRequest): Promise<number> {
    return this.call('flushTrace', req);
  }
  ops(): string[] {
    return this.calls.map((c) => `${c.op} ${c.req.queueId}`);
  }
}

/** Writes the defer log and a log line, as the status library would (delays left out). */
export class FakeStatus implements StatusOps {
  readonly deferred: Array<{ id: string; address: string; relay: string; dsn: QmgrRcptDsn }> = [];
  async deferRecipient(ctx: QmgrStatusContext, rcpt: DeliveryRecipient, relay: string, dsn: QmgrRcptDsn): Promise<number> {
    this.deferred.push({ id: ctx.queueId, address: rcpt.address, relay, dsn });
    await appendStatusRecord(ctx.queueDir, ctx.layout, 'defer', ctx.queueId, { address: rcpt.address, offset: rcpt.offset },
      { status: dsn.status, action: 'delayed', reason: dsn.reason });
    ctx.log.info(`${ctx.queueId}: to=<${rcpt.address}>, relay=${relay}, dsn=${dsn.status}, status=deferred (${dsn.reason})`);
    return 1;
  }
  sentRecipient(ctx: QmgrStatusContext, rcpt: DeliveryRecipient, relay: string, dsn: QmgrRcptDsn): Promise<number> {
    ctx.log.info(`${ctx.queueId}: to=<${rcpt.address}>, relay=${relay}, dsn=${dsn.status}, status=sent (${dsn.reason})`);
    return Promise.resolve(0);
  }
}

/** Resolves user@domain: local.test goes to local, other domains to smtp (a table can override the transport). */
export function tableResolver(transports: Record<string, string> = {}) {
  return {
    resolve(address: string): Promise<ResolveResult> {
      const domain = address.slice(address.lastIndexOf('@') + 1).toLowerCase();
      if (domain === 'local.test') return Promise.resolve({ transport: 'local', nexthop: 'local.test', recipient: address, flags: RESOLVE_CLASS_LOCAL });
      return Promise.resolve({ transport: transports[domain] ?? 'smtp', nexthop: domain, recipient: address, flags: 0 });
    },
  };
}

export interface Harness {
  dir: string;
  qmgr: Qmgr;
  clock: TestClock;
  bounce: FakeBounce;
  status: FakeStatus;
  lines: string[];
  /** Resolves with the outcome of each of these messages. */
  outcomes(ids: string[]): Promise<Map<string, string>>;
}

export function harness(
  settings: Array<[string, string]> = [],
  opts: { dir?: string; transports?: Record<string, string>; agentLimit?: (transport: string) => number } = {},
): Harness {
  const dir = opts.dir ?? tempDir('qmgr-test-');
  const config = Config.fromEntries(dir, settings);
  const lines: string[] = [];
  const log = createLogger(memorySink(lines), 'postfix/qmgr', 4242);
  const clock = new TestClock(Math.floor(Date.now() / 1000) + 2);
  const bounce = new FakeBounce(dir);
  const status = new FakeStatus();
  const qmgr = new Qmgr({
    queueDir: dir, layout: DEFAULT_LAYOUT, config, params: qmgrParams(config), resolver: tableResolver(opts.transports),
    agents: new SocketAgentClient(dir), bounce, status, log, clock, agentLimit: opts.agentLimit,
  });
  const seen = new Map<string, string>();
  const waiters: Array<() => void> = [];
  qmgr.on('done', (id: string, outcome: string) => {
    seen.set(id, outcome);
    for (const w of waiters.splice(0)) w();
  });
  const outcomes = (ids: string[]) =>
    new Promise<Map<string, string>>((resolve) => {
      const check = () => {
        if (ids.every((id) => seen.has(id))) resolve(new Map(ids.map((id) => [id, seen.get(id)!])));
        else waiters.push(check);
      };
      check();
    });
  return { dir, qmgr, clock, bounce, status, lines, outcomes };
}

/** The path of a queue file. */
export function queuePath(dir: string, queue: string, id: string): string {
  return path.join(dir, mailQueuePath(DEFAULT_LAYOUT, queue, id));
}
