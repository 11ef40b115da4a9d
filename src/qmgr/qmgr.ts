// Mirrors Postfix's qmgr/qmgr.c (the trigger handler and the main loop),
// qmgr_active.c (qmgr_active_feed) and qmgr_move.c: the queue manager of
// one daemon. It scans incoming/ and deferred/ (alternating, new mail
// first), moves ready files into active/ while fewer than
// qmgr_message_active_limit messages are in core, hands their recipients
// to the destination queues (./assign.ts), starts deliveries as the
// concurrency windows allow (./deliver.ts), and finishes each message
// when all its recipients were tried (./active.ts). Triggers: W and I scan
// incoming, D deferred, A ignores time stamps, F forgets dead
// destinations; the deferred queue is also scanned every queue_run_delay.
// Touches the queue tree and the agents' sockets.
import { EventEmitter } from 'node:events';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import type { Config } from '../config/config.js';
import type { ResolveResult } from '../address/resolve.js';
import type { MailLogger } from '../log/logger.js';
import { type QueueLayout, MAIL_QUEUE_STAT_UNTHROTTLE, isForcedExpire, isReadyMode, mailQueuePath } from '../queue/layout.js';
import { moveQueueFile } from '../queue/ops.js';
import { logForm } from '../queue/delivery-status.js';
import { toText } from '../util/bytes.js';
import { type TimeVal, getTimeOfDay } from '../queue/queue-file.js';
import type { AgentClient } from './agent.js';
import { activeDone } from './active.js';
import { assignRecipients } from './assign.js';
import { pumpDeliveries } from './deliver.js';
import { QmgrMessage, readBatch } from './message.js';
import { type QmgrParams, transportLimits } from './params.js';
import { Transport } from './queue.js';
import { FLUSH_DFXP, FLUSH_ONCE, QueueScan, SCAN_ALL, SCAN_START } from './scan.js';
import type { BounceService, StatusOps } from './status.js';

/** Time as qmgr sees it; tests supply their own. */
export interface QmgrClock {
  now(): TimeVal;
  /** Runs fn after ms; returns a cancel function. Must not keep the process alive. */
  setTimer(fn: () => void, ms: number): () => void;
}

export const realClock: QmgrClock = {
  now: getTimeOfDay,
  setTimer(fn, ms) {
    const t = setTimeout(fn, ms);
    t.unref();
    return () => clearTimeout(t);
  },
};

/** The resolver qmgr asks (AddressResolver satisfies it). */
export interface RecipientResolver {
  resolve(address: string, sender?: string): Promise<ResolveResult>;
}

export interface QmgrOptions {
  queueDir: string;
  layout: QueueLayout;
  /** For the per-transport settings. */
  config: Config;
  params: QmgrParams;
  resolver: RecipientResolver;
  agents: AgentClient;
  bounce: BounceService;
  status: StatusOps;
  log: MailLogger;
  clock?: QmgrClock;
  /**
   * How many deliveries a transport's agent service takes at once (its
   * master.cf process limit), as Postfix's qmgr only picks an entry when
   * an agent process is free; 0 or absent: no limit here; negative: no
   * agent process for it now. Asked before
   * each delivery starts; kick() after it grows.
   */
  agentLimit?: (transport: string) => number;
}

/** What qmgr has in core and has done; tests and `postfix status`-like reports read it. */
export interface QmgrCounters {
  messagesInCore: number;
  maxMessagesInCore: number;
  recipientsInCore: number;
  maxRecipientsInCore: number;
  fed: number;
  removed: number;
  deferred: number;
  expired: number;
  corrupt: number;
  requests: number;
  inFlight: number;
  maxInFlight: number;
}

const QMGR_MESSAGE_RECIPIENT_BATCH_MAX = 5000;
/** Files moved and read at the same time. */
const FEED_PARALLEL = 16;

/**
 * The queue manager. Events: 'done' (queueId, 'removed' | 'deferred' |
 * 'kept'), 'idle' (nothing in core and no scan running).
 */
