// Mirrors Postfix's master(8) (master/master.c, master_conf.c, master_sig.c,
// master_vars.c): the resident process that `postfix start` leaves behind.
// It locks pid/master.pid and $data_directory/master.lock, reads main.cf
// and master.cf, creates the endpoints (inet, unix, fifo) of every service
// it can run, starts their processes (the registry, ./programs.ts, says
// how each command runs), says which services it cannot run, and then
// waits for signals: SIGHUP re-reads the configuration (kept services get
// new processes, old ones finish their sessions), SIGTERM stops gracefully
// (messages being committed still get their reply), SIGINT and SIGQUIT
// stop at once. Errors end it with "postfix/master[pid]: fatal: ..." in
// the log, as Postfix's do. It also holds anvil(8)'s table (./anvil.ts) for
// every worker. Touches the queue's pid/, public/ and private/ entries of
// its services, the data directory lock and its own children.
import * as fs from 'node:fs';
import { Config, ConfigError } from '../config/config.js';
import { createLogger, type LogSink, type MailLogger } from '../log/logger.js';
import { logSettingsFrom, openLogSink } from '../log/sink.js';
import { type Family, type InetAddress, inetProtocols, interfaceAddresses } from './endpoints.js';
import { AnvilServer } from './anvil.js';
import { FlushHost } from './flush-host.js';
import { openLock, writePid } from './lock.js';
import { lookupProgram, missingProgramWarning } from './programs.js';
import { type ServiceSpec, readServices } from './services.js';
import { ServiceSupervisor, type SupervisorEnv } from './supervisor.js';
import { type Ownership, resolveOwnership } from './users.js';

/** How long a graceful stop waits for workers before it kills them (postfix stop forces after 5 s). */
const STOP_GRACE_MS = 4000;

export class MasterExit extends Error {}

export interface MasterOptions {
  configDir: string;
  /** Where to report a finished start-up (postfix start waits on it), or undefined. */
  statusFd?: number;
  /** The script that forks into a worker. */
  workerScript: string;
}

interface Logging {
  sink: LogSink;
  fd?: number;
  close(): void;
}

class Master {
  private config!: Config;
  private logging!: Logging;
  private log!: MailLogger;
  private owners!: Ownership;
  private families: Family[] = [];
  private bareAddresses: InetAddress[] = [];
  private savedInterfaces = '';
  private readonly supervisors = new Map<string, ServiceSupervisor>();
  private specs: ServiceSpec[] = [];
  private readonly locks: number[] = [];
  private leaving = false;
  private anvil: AnvilServer | null = null;
  /** The services the master serves itself (flush), by key. */
  private readonly hosted = new Map<string, FlushHost>();

  constructor(private readonly opts: MasterOptions) {}

  private fatal(text: string): never {
    this.log.fatal(text);
    throw new MasterExit(text);
  }

  private loadConfig(): Config {
    return Config.load(this.opts.configDir);
  }

  private openLogging(config: Config): Logging | { error: string } {
    return openLogSink(logSettingsFrom((n) => config.get(n)));
  }

  /** Everything before "daemon started": locks, configuration, sockets, first workers. */
  async start(): Promise<void> {
    process.umask(0o077);
    try {
      this.config = this.loadConfig();
    } catch (e) {
      this.log = createLogger({ write: (t, x) => process.stderr.write(`${t}: ${x}\n`) }, 'postfix/master');
      this.fatal((e as Error).message);
    }
    const logging = this.openLogging(this.config);
    if ('error' in logging) {
      this.log = createLogger({ write: (t, x) => process.stderr.write(`${t}: ${x}\n`) }, 'postfix/master');
      this.fatal(logging.error);
    }
    this.logging = logging;
    this.log = createLogger(logging.sink, `${this.config.get('syslog_name')}/master`);
    const owners = resolveOwnership(this.opts.configDir, this.config.get('mail_owner'), this.config.get('setgid_group'));
    if (!owners.ok) this.fatal(owners.error);
    this.owners = owners.owners;
    const queueDir = this.config.get('queue_directory');
    try {
      process.chdir(queueDir);
    } catch (e) {
      this.fatal(`chdir ${queueDir}: ${(e as Error).message.replace(/^.*?: /, '')}`);
    }
    this.lockFiles();
    await this.readNetworkSettings(true);
    this.specs = await this.readMasterCf();
    await this.startServices(this.specs);
    this.installSignals();
    this.log.info(`daemon started -- version ${this.config.get('mail_version')}, configuration ${this.config.get('config_directory')}`);
    this.reportStarted();
  }

  /** pid/master.pid and $data_directory/master.lock, as master.c takes them. */
  private lockFiles(): void {
    const pidLock = openLock('pid/master.pid', 0o644);
    if ('error' in pidLock) this.fatal(`open lock file pid/master.pid: ${pidLock.error}`);
    writePid(pidLock.fd);
    this.locks.push(pidLock.fd);
    const dataLockPath = `${this.config.get('data_directory')}/master.lock`;
    const dataLock = this.asMailOwner(() => openLock(dataLockPath, 0o644));
    if ('error' in dataLock) this.fatal(`open lock file ${dataLockPath}: ${dataLock.error}`);
    writePid(dataLock.fd);
    this.locks.push(dataLock.fd);
  }

