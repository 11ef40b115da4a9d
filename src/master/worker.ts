// A worker process: what Postfix's multi_server/single_server skeletons
// (master/single_server.c, master/multi_server.c) do for a daemon the
// master started. It takes its service description from the environment,
// its listening sockets from the master, accepts on them (every worker of
// a service shares the same sockets, so the kernel spreads connections
// over the processes and both cores work), bounds its concurrent sessions
// by its share of the service's process_limit (later clients wait, as they
// would in the listen queue), and leaves when told: "retire" finishes the
// sessions in progress, "stop" lets messages being committed get their
// reply and closes the rest. When the master goes away it retires.
// Touches the queue and tables through its receive stack, nothing else.
import * as net from 'node:net';
import { ConfigError } from '../config/config.js';
import type { LogSink } from '../log/logger.js';
import { createLogger } from '../log/logger.js';
import { logSettingsFrom, openLogSink } from '../log/sink.js';
import { Config } from '../config/config.js';
import { type MasterMessage, type WorkerInit, type WorkerMessage, WORKER_ENV, WORKER_LOG_FD } from './protocol.js';
import { IpcAnvilClient } from './anvil.js';
import { buildReceiveStack, type ReceiveStack } from './smtpd-stack.js';

/** How long a stopping worker waits for commits under way before it closes every session. */
const STOP_COMMIT_WAIT_MS = 3000;
/** How long it then waits for clients to close their side. */
const STOP_CLOSE_WAIT_MS = 200;

function send(msg: WorkerMessage): boolean {
  if (!process.connected || !process.send) return false;
  process.send(msg);
  return true;
}

/** Admits sessions up to the slot limit; the rest wait in arrival order. */
class Slots {
  private active = 0;
  private readonly waiting: net.Socket[] = [];
  private full = false;
  readonly sockets = new Set<net.Socket>();

  constructor(
    private readonly limit: number,
    private readonly start: (socket: net.Socket) => void,
  ) {}

  admit(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    if (this.limit > 0 && this.active >= this.limit) {
      this.waiting.push(socket);
      socket.once('close', () => {
        const i = this.waiting.indexOf(socket);
        if (i >= 0) this.waiting.splice(i, 1);
        this.report();
      });
      this.report();
      return;
    }
    this.begin(socket);
  }

  get idle(): boolean {
    return this.active === 0 && this.waiting.length === 0;
  }

  private begin(socket: net.Socket): void {
    this.active++;
    socket.once('close', () => {
      this.active--;
      const next = this.waiting.shift();
      if (next) this.begin(next);
      this.report();
      this.onIdle?.();
    });
    this.start(socket);
  }

  onIdle?: () => void;

  private report(): void {
    const full = this.waiting.length > 0;
    if (full !== this.full) {
      this.full = full;
      send({ type: 'busy', full });
    }
  }
}

class Worker {
  private readonly handles: Array<{ handle: unknown; address: string; port: number }> = [];
  private readonly servers: net.Server[] = [];
  private stack: ReceiveStack | undefined;
  private slots: Slots | undefined;
  private taken = false;
  private leaving = false;
  readonly anvil = new IpcAnvilClient(send);

  constructor(
    private readonly init: WorkerInit,
    private readonly sink: LogSink,
  ) {}

  onMessage(msg: MasterMessage, handle: unknown): void {
    if (msg.type === 'listen') {
      this.handles[msg.index] = { handle, address: msg.address, port: msg.port };
      if (this.handles.filter(Boolean).length === this.init.listeners) void this.startListening();
    } else if (msg.type === 'retire') {
      void this.retire();
    } else if (msg.type === 'stop') {
      void this.stop();
    } else if (msg.type === 'anvil-reply') {
      this.anvil.answer(msg);
    }
  }

  async build(): Promise<boolean> {
    const log = createLogger(this.sink, `postfix/${this.init.command}`);
    try {
      this.stack = buildReceiveStack(this.init, this.sink, this.anvil);
      await this.stack.ready;
    } catch (e) {
      const text = e instanceof ConfigError ? e.message : String((e as Error).message ?? e);
      if (e instanceof ConfigError) log.fatal(text);
      send({ type: 'fatal', text });
      return false;
    }
    this.slots = new Slots(this.init.slots, (socket) => this.stack!.handle(socket));
    if (this.handles.filter(Boolean).length === this.init.listeners) await this.startListening();
    return true;
  }

  private listening = false;

