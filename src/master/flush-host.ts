// The flush(8) service of master.cf, run inside the master process rather
// than in a process of its own: its work is a few small synchronous file
// operations per request, too little to pay a Node process for. The
// master creates public/flush as for any unix service (./listeners.ts),
// listens on it itself, and hands each connection to src/flush's server;
// the service's configuration is main.cf with its -o settings, re-read on
// reload; master.cf's wakeup field ("1000?") becomes a timer that asks for
// a refresh, only once the service was used when written with "?". Started
// as root, the master does the service's file operations as mail_owner.
// Touches public/flush (or the service's socket) and, through src/flush,
// flush/ and the queue files it names.
import * as net from 'node:net';
import type { LogSink } from '../log/logger.js';
import { createLogger } from '../log/logger.js';
import { loadServiceConfig } from '../config/service-config.js';
import { ConfigError } from '../config/config.js';
import { FlushServer, createFlushService } from '../flush/api.js';
import { mailTrigger } from '../queue/mail-trigger.js';
import { createListeners, type MasterListener } from './listeners.js';
import type { ServiceSpec } from './services.js';
import type { Account } from './users.js';

export interface FlushHostEnv {
  configDir: string;
  /** The current log destination (a reload may reopen it). */
  sink(): LogSink;
  /** mail_owner when the master runs as root, else null. */
  owner: Account | null;
  /** Runs fn with mail_owner's effective uid and gid (as is, when not root). */
  asOwner<T>(fn: () => T): T;
  /** Logs a fatal error of the service (the master's log). */
  fatal(text: string): void;
}

export class FlushHost {
  private listeners: MasterListener[] = [];
  private server: FlushServer | null = null;
  private netServer: net.Server | null = null;
  private wakeup: NodeJS.Timeout | null = null;
  private used = false;
  /** qmgr triggers go out one after another, in the order the service asked. */
  private triggers: Promise<unknown> = Promise.resolve();

  constructor(private readonly env: FlushHostEnv, private spec: ServiceSpec) {}

  /** Creates the endpoint; the master's fatal text, or null. */
  bind(): string | null {
    const r = createListeners(this.spec, this.env.owner);
    if (!r.ok) return r.error;
    this.listeners = r.listeners;
    return null;
  }

  /** Builds the service from the configuration and starts accepting; an error text when the configuration is unusable. */
  async start(): Promise<{ ok: true } | { ok: false; error: string }> {
    const built = await this.build();
    if ('error' in built) return { ok: false, error: built.error };
    this.server = built.server;
    const handle = this.listeners[0]?.handle;
    if (!handle) return { ok: false, error: `service ${this.spec.ext}: no endpoint` };
    const srv = net.createServer({ allowHalfOpen: true }, (sock) => {
      this.used = true;
      this.server?.connection(sock);
    });
    srv.on('error', (e) => this.env.fatal(`flush service ${this.spec.ext}: ${e.message}`));
    srv.listen({ handle } as unknown as net.ListenOptions);
    this.netServer = srv;
    this.scheduleWakeup();
    return { ok: true };
  }

  private async build(): Promise<{ server: FlushServer } | { error: string }> {
    const { spec } = this;
    let config;
    try {
      config = loadServiceConfig(this.env.configDir, spec.ext, spec.entry.command, spec.options);
    } catch (e) {
      return { error: e instanceof ConfigError ? e.message : String(e) };
    }
    const log = createLogger(this.env.sink(), `${config.get('syslog_name')}/${commandBase(spec.entry.command)}`);
    const queueDir = config.get('queue_directory');
    const qmgr = `public/${config.get('queue_service_name')}`;
    const trigger = (request: string) => {
      this.triggers = this.triggers.then(() => mailTrigger(queueDir, qmgr, request, log)).catch(() => undefined);
    };
    try {
      const service = await createFlushService(config, log, trigger, (fn) => this.env.asOwner(fn));
      if (this.server) {
        this.server.configure(service, log);
        return { server: this.server };
      }
      return { server: new FlushServer(service, log, (text) => this.env.fatal(text)) };
    } catch (e) {
      return { error: e instanceof ConfigError ? e.message : String(e) };
    }
  }

  /** A reload: the new master.cf entry and configuration for new requests. */
  async update(spec: ServiceSpec): Promise<string | null> {
    this.spec = spec;
    const built = await this.build();
    if ('error' in built) return built.error;
    this.scheduleWakeup();
    return null;
  }

  /** master.cf's wakeup: a refresh request every so many seconds. */
  private scheduleWakeup(): void {
    if (this.wakeup) clearInterval(this.wakeup);
    this.wakeup = null;
    const seconds = this.spec.entry.wakeup;
    if (seconds <= 0) return;
    this.wakeup = setInterval(() => {
      if (this.spec.entry.wakeupConditional && !this.used) return;
      this.refresh();
    }, seconds * 1000);
    this.wakeup.unref();
  }

  /** The master's wake-up request, served as a client's "W" would be. */
  private refresh(): void {
    this.server?.wakeup();
  }

  close(): void {
    if (this.wakeup) clearInterval(this.wakeup);
    this.wakeup = null;
    this.netServer?.close();
    this.netServer = null;
    for (const l of this.listeners) l.close();
    this.listeners = [];
  }
}

function commandBase(command: string): string {
  return command.slice(command.lastIndexOf('/') + 1);
}
