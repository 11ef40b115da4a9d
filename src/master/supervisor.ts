// Mirrors master/master_spawn.c, master_avail.c, master_listen.c and the
// service half of master_service.c for one master.cf service this project
// runs in worker processes: bind its listening sockets (the master binds,
// workers listen and accept, so root can bind port 25 and the workers run
// as mail_owner), keep one worker per core up to process_limit, restart a
// worker that dies (throttling a command that fails before its first
// connection, with Postfix's log lines), replace the workers on reload
// (old ones retire after their sessions), and warn when every session
// slot is busy. Passes the workers' anvil requests to the master's anvil
// and tells it when a worker is gone. Touches only its sockets and child
// processes.
import { fork, type ChildProcess } from 'node:child_process';
import * as net from 'node:net';
import * as os from 'node:os';
import { getSystemErrorName } from 'node:util';
import type { MailLogger } from '../log/logger.js';
import type { AnvilServer } from './anvil.js';
import { commandName } from './programs.js';
import { type WorkerInit, type WorkerMessage, WORKER_ENV } from './protocol.js';
import type { ServiceSpec } from './services.js';
import type { Ownership } from './users.js';

/** Texts of the errors a bind or listen can give. */
const NET_ERRNO_TEXT: Record<string, string> = {
  EADDRINUSE: 'Address already in use',
  EADDRNOTAVAIL: 'Cannot assign requested address',
  EACCES: 'Permission denied',
  EAFNOSUPPORT: 'Address family not supported by protocol',
  EINVAL: 'Invalid argument',
};

/**
 * libuv threads per worker. Every message ends in an fsync(), which runs on
 * this pool: with libuv's default of 4, a busy worker queues its sessions'
 * fsyncs behind each other; with many in flight the file system joins them
 * into one journal commit (Postfix gets the same from its many processes).
 */
const WORKER_THREADS = 64;

/** libuv's flag for a "::" socket that takes IPv6 only (IPV6_V6ONLY), as Postfix sets it. */
const UV_TCP_IPV6ONLY = 1;

type ServerHandle = { close(): void; getsockname(out: { address?: string; port?: number }): number };
type CreateHandle = (address: string, port: number, addressType: number, fd: undefined, flags: number) => ServerHandle | number;

export interface SupervisorEnv {
  log: MailLogger;
  configDir: string;
  daemonDir: string;
  throttleSeconds: number;
  /** The script to fork (this program's launcher or bundle). */
  workerScript: string;
  /** The maillog_file descriptor to hand to new workers, if any. */
  logFd(): number | undefined;
  ownership: Ownership;
  /** The -o settings of every unix service, by name (for the parts a worker runs in-process). */
  unixOptions(): Record<string, Array<[string, string]>>;
  /** The master's anvil, which every worker asks. */
  anvil: AnvilServer;
}

interface WorkerProc {
  child: ChildProcess;
  pid: number;
  generation: number;
  slot: number;
  ready: boolean;
  taken: boolean;
  full: boolean;
  retiring: boolean;
}

interface Listener {
  handle: ServerHandle;
  address: string;
  port: number;
}

export type StartOutcome = { ok: true } | { ok: false; error: string };

export class ServiceSupervisor {
  private listeners: Listener[] = [];
  private readonly workers = new Map<number, WorkerProc>();
  private generation = 0;
  private throttle: NodeJS.Timeout | null = null;
  private busyWarnTime = 0;
  private stopping = false;
  private firstStart: ((o: StartOutcome) => void) | null = null;

  constructor(
    private readonly env: SupervisorEnv,
    public spec: ServiceSpec,
  ) {}

  /** The program path Postfix names in its messages ($daemon_directory/command). */
  private get path(): string {
    const cmd = this.spec.entry.command;
    return cmd.startsWith('/') ? cmd : `${this.env.daemonDir}/${cmd}`;
  }

