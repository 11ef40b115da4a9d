// Mirrors Postfix 3.7's qmgr/qmgr_job.c and qmgr_peer.c: the preemptive
// scheduler that decides which waiting entry of a transport goes next.
// Each message has one job per transport; a job has one peer per
// destination queue it has entries for. Jobs sit on the transport's job
// list in the order their messages entered the active queue; the current
// job is served first, its peers in round-robin. While a job is delivered
// it earns delivery slots (one per selected entry); once it has enough, a
// later job that is small and old enough (best waited-seconds per
// recipient) preempts it: it is stacked in front of it and served until
// done, then the slots it really used are paid back. A job whose
// destinations are all at their concurrency limit is a "blocker" and is
// skipped until one of those queues has room again.
// Recipient slots: a transport has TRANSPORT_recipient_limit of them. A
// message whose recipients did not all fit in core at its first read
// holds the transport's unused slots on its job (the first such job in
// time order gets them), reads more recipients while it is served (when
// refill_limit slots are free, or any after refill_delay, or when it has
// nothing else to give), and passes the slots on once it has read all its
// recipients; a preempting job that has more to read gets half of the
// extra_recipient_limit reserve. The oqmgr-only qmgr_fudge_factor has no
// place in this scheduler: 3.7's qmgr(8) does not use it.
// In-core state only: no files, no sockets, no clock of its own; reading
// is asked of the queue manager through onRefill.
import type { DestQueue, EntryOwner, QueueEntry } from './queue.js';

/** What the scheduler needs of a message (queuedTime, rcptUnread). */
export type JobMessage = EntryOwner;

/** The transport's preemption settings (TRANSPORT_delivery_slot_* and friends). */
export interface SlotSettings {
  /** _delivery_slot_cost: below 2 preemption is off. */
  cost: number;
  /** _delivery_slot_loan. */
  loan: number;
  /** 100 - _delivery_slot_discount. */
  loanFactor: number;
  /** _minimum_delivery_slots. */
  minSlots: number;
}

/** The transport's recipient slot settings (TRANSPORT_recipient_limit and friends). */
export interface RecipientSlotSettings {
  /** _recipient_limit: the slots of the transport. */
  limit: number;
  /** _extra_recipient_limit: the reserve for preempting jobs. */
  extra: number;
  /** _recipient_refill_limit. */
  refillLimit: number;
  /** _recipient_refill_delay (seconds). */
  refillDelay: number;
}

/** The entries of one job for one destination queue (QMGR_PEER). */
export class Peer<M extends JobMessage> {
  readonly entries: Array<QueueEntry<M>> = [];
  /** Entries not finished (waiting or in delivery). */
  refcount = 0;
  // The job's ring of peers.
  ringNext: Peer<M> = this;
  ringPrev: Peer<M> = this;
  constructor(
    readonly job: Job<M>,
    readonly queue: DestQueue<M>,
  ) {}
}

/** One message's work on one transport (QMGR_JOB). */
export class Job<M extends JobMessage> {
  /** The first peer of the round-robin ring: the one after the last selected. */
  peerHead: Peer<M> | null = null;
  peerCount = 0;
  readonly peerByQueue = new Map<DestQueue<M>, Peer<M>>();
  // Job list links (transport_peers) and time list links (time_peers).
  prev: Job<M> | null = null;
  next: Job<M> | null = null;
  timePrev: Job<M> | null = null;
  timeNext: Job<M> | null = null;
  stackParent: Job<M> | null = null;
  readonly stackChildren: Array<Job<M>> = [];
  /** -1: not on the lists (retired); 0: in time order; > 0: preempting. */
  stackLevel = -1;
  blockerTag = 0;
  slotsUsed = 0;
  slotsAvailable = 0;
  selectedEntries = 0;
  readEntries = 0;
  /** Entries of this job not finished yet. */
  live = 0;
  /** Recipient slots held, and recipients in core on its entries. */
  rcptLimit = 0;
  rcptCount = 0;
  /** The last refill was the last-chance one of a selection (Postfix does it once per selection). */
  refilledLast = false;

  constructor(
    readonly message: M,
    private readonly scheduler: JobScheduler<M>,
  ) {}

  /** qmgr_job_move_limits(). */
  moveLimits(): void {
    this.scheduler.moveLimits(this);
  }

  hasEntries(): boolean {
    return this.selectedEntries < this.readEntries;
  }

  /** The most entries this job can ever have: those read, plus one per unread recipient. */
  maxEntries(): number {
    return this.readEntries + this.message.rcptUnread;
  }

