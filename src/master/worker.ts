// A process of a master.cf service: what Postfix's server skeletons
// (master/single_server.c, multi_server.c, trigger_server.c) do for a
// daemon the master started. It takes its service description from the
// environment, loads its program by command name from the registry
// (./programs.ts), takes its endpoints from the master (inet and unix
// sockets as handles, shared by every process of the service so the kernel
// spreads connections over them; a FIFO as an inherited descriptor), and
// hands the program each stream connection, or each trigger request (the
// bytes written to its FIFO, or one read of a short connection, or the
// master's wakeup). Concurrent sessions are bounded by the slots of the
// service's process_limit it holds (./slots.ts; later clients wait, as they
// would in the listen queue, while it asks the master for more). It leaves when told: "retire" finishes the sessions in
// progress, "stop" lets the program drain (messages being committed get
// their reply) and closes the rest. When the master goes away it retires.
// Touches the queue and tables only through its program.
import * as net from 'node:net';
import { ConfigError } from '../config/config.js';
import type { LogSink } from '../log/logger.js';
import { createLogger } from '../log/logger.js';
import { logSettingsFrom, openLogSink } from '../log/sink.js';
import { Config } from '../config/config.js';
import { type ListenerInfo, type MasterMessage, type WorkerInit, type WorkerMessage, WORKER_ENV, WORKER_LOG_FD } from './protocol.js';
import { IpcAnvilClient } from './anvil.js';
import type { Program, ProgramContext, ProgramModule } from './program.js';
import { programModule } from './programs.js';
import { SessionSlots } from './slots.js';
import { checkDaemonParams } from './daemon-params.js';
import { loadServiceConfig } from '../config/service-config.js';

/** How long a stopping worker waits for commits under way before it closes every session. */
const STOP_COMMIT_WAIT_MS = 3000;
/** How long it then waits for clients to close their side. */
const STOP_CLOSE_WAIT_MS = 200;

function send(msg: WorkerMessage): boolean {
  if (!process.connected || !process.send) return false;
  process.send(msg);
  return true;
}

/** Bytes of one trigger request, as trigger_server reads them. */
const TRIGGER_BUFFER = 1024;
/** How long a trigger connection may take to send its request. */
const TRIGGER_READ_MS = 100_000;

/** A program that could not start: its first connection logs why and ends the process. */
function fatalOnUse(text: string, log: { fatal(t: string): void }): Program {
  return {
    ready: Promise.resolve(),
    connection: (socket) => {
      log.fatal(text);
      send({ type: 'fatal', text });
      socket.destroy();
      process.exitCode = 1;
      setImmediate(() => process.exit(1));
    },
    drain: () => Promise.resolve(),
    close: () => Promise.resolve(),
  };
}

class Worker {
  private readonly handles = new Map<number, unknown>();
  private readonly servers: net.Server[] = [];
  private readonly fifos: net.Socket[] = [];
  private module: ProgramModule | undefined;
  private program: Program | undefined;
  private readonly slots: SessionSlots;
  private taken = false;
  private leaving = false;
  private listening = false;
  readonly anvil = new IpcAnvilClient(send);

  constructor(
    private readonly init: WorkerInit,
    private readonly sink: LogSink,
  ) {
    this.slots = new SessionSlots(init.slotLimited ?? init.slots > 0, init.slots, send);
  }

  /** How many endpoints arrive as handles (every one but the FIFOs). */
  private get handleCount(): number {
    return this.init.listeners.filter((l) => l.kind !== 'fifo').length;
  }

  onMessage(msg: MasterMessage, handle: unknown): void {
    if (msg.type === 'listen') {
      this.handles.set(msg.index, handle);
      if (this.handles.size === this.handleCount) void this.startListening();
    } else if (msg.type === 'accept') {
      const info = this.init.listeners[msg.index];
      if (!info || !handle || this.leaving) return void (handle as { close?(): void } | undefined)?.close?.();
      // As the listener's own clients arrive: half-open, and paused until the program reads.
      const options = { handle, allowHalfOpen: true, pauseOnCreate: true } as unknown as net.SocketConstructorOpts;
      this.accept(new net.Socket(options), info);
    } else if (msg.type === 'retire') {
      void this.retire();
    } else if (msg.type === 'stop') {
      void this.stop();
    } else if (msg.type === 'wakeup') {
      const first = this.init.listeners[0];
      if (first && this.program) this.trigger(Buffer.from('W'), first);
    } else if (msg.type === 'anvil-reply') {
      this.anvil.answer(msg);
    } else if (msg.type === 'slot-grant') {
      this.slots.granted(msg.count);
    } else if (msg.type === 'slot-lend') {
      this.slots.lend(msg.on);
    }
  }