  /** master_listen_init(): bind every address; the error text is master's fatal text. */
  bind(): string | null {
    const create = (net as unknown as { _createServerHandle: CreateHandle })._createServerHandle;
    const ep = this.spec.endpoint!;
    for (const a of ep.addresses) {
      let r = create(a.address, ep.port, a.family, undefined, a.family === 6 ? UV_TCP_IPV6ONLY : 0);
      // libuv keeps EADDRINUSE from bind() for a later listen(), which only a
      // worker does, on a copy of the descriptor that knows nothing of it (and
      // would listen on a random port): an unbound socket tells the same.
      const bound: { address?: string; port?: number } = {};
      const code = typeof r === 'number' ? getSystemErrorName(r) : r.getsockname(bound) !== 0 || bound.port !== ep.port ? 'EADDRINUSE' : null;
      if (code !== null) {
        if (typeof r !== 'number') r.close();
        this.closeListeners();
        return `bind ${a.address} port ${ep.port}: ${NET_ERRNO_TEXT[code] ?? code}`;
      }
      r = r as ServerHandle;
      this.listeners.push({ handle: r, address: a.address, port: ep.port });
    }
    return null;
  }

  /** Starts the first generation; resolves once each worker is ready or gone, or a listen failed. */
  start(): Promise<StartOutcome> {
    const done = new Promise<StartOutcome>((resolve) => (this.firstStart = resolve));
    this.spawnGeneration();
    return done;
  }

  /** Reload: take the new entry; the running workers retire, new ones start with the new settings. */
  update(spec: ServiceSpec): void {
    this.spec = spec;
    if (this.throttle) {
      clearTimeout(this.throttle);
      this.throttle = null;
    }
    for (const w of this.workers.values()) this.retire(w);
    this.spawnGeneration();
  }

  /** The service was removed from master.cf: close the sockets, let the workers finish. */
  remove(): void {
    this.stopping = true;
    if (this.throttle) clearTimeout(this.throttle);
    for (const w of this.workers.values()) this.retire(w);
    this.closeListeners();
  }

  /** postfix stop (graceful) or abort (immediate): resolves when every worker has exited. */
  stop(immediate: boolean): Promise<void> {
    this.stopping = true;
    if (this.throttle) clearTimeout(this.throttle);
    const exits = [...this.workers.values()].map((w) => new Promise<void>((r) => (w.child.exitCode !== null || w.child.signalCode !== null ? r() : w.child.once('exit', () => r()))));
    for (const w of this.workers.values()) {
      w.retiring = true;
      if (immediate) w.child.kill('SIGKILL');
      else w.child.kill('SIGTERM');
    }
    this.closeListeners();
    return Promise.all(exits).then(() => undefined);
  }

  /** Every worker of this service, for a last-resort kill. */
  pids(): number[] {
    return [...this.workers.keys()];
  }

  private closeListeners(): void {
    for (const l of this.listeners) l.handle.close();
    this.listeners = [];
  }

  /** How many processes serve the service: one per core, at most process_limit. */
  private workerCount(): number {
    const cores = Math.max(1, os.availableParallelism?.() ?? os.cpus().length);
    const max = this.spec.entry.maxProc;
    return max === 0 ? cores : Math.min(max, cores);
  }

  /** The session slots of worker number slot: process_limit shared out (0: no limit). */
  private slotsFor(slot: number): number {
    const max = this.spec.entry.maxProc;
    if (max === 0) return 0;
    const n = this.workerCount();
    return Math.floor(max / n) + (slot < max % n ? 1 : 0);
  }

  private spawnGeneration(): void {
    this.generation++;
    for (let slot = 0; slot < this.workerCount(); slot++) this.spawn(slot);
  }

  private spawn(slot: number): void {
    if (this.stopping) return;
    const { spec, env } = this;
    const logFd = env.logFd();
    const init: WorkerInit = {
      configDir: env.configDir,
      service: spec.ext,
      type: spec.type,
      command: commandName(spec.entry.command),
      canonical: spec.endpoint?.canonical ?? spec.ext,
      options: spec.options,
      flags: spec.flags,
      unixOptions: env.unixOptions(),
      slots: this.slotsFor(slot),
      generation: this.generation,
      logFd: logFd !== undefined,
      listeners: this.listeners.length,
    };
    const owner = env.ownership.privileged && spec.entry.unprivileged ? env.ownership.mailOwner : null;
    const child = fork(env.workerScript, [], {
      env: { ...process.env, [WORKER_ENV]: JSON.stringify(init), UV_THREADPOOL_SIZE: String(WORKER_THREADS) },
      stdio: logFd !== undefined ? ['ignore', 'ignore', 'inherit', 'ipc', logFd] : ['ignore', 'ignore', 'inherit', 'ipc'],
      execArgv: [],
      ...(owner ? { uid: owner.uid, gid: owner.gid } : {}),
    });
    child.on('error', () => undefined);
    const pid = child.pid;
    if (pid === undefined) {
      this.env.log.warning(`master_spawn: fork: ${this.path}: cannot start process -- throttling`);
      this.startThrottle();
      return;
    }
    const proc: WorkerProc = { child, pid, generation: this.generation, slot, ready: false, taken: false, full: false, retiring: false };
    this.workers.set(pid, proc);
    child.on('message', (m: WorkerMessage) => this.onMessage(proc, m));
    child.on('exit', (code, signal) => this.onExit(proc, code, signal));
    this.listeners.forEach((l, index) => child.send({ type: 'listen', index, address: l.address, port: l.port }, l.handle as unknown as net.Server));
  }