  /** The peer of a queue, made on first use (qmgr_peer_obtain). */
  peer(queue: DestQueue<M>): Peer<M> {
    let p = this.peerByQueue.get(queue);
    if (!p) {
      p = new Peer(this, queue);
      this.peerByQueue.set(queue, p);
      const h = this.peerHead;
      if (h === null) this.peerHead = p;
      else {
        // At the end of the ring: just before the head.
        p.ringPrev = h.ringPrev;
        p.ringNext = h;
        h.ringPrev.ringNext = p;
        h.ringPrev = p;
      }
      this.peerCount++;
    }
    return p;
  }

  /** The peers in round-robin order, from the head. */
  peers(): Array<Peer<M>> {
    const out: Array<Peer<M>> = [];
    for (let p = this.peerHead, n = 0; p && n < this.peerCount; p = p.ringNext, n++) out.push(p);
    return out;
  }

  /** qmgr_peer_free(): a peer with nothing left leaves the ring. */
  dropPeer(p: Peer<M>): void {
    this.peerByQueue.delete(p.queue);
    if (--this.peerCount === 0) this.peerHead = null;
    else {
      if (this.peerHead === p) this.peerHead = p.ringNext;
      p.ringPrev.ringNext = p.ringNext;
      p.ringNext.ringPrev = p.ringPrev;
    }
    p.ringNext = p.ringPrev = p;
  }
}

/** Whether a queue can take another delivery now (window and rate delay). */
export type QueueReady<M extends JobMessage> = (q: DestQueue<M>) => boolean;

/** The job lists and the preemption state of one transport. */
export class JobScheduler<M extends JobMessage> {
  private head: Job<M> | null = null;
  private tail: Job<M> | null = null;
  private timeHead: Job<M> | null = null;
  private timeTail: Job<M> | null = null;
  private readonly byMessage = new Map<M, Job<M>>();
  current: Job<M> | null = null;
  private candidateCache: Job<M> | null = null;
  private candidateCacheCurrent: Job<M> | null = null;
  private candidateCacheTime = 0;
  /** Odd, so that it never matches a job or queue that was not marked. */
  blockerTag = 1;
  /** Recipient slots nobody holds (may go below zero by the preemption reserve). */
  rcptUnused: number;
  /** The first job in time order whose message has recipients still to read. */
  private nextUnread: Job<M> | null = null;
  /** A job whose selection waits for a refill: the selection resumes there, without a new preemption round. */
  private resumeJob: Job<M> | null = null;
  /** Asks for the message's next batch of recipients; the caller selects again once it is in. */
  onRefill: (message: M) => void = () => {};

  constructor(
    readonly slots: SlotSettings,
    readonly rcpt: RecipientSlotSettings = { limit: 0, extra: 0, refillLimit: 1, refillDelay: 1 },
  ) {
    this.rcptUnused = rcpt.limit;
  }

  /** The jobs in list order (tests and reports). */
  list(): Array<Job<M>> {
    const out: Array<Job<M>> = [];
    for (let j = this.head; j; j = j.next) out.push(j);
    return out;
  }

  private resetCache(): void {
    this.candidateCacheCurrent = null;
  }

  private isBlocker(job: Job<M>): boolean {
    return job.blockerTag === this.blockerTag;
  }

  /** qmgr_job_obtain(): the message's job, revived or made, on the lists. */
  obtain(message: M): Job<M> {
    let job = this.byMessage.get(message);
    if (!job) {
      job = new Job(message, this);
      this.byMessage.set(message, job);
      message.jobs.push(job);
    }
    if (job.stackLevel < 0) this.link(job);
    this.resetCache();
    if (this.isBlocker(job)) {
      job.blockerTag = 0;
      this.current = this.head;
    }
    return job;
  }

  /** A recipient put on an entry of the job (qmgr_message_assign's counts). */
  recipientAssigned(job: Job<M>): void {
    job.rcptCount++;
    job.message.rcptCount++;
  }

  /** A new entry of a job's peer (qmgr_entry_create's bookkeeping). */
  entryCreated(entry: QueueEntry<M>, peer: Peer<M>): void {
    peer.entries.push(entry);
    peer.refcount++;
    peer.job.readEntries++;
    peer.job.live++;
  }

  /** After a batch of recipients was assigned: more unread recipients may change the candidate (qmgr_message_assign). */
  assigned(message: M): void {
    const job = this.byMessage.get(message);
    if (job && job.hasEntries() && !this.isBlocker(job)) this.resetCache();
  }

