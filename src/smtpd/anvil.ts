// Mirrors Postfix's anvil(8) server table (anvil/anvil.c) and the request
// set of its client (global/anvil_clnt.c): per (service, client address)
// the concurrent connection count and the connection, message, recipient
// and new TLS session rates over anvil_rate_time_unit, with anvil's peak
// figures for its "statistics:" log lines. The table is shared by the
// master's anvil (src/master/anvil.ts, one table for every worker process)
// and by localAnvil(), the in-process stand-in for smtpd without a master.
// Connections are recorded under an owner (a worker process) so that an
// owner that goes away takes its connections with it, as anvil drops an
// smtpd's connections when that smtpd's socket closes. Touches nothing
// outside itself but timers.
import { printable } from './text.js';

/** What smtpd asks anvil (anvil_clnt_connect() and friends). */
export interface AnvilClient {
  /** A new connection: the client's concurrent count and connection rate, both including it. */
  connect(service: string, addr: string): Promise<{ count: number; rate: number }>;
  /** The end of a connection that connect() counted. */
  disconnect(service: string, addr: string): void;
  /** A MAIL command: the client's message rate, including it. */
  mail(service: string, addr: string): Promise<number>;
  /** A RCPT or VRFY command: the client's recipient rate, including it. */
  rcpt(service: string, addr: string): Promise<number>;
  /** A new (not resumed) TLS session: the client's new TLS session rate, including it. */
  newtls(service: string, addr: string): Promise<number>;
  /** The client's new TLS session rate so far, without counting anything. */
  newtlsStat(service: string, addr: string): Promise<number>;
  /** anvil_rate_time_unit in seconds; an in-process table takes it from the service's configuration. */
  setTimeUnit?(seconds: number): void;
}

export type AnvilRequest = 'connect' | 'disconnect' | 'mail' | 'rcpt' | 'newtls' | 'newtls_stat';

/** ANVIL_IDENT(): "service:addr" with unprintable bytes as "?". */
export function anvilIdent(service: string, addr: string): string {
  return printable(`${service}:${addr}`, '?', false);
}

interface Remote {
  ident: string;
  count: number;
  rate: number;
  mail: number;
  rcpt: number;
  ntls: number;
  /** Seconds: when the current rate window began (0: reset by a status query). */
  start: number;
  expire: NodeJS.Timeout | null;
}

type RateField = 'rate' | 'mail' | 'rcpt' | 'ntls';

interface Peak {
  value: number;
  ident: string;
  when: number;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** ctime() from the month to the seconds: "Mmm dd hh:mm:ss" with the day padded by a space. */
function ctime15(seconds: number): string {
  const d = new Date(seconds * 1000);
  const p2 = (n: number) => String(n).padStart(2, '0');
  return `${MONTHS[d.getMonth()]} ${String(d.getDate()).padStart(2, ' ')} ${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())}`;
}

/** anvil's table of remote clients, by ident. */
export class AnvilTable {
  private readonly remotes = new Map<string, Remote>();
  /** Open connections per owner, by ident. */
  private readonly owners = new Map<string | number, Map<string, number>>();
  private readonly peaks: Record<'connRate' | 'connCount' | 'mail' | 'rcpt' | 'ntls', Peak> = {
    connRate: { value: 0, ident: '', when: 0 },
    connCount: { value: 0, ident: '', when: 0 },
    mail: { value: 0, ident: '', when: 0 },
    rcpt: { value: 0, ident: '', when: 0 },
    ntls: { value: 0, ident: '', when: 0 },
  };
  private cachePeak = 0;
  private cachePeakTime = 0;

  constructor(
    public timeUnit: number,
    private readonly now: () => number = () => Math.floor(Date.now() / 1000),
  ) {}

  /** One request; the answer is the count (connect) or the rate asked for. */
  request(owner: string | number, req: AnvilRequest, ident: string): { count: number; rate: number } {
    switch (req) {
      case 'connect': {
        const r = this.connUpdate(owner, ident);
        this.peak('connRate', r.rate, r);
        this.peak('connCount', r.count, r);
        return { count: r.count, rate: r.rate };
      }
      case 'disconnect':
        this.disconnect(owner, ident);
        return { count: 0, rate: 0 };
      case 'mail':
        return { count: 0, rate: this.incr(owner, ident, 'mail', 'mail') };
      case 'rcpt':
        return { count: 0, rate: this.incr(owner, ident, 'rcpt', 'rcpt') };
      case 'newtls':
        return { count: 0, rate: this.incr(owner, ident, 'ntls', 'ntls') };
      case 'newtls_stat': {
        const r = this.remotes.get(ident);
        if (!r) return { count: 0, rate: 0 };
        // Do not report a window that is over.
        if (r.start !== 0 && r.start + this.timeUnit < this.now()) this.resetRates(r, 0);
        return { count: 0, rate: r.ntls };
      }
    }
  }