  async build(): Promise<boolean> {
    const { init } = this;
    const log = createLogger(this.sink, `postfix/${init.command}`);
    let config: Config | undefined;
    const ctx: ProgramContext = {
      init,
      config: () => (config ??= loadServiceConfig(init.configDir, init.service, init.command, init.options)),
      sink: this.sink,
      log,
      anvil: this.anvil,
      listeners: init.listeners,
    };
    try {
      this.module = programModule(init.command);
      if (!this.module) throw new ConfigError(`no program for command "${init.command}"`);
      checkDaemonParams(ctx.config());
      // Not this.program until ready: the listen handle may arrive while the
      // program starts, and a client handed over before then would find it
      // unable to serve (local's agent, say, still opening its tables).
      const program = this.module.start(ctx);
      await program.ready;
      this.program = program;
    } catch (e) {
      const text = e instanceof ConfigError ? e.message : String((e as Error).message ?? e);
      if (e instanceof ConfigError && init.type === 'unix' && this.module?.skeleton === 'stream') {
        // Postfix's master starts a unix service's process only when a
        // client connects, so a configuration it cannot run with is
        // reported then, once per attempt, and the client sees the
        // connection drop (qmgr defers the mail). This process stands in
        // for that: it listens, and dies the same way on first use.
        this.program = fatalOnUse(text, log);
      } else {
        if (e instanceof ConfigError) log.fatal(text);
        send({ type: 'fatal', text });
        return false;
      }
    }
    if (this.handles.size === this.handleCount) await this.startListening();
    return true;
  }

  private async startListening(): Promise<void> {
    if (!this.program || this.listening || this.leaving) return;
    this.listening = true;
    for (const [index, info] of this.init.listeners.entries()) {
      if (info.kind === 'fifo') {
        this.readFifo(info);
        continue;
      }
      if (!(await this.listen(index, info))) {
        process.exitCode = 1;
        setImmediate(() => process.exit(1));
        return;
      }
    }
    send({ type: 'ready' });
  }

  /** listen() on the master's socket; false after telling the master why not. */
  private async listen(index: number, info: ListenerInfo): Promise<boolean> {
    // Half-open, as a C server is: a client that sends its commands and
    // shuts down its side at once still gets every reply. Paused: nothing is
    // read before the program reads, as a C server's kernel buffer keeps it;
    // Node would otherwise take in a client's end of file while the socket
    // waits for a slot, and announce it to no one, leaving the session to
    // wait smtpd_timeout for input that never comes.
    const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (socket) => this.accept(socket, info));
    const ok = await new Promise<boolean>((resolve) => {
      server.once('error', (e: NodeJS.ErrnoException) => {
        send({ type: 'listen-error', index, code: e.code ?? 'EIO' });
        resolve(false);
      });
      server.listen(this.handles.get(index) as net.ListenOptions, () => {
        // An inet socket the master could not bind would listen on a port of the kernel's choosing.
        const at = server.address();
        if (info.kind !== 'inet' || (at && typeof at === 'object' && at.port === info.port)) return resolve(true);
        send({ type: 'listen-error', index, code: 'EADDRINUSE' });
        server.close();
        resolve(false);
      });
    });
    if (!ok) return false;
    server.on('error', () => undefined);
    this.servers.push(server);
    return true;
  }

  /** A FIFO held open read-write: it never reports end of file, each read is one or more requests. */
  private readFifo(info: ListenerInfo & { kind: 'fifo' }): void {
    const fifo = new net.Socket({ fd: info.fd, readable: true, writable: false });
    fifo.on('error', () => undefined);
    fifo.on('data', (chunk: Buffer) => {
      for (let at = 0; at < chunk.length; at += TRIGGER_BUFFER) this.trigger(chunk.subarray(at, at + TRIGGER_BUFFER), info);
    });
    this.fifos.push(fifo);
  }

  private markTaken(): void {
    if (this.taken) return;
    this.taken = true;
    send({ type: 'taken' });
  }

  private trigger(request: Buffer, info: ListenerInfo): void {
    if (this.leaving || !request.length) return;
    this.markTaken();
    this.program?.trigger?.(request, info);
  }

  private accept(socket: net.Socket, info: ListenerInfo): void {
    socket.on('error', () => undefined);
    // pauseOnConnect leaves the stream marked as paused on purpose, which would
    // keep a program's 'data' listener from starting it; undo only the mark
    // (reading starts when that listener is added).
    const unpause = () => ((socket as { readableFlowing: boolean | null }).readableFlowing = null);
    if (this.module?.skeleton === 'trigger') {
      // One read, then the connection is closed (the client waits for that).
      unpause();
      socket.setTimeout(TRIGGER_READ_MS, () => socket.destroy());
      socket.once('data', (chunk: Buffer) => {
        socket.destroy();
        this.trigger(chunk.subarray(0, TRIGGER_BUFFER), info);
      });
      socket.once('end', () => socket.destroy());
      return;
    }
    this.markTaken();
    const program = this.program!;
    this.slots.admit(socket, () => {
      unpause();
      if (program.connection) program.connection(socket, info);
      else socket.destroy();
    });
  }

  private closeListeners(): void {
    for (const s of this.servers) s.close();
    for (const f of this.fifos) f.destroy();
    this.servers.length = 0;
    this.fifos.length = 0;
  }

  /** Finish every session, then leave. */
  async retire(): Promise<void> {
    if (this.leaving) return;
    this.leaving = true;
    this.closeListeners();
    this.slots.retire();
    if (!this.slots.idle) await new Promise<void>((r) => (this.slots.onIdle = () => this.slots.idle && r()));
    await this.program?.close().catch(() => undefined);
    process.exit(0);
  }

  /** Let the program drain (commits under way answer), then close the sessions and leave. */
  async stop(): Promise<void> {
    this.leaving = true;
    this.closeListeners();
    if (this.program) await Promise.race([this.program.drain().catch(() => undefined), new Promise((r) => setTimeout(r, STOP_COMMIT_WAIT_MS))]);
    // The 250 for a commit that just finished is written in the same turn; end() sends it before the FIN.
    await new Promise((r) => setImmediate(r));
    const sockets = [...this.slots.sockets];
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
