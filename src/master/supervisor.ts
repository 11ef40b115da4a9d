// Mirrors master/master_spawn.c, master_avail.c, master_wakeup.c and the
// service half of master_service.c for one master.cf service this project
// runs in its own processes, whichever kind the registry (./programs.ts)
// says: "workers" (one process per core up to process_limit and up to the
// registry's cap for the command, sharing the service's listeners and
// process_limit's session slots, which ./slot-pool.ts lends to whichever
// process has clients waiting) or "single" (exactly one process, all of
// process_limit). It creates the
// listeners (./listeners.ts), starts a delivery agent's process when its
// first client connects (the master listens until then), keeps the processes up, restarts one that
// dies (throttling a command that fails before its first connection, with
// Postfix's log lines), replaces them on reload (old ones retire after
// their sessions; a single process is replaced only once it has left),
// sends the master.cf wakeup requests, and warns when every session slot
// of the service is busy and a client waits. Passes the processes' anvil
// requests to the master's anvil and tells it when one is gone; after a
// process died, removes the queue files it left unfinished (./orphans.ts).
// Touches only its endpoints, its child processes and those files.
import { fork, type ChildProcess } from 'node:child_process';
import * as net from 'node:net';
import * as os from 'node:os';
import { getSystemErrorName as getErrName } from 'node:util';
import type { MailLogger } from '../log/logger.js';
import type { AnvilServer } from './anvil.js';
import { createListeners, type MasterListener, NET_ERRNO_TEXT, type ServerHandle } from './listeners.js';
import { commandName, processCap, startsOnDemand, threadPoolSize } from './programs.js';
import { DAEMON_ALLOCATOR_ENV, type WorkerInit, type WorkerMessage, WORKER_ENV } from './protocol.js';
import type { ServiceSpec } from './services.js';
import { SlotPool } from './slot-pool.js';
import { removeOrphanQueueFiles } from './orphans.js';
import type { Ownership } from './users.js';

/**
 * libuv threads per worker. Every message ends in an fsync(), which runs on
 * this pool: with libuv's default of 4, a busy worker queues its sessions'
 * fsyncs behind each other; with many in flight the file system joins them
 * into one journal commit (Postfix gets the same from its many processes).
 */
const WORKER_THREADS = 64;

export interface SupervisorEnv {
  log: MailLogger;
  configDir: string;
  daemonDir: string;
  /** queue_directory, where a dead process's unfinished queue files are removed. */
  queueDir: string;
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

/** The registry's kinds that have processes of their own. */
export type ProcessKind = 'workers' | 'single';

/**
 * For development: POSTFIX_TS_PROFILE=COMMAND[,COMMAND...]:DIR makes the
 * processes of those master.cf commands write V8 CPU profiles into DIR
 * when they exit. Not a Postfix setting; unset, nothing changes.
 */
function profileArgs(command: string): string[] {
  const spec = process.env.POSTFIX_TS_PROFILE;
  if (!spec) return [];
  const colon = spec.indexOf(':');
  if (colon < 0) return [];
  const commands = spec.slice(0, colon).split(',');
  const base = command.slice(command.lastIndexOf('/') + 1);
  return commands.includes(base) ? ['--cpu-prof', `--cpu-prof-dir=${spec.slice(colon + 1)}`] : [];
}

interface WorkerProc {
  child: ChildProcess;
  pid: number;
  generation: number;
  slot: number;
  ready: boolean;
  taken: boolean;
  retiring: boolean;
}

/** A client connection the master accepted itself (a libuv handle). */
type RawClient = { close(): void };
/** A bound socket as the master listens on it itself. */
type RawListenHandle = ServerHandle & { listen(backlog: number): number; onconnection: ((status: number, client?: RawClient) => void) | null };
/**
 * V8 settings of every worker process. A young generation of at most 2 MiB
 * per semi-space (Node's default lets it grow to 16): under the delivery
 * benchmark's load the summed PSS of the daemon fell from about 310 MiB to
 * 245 MiB, with no loss of rate the benchmarks could see. At 1 MiB the
 * memory was the same and the scavenges took about twice the CPU.
 */
const WORKER_V8_FLAGS = ['--max-semi-space-size=2'];

/**
 * The processes of a "workers" service (smtpd) without a lower limit: one
 * per two cores. A message's CPU is split about evenly between smtpd (with
 * its in-process cleanup) and qmgr with the delivery agents, so smtpd
 * processes on every core would compete with the delivery side for the same
 * cores. On this project's 2-core benchmark machine one smtpd delivered
 * 381 msg/s at 177 MiB summed PSS where two delivered 316 msg/s at 233 MiB.
 */
export function workerProcesses(cores = os.availableParallelism?.() ?? os.cpus().length): number {
  return Math.max(1, Math.floor(cores / 2));
}

/** The listen queue of an endpoint the master listens on. */
const LISTEN_BACKLOG = 511;

export type StartOutcome = { ok: true } | { ok: false; error: string };

export class ServiceSupervisor {
  private listeners: MasterListener[] = [];
  private readonly workers = new Map<number, WorkerProc>();
  private generation = 0;
  private throttle: NodeJS.Timeout | null = null;
  private wakeup: NodeJS.Timeout | null = null;
  private wakeupTurn = 0;
  /** A process reported a first connection or request (clears master.cf's "?" wakeup condition). */
  private used = false;
  /** A single process's new generation waits for the old process to leave. */
  private pendingGeneration = false;
  private busyWarnTime = 0;
  private stopping = false;
  private firstStart: ((o: StartOutcome) => void) | null = null;
  private readonly slots: SlotPool;
  /** On-demand service: clients the master accepted while its process starts. */
  private waiting: RawClient[] = [];
  /** On-demand service without a process: the master listens on its socket. */
  private masterListening = false;