export class Qmgr extends EventEmitter {
  readonly queueDir: string;
  readonly layout: QueueLayout;
  readonly params: QmgrParams;
  readonly log: MailLogger;
  readonly clock: QmgrClock;
  readonly messages = new Set<QmgrMessage>();
  readonly transports = new Map<string, Transport<QmgrMessage>>();
  readonly counters: QmgrCounters = {
    messagesInCore: 0, maxMessagesInCore: 0, recipientsInCore: 0, maxRecipientsInCore: 0, fed: 0, removed: 0,
    deferred: 0, expired: 0, corrupt: 0, requests: 0, inFlight: 0, maxInFlight: 0,
  };
  /** incoming first, then deferred. */
  private readonly scans: [QueueScan, QueueScan];
  private firstScan = 0;
  /** Feeds under way (their files are being moved and read). */
  private feeding = 0;
  /** Queue IDs whose feed into active/ is under way. */
  private readonly feedingIds = new Set<string>();
  private running = false;
  private again = false;
  private closing = false;
  private cancelRun: (() => void) | null = null;
  /** File work under way (a message being finished): drain() waits for it. */
  private fileOps = 0;
  private readonly fileOpsDone: Array<() => void> = [];

  constructor(readonly opts: QmgrOptions) {
    super();
    this.queueDir = opts.queueDir;
    this.layout = opts.layout;
    this.params = opts.params;
    this.log = opts.log;
    this.clock = opts.clock ?? realClock;
    this.scans = [new QueueScan(opts.queueDir, 'incoming'), new QueueScan(opts.queueDir, 'deferred')];
  }

  /** qmgr_post_init(): active/ back to incoming/, then scan both queues and start the deferred-queue clock. */
  async start(): Promise<void> {
    await this.requeueActive();
    this.scans[0].request(SCAN_START);
    this.deferredRun();
  }

  private deferredRun(): void {
    if (this.closing) return;
    this.request(1, SCAN_START);
    this.cancelRun = this.clock.setTimer(() => this.deferredRun(), this.params.queueRunDelay * 1000);
  }

  /** qmgr_move(active, incoming, now): files left in active/ by an earlier run. */
  private async requeueActive(): Promise<void> {
    const scan = new QueueScan(this.queueDir, 'active');
    scan.request(SCAN_START);
    const now = this.clock.now().sec;
    for (let n = await scan.next(); n !== null; n = await scan.next()) {
      const rel = mailQueuePath(this.layout, 'active', n.id);
      try {
        await fsp.utimes(path.join(this.queueDir, rel), now, now);
      } catch (e) {
        this.log.warning(`qmgr_move: update ${rel} time stamps: ${(e as Error).message}`);
        continue;
      }
      const f = await moveQueueFile(this.queueDir, this.layout, n.id, 'active', 'incoming');
      if (f) this.log.warning(`qmgr_move: rename ${n.id} from active to incoming: ${f.error.message}`);
    }
  }

  /** The bytes of a trigger request (qmgr_trigger_event). */
  trigger(request: Buffer | string): void {
    let incoming = 0;
    let deferred = 0;
    for (const ch of typeof request === 'string' ? request : request.toString('latin1')) {
      if (ch === 'W' || ch === 'I') incoming |= SCAN_START;
      else if (ch === 'D') deferred |= SCAN_START;
      else if (ch === 'F') {
        incoming |= FLUSH_ONCE | FLUSH_DFXP;
        deferred |= FLUSH_ONCE | FLUSH_DFXP;
      } else if (ch === 'A') {
        incoming |= SCAN_ALL;
        deferred |= SCAN_ALL;
      }
    }
    if (incoming) this.request(0, incoming);
    if (deferred) this.request(1, deferred);
  }

  private request(idx: 0 | 1, flags: number): void {
    this.scans[idx].request(flags);
    // Postfix forgets dead destinations when the flushing scan starts; a
    // scan already running would restart with the flag, so do it now.
    if (flags & FLUSH_ONCE) this.flushDead();
    this.kick();
  }

  /** qmgr_queue_flush / transport unthrottle: forget every dead destination. */
  flushDead(): void {
    for (const t of this.transports.values()) {
      if (t.dead) t.revive();
      for (const q of [...t.queues.values()]) {
        if (q.dead !== null) q.revive();
        t.prune(q);
      }
    }
  }

  /** Runs the loop soon; a run in progress runs once more. */
  kick(): void {
    if (this.closing) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    setImmediate(() => void this.loop());
  }