  /** set_eugid(mail_owner) around fn, when running as root. */
  private asMailOwner<T>(fn: () => T): T {
    if (!this.owners.privileged) return fn();
    process.setegid!(this.owners.mailOwner.gid);
    process.seteuid!(this.owners.mailOwner.uid);
    try {
      return fn();
    } finally {
      process.seteuid!(0);
      process.setegid!(0);
    }
  }

  /** inet_protocols and inet_interfaces (the latter only at start: a change needs a restart). */
  private async readNetworkSettings(first: boolean): Promise<void> {
    const protocols = inetProtocols(this.config.get('inet_protocols'));
    if ('error' in protocols) this.fatal(protocols.error);
    this.families = protocols.families;
    if (!this.families.length) {
      this.log.warning(`all network protocols are disabled (inet_protocols = ${this.config.get('inet_protocols')})`);
      this.log.warning('disabling all type "inet" services in master.cf');
      return;
    }
    if (!first) return;
    this.savedInterfaces = this.config.get('inet_interfaces');
    const addrs = await interfaceAddresses(this.savedInterfaces, this.families);
    if ('error' in addrs) this.fatal(addrs.error);
    this.bareAddresses = addrs;
  }

  private async readMasterCf(): Promise<ServiceSpec[]> {
    const r = await readServices({
      configDir: this.opts.configDir,
      defaultProcessLimit: this.config.getInt('default_process_limit'),
      compatibilityLevel: this.config.get('compatibility_level'),
      masterServiceDisable: this.config.get('master_service_disable'),
      families: this.families,
      bareAddresses: this.bareAddresses,
    });
    if (!r.ok) this.fatal(r.error);
    for (const w of r.warnings) this.log.warning(w);
    return r.services;
  }

  private supervisorEnv(): SupervisorEnv {
    // A getter: a reload reopens the log, and supervisors that outlive it log to the new one.
    const master = this;
    return {
      get log() {
        return master.log;
      },
      configDir: this.opts.configDir,
      daemonDir: this.config.get('daemon_directory'),
      queueDir: this.config.get('queue_directory'),
      throttleSeconds: this.config.getTime('service_throttle_time'),
      workerScript: this.opts.workerScript,
      logFd: () => this.logging.fd,
      ownership: this.owners,
      unixOptions: () => Object.fromEntries(this.specs.filter((s) => s.type === 'unix').map((s) => [s.ext, s.options])),
      anvil: this.anvilServer(),
    };
  }

  /** The anvil every worker asks, created at start and given the new settings on reload. */
  private anvilServer(): AnvilServer {
    const log = createLogger(this.logging.sink, `${this.config.get('syslog_name')}/anvil`);
    const unit = this.config.getTime('anvil_rate_time_unit');
    const status = this.config.getTime('anvil_status_update_time');
    if (this.anvil) this.anvil.configure(log, unit, status);
    else this.anvil = new AnvilServer(log, unit, status);
    return this.anvil;
  }

  /** Binds and starts every runnable service; warns once about each one this project cannot run. */
  private async startServices(specs: ServiceSpec[], reloading = false): Promise<void> {
    const starts: Array<Promise<{ ok: true } | { ok: false; error: string }>> = [];
    for (const spec of specs) {
      const { kind } = lookupProgram(spec.entry.command, spec.type);
      if (kind === 'missing') {
        this.log.warning(missingProgramWarning(spec.ext, spec.type, spec.entry.command));
        continue;
      }
      if (kind === 'in-process') continue;
      if (kind === 'master') {
        const error = await this.hostService(spec);
        if (error && !reloading) this.fatal(error);
        if (error) this.log.warning(error);
        continue;
      }
      const sup = new ServiceSupervisor(this.supervisorEnv(), spec, kind);
      const bindError = sup.bind();
      if (bindError) {
        if (reloading) {
          this.log.warning(bindError);
          continue;
        }
        this.fatal(bindError);
      }
      this.supervisors.set(spec.key, sup);
      starts.push(sup.start());
    }
    for (const outcome of await Promise.all(starts)) if (!outcome.ok && !reloading) this.fatal(outcome.error);
  }

  /** Binds and starts a service the master serves itself; an error text when it cannot. */
  private async hostService(spec: ServiceSpec): Promise<string | null> {
    const host = new FlushHost({
      configDir: this.opts.configDir,
      sink: () => this.logging.sink,
      owner: this.owners.privileged ? this.owners.mailOwner : null,
      asOwner: (fn) => this.asMailOwner(fn),
      fatal: (text) => this.log.warning(`service ${spec.ext}: ${text}`),
    }, spec);
    const bindError = host.bind();
    if (bindError) return bindError;
    const started = await host.start();
    if (!started.ok) {
      host.close();
      return started.error;
    }
    this.hosted.set(spec.key, host);
    return null;
  }