  /**
   * qmgr_job_link(): into the job list after the last level-zero job that
   * is not younger, and into the time list likewise.
   */
  private link(job: Job<M>): void {
    const when = job.message.queuedTime;
    let current = this.current;
    let prev = this.tail;
    for (; prev; prev = prev.prev) {
      if (prev.stackParent === null && when - prev.message.queuedTime >= 0) break;
      if (current === prev) current = null;
    }
    job.prev = prev;
    job.next = prev ? prev.next : this.head;
    if (job.next) job.next.prev = job;
    else this.tail = job;
    if (prev) prev.next = job;
    else this.head = job;

    let unread = this.nextUnread;
    let tprev = this.timeTail;
    for (; tprev && when - tprev.message.queuedTime < 0; tprev = tprev.timePrev) {
      if (unread === tprev) unread = null;
    }
    job.timePrev = tprev;
    job.timeNext = tprev ? tprev.timeNext : this.timeHead;
    if (job.timeNext) job.timeNext.timePrev = job;
    else this.timeTail = job;
    if (tprev) tprev.timeNext = job;
    else this.timeHead = job;

    job.stackLevel = 0;
    if (current === null) this.current = job;
    // The first unread job in time order: it takes the slots of the one it replaces.
    if (unread === null) {
      const old = this.nextUnread;
      this.nextUnread = job;
      if (old !== null) this.moveLimits(old);
    }
    // As many slots as there are; the excess goes back once all recipients are read.
    if (this.rcptUnused > 0) {
      job.rcptLimit += this.rcptUnused;
      job.message.rcptLimit += this.rcptUnused;
      this.rcptUnused = 0;
    }
  }

  /**
   * qmgr_job_move_limits(): the slots a job holds and does not use go back
   * to the transport and on to the first job (in time order) that still
   * has recipients to read.
   */
  moveLimits(job: Job<M>): void {
    let next = this.nextUnread;
    if (job === next) {
      for (next = next.timeNext; next; next = next.timeNext) if (next.message.rcptOffset !== 0) break;
      this.nextUnread = next;
    }
    const message = job.message;
    const unused = Math.min(job.rcptLimit - job.rcptCount, message.rcptLimit - message.rcptCount);
    if (unused > 0) {
      job.rcptLimit -= unused;
      message.rcptLimit -= unused;
      this.rcptUnused += unused;
      if (next !== null && this.rcptUnused > 0) {
        next.rcptLimit += this.rcptUnused;
        next.message.rcptLimit += this.rcptUnused;
        this.rcptUnused = 0;
      }
    }
  }

  private unlinkList(job: Job<M>): void {
    if (job.prev) job.prev.next = job.next;
    else this.head = job.next;
    if (job.next) job.next.prev = job.prev;
    else this.tail = job.prev;
    job.prev = job.next = null;
  }

  /** Puts job just before before on the job list. */
  private linkBefore(job: Job<M>, before: Job<M>): void {
    job.next = before;
    job.prev = before.prev;
    if (before.prev) before.prev.next = job;
    else this.head = job;
    before.prev = job;
  }

  /** qmgr_job_parent_gone(): the children go to the grandparent, or are orphaned. */
  private parentGone(job: Job<M>, parent: Job<M> | null): void {
    for (const child of job.stackChildren.splice(0)) {
      if (parent) parent.stackChildren.push(child);
      child.stackParent = parent;
    }
  }

  /** qmgr_job_unlink(). */
  private unlink(job: Job<M>): void {
    this.parentGone(job, null);
    if (this.current === job) this.current = job.next;
    if (this.resumeJob === job) this.resumeJob = null;
    if (job === this.candidateCache || job === this.candidateCacheCurrent) this.resetCache();
    this.unlinkList(job);
    if (job.timePrev) job.timePrev.timeNext = job.timeNext;
    else this.timeHead = job.timeNext;
    if (job.timeNext) job.timeNext.timePrev = job.timePrev;
    else this.timeTail = job.timePrev;
    job.timePrev = job.timeNext = null;
    job.stackLevel = -1;
  }

  /** qmgr_job_retire(): off the lists until it gets entries again. */
  private retire(job: Job<M>): void {
    if (job.stackLevel > 0) this.pop(job);
    this.moveLimits(job);
    this.unlink(job);
  }

  /** The message is done with (qmgr_job_free for each of its jobs). */
  forget(message: M): void {
    const job = this.byMessage.get(message);
    if (!job) return;
    if (job.stackLevel > 0) this.pop(job);
    this.moveLimits(job);
    if (job.stackLevel >= 0) this.unlink(job);
    if (this.nextUnread === job) this.nextUnread = null;
    this.byMessage.delete(message);
  }