  private async loop(): Promise<void> {
    try {
      do {
        this.again = false;
        pumpDeliveries(this);
        await this.feedSome();
        pumpDeliveries(this);
      } while (this.again && !this.closing);
    } catch (e) {
      this.log.warning(`qmgr: ${(e as Error).stack ?? String(e)}`);
    } finally {
      this.running = false;
    }
    if (this.again) this.kick();
    else if (this.messages.size === 0 && this.feeding === 0 && !this.scans[0].running && !this.scans[1].running) this.emit('idle');
  }

  /**
   * qmgr_loop(): feed messages from the scans, alternating, while there is
   * room. The names come one at a time; the file work of several feeds
   * overlaps (a completed feed kicks the loop again).
   */
  private async feedSome(): Promise<void> {
    while (!this.closing && this.messages.size + this.feeding < this.params.activeLimit && this.feeding < FEED_PARALLEL) {
      let got = false;
      for (let k = 0; k < 2 && !got; k++) {
        const idx = (this.firstScan + k) % 2;
        const scan = this.scans[idx]!;
        const n = await scan.next();
        if (n === null) continue;
        got = true;
        this.firstScan = (idx + 1) % 2;
        // A scan restarted while this file's feed is under way lists it
        // again; Postfix's one-at-a-time feed never sees that.
        if (this.feedingIds.has(n.id)) continue;
        this.feedingIds.add(n.id);
        this.feeding++;
        void this.track(this.feed(scan.queue, n.id, n.flags)).finally(() => {
          this.feedingIds.delete(n.id);
          this.feeding--;
          this.kick();
        });
      }
      if (!got) return;
    }
    if (this.messages.size + this.feeding >= this.params.activeLimit) this.firstScan = 0;
  }

  /** qmgr_active_feed(): one file from incoming/ or deferred/ into active/ and into core. */
  private async feed(queue: string, id: string, flags: number): Promise<boolean> {
    const rel = mailQueuePath(this.layout, queue, id);
    let st: fs.Stats;
    try {
      st = fs.lstatSync(path.join(this.queueDir, rel));
    } catch {
      return false;
    }
    if (!st.isFile() || !isReadyMode(st.mode)) return false;
    const now = this.clock.now();
    if ((flags & SCAN_ALL) === 0 && st.mtimeMs / 1000 > now.sec + 1) return false;
    const moved = await moveQueueFile(this.queueDir, this.layout, id, queue, 'active');
    if (moved) {
      this.log.warning(`qmgr_active_feed: ${id}: rename from ${queue} to active: ${moved.error.message}`);
      return false;
    }
    const unthrottle = (st.mode & MAIL_QUEUE_STAT_UNTHROTTLE) !== 0;
    if (unthrottle) {
      await fsp.chmod(path.join(this.queueDir, mailQueuePath(this.layout, 'active', id)), st.mode & 0o777 & ~MAIL_QUEUE_STAT_UNTHROTTLE).catch(() => undefined);
    }
    const msg = new QmgrMessage(id, now, isForcedExpire(st.mode), unthrottle, unthrottle || (flags & FLUSH_DFXP) !== 0, this.params.recipientMinimum);
    this.messages.add(msg);
    this.counters.fed++;
    this.countMessages();
    if (!(await this.readMore(msg, true))) {
      this.messages.delete(msg);
      this.countMessages();
      await this.saveCorrupt(id);
      return false;
    }
    return true;
  }

  private countMessages(): void {
    this.counters.messagesInCore = this.messages.size;
    this.counters.maxMessagesInCore = Math.max(this.counters.maxMessagesInCore, this.messages.size);
  }

  /** Counts recipients taken into core (n > 0) or let go (n < 0). */
  countRecipients(n: number): void {
    const c = this.counters;
    c.recipientsInCore += n;
    c.maxRecipientsInCore = Math.max(c.maxRecipientsInCore, c.recipientsInCore);
  }