  private retire(w: WorkerProc): void {
    if (w.retiring) return;
    w.retiring = true;
    if (w.child.connected) w.child.send({ type: 'retire' });
    else w.child.kill('SIGTERM');
  }

  private onMessage(w: WorkerProc, m: WorkerMessage): void {
    switch (m.type) {
      case 'ready':
        w.ready = true;
        this.checkFirstStart();
        break;
      case 'taken':
        w.taken = true;
        break;
      case 'busy':
        w.full = m.full;
        this.checkBusy();
        break;
      case 'listen-error':
        this.firstStart?.({ ok: false, error: `bind ${m.address} port ${m.port}: ${NET_ERRNO_TEXT[m.code] ?? m.code}` });
        this.firstStart = null;
        break;
      case 'fatal':
        break;
      case 'anvil': {
        const reply = this.env.anvil.handle(w.pid, m);
        if (reply && w.child.connected) w.child.send(reply);
        break;
      }
    }
  }

  /** master_reap_child(): Postfix's warnings, then a new process or a throttle. */
  private onExit(w: WorkerProc, code: number | null, signal: NodeJS.Signals | null): void {
    this.workers.delete(w.pid);
    this.env.anvil.workerGone(w.pid);
    const expected = w.retiring || this.stopping;
    if (!expected && (code !== 0 || signal !== null)) {
      if (signal !== null) this.env.log.warning(`process ${this.path} pid ${w.pid} killed by signal ${os.constants.signals[signal] ?? signal}`);
      else this.env.log.warning(`process ${this.path} pid ${w.pid} exit status ${code}`);
      if (!w.taken && this.throttle === null) {
        this.env.log.warning(`${this.path}: bad command startup -- throttling`);
        this.startThrottle();
      }
    }
    this.checkFirstStart();
    if (expected || w.generation !== this.generation) return;
    if (this.throttle === null) this.spawn(w.slot);
  }

  private startThrottle(): void {
    this.throttle = setTimeout(() => {
      this.throttle = null;
      const running = new Set([...this.workers.values()].filter((w) => w.generation === this.generation && !w.retiring).map((w) => w.slot));
      for (let slot = 0; slot < this.workerCount(); slot++) if (!running.has(slot)) this.spawn(slot);
    }, this.env.throttleSeconds * 1000);
  }

  private checkFirstStart(): void {
    if (!this.firstStart) return;
    const current = [...this.workers.values()].filter((w) => w.generation === this.generation);
    if (current.every((w) => w.ready)) {
      this.firstStart({ ok: true });
      this.firstStart = null;
    }
  }

  /** master_avail_listen()'s warning when every process of an internet service is busy. */
  private checkBusy(): void {
    const current = [...this.workers.values()].filter((w) => !w.retiring);
    const max = this.spec.entry.maxProc;
    if (max <= 1 || this.spec.endpoint?.localOnly || !current.length || !current.every((w) => w.full)) return;
    const now = Date.now() / 1000;
    if (this.busyWarnTime >= now - 1000) return;
    this.busyWarnTime = now;
    const log = this.env.log;
    log.warning(`service "${this.spec.ext}" (${this.spec.endpoint?.canonical ?? this.spec.ext}) has reached its process limit "${max}": new clients may experience noticeable delays`);
    log.warning('to avoid this condition, increase the process count in master.cf or reduce the service time per client');
    log.warning('see http://www.postfix.org/STRESS_README.html for examples of stress-adapting configuration settings');
  }
}