  /** qmgr_job_count_slots(). */
  private countSlots(job: Job<M>): void {
    job.slotsAvailable++;
    job.slotsUsed++;
    if (job !== this.candidateCacheCurrent) this.resetCache();
  }

  /**
   * qmgr_job_candidate(): after current, the job with the best
   * waited-seconds per possible entry among those that fit into the
   * slots current can still earn and have entries to give.
   */
  private candidate(current: Job<M>, now: number): Job<M> | null {
    if (this.candidateCacheCurrent === current && (this.candidateCacheTime === now || this.candidateCache === null)) {
      return this.candidateCache;
    }
    const maxSlots = Math.trunc((current.readEntries - current.selectedEntries + current.slotsAvailable) / this.slots.cost);
    let best: Job<M> | null = null;
    let bestScore = 0;
    if (maxSlots > 0) {
      for (let job = current.next; job; job = job.next) {
        if (job.stackChildren.length > 0 || this.isBlocker(job)) continue;
        const total = job.maxEntries();
        const needed = total - job.selectedEntries;
        const delay = now - job.message.queuedTime + 1;
        if (needed > 0 && needed <= maxSlots) {
          const score = delay / total;
          if (score > bestScore) {
            bestScore = score;
            best = job;
          }
        }
        // No later job has waited longer than this one.
        if (delay <= bestScore && job.stackLevel === 0) break;
      }
    }
    this.candidateCache = best;
    this.candidateCacheCurrent = current;
    this.candidateCacheTime = now;
    return best;
  }

  /** qmgr_job_preempt(): the job to serve instead of current, or current. */
  private preempt(current: Job<M>, now: number): Job<M> {
    const s = this.slots;
    if (current.slotsAvailable <= 0 || current.maxEntries() < s.minSlots * s.cost) return current;
    const job = this.candidate(current, now);
    if (job === null) return current;
    const expected = job.maxEntries() - job.selectedEntries;
    if (!preemptionAllowed(current.slotsAvailable, expected, s)) return current;
    if (job.stackLevel > 0) this.pop(job);
    this.unlinkList(job);
    this.linkBefore(job, current);
    job.stackParent = current;
    current.stackChildren.push(job);
    job.stackLevel = current.stackLevel + 1;
    this.current = job;
    this.resetCache();
    // Charge the parent now for what the child is expected to use; the
    // pop settles the difference (slotsUsed counts it from -expected).
    current.slotsAvailable -= expected * s.cost;
    job.slotsUsed = -expected;
    // Part of the reserve for preempting jobs, for one with more to read.
    if (job.message.rcptOffset !== 0) {
      const extra = Math.trunc((this.rcpt.extra + this.rcptUnused + 1) / 2);
      job.rcptLimit += extra;
      job.message.rcptLimit += extra;
      this.rcptUnused -= extra;
    }
    return job;
  }

  /** qmgr_job_pop(): back to level zero; the parent gets back what the job did not use. */
  private pop(job: Job<M>): void {
    const parent = job.stackParent;
    if (parent !== null && job.stackLevel === parent.stackLevel + 1) parent.slotsAvailable -= job.slotsUsed * this.slots.cost;
    if (parent !== null) {
      const i = parent.stackChildren.indexOf(job);
      if (i >= 0) parent.stackChildren.splice(i, 1);
      job.stackParent = null;
    }
    this.parentGone(job, parent);
    job.stackLevel = 0;
    this.resetCache();
  }

  /** qmgr_peer_select(): the first peer whose queue has room and that has an entry; it moves to the end. */
  private peerSelect(job: Job<M>, ready: QueueReady<M>): Peer<M> | null {
    for (let p = job.peerHead, n = 0; p && n < job.peerCount; p = p.ringNext, n++) {
      if (p.entries.length === 0 || !ready(p.queue)) continue;
      // Rotate: the peer after the selected one is tried first next time.
      job.peerHead = p.ringNext;
      return p;
    }
    return null;
  }

  /** The message may read more recipients now (not while a batch is being read or being finished). */
  private mayRead(m: M): boolean {
    return m.rcptOffset !== 0 && m.refcount > 0 && !m.refillBlocked;
  }

