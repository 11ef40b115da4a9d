// Mirrors Postfix's anvil(8) daemon (anvil/anvil.c) and its client
// (global/anvil_clnt.c), with the master process in the daemon's place:
// every worker process of every smtpd service asks the one AnvilServer in
// the master over the Node IPC channel, so that connection counts and
// event rates are per client, not per process. When a worker exits, its
// open connections are dropped from the counts, as anvil drops an smtpd's
// connections when that smtpd's socket closes. Every
// anvil_status_update_time the server logs anvil's "statistics:" lines as
// postfix/anvil. Like Postfix's anvil ended by `postfix stop`, it logs
// nothing more when the master stops. Touches no files.
import type { MailLogger } from '../log/logger.js';
import { AnvilTable, anvilIdent, type AnvilClient, type AnvilRequest } from '../smtpd/anvil.js';
import type { MasterMessage, WorkerMessage } from './protocol.js';

/** The master's anvil: one table for all worker processes. */
export class AnvilServer {
  private readonly table: AnvilTable;
  private timer: NodeJS.Timeout | null = null;
  private statusTime: number;

  constructor(
    private log: MailLogger,
    timeUnit: number,
    statusTime: number,
  ) {
    this.table = new AnvilTable(timeUnit);
    this.statusTime = statusTime;
    this.schedule();
  }

  /** A reload: new settings and logger; the counts stay. */
  configure(log: MailLogger, timeUnit: number, statusTime: number): void {
    this.log = log;
    this.table.timeUnit = timeUnit;
    if (statusTime !== this.statusTime) {
      this.statusTime = statusTime;
      this.schedule();
    }
  }

  /** A worker's request; the reply to send back, or null when none is wanted. */
  handle(pid: number, m: Extract<WorkerMessage, { type: 'anvil' }>): Extract<MasterMessage, { type: 'anvil-reply' }> | null {
    const r = this.table.request(pid, m.req, m.ident);
    return m.id === 0 ? null : { type: 'anvil-reply', id: m.id, count: r.count, rate: r.rate };
  }

  /** The worker exited: its connections end. */
  workerGone(pid: number): void {
    this.table.dropOwner(pid);
  }

  /** anvil_status_dump(). */
  dump(): void {
    for (const line of this.table.statistics()) this.log.info(line);
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.table.close();
  }

  private schedule(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.dump();
      this.schedule();
    }, this.statusTime * 1000);
    this.timer.unref();
  }
}

/**
 * A worker's anvil client: requests go to the master, answers come back
 * through answer(). Without the master (the IPC channel closed) every
 * request gets anvil's failure, which smtpd treats as "no limit".
 */
export class IpcAnvilClient implements AnvilClient {
  private nextId = 1;
  private readonly pending = new Map<number, (r: { count: number; rate: number }) => void>();

  constructor(private readonly send: (m: WorkerMessage) => boolean) {}

  private ask(req: AnvilRequest, service: string, addr: string): Promise<{ count: number; rate: number }> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      if (!this.send({ type: 'anvil', id, req, ident: anvilIdent(service, addr) })) {
        this.pending.delete(id);
        resolve({ count: 0, rate: 0 });
      }
    });
  }

  /** A reply from the master. */
  answer(m: Extract<MasterMessage, { type: 'anvil-reply' }>): void {
    const resolve = this.pending.get(m.id);
    this.pending.delete(m.id);
    resolve?.({ count: m.count, rate: m.rate });
  }

  /** The master went away: nothing will answer. */
  fail(): void {
    for (const resolve of this.pending.values()) resolve({ count: 0, rate: 0 });
    this.pending.clear();
  }

  connect(service: string, addr: string): Promise<{ count: number; rate: number }> {
    return this.ask('connect', service, addr);
  }

  disconnect(service: string, addr: string): void {
    this.send({ type: 'anvil', id: 0, req: 'disconnect', ident: anvilIdent(service, addr) });
  }

  async mail(service: string, addr: string): Promise<number> {
    return (await this.ask('mail', service, addr)).rate;
  }

  async rcpt(service: string, addr: string): Promise<number> {
    return (await this.ask('rcpt', service, addr)).rate;
  }

  async newtls(service: string, addr: string): Promise<number> {
    return (await this.ask('newtls', service, addr)).rate;
  }

  async newtlsStat(service: string, addr: string): Promise<number> {
    return (await this.ask('newtls_stat', service, addr)).rate;
  }
}
