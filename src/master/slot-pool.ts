// The master's side of a service's process_limit (master/master_avail.c:
// the limit is for the service as a whole). Postfix counts processes; here
// each process serves many sessions, so the master keeps the service's
// session slots and lends them to its processes: each starts with a share,
// asks for one more slot when a client would otherwise wait, and the
// master grants it from the slots nobody holds or, when none are left,
// asks the other processes for their idle ones. When every process was
// asked and a client still waits, the service has reached its limit (the
// caller warns, as master_avail_listen() does). A process that leaves
// gives back what it held. Touches nothing but the messages it sends.
import type { MasterMessage } from './protocol.js';

export interface SlotPoolIo {
  send(pid: number, msg: MasterMessage): void;
  /** Every slot is held and busy, and a client waits. */
  atLimit(): void;
}

export class SlotPool {
  /** Slots held by each process. */
  private readonly held = new Map<number, number>();
  /** One entry per slot a process asked for, in order. */
  private readonly wanting: number[] = [];
  /** Processes asked for their idle slots that have not answered yet. */
  private readonly asked = new Set<number>();
  /** Processes told to give back idle slots until told otherwise. */
  private readonly lending = new Set<number>();

  /** total: process_limit (0: no limit, and no slots are counted). */
  constructor(
    private total: number,
    private readonly io: SlotPoolIo,
  ) {}

  get limited(): boolean {
    return this.total > 0;
  }

  /** Slots nobody holds (negative after a reload lowered the limit, until enough come back). */
  get free(): number {
    let held = 0;
    for (const n of this.held.values()) held += n;
    return this.total - held;
  }

  /** Reload: the new process_limit. */
  setTotal(total: number): void {
    this.total = total;
    this.serve();
  }

  /** The slots a new process starts with: its share, as far as free slots reach. */
  initial(share: number): number {
    return this.limited ? Math.max(0, Math.min(share, this.free)) : 0;
  }

  /** A process started with count slots. */
  join(pid: number, count: number): void {
    if (this.limited) this.held.set(pid, count);
  }

  /** A process is gone: what it held is free again. */
  leave(pid: number): void {
    if (!this.held.delete(pid)) return;
    for (let i = this.wanting.indexOf(pid); i >= 0; i = this.wanting.indexOf(pid)) this.wanting.splice(i, 1);
    this.asked.delete(pid);
    this.lending.delete(pid);
    this.serve();
    this.checkLimit();
  }

  /** A process has a client waiting and wants one more slot. */
  want(pid: number): void {
    if (!this.held.has(pid)) return;
    this.wanting.push(pid);
    this.serve();
    if (this.wanting.length === 0) return;
    for (const other of this.held.keys()) {
      if (other === pid || this.lending.has(other)) continue;
      this.lending.add(other);
      this.asked.add(other);
      this.io.send(other, { type: 'slot-lend', on: true });
    }
    this.checkLimit();
  }

  /** A process gave back count slots; answer: this answers a request for idle slots. */
  returned(pid: number, count: number, answer: boolean): void {
    const held = this.held.get(pid);
    if (held === undefined) return;
    this.held.set(pid, Math.max(0, held - count));
    if (answer) this.asked.delete(pid);
    this.serve();
    this.checkLimit();
  }

  /** Grants free slots to the processes that asked, in order; ends lending once nobody waits. */
  private serve(): void {
    const grants = new Map<number, number>();
    while (this.free - sumOf(grants) > 0 && this.wanting.length > 0) {
      const pid = this.wanting.shift()!;
      grants.set(pid, (grants.get(pid) ?? 0) + 1);
    }
    for (const [pid, count] of grants) {
      this.held.set(pid, (this.held.get(pid) ?? 0) + count);
      this.io.send(pid, { type: 'slot-grant', count });
    }
    if (this.wanting.length > 0 || this.lending.size === 0) return;
    for (const pid of this.lending) this.io.send(pid, { type: 'slot-lend', on: false });
    this.lending.clear();
    this.asked.clear();
  }

  private checkLimit(): void {
    if (this.wanting.length > 0 && this.asked.size === 0) this.io.atLimit();
  }
}

function sumOf(m: Map<number, number>): number {
  let n = 0;
  for (const v of m.values()) n += v;
  return n;
}