  constructor(
    private readonly env: SupervisorEnv,
    public spec: ServiceSpec,
    readonly kind: ProcessKind,
  ) {
    this.slots = new SlotPool(spec.entry.maxProc, {
      send: (pid, msg) => {
        const w = this.workers.get(pid);
        if (w?.child.connected) w.child.send(msg);
      },
      atLimit: () => this.warnBusy(),
    });
  }

  /** The program path Postfix names in its messages ($daemon_directory/command). */
  private get path(): string {
    const cmd = this.spec.entry.command;
    return cmd.startsWith('/') ? cmd : `${this.env.daemonDir}/${cmd}`;
  }

  /** master_listen_init(): create every endpoint; the error text is master's fatal text. */
  bind(): string | null {
    const owner = this.env.ownership.privileged ? this.env.ownership.mailOwner : null;
    const r = createListeners(this.spec, owner);
    if (!r.ok) return r.error;
    this.listeners = r.listeners;
    return null;
  }

  /**
   * A service whose process is started by its first client (a delivery
   * agent, see ./programs.ts), as Postfix's master starts services: until
   * then, and again once its process has left, the master listens on the
   * socket, accepts, and hands what it accepted to the new process, which
   * then listens on the same socket while the master lets go of it.
   */
  private get onDemand(): boolean {
    return this.kind === 'workers' && this.spec.type === 'unix' && startsOnDemand(this.spec.entry.command);
  }

  /** Starts the first generation; resolves once each process is ready or gone, or a listen failed. */
  start(): Promise<StartOutcome> {
    if (this.onDemand) {
      const error = this.listenInMaster();
      return Promise.resolve(error === null ? { ok: true } : { ok: false, error });
    }
    const done = new Promise<StartOutcome>((resolve) => (this.firstStart = resolve));
    this.spawnGeneration();
    this.scheduleWakeup();
    return done;
  }

  /** Reload: take the new entry; the running processes retire, new ones start with the new settings. */
  update(spec: ServiceSpec): void {
    this.spec = spec;
    this.slots.setTotal(spec.entry.maxProc);
    if (this.throttle) {
      clearTimeout(this.throttle);
      this.throttle = null;
    }
    for (const w of this.workers.values()) this.retire(w);
    this.scheduleWakeup();
    if (this.onDemand) {
      // The next client starts a process with the new settings; the old one finishes on a socket of its own.
      this.generation++;
      if (!this.masterListening) this.rebindInMaster();
      return;
    }
    if (this.kind === 'single' && this.workers.size > 0) {
      this.pendingGeneration = true;
      return;
    }
    this.spawnGeneration();
  }

  /** The service was removed from master.cf: close the endpoints, let the processes finish. */
  remove(): void {
    this.stopping = true;
    this.clearTimers();
    this.dropWaiting();
    for (const w of this.workers.values()) this.retire(w);
    this.closeListeners();
  }

  /** postfix stop (graceful) or abort (immediate): resolves when every process has exited. */
  stop(immediate: boolean): Promise<void> {
    this.stopping = true;
    this.clearTimers();
    this.dropWaiting();
    const exits = [...this.workers.values()].map((w) => new Promise<void>((r) => (w.child.exitCode !== null || w.child.signalCode !== null ? r() : w.child.once('exit', () => r()))));
    for (const w of this.workers.values()) {
      w.retiring = true;
      if (immediate) w.child.kill('SIGKILL');
      else w.child.kill('SIGTERM');
    }
    this.closeListeners();
    return Promise.all(exits).then(() => undefined);
  }

  /** Every process of this service, for a last-resort kill. */
  pids(): number[] {
    return [...this.workers.keys()];
  }

  private clearTimers(): void {
    if (this.throttle) clearTimeout(this.throttle);
    if (this.wakeup) clearInterval(this.wakeup);
    this.throttle = this.wakeup = null;
  }