  private reportStarted(): void {
    if (this.opts.statusFd === undefined) return;
    try {
      fs.writeSync(this.opts.statusFd, Buffer.from([0]));
      fs.closeSync(this.opts.statusFd);
    } catch {
      // postfix start went away; nothing to tell
    }
  }

  private installSignals(): void {
    process.on('SIGHUP', () => void this.reload().catch((e: unknown) => this.die(e)));
    process.on('SIGTERM', () => void this.terminate('SIGTERM', false));
    process.on('SIGINT', () => void this.terminate('SIGINT', true));
    process.on('SIGQUIT', () => void this.terminate('SIGQUIT', true));
  }

  /** A fatal error after start-up: the workers see the master go and finish their sessions. */
  die(e: unknown): never {
    if (!(e instanceof MasterExit)) this.log.fatal(String((e as Error).stack ?? e).split('\n').join(' '));
    process.exit(1);
  }

  /** master_sighup + master_refresh: new settings for kept services, start new ones, stop removed ones. */
  private async reload(): Promise<void> {
    if (this.leaving) return;
    this.log.info(`reload -- version ${this.config.get('mail_version')}, configuration ${this.config.get('config_directory')}`);
    try {
      this.config = this.loadConfig();
    } catch (e) {
      this.fatal(e instanceof ConfigError ? e.message : String(e));
    }
    this.reopenLogging();
    this.anvilServer();
    await this.readNetworkSettings(false);
    const specs = await this.readMasterCf();
    const before = new Set(this.specs.map((spec) => spec.key));
    const interfacesChanged = this.config.get('inet_interfaces') !== this.savedInterfaces;
    const toStart: ServiceSpec[] = [];
    for (const spec of specs) {
      if (spec.type === 'inet' && interfacesChanged) {
        this.log.warning(`service ${spec.ext}: ignoring inet_interfaces change`);
        this.log.warning('to change inet_interfaces, stop and start Postfix');
      }
      const { kind } = lookupProgram(spec.entry.command, spec.type);
      const hosted = this.hosted.get(spec.key);
      if (hosted && kind === 'master') {
        const error = await hosted.update(spec);
        if (error) this.log.warning(error);
        continue;
      }
      if (hosted) {
        hosted.close();
        this.hosted.delete(spec.key);
      }
      const sup = this.supervisors.get(spec.key);
      const runnable = kind === 'workers' || kind === 'single';
      if (sup && sup.kind === kind) {
        sup.update(spec);
        continue;
      }
      if (sup) {
        sup.remove();
        this.supervisors.delete(spec.key);
      }
      if (runnable || kind === 'master' || !before.has(spec.key)) toStart.push(spec);
      else if (sup && kind === 'missing') this.log.warning(missingProgramWarning(spec.ext, spec.type, spec.entry.command));
    }
    const keys = new Set(specs.map((spec) => spec.key));
    for (const [key, host] of this.hosted) {
      if (keys.has(key)) continue;
      host.close();
      this.hosted.delete(key);
    }
    for (const [key, sup] of this.supervisors) {
      if (keys.has(key)) continue;
      sup.remove();
      this.supervisors.delete(key);
    }
    this.specs = specs;
    await this.startServices(toStart, true);
  }

  /** A new maillog_file descriptor for workers started from now on (postfix logrotate renames the file, then reloads). */
  private reopenLogging(): void {
    const r = this.openLogging(this.config);
    if ('error' in r) this.fatal(r.error);
    const old = this.logging;
    this.logging = r;
    this.log = createLogger(r.sink, `${this.config.get('syslog_name')}/master`);
    old.close();
  }

  /** master_sigdeath(), made graceful for SIGTERM. */
  private async terminate(signal: NodeJS.Signals, immediate: boolean): Promise<void> {
    if (this.leaving && !immediate) return;
    this.leaving = true;
    const number = { SIGINT: 2, SIGQUIT: 3, SIGTERM: 15 }[signal as 'SIGTERM'] ?? 15;
    this.log.info(`terminating on signal ${number}`);
    const stops = [...this.supervisors.values()].map((s) => s.stop(immediate));
    const timer = new Promise((r) => setTimeout(r, STOP_GRACE_MS));
    await Promise.race([Promise.all(stops), timer]);
    this.killAll();
    for (const host of this.hosted.values()) host.close();
    this.anvil?.close();
    process.exit(0);
  }

  private killAll(): void {
    for (const sup of this.supervisors.values()) {
      for (const pid of sup.pids()) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
  }
}

/** Runs the master; resolves once it is up (it then lives on signals), rejects after a fatal error was logged. */
export async function runMaster(opts: MasterOptions): Promise<void> {
  const master = new Master(opts);
  process.title = 'master';
  await master.start();
  process.on('uncaughtException', (e) => master.die(e));
}