  /** The owner went away: its connections end (anvil_service_done). */
  dropOwner(owner: string | number): void {
    const open = this.owners.get(owner);
    if (!open) return;
    for (const [ident, n] of open) for (let i = 0; i < n; i++) this.disconnect(owner, ident);
    this.owners.delete(owner);
  }

  /** anvil_status_dump(): the peaks since the last dump, which are then reset. */
  statistics(): string[] {
    const out: string[] = [];
    const rate = (p: Peak, name: string) => {
      if (p.value <= 0) return;
      out.push(`statistics: max ${name} rate ${p.value}/${this.timeUnit}s for (${p.ident}) at ${ctime15(p.when)}`);
      p.value = 0;
    };
    rate(this.peaks.connRate, 'connection');
    if (this.peaks.connCount.value > 0) {
      const p = this.peaks.connCount;
      out.push(`statistics: max connection count ${p.value} for (${p.ident}) at ${ctime15(p.when)}`);
      p.value = 0;
    }
    rate(this.peaks.mail, 'message');
    rate(this.peaks.rcpt, 'recipient');
    rate(this.peaks.ntls, 'newtls');
    if (this.cachePeak > 0) {
      out.push(`statistics: max cache size ${this.cachePeak} at ${ctime15(this.cachePeakTime)}`);
      this.cachePeak = 0;
    }
    return out;
  }

  /** Stops the expiry timers (the table is no longer used). */
  close(): void {
    for (const r of this.remotes.values()) if (r.expire) clearTimeout(r.expire);
    this.remotes.clear();
    this.owners.clear();
  }

  private peak(which: keyof AnvilTable['peaks'], value: number, r: Remote): void {
    const p = this.peaks[which];
    if (value > p.value) {
      p.value = value;
      p.ident = r.ident;
      p.when = this.now();
    }
  }

  private resetRates(r: Remote, start: number): void {
    r.rate = r.mail = r.rcpt = r.ntls = 0;
    r.start = start;
  }

  private incrRate(r: Remote, field: RateField): void {
    const now = this.now();
    if (r.start + this.timeUnit < now) this.resetRates(r, now);
    r[field] += 1;
  }

  /** anvil_remote_conn_update(): a new connection, recorded under its owner. */
  private connUpdate(owner: string | number, ident: string): Remote {
    let r = this.remotes.get(ident);
    if (!r) {
      r = { ident, count: 1, rate: 1, mail: 0, rcpt: 0, ntls: 0, start: this.now(), expire: null };
      this.remotes.set(ident, r);
      if (this.cachePeak < this.remotes.size) {
        this.cachePeak = this.remotes.size;
        this.cachePeakTime = this.now();
      }
    } else {
      this.incrRate(r, 'rate');
      if (r.count === 0 && r.expire) {
        clearTimeout(r.expire);
        r.expire = null;
      }
      r.count++;
    }
    let open = this.owners.get(owner);
    if (!open) this.owners.set(owner, (open = new Map()));
    open.set(ident, (open.get(ident) ?? 0) + 1);
    return r;
  }

  /** A message, recipient or TLS event; a client anvil has forgotten counts as connected (after a restart). */
  private incr(owner: string | number, ident: string, field: RateField, peak: 'mail' | 'rcpt' | 'ntls'): number {
    const r = this.remotes.get(ident) ?? this.connUpdate(owner, ident);
    this.incrRate(r, field);
    this.peak(peak, r[field], r);
    return r[field];
  }

  private disconnect(owner: string | number, ident: string): void {
    const open = this.owners.get(owner);
    const n = open?.get(ident) ?? 0;
    const r = this.remotes.get(ident);
    if (!open || n === 0 || !r) return;
    if (n === 1) open.delete(ident);
    else open.set(ident, n - 1);
    if (r.count > 0 && --r.count === 0) {
      // The rates outlive the last connection by one time unit.
      r.expire = setTimeout(() => {
        if (r.count === 0 && this.remotes.get(ident) === r) this.remotes.delete(ident);
      }, this.timeUnit * 1000);
      r.expire.unref();
    }
  }
}

/** anvil in the same process: for smtpd without a master (tests, tools). */
export function localAnvil(timeUnit = 60): AnvilClient {
  const table = new AnvilTable(timeUnit);
  const ask = (req: AnvilRequest, service: string, addr: string) => table.request(0, req, anvilIdent(service, addr));
  return {
    connect: async (service, addr) => ask('connect', service, addr),
    disconnect: (service, addr) => void ask('disconnect', service, addr),
    mail: async (service, addr) => ask('mail', service, addr).rate,
    rcpt: async (service, addr) => ask('rcpt', service, addr).rate,
    newtls: async (service, addr) => ask('newtls', service, addr).rate,
    newtlsStat: async (service, addr) => ask('newtls_stat', service, addr).rate,
    setTimeUnit: (seconds) => void (table.timeUnit = seconds),
  };
}