  private closeListeners(): void {
    for (const l of this.listeners) l.close();
    this.listeners = [];
    this.masterListening = false;
  }

  private dropWaiting(): void {
    for (const c of this.waiting.splice(0)) c.close();
  }

  /** On-demand service: listen on the socket in the master; the error is master's text. */
  private listenInMaster(): string | null {
    const l = this.listeners[0];
    const h = l?.handle as RawListenHandle | undefined;
    if (!l || !h) return `listen ${this.spec.path ?? this.spec.ext}: no socket`;
    h.onconnection = (status, client) => this.onMasterConnection(status, client);
    const code = h.listen(LISTEN_BACKLOG);
    if (code !== 0) return `listen ${l.info.kind === 'unix' ? l.info.path : this.spec.ext}: ${NET_ERRNO_TEXT[getErrName(code)] ?? getErrName(code)}`;
    this.masterListening = true;
    return null;
  }

  /** On-demand service whose process left: a fresh socket at the same path, the master listening. */
  private rebindInMaster(): void {
    this.closeListeners();
    const error = this.bind() ?? this.listenInMaster();
    if (error !== null) this.env.log.warning(error);
  }

  /** A client reached an on-demand service's socket while the master held it: start the process if none runs. */
  private onMasterConnection(status: number, client?: RawClient): void {
    if (status !== 0 || !client) return;
    if (this.stopping) return client.close();
    this.waiting.push(client);
    const current = [...this.workers.values()].filter((w) => w.generation === this.generation && !w.retiring);
    const ready = current.find((w) => w.ready);
    if (ready) this.handOff(ready);
    else if (current.length === 0 && this.throttle === null) this.spawnGeneration();
  }

  /** The process listens: it takes the clients the master accepted, and the master lets go of the socket. */
  private handOff(w: WorkerProc): void {
    for (const client of this.waiting.splice(0)) {
      if (!w.child.connected) {
        client.close();
        continue;
      }
      w.child.send({ type: 'accept', index: 0 }, client as unknown as net.Socket, () => client.close());
    }
    if (this.masterListening) this.closeListeners();
  }

  /**
   * How many processes serve the service: one; or one per two cores, at
   * most process_limit and at most the registry's cap for the command.
   */
  private workerCount(): number {
    if (this.kind === 'single') return 1;
    const share = workerProcesses();
    const cap = processCap(this.spec.entry.command) ?? share;
    const max = this.spec.entry.maxProc;
    return Math.max(1, max === 0 ? Math.min(share, cap) : Math.min(max, share, cap));
  }

  /** The session slots process number slot starts with: its share of process_limit (0: no limit). */
  private shareFor(slot: number): number {
    const max = this.spec.entry.maxProc;
    if (max === 0) return 0;
    const n = this.workerCount();
    return Math.floor(max / n) + (slot < max % n ? 1 : 0);
  }

  private spawnGeneration(): void {
    this.generation++;
    this.pendingGeneration = false;
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
      canonical: spec.endpoint?.canonical ?? spec.path ?? spec.ext,
      options: spec.options,
      flags: spec.flags,
      args: spec.args,
      unprivileged: spec.entry.unprivileged,
      unixOptions: env.unixOptions(),
      slots: this.slots.initial(this.shareFor(slot)),
      slotLimited: this.slots.limited,
      generation: this.generation,
      logFd: logFd !== undefined,
      listeners: this.listeners.map((l) => l.info),
    };
    // Descriptors 0-3 are stdin, stdout, stderr and the IPC channel; 4 the maillog; FIFOs from WORKER_FIFO_FD on.
    const fifos = this.listeners.flatMap((l) => (l.fd === undefined ? [] : [l.fd]));
    const stdio: Array<'ignore' | 'inherit' | 'ipc' | number> = ['ignore', 'ignore', 'inherit', 'ipc', logFd ?? 'ignore', ...fifos];
    const owner = env.ownership.privileged && spec.entry.unprivileged ? env.ownership.mailOwner : null;
    const child = fork(env.workerScript, [], {
      env: { ...process.env, ...DAEMON_ALLOCATOR_ENV, [WORKER_ENV]: JSON.stringify(init), UV_THREADPOOL_SIZE: String(threadPoolSize(spec.entry.command) ?? WORKER_THREADS) },
      stdio,
      execArgv: [...WORKER_V8_FLAGS, ...profileArgs(spec.entry.command)],
      ...(owner ? { uid: owner.uid, gid: owner.gid } : {}),
    });
    child.on('error', () => undefined);
    const pid = child.pid;
    if (pid === undefined) {
      this.env.log.warning(`master_spawn: fork: ${this.path}: cannot start process -- throttling`);
      this.startThrottle();
      return;
    }
    const proc: WorkerProc = { child, pid, generation: this.generation, slot, ready: false, taken: false, retiring: false };
    this.workers.set(pid, proc);
    this.slots.join(pid, init.slots);
    child.on('message', (m: WorkerMessage) => this.onMessage(proc, m));
    child.on('exit', (code, signal) => this.onExit(proc, code, signal));
    this.listeners.forEach((l, index) => {
      if (l.handle) child.send({ type: 'listen', index }, l.handle as unknown as net.Server);
    });
  }