  private async startListening(): Promise<void> {
    if (!this.stack || !this.slots || this.listening || this.leaving) return;
    this.listening = true;
    for (const { handle, address, port } of this.handles) {
      // Half-open, as a C server is: a client that sends its commands and
      // shuts down its side at once still gets every reply.
      const server = net.createServer({ allowHalfOpen: true }, (socket) => this.accept(socket));
      const ok = await new Promise<boolean>((resolve) => {
        server.once('error', (e: NodeJS.ErrnoException) => {
          send({ type: 'listen-error', address, port, code: e.code ?? 'EIO' });
          resolve(false);
        });
        server.listen(handle as net.ListenOptions, () => {
          // A socket the master could not bind would listen on a port of the kernel's choosing.
          const at = server.address();
          if (at && typeof at === 'object' && at.port === port) return resolve(true);
          send({ type: 'listen-error', address, port, code: 'EADDRINUSE' });
          server.close();
          resolve(false);
        });
      });
      if (!ok) {
        process.exitCode = 1;
        setImmediate(() => process.exit(1));
        return;
      }
      server.on('error', () => undefined);
      this.servers.push(server);
    }
    send({ type: 'ready' });
  }

  private accept(socket: net.Socket): void {
    if (!this.taken) {
      this.taken = true;
      send({ type: 'taken' });
    }
    socket.on('error', () => undefined);
    this.slots!.admit(socket);
  }

  private closeListeners(): void {
    for (const s of this.servers) s.close();
    this.servers.length = 0;
  }

  /** Finish every session, then leave. */
  async retire(): Promise<void> {
    if (this.leaving) return;
    this.leaving = true;
    this.closeListeners();
    if (this.slots && !this.slots.idle) await new Promise<void>((r) => (this.slots!.onIdle = () => this.slots!.idle && r()));
    await this.stack?.close().catch(() => undefined);
    process.exit(0);
  }

  /** Let commits under way answer, then close the sessions and leave. */
  async stop(): Promise<void> {
    this.leaving = true;
    this.closeListeners();
    if (this.stack) await Promise.race([this.stack.commitsDone(), new Promise((r) => setTimeout(r, STOP_COMMIT_WAIT_MS))]);
    // The 250 for a commit that just finished is written in the same turn; end() sends it before the FIN.
    await new Promise((r) => setImmediate(r));
    const sockets = [...(this.slots?.sockets ?? [])];
    if (!sockets.length) process.exit(0);
    let open = sockets.length;
    for (const s of sockets) {
      s.once('close', () => --open === 0 && process.exit(0));
      s.end();
    }
    setTimeout(() => process.exit(0), STOP_CLOSE_WAIT_MS);
  }
}

/** The worker's log sink: the maillog_file descriptor the master handed over, or syslog. */
function workerSink(init: WorkerInit): LogSink {
  const config = Config.load(init.configDir, init.options);
  const opened = openLogSink(logSettingsFrom((n) => config.get(n)), { fd: init.logFd ? WORKER_LOG_FD : undefined, batch: true });
  if ('error' in opened) throw new ConfigError(opened.error);
  return opened.sink;
}

/** Entry point of a forked worker (the environment holds its WorkerInit). */
export async function runWorker(): Promise<void> {
  const init = JSON.parse(process.env[WORKER_ENV] ?? '{}') as WorkerInit;
  delete process.env[WORKER_ENV];
  process.title = `${init.command} -n ${init.service} -t ${init.type}`;
  const pending: Array<[MasterMessage, unknown]> = [];
  let worker: Worker | undefined;
  process.on('message', (msg: MasterMessage, handle: unknown) => (worker ? worker.onMessage(msg, handle) : pending.push([msg, handle])));
  process.on('disconnect', () => {
    worker?.anvil.fail();
    void (worker ? worker.retire() : process.exit(0));
  });
  process.on('SIGTERM', () => void (worker ? worker.stop() : process.exit(0)));
  process.on('SIGHUP', () => undefined);
  let sink: LogSink;
  try {
    sink = workerSink(init);
  } catch (e) {
    send({ type: 'fatal', text: (e as Error).message });
    process.exit(1);
  }
  const log = createLogger(sink, `postfix/${init.command}`);
  process.on('uncaughtException', (e) => {
    log.fatal(`uncaught exception: ${e.stack ?? e.message}`.split('\n').join(' '));
    process.exit(1);
  });
  worker = new Worker(init, sink);
  for (const [msg, handle] of pending.splice(0)) worker.onMessage(msg, handle);
  if (!(await worker.build())) process.exit(1);
}
