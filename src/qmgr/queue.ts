// Mirrors Postfix's qmgr/qmgr_queue.c, qmgr_transport.c and qmgr_entry.c:
// a transport holds one queue per destination; a queue holds the entries
// (a message's recipients for that destination, at most the transport's
// recipient limit each) waiting to be delivered, and its concurrency
// window. Success opens the window by the positive feedback, failure
// closes it by the negative feedback; when a whole cohort fails the queue
// is throttled ("dead") and its waiting entries are deferred with the
// reason. Which entry goes next is the job scheduler's choice (./job.ts).
// In-core state only: no files, no sockets.
import type { DeliveryRecipient } from '../delivery/api.js';
import { feedbackValue } from './feedback.js';
import { JobScheduler, type Peer } from './job.js';
import type { TransportLimits } from './params.js';

/** A reason for not delivering (a DSN status and text). */
export interface QmgrDsn {
  status: string;
  reason: string;
}

/** What an entry needs of its message (message.ts implements it). */
export interface EntryOwner {
  readonly queueId: string;
  /** Entries of this message not yet finished. */
  refcount: number;
  /** When the message entered the active queue (seconds): its place on the job lists. */
  readonly queuedTime: number;
  /** Recipients of the message still in its file, not read into core yet. */
  readonly rcptUnread: number;
  /** Where the next recipient batch starts in the file; 0: all read (Postfix's rcpt_offset). */
  readonly rcptOffset: number;
  /** The message's recipient slots: how many of its recipients may be in core (rcpt_limit). */
  rcptLimit: number;
  /** Its recipients in core now, on entries of its jobs (rcpt_count). */
  rcptCount: number;
  /** When a batch was last read (seconds). */
  readonly refillTime: number;
  /** A batch is being read now, or reading failed: no refill. */
  readonly refillBlocked: boolean;
  /** Its jobs, one per transport, in the order they were made (message->job_list). */
  readonly jobs: Array<{ moveLimits(): void; rcptLimit: number; rcptCount: number; stackLevel: number }>;
}

/** Recipients of one message for one destination, delivered in one request. */
export class QueueEntry<M extends EntryOwner = EntryOwner> {
  constructor(
    readonly message: M,
    readonly queue: DestQueue<M>,
    readonly recipients: DeliveryRecipient[],
    /** The message's job's share of this queue. */
    readonly peer: Peer<M>,
  ) {}
}

/** One destination of one transport (QMGR_QUEUE). */
export class DestQueue<M extends EntryOwner = EntryOwner> {
  readonly todo: Array<QueueEntry<M>> = [];
  /** Entries handed to an agent and not answered yet. */
  busy = 0;
  window: number;
  private success = 0;
  private failure = 0;
  private failCohorts = 0;
  /** Set while the destination is dead: why. */
  dead: QmgrDsn | null = null;
  /**
   * Paused by the destination rate delay after a delivery ended
   * (qmgr_queue_suspend); cancelResume ends the pause early.
   */
  suspended = false;
  cancelResume: (() => void) | null = null;
  /** When the last delivery to it ended (seconds): back-to-back deliveries turn on connection caching. */
  lastDone = 0;
  /** The connection cache hints sent with its delivery requests (DEL_REQ_FLAG_CONN_LOAD, _STORE). */
  dflags = 0;
  /** When the next clogged-queue warning may be logged (seconds). */
  clogTimeToWarn = 0;
  /** Cancels the timer that revives a dead queue. */
  cancelRevive: (() => void) | null = null;
  /** Equal to the transport's blocker tag while it keeps jobs from being served. */
  blockerTag = 0;

  constructor(
    readonly transport: Transport<M>,
    readonly name: string,
    readonly nexthop: string,
  ) {
    this.window = transport.limits.initConcurrency;
  }

  /** How many more deliveries may start now (ignoring the rate delay). */
  room(): number {
    if (this.dead !== null || this.suspended) return 0;
    const limit = this.transport.limits.concurrencyLimit;
    const cap = limit > 0 ? Math.min(this.window, limit) : this.window;
    return Math.max(0, cap - this.busy);
  }