  private retire(w: WorkerProc): void {
    if (w.retiring) return;
    w.retiring = true;
    if (w.child.connected) w.child.send({ type: 'retire' });
    else w.child.kill('SIGTERM');
  }

  /** master_wakeup_init(): every "wakeup" seconds a "W" request to one process; "60?" only once the service was used. */
  private scheduleWakeup(): void {
    if (this.wakeup) clearInterval(this.wakeup);
    this.wakeup = null;
    const seconds = this.spec.entry.wakeup;
    if (seconds <= 0 || this.stopping) return;
    this.wakeup = setInterval(() => {
      if (this.spec.entry.wakeupConditional && !this.used) return;
      const live = [...this.workers.values()].filter((w) => w.ready && !w.retiring && w.child.connected);
      const w = live[this.wakeupTurn++ % Math.max(1, live.length)];
      w?.child.send({ type: 'wakeup' });
    }, seconds * 1000);
    this.wakeup.unref();
  }

  private onMessage(w: WorkerProc, m: WorkerMessage): void {
    switch (m.type) {
      case 'ready':
        w.ready = true;
        this.checkFirstStart();
        if (this.onDemand && w.generation === this.generation && !w.retiring) this.handOff(w);
        break;
      case 'taken':
        w.taken = true;
        this.used = true;
        break;
      case 'slot-want':
        this.slots.want(w.pid);
        break;
      case 'slot-return':
        this.slots.returned(w.pid, m.count, m.answer);
        break;
      case 'listen-error': {
        const info = this.listeners[m.index]?.info;
        const where = info?.kind === 'inet' ? `bind ${info.address} port ${info.port}` : `listen ${info?.path ?? this.spec.ext}`;
        this.firstStart?.({ ok: false, error: `${where}: ${NET_ERRNO_TEXT[m.code] ?? m.code}` });
        this.firstStart = null;
        break;
      }
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
    this.slots.leave(w.pid);
    this.env.anvil.workerGone(w.pid);
    const expected = w.retiring || this.stopping;
    if (!expected && (code !== 0 || signal !== null)) {
      removeOrphanQueueFiles(this.env.queueDir);
      if (signal !== null) this.env.log.warning(`process ${this.path} pid ${w.pid} killed by signal ${os.constants.signals[signal] ?? signal}`);
      else this.env.log.warning(`process ${this.path} pid ${w.pid} exit status ${code}`);
      if (!w.taken && this.throttle === null) {
        this.env.log.warning(`${this.path}: bad command startup -- throttling`);
        this.startThrottle();
      }
    }
    this.checkFirstStart();
    if (this.onDemand) {
      if (this.stopping) return;
      const live = [...this.workers.values()].some((x) => x.generation === this.generation && !x.retiring);
      if (!live && !this.masterListening) this.rebindInMaster();
      if (!live && this.waiting.length && this.throttle === null) this.spawnGeneration();
      return;
    }
    if (this.pendingGeneration && this.workers.size === 0 && !this.stopping) {
      this.spawnGeneration();
      return;
    }
    if (expected || w.generation !== this.generation) return;
    if (this.throttle === null) this.spawn(w.slot);
  }

  private startThrottle(): void {
    this.throttle = setTimeout(() => {
      this.throttle = null;
      if (this.onDemand) {
        if (this.waiting.length && ![...this.workers.values()].some((w) => w.generation === this.generation && !w.retiring)) this.spawnGeneration();
        return;
      }
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

  /** master_avail_listen()'s warning when every session slot of an internet service is busy. */
  private warnBusy(): void {
    const max = this.spec.entry.maxProc;
    if (max <= 1 || this.spec.endpoint?.localOnly) return;
    const now = Date.now() / 1000;
    if (this.busyWarnTime >= now - 1000) return;
    this.busyWarnTime = now;
    const log = this.env.log;
    log.warning(`service "${this.spec.ext}" (${this.spec.endpoint?.canonical ?? this.spec.path ?? this.spec.ext}) has reached its process limit "${max}": new clients may experience noticeable delays`);
    log.warning('to avoid this condition, increase the process count in master.cf or reduce the service time per client');
    log.warning('see http://www.postfix.org/STRESS_README.html for examples of stress-adapting configuration settings');
  }
}
