// The worker's side of master.cf's process limit (master/master_avail.c
// counts processes; here a process serves many sessions): the session
// slots this process holds out of the service's process_limit, which the
// master shares among the service's processes (./slot-pool.ts). A
// connection beyond the slots held waits in arrival order, unread, as it
// would in the kernel's listen queue, while the process asks the master
// for one more slot; slots that sit idle go back when the master asks for
// them (another process has clients waiting) or when the process retires.
// Touches only the sockets handed to it and the IPC messages it sends.
import type * as net from 'node:net';
import type { WorkerMessage } from './protocol.js';

interface Waiting {
  socket: net.Socket;
  start: () => void;
}

export class SessionSlots {
  private active = 0;
  /** Slots held (granted by the master). */
  private credit: number;
  /** Slots asked for and not yet granted. */
  private wanted = 0;
  /** Idle slots go back to the master as soon as they are idle. */
  private lending = false;
  private retiring = false;
  private readonly waiting: Waiting[] = [];
  readonly sockets = new Set<net.Socket>();
  /** Called after each session ends. */
  onIdle?: () => void;

  /** limited false: process_limit 0, every connection starts at once. */
  constructor(
    private readonly limited: boolean,
    initial: number,
    private readonly send: (m: WorkerMessage) => void,
  ) {
    this.credit = initial;
  }

  get idle(): boolean {
    return this.active === 0 && this.waiting.length === 0;
  }

  admit(socket: net.Socket, start: () => void): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    if (!this.limited || this.active < this.credit) {
      this.begin(socket, start);
      return;
    }
    const entry = { socket, start };
    this.waiting.push(entry);
    socket.once('close', () => {
      const i = this.waiting.indexOf(entry);
      if (i >= 0) this.waiting.splice(i, 1);
    });
    if (this.wanted < this.waiting.length) {
      this.wanted++;
      this.send({ type: 'slot-want' });
    }
  }

  /** The master granted count more slots. */
  granted(count: number): void {
    this.wanted = Math.max(0, this.wanted - count);
    this.credit += count;
    this.startWaiting();
    this.giveBack(false);
  }

  /** The master wants idle slots back (on), or no longer (off); "on" is always answered. */
  lend(on: boolean): void {
    this.lending = on || this.retiring;
    if (on) this.giveBack(true);
  }

  /** No new connections will come: every slot goes back once idle. */
  retire(): void {
    this.retiring = this.lending = true;
    this.giveBack(false);
  }

  private begin(socket: net.Socket, start: () => void): void {
    this.active++;
    socket.once('close', () => {
      this.active--;
      this.startWaiting();
      this.giveBack(false);
      this.onIdle?.();
    });
    start();
  }

  private startWaiting(): void {
    while (this.waiting.length > 0 && this.active < this.credit) {
      const next = this.waiting.shift()!;
      this.begin(next.socket, next.start);
    }
  }

  private giveBack(answer: boolean): void {
    if (!this.limited) return;
    const count = this.lending ? Math.max(0, this.credit - this.active) : 0;
    if (count === 0 && !answer) return;
    this.credit -= count;
    this.send({ type: 'slot-return', count, answer });
  }
}
