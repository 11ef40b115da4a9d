// The agent side of the queue manager's delivery protocol (./api.ts), as
// Postfix's global/deliver_request.c (deliver_request_read, _done) and the
// per-request part of its agents' main loops: read one request line, open
// the message's queue file for reading and done marks, let the agent do its
// per-recipient work with a StatusContext (queue/delivery-status.ts), write
// one reply line, close the file; then the next request on the same
// connection. A line that is not a request, or one longer than
// MAX_LINE_BYTES, ends the connection with a warning. A queue file that
// cannot be opened defers the request (Postfix's agents exit fatally there,
// which qmgr sees as a deferral). A peer that goes away mid-request does
// not cut the delivery short; its reply is dropped. State lives on one
// AgentConnection per socket. Touches the queue files of its requests.
import type { QueueHandle } from '../queue/handle.js';
import type { Socket } from 'node:net';
import type { Config } from '../config/config.js';
import { ConfigError } from '../config/config.js';
import type { MailLogger } from '../log/logger.js';
import { type StatusContext } from '../queue/delivery-status.js';
import { type QueueLayout, layoutFromConfig } from '../queue/layout.js';
import { openQueueFile } from '../queue/ops.js';
import { FlushClient } from '../queue/flush-client.js';
import type { TimeVal } from '../queue/queue-file.js';
import { errnoText } from '../util/errno.js';
import {
  DEL_STAT_DEFER, DEL_STAT_FINAL, type DeliveryRecipient, type DeliveryReply, type DeliveryRequest,
  MAX_LINE_BYTES, decodeRequest, encodeReply,
} from './api.js';

/** What every request of an agent process shares: its logger and the settings of its status calls. */
export interface AgentOptions {
  log: MailLogger;
  /** queue_directory. */
  queueDir: string;
  layout: QueueLayout;
  softBounce: boolean;
  oldlogCompat: boolean;
  delayMaxRes: number;
  infoLogAddressFormat: string;
  /** The clock of the log lines (tests fix it). */
  now?: () => TimeVal;
  /** The fast flush service, told of deferred recipients (absent in tests that do not need it). */
  flush?: FlushClient;
  /** flush_service_name. */
  flushService?: string;
}

/** The options from the agent's configuration (main.cf with its service's -o settings). Throws ConfigError. */
export function agentOptions(config: Config, log: MailLogger): AgentOptions {
  const layout = layoutFromConfig(config);
  if ('error' in layout) throw new ConfigError(layout.error);
  const form = config.get('info_log_address_format');
  if (form !== 'external' && form !== 'internal') {
    throw new ConfigError(`invalid parameter setting "info_log_address_format = ${form}"`);
  }
  return {
    log,
    queueDir: config.get('queue_directory'),
    layout,
    softBounce: config.getBool('soft_bounce'),
    oldlogCompat: config.getBool('backwards_bounce_logfile_compatibility'),
    delayMaxRes: config.getInt('delay_logging_resolution_limit'),
    infoLogAddressFormat: form,
    flush: FlushClient.deferred(config, (t) => log.warning(t), log),
    flushService: config.get('flush_service_name'),
  };
}

/** One request being served: what the agent's handler gets. */
export interface AgentDelivery {
  request: DeliveryRequest;
  /** For sentRecipient, bounceRecipient and deferRecipient; its fh is the open queue file. */
  status: StatusContext;
  /** The open queue file (read it from request.dataOffset for the message). */
  fh: QueueHandle;
  log: MailLogger;
}

/** An agent's work on one request. */
export type AgentHandler = (delivery: AgentDelivery) => Promise<DeliveryReply>;

/** The status context of one request. */
export function statusContext(opts: AgentOptions, request: DeliveryRequest, fh?: QueueHandle): StatusContext {
  return {
    queueDir: opts.queueDir, layout: opts.layout, log: opts.log, queueName: request.queueName, queueId: request.queueId,
    stats: request.stats, flags: request.flags, fh, softBounce: opts.softBounce, oldlogCompat: opts.oldlogCompat,
    delayMaxRes: opts.delayMaxRes, infoLogAddressFormat: opts.infoLogAddressFormat, ...(opts.now ? { now: opts.now } : {}),
    ...(opts.flush ? { flush: opts.flush, flushService: opts.flushService } : {}),
  };
}

/**
 * Runs fn for each recipient in turn and folds the statuses: DEL_STAT_DEFER
 * when any recipient was deferred (or its bookkeeping failed).
 */
export async function deliverEach(
  delivery: AgentDelivery, fn: (rcpt: DeliveryRecipient, index: number) => Promise<number>,
): Promise<DeliveryReply> {
  let status = DEL_STAT_FINAL;
  const rcpts = delivery.request.recipients;
  for (let i = 0; i < rcpts.length; i++) status |= await fn(rcpts[i]!, i);
  return { status: status === DEL_STAT_FINAL ? DEL_STAT_FINAL : DEL_STAT_DEFER };
}