  /**
   * qmgr_message_read() for the first or a later batch of recipients. The
   * first batch fills what is left of qmgr_message_recipient_limit (at
   * least the message's own slots); a later one fills the slots its jobs
   * hold. False: the file is unusable.
   */
  async readMore(msg: QmgrMessage, first: boolean): Promise<boolean> {
    const room = first
      ? Math.max(this.params.recipientLimit - this.counters.recipientsInCore, msg.rcptLimit)
      : msg.rcptLimit - msg.rcptCount;
    // Slots run out only through a bookkeeping slip; one recipient keeps the message moving.
    const limit = Math.min(QMGR_MESSAGE_RECIPIENT_BATCH_MAX, Math.max(1, room));
    const batch = await readBatch(this.queueDir, this.layout, msg.queueId, msg.rcptOffset, limit);
    if (!batch.ok) {
      this.log.warning(`${msg.queueId}: ${batch.error}`);
      return false;
    }
    if (first) {
      msg.setEnvelope(batch.file);
      this.log.info(`${msg.queueId}: from=<${toText(logForm(msg.sender, this.params.infoLogAddressFormat))}>, size=${msg.size}, nrcpt=${msg.nrcpt} (queue active)`);
    }
    msg.rcptOffset = batch.nextOffset;
    msg.rcptRead += batch.recipients.length;
    msg.refillTime = this.clock.now().sec;
    await assignRecipients(this, msg, batch.recipients);
    // All read: the slots its jobs do not use move on (qmgr_message_move_limits).
    if (msg.rcptOffset === 0) for (const job of msg.jobs) job.moveLimits();
    return true;
  }

  /**
   * qmgr_message_realloc() asked by the scheduler while it selects: the
   * next batch is read; the message is held meanwhile so that it cannot
   * be finished under the read, and the scheduler selects again after.
   */
  refill(msg: QmgrMessage): void {
    if (msg.reading || this.closing) return;
    msg.reading = true;
    msg.refcount++;
    void this.track(this.readMore(msg, false)).then((ok) => {
      msg.reading = false;
      if (!ok) msg.readFailed = true;
      if (--msg.refcount === 0) void this.finish(msg);
      this.kick();
    });
  }

  /** qmgr_active_corrupt(). */
  async saveCorrupt(id: string): Promise<void> {
    this.counters.corrupt++;
    const f = await moveQueueFile(this.queueDir, this.layout, id, 'active', 'corrupt');
    if (!f) this.log.warning(`saving corrupt file "${id}" from queue "active" to queue "corrupt"`);
  }

  /** The transport of this name, made on first use. */
  transport(name: string): Transport<QmgrMessage> {
    let t = this.transports.get(name);
    if (!t) {
      t = new Transport<QmgrMessage>(name, transportLimits(this.opts.config, name, this.log), () => this.opts.agentLimit?.(name) ?? 0);
      t.jobs.onRefill = (msg) => this.refill(msg);
      this.transports.set(name, t);
    }
    return t;
  }

  /** Counts file work under way, for drain(). */
  private async track<T>(work: Promise<T>): Promise<T> {
    this.fileOps++;
    try {
      return await work;
    } finally {
      if (--this.fileOps === 0) for (const f of this.fileOpsDone.splice(0)) f();
    }
  }

  /** Every recipient of msg in core was tried: finish it (or read the next batch). */
  finish(msg: QmgrMessage): Promise<void> {
    if (this.closing) return Promise.resolve();
    return this.track(this.finishNow(msg)).then(() => this.kick());
  }

  private async finishNow(msg: QmgrMessage): Promise<void> {
    try {
      const outcome = await activeDone(this, msg);
      if (outcome !== 'more') {
        for (const t of this.transports.values()) t.jobs.forget(msg);
        this.messages.delete(msg);
        this.countMessages();
        this.emit('done', msg.queueId, outcome);
      }
    } catch (e) {
      this.log.warning(`${msg.queueId}: ${(e as Error).message}`);
      for (const t of this.transports.values()) t.jobs.forget(msg);
      this.messages.delete(msg);
      this.countMessages();
    }
  }

  /** Resolves when no message is being finished (a fast stop waits for this). */
  drain(): Promise<void> {
    if (this.fileOps === 0) return Promise.resolve();
    return new Promise((resolve) => this.fileOpsDone.push(resolve));
  }

  async close(): Promise<void> {
    this.closing = true;
    this.cancelRun?.();
    for (const t of this.transports.values()) {
      t.cancelRevive?.();
      t.cancelRate?.();
      for (const q of t.queues.values()) {
        q.cancelRevive?.();
        q.cancelResume?.();
      }
    }
    await this.drain();
    await Promise.all(this.scans.map((s) => s.close()));
    this.opts.agents.close();
  }

  get isClosing(): boolean {
    return this.closing;
  }
}