  /**
   * qmgr_job_peer_select(): more recipients are read first when enough
   * slots are free (or some, and refill_delay has passed), or when the job
   * has nothing else to give; 'wait' while that read is under way.
   */
  private jobPeerSelect(job: Job<M>, ready: QueueReady<M>, now: number): Peer<M> | null | 'wait' {
    const m = job.message;
    if (m.rcptOffset !== 0 && m.refillBlocked && m.refcount > 0) return 'wait';
    if (this.mayRead(m) && (m.rcptLimit - m.rcptCount >= this.rcpt.refillLimit
      || (m.rcptLimit > m.rcptCount && now - m.refillTime >= this.rcpt.refillDelay))) {
      this.onRefill(m);
      return 'wait';
    }
    const peer = job.hasEntries() ? this.peerSelect(job, ready) : null;
    if (peer !== null) return peer;
    if (this.mayRead(m) && m.rcptLimit > m.rcptCount && !job.refilledLast) {
      job.refilledLast = true;
      this.onRefill(m);
      return 'wait';
    }
    return null;
  }

  /**
   * qmgr_job_entry_select(): the next entry to deliver on this transport,
   * taken off its queue's todo list and its peer; null when no job has an
   * entry whose destination has room, or while recipients are being read.
   */
  entrySelect(ready: QueueReady<M>, now: number): QueueEntry<M> | null {
    let job = this.current;
    if (this.resumeJob !== null) {
      // The selection a refill interrupted goes on where it stopped.
      job = this.resumeJob;
      this.resumeJob = null;
    } else {
      if (job === null) return null;
      if (this.slots.cost >= 2) job = this.preempt(job, now);
    }
    for (let next: Job<M> | null; job; job = next) {
      next = job.next;
      if (this.isBlocker(job)) continue;
      const peer = this.jobPeerSelect(job, ready, now);
      if (peer === 'wait') {
        this.resumeJob = job;
        return null;
      }
      job.refilledLast = false;
      if (peer !== null) {
        const entry = peer.entries.shift()!;
        const todo = peer.queue.todo;
        todo.splice(todo.indexOf(entry), 1);
        job.selectedEntries++;
        this.countSlots(job);
        this.current = job;
        if (!job.hasEntries() && job.message.rcptUnread === 0) this.retire(job);
        return entry;
      }
      if (job.hasEntries()) {
        job.blockerTag = this.blockerTag;
        for (const p of job.peers()) if (p.entries.length > 0) p.queue.blockerTag = this.blockerTag;
      } else {
        this.retire(job);
      }
    }
    this.current = null;
    return null;
  }

  /** An entry leaves its queue's todo list without delivery (deferred): it counts as selected (qmgr_entry_done, TODO). */
  entryDropped(entry: QueueEntry<M>): void {
    const peer = entry.peer;
    const i = peer.entries.indexOf(entry);
    if (i >= 0) peer.entries.splice(i, 1);
    peer.job.selectedEntries++;
  }

  /** An entry is finished (delivered, deferred or dropped). */
  entryDone(entry: QueueEntry<M>): void {
    const peer = entry.peer;
    const job = peer.job;
    const message = job.message;
    const n = entry.recipients.length;
    job.rcptCount -= n;
    message.rcptCount -= n;
    // Jobs of the message that lent it slots get them back first; then its own unused slots move on.
    for (const sponsor of message.jobs) {
      if (sponsor.rcptCount >= sponsor.rcptLimit || sponsor === job) continue;
      if (sponsor.stackLevel < 0 || message.rcptOffset === 0) sponsor.moveLimits();
    }
    if (message.rcptOffset === 0) this.moveLimits(job);
    job.live--;
    if (--peer.refcount === 0) job.dropPeer(peer);
  }

  /**
   * qmgr_job_blocker_update(): a queue that blocked jobs may have room
   * again; if so every blocker is reconsidered from the head of the list.
   */
  blockerUpdate(queue: DestQueue<M>, hasRoom: boolean): void {
    if (queue.blockerTag !== this.blockerTag) return;
    if (hasRoom && queue.todo.length > 0) {
      this.blockerTag += 2;
      this.current = this.head;
      this.candidateCacheCurrent = null;
    }
    if (hasRoom || queue.dead !== null) queue.blockerTag = 0;
  }
}

/**
 * The test of qmgr_job_preempt: may a job that still needs expected
 * entries preempt one that has earned available slots? The loan lets the
 * preemption happen before all the slots are earned; it does not lower
 * what is paid.
 */
export function preemptionAllowed(available: number, expected: number, s: SlotSettings): boolean {
  return Math.trunc(available / s.cost) + s.loan >= (expected * s.loanFactor) / 100;
}