/** Checks a request as error(8) and discard(8) do before it touches a recipient; the text of a refusal, or null. */
export function checkTrivialRequest(delivery: AgentDelivery): string | null {
  const { request } = delivery;
  if (request.nexthop === '') return 'empty nexthop hostname';
  if (request.recipients.length <= 0) return `recipient count: ${request.recipients.length}`;
  return null;
}

/** One request on a file it could open: the handler's reply, or a deferral when the handler failed. */
async function serveRequest(opts: AgentOptions, handler: AgentHandler, request: DeliveryRequest): Promise<DeliveryReply> {
  const { log } = opts;
  const opened = await openQueueFile(opts.queueDir, opts.layout, request.queueName, request.queueId, 'r+');
  if ('code' in opened) {
    log.warning(`${request.queueId}: open ${request.queueName} ${request.queueId}: ${errnoText(opened.error)}`);
    return { status: DEL_STAT_DEFER };
  }
  const { fh } = opened;
  try {
    return await handler({ request, status: statusContext(opts, request, fh), fh, log });
  } catch (e) {
    // A bug in an agent must not lose the message: it stays in the queue.
    log.warning(`${request.queueId}: delivery failed: ${(e as Error).message}`);
    return { status: DEL_STAT_DEFER };
  } finally {
    await fh.close().catch((e: NodeJS.ErrnoException) => log.warning(`close ${request.queueName} ${request.queueId}: ${errnoText(e)}`));
  }
}

/** The state of one qmgr connection. */
export class AgentConnection {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private readonly pending: string[] = [];
  private busy = false;
  private ended = false;
  private closed = false;
  /** Resolves when the connection is over and its last request is done. */
  readonly done: Promise<void>;
  private resolveDone!: () => void;
  private idleWaiters: Array<() => void> = [];

  constructor(private readonly socket: Socket, private readonly handler: AgentHandler, private readonly opts: AgentOptions) {
    this.done = new Promise((r) => (this.resolveDone = r));
    socket.on('data', (b: Buffer) => this.onData(b));
    socket.on('end', () => {
      this.ended = true;
      this.maybeFinish();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.closed = true;
      this.ended = true;
      this.maybeFinish();
    });
  }

  /** Resolves once no request is in progress (a stopping agent waits for this, not for qmgr to hang up). */
  idle(): Promise<void> {
    if (!this.busy && this.pending.length === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  private peer(): string {
    return this.socket.remoteAddress ?? 'qmgr';
  }

  private onData(b: Buffer): void {
    let start = 0;
    for (let nl = b.indexOf(10); nl >= 0; nl = b.indexOf(10, start)) {
      if (this.buffered + nl - start > MAX_LINE_BYTES) return this.abort(`request from ${this.peer()} exceeds ${MAX_LINE_BYTES} bytes`);
      this.chunks.push(b.subarray(start, nl));
      this.pending.push(Buffer.concat(this.chunks).toString('utf8'));
      this.chunks = [];
      this.buffered = 0;
      start = nl + 1;
    }
    if (start < b.length) {
      this.chunks.push(b.subarray(start));
      this.buffered += b.length - start;
      if (this.buffered > MAX_LINE_BYTES) return this.abort(`request from ${this.peer()} exceeds ${MAX_LINE_BYTES} bytes`);
    }
    void this.pump();
  }

  private abort(why: string): void {
    this.opts.log.warning(why);
    this.pending.length = 0;
    this.chunks = [];
    this.ended = true;
    this.socket.destroy();
  }

  private async pump(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      for (let line = this.pending.shift(); line !== undefined; line = this.pending.shift()) {
        const request = decodeRequest(line);
        if (request === null) {
          this.abort(`malformed delivery request from ${this.peer()}: ${line.slice(0, 60)}`);
          break;
        }
        const reply = await serveRequest(this.opts, this.handler, request);
        if (!this.closed && this.socket.writable) this.socket.write(`${encodeReply(reply)}\n`);
      }
    } finally {
      this.busy = false;
      for (const r of this.idleWaiters.splice(0)) r();
      this.maybeFinish();
    }
  }

  private maybeFinish(): void {
    if (!this.ended || this.busy || this.pending.length > 0) return;
    if (!this.closed && !this.socket.destroyed) this.socket.end();
    this.resolveDone();
  }
}

/** Serves the requests of one qmgr connection until it ends. */
export function serveAgentConnection(socket: Socket, handler: AgentHandler, opts: AgentOptions): AgentConnection {
  return new AgentConnection(socket, handler, opts);
}
