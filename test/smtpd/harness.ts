// Test harness for the SMTP server: starts this project's smtpd service for
// every inet smtpd entry of a fixture's master.cf (with its -o overrides)
// on 127.0.0.1, with a fake cleanup that keeps the records it was sent and
// the flush service in-process for ETRN.
// Only for use inside a private network namespace (test/lib/netns.ts).
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Config } from '../../src/config/config.js';
import { parseMasterFile } from '../../src/config/mastercf.js';
import { AddressResolver } from '../../src/address/resolve.js';
import { TableCache } from '../../src/address/maps.js';
import { createLogger, memorySink } from '../../src/log/logger.js';
import type { CleanupResult, CleanupService, CleanupSession } from '../../src/cleanup/api.js';
import { createSmtpdService, localConnectionCounter, type SmtpdService } from '../../src/smtpd/service.js';
import { createCleanupService, type CleanupServiceHandle } from '../../src/cleanup/service.js';
import { loadWithComputedDefaults } from '../lib/config.js';
import { createFlushService, UNTHROTTLE_BEFORE } from '../../src/flush/api.js';
import { FLUSH_STAT_BAD, FLUSH_STAT_DENY, FLUSH_STAT_OK } from '../../src/queue/flush-client.js';
import { prepareRunDir } from '../lib/daemon.js';

/** One message as the fake cleanup received it. */
export interface FakeMessage {
  flags: number;
  queueId: string;
  records: Array<[string, string]>;
  outcome: 'finished' | 'aborted' | 'open';
}

let idCounter = 0;

/** A cleanup service that accepts everything and remembers the record streams. */
export class FakeCleanup implements CleanupService {
  readonly messages: FakeMessage[] = [];
  /** Status that finish() returns (CLEANUP_STAT_*), and its reason text. */
  result: CleanupResult = { status: 0, reason: '' };

  async open(flags: number): Promise<CleanupSession> {
    const queueId = (0x1a0000000 + ++idCounter).toString(16).toUpperCase();
    const msg: FakeMessage = { flags, queueId, records: [], outcome: 'open' };
    this.messages.push(msg);
    let size = 0;
    return {
      queueId,
      record: (type, data) => {
        const text = typeof data === 'string' ? data : data.toString('latin1');
        msg.records.push([type, text]);
        if (type === 'N' || type === 'L') size += text.length;
      },
      get contentSize() {
        return size;
      },
      finish: async () => {
        msg.outcome = 'finished';
        return this.result;
      },
      abort: async () => {
        msg.outcome = 'aborted';
      },
      abandon: async () => {
        msg.outcome = 'aborted';
      },
    };
  }
}

export interface RunningFixture {
  dir: string;
  conf: string;
  ports: number[];
  cleanup: FakeCleanup;
  logLines: string[];
  stop(): Promise<void>;
}

/** The smtpd inet services of master.cf: port and -o overrides. */
function smtpdServices(conf: string): Array<{ service: string; port: number; host: string; options: Array<[string, string]> }> {
  const file = path.join(conf, 'master.cf');
  const parsed = parseMasterFile(fs.readFileSync(file, 'utf8'), file, () => undefined);
  if (!parsed.ok) throw new Error(parsed.error);
  const out = [];
  for (const e of parsed.entries) {
    if (e.type !== 'inet' || e.fields[7] !== 'smtpd') continue;
    const m = /^(?:(.*):)?([0-9]+)$/.exec(e.service);
    if (!m) continue;
    out.push({ service: e.service, port: Number(m[2]), host: m[1] ?? '127.0.0.1', options: e.options });
  }
  return out;
}

export interface FixtureOptions {
  /** Use this project's cleanup (queue files in the run directory) instead of the fake. */
  realCleanup?: boolean;
}

/** Copies the fixture, builds its tables with this project's tools, and listens on its ports. */
export async function startFixture(fixtureDir: string, opts: FixtureOptions = {}): Promise<RunningFixture> {
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'smtpd-ours-')));
  const conf = prepareRunDir('ours', fixtureDir, dir);
  const cleanup = new FakeCleanup();
  const logLines: string[] = [];
  const sink = memorySink(logLines);
  const counter = localConnectionCounter();
  const servers: net.Server[] = [];
  const services: SmtpdService[] = [];
  const resolvers: AddressResolver[] = [];
  const ports: number[] = [];
  const realCleanups: CleanupServiceHandle[] = [];
  // ETRN: this project's flush service in-process, on the run's queue (no qmgr to wake).
  const flushConfig = Config.load(conf, [['service_name', 'flush']]);
  const flush = await createFlushService(flushConfig, createLogger(sink, `${flushConfig.get('syslog_name') || 'postfix'}/flush`), () => undefined);
  const flushSite = async (site: string) => {
    const status = await flush.sendSite(site, UNTHROTTLE_BEFORE);
    return status === FLUSH_STAT_OK ? 'ok' : status === FLUSH_STAT_DENY ? 'deny' : status === FLUSH_STAT_BAD ? 'bad' : 'fail';
  };
  for (const svc of smtpdServices(conf)) {
    const config = loadWithComputedDefaults(conf, [['service_name', svc.service], ...svc.options]);
    const logger = createLogger(sink, `${config.get('syslog_name') || 'postfix'}/smtpd`);
    const resolver = new AddressResolver(config, { cache: new TableCache(logger, config.getBool('smtputf8_enable')), log: logger });
    resolvers.push(resolver);
    let serviceCleanup: CleanupService = cleanup;
    if (opts.realCleanup) {
      for (const q of ['incoming', 'active', 'deferred', 'hold', 'corrupt', 'maildrop']) fs.mkdirSync(path.join(dir, 'spool', q), { recursive: true });
      const cleanupConfig = Config.load(conf, [['service_name', 'cleanup']]);
      const cleanupLog = createLogger(sink, `${cleanupConfig.get('syslog_name') || 'postfix'}/cleanup`);
      const cleanupResolver = new AddressResolver(cleanupConfig, { cache: new TableCache(cleanupLog, cleanupConfig.getBool('smtputf8_enable')), log: cleanupLog });
      resolvers.push(cleanupResolver);
      const real = createCleanupService({ config: cleanupConfig, resolver: cleanupResolver, logger: cleanupLog });
      await real.ready;
      realCleanups.push(real);
      serviceCleanup = real;
    }
    const service = createSmtpdService({
      config, serviceName: svc.service, cleanup: serviceCleanup, resolver, logger, connectionCounter: counter,
      hooks: { sleep: async () => undefined, flushSite },
    });
    await service.ready;
    services.push(service);
    // Half-open, as the daemon's workers accept connections (src/master/worker.ts).
    const server = net.createServer({ allowHalfOpen: true }, (socket) => service.handle(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(svc.port, svc.host, () => resolve());
    });
    servers.push(server);
    ports.push(svc.port);
  }
  return {
    dir, conf, ports, cleanup, logLines,
    async stop() {
      for (const s of servers) await new Promise<void>((r) => s.close(() => r()));
      for (const s of services) await s.close();
      for (const c of realCleanups) await c.close();
      for (const r of resolvers) await r.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