  /** qmgr_queue_unthrottle(): a delivery went well. */
  succeeded(): void {
    const lim = this.transport.limits;
    if (this.dead !== null) this.revive();
    if (lim.concurrencyLimit === 0 || lim.concurrencyLimit > this.window) {
      if (this.window < this.busy + lim.initConcurrency) {
        this.success += feedbackValue(lim.positive, this.window);
        while (this.success >= 1) {
          this.window += 1;
          this.success -= 1;
        }
        this.failure = 0;
      }
    }
    this.failCohorts = 0;
  }

  /**
   * qmgr_queue_throttle(): the destination failed as a whole. Returns
   * true when the queue is now dead (a whole cohort failed).
   */
  failed(dsn: QmgrDsn): boolean {
    if (this.dead !== null) return true;
    const lim = this.transport.limits;
    this.failCohorts += 1 / this.window;
    if (lim.failCohortLimit > 0 && this.failCohorts >= lim.failCohortLimit) {
      this.dead = dsn;
      return true;
    }
    this.failure -= feedbackValue(lim.negative, this.window);
    while (this.failure < 0) {
      this.window -= 1;
      this.failure += 1;
    }
    if (this.window < 1) this.window = 1;
    this.success = 0;
    return false;
  }

  /** Back to life with the initial window (the unthrottle timer, a flush). */
  revive(): void {
    this.dead = null;
    this.cancelRevive?.();
    this.cancelRevive = null;
    this.window = this.transport.limits.initConcurrency;
    this.success = this.failure = this.failCohorts = 0;
  }

  /** Nothing waiting, nothing in flight: the queue may be dropped (not while it is dead or paused). */
  idle(): boolean {
    return this.todo.length === 0 && this.busy === 0 && this.dead === null && !this.suspended;
  }
}

/** One transport (QMGR_TRANSPORT): its limits and destinations. */
export class Transport<M extends EntryOwner = EntryOwner> {
  readonly queues = new Map<string, DestQueue<M>>();
  /** Set while the agent cannot be reached: why. */
  dead: QmgrDsn | null = null;
  cancelRevive: (() => void) | null = null;
  /** Deliveries in flight over all destinations. */
  busy = 0;
  /**
   * With a transport rate delay: a delivery is being paced or is under
   * way, and no other may start (QMGR_TRANSPORT_STAT_RATE_LOCK).
   */
  rateLock = false;
  /** Cancels the timer of the paced delivery. */
  cancelRate: (() => void) | null = null;
  /** Which message's entries go next. */
  readonly jobs: JobScheduler<M>;

  constructor(
    readonly name: string,
    readonly limits: TransportLimits,
    /** Deliveries the agent service takes at once now (its master.cf process limit); 0: no limit known; negative: none now. */
    readonly agentLimit: () => number = () => 0,
  ) {
    this.jobs = new JobScheduler<M>(limits.slots, limits.rcpt);
  }

  /** Another delivery may be handed to the agent now. */
  agentFree(): boolean {
    if (this.dead !== null || this.rateLock) return false;
    const limit = this.agentLimit();
    return limit === 0 || this.busy < limit;
  }

  /** The queue for a destination, made on first use. */
  queue(name: string, nexthop: string): DestQueue<M> {
    let q = this.queues.get(name);
    if (!q) {
      q = new DestQueue(this, name, nexthop);
      this.queues.set(name, q);
    }
    return q;
  }

  /** Drops queues with nothing left to do (qmgr_queue_done). */
  prune(q: DestQueue<M>): void {
    if (q.idle() && q.cancelRevive === null) this.queues.delete(q.name);
  }

  /** qmgr_transport_unthrottle(): alive again, and the rate lock is off. */
  revive(): void {
    this.dead = null;
    this.cancelRevive?.();
    this.cancelRevive = null;
    this.rateLock = false;
  }
}
