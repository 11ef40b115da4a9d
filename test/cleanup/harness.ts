// Runs this project's smtpd and cleanup services on a cleanup fixture
// (fixtures/cleanup/NN-name/): the configuration is copied to a fresh
// directory, its tables built with this project's postmap/postalias, the
// queue directories made, and the smtpd service of master.cf listens on
// 127.0.0.1 with the real cleanup service behind it. Log lines of both go
// to memory. Only for use inside a private network namespace.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { AddressResolver } from '../../src/address/resolve.js';
import { TableCache } from '../../src/address/maps.js';
import { createLogger, memorySink } from '../../src/log/logger.js';
import { createCleanupService, type CleanupServiceHandle } from '../../src/cleanup/service.js';
import { createSmtpdService, localConnectionCounter, type SmtpdService } from '../../src/smtpd/service.js';
import { loadWithComputedDefaults } from '../lib/config.js';
import { prepareRunDir } from '../lib/daemon.js';
import { masterPortOf } from './play.js';

export interface OurStack {
  dir: string;
  conf: string;
  spool: string;
  port: number;
  logLines: string[];
  cleanup: CleanupServiceHandle;
  stop(): Promise<void>;
}

const QUEUE_DIRS = ['incoming', 'active', 'deferred', 'hold', 'corrupt', 'defer', 'bounce', 'trace', 'maildrop', 'saved'];

export async function startOurs(fixtureDir: string): Promise<OurStack> {
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'cleanup-ours-')));
  const conf = prepareRunDir('ours', fixtureDir, dir);
  const spool = path.join(dir, 'spool');
  for (const q of QUEUE_DIRS) fs.mkdirSync(path.join(spool, q), { recursive: true, mode: 0o700 });
  const port = masterPortOf(fixtureDir);
  const overrides: Array<[string, string]> = [['service_name', 'smtp'], ['queue_directory', spool]];
  const config = loadWithComputedDefaults(conf, overrides);
  const logLines: string[] = [];
  const sink = memorySink(logLines);
  const smtpdLog = createLogger(sink, 'postfix/smtpd');
  const cleanupLog = createLogger(sink, 'postfix/cleanup');
  const resolver = new AddressResolver(config, { cache: new TableCache(smtpdLog, config.getBool('smtputf8_enable')), log: smtpdLog });
  const cleanup = createCleanupService({ config, resolver, logger: cleanupLog, queueDir: spool });
  await cleanup.ready;
  const smtpd: SmtpdService = createSmtpdService({
    config, serviceName: 'smtp', cleanup, resolver, logger: smtpdLog, connectionCounter: localConnectionCounter(),
    hooks: { sleep: async () => undefined },
  });
  await smtpd.ready;
  // Half-open, as the daemon's workers accept connections (src/master/worker.ts).
  const server = net.createServer({ allowHalfOpen: true }, (socket) => smtpd.handle(socket));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return {
    dir, conf, spool, port, logLines, cleanup,
    async stop() {
      await new Promise<void>((r) => server.close(() => r()));
      await smtpd.close();
      await cleanup.close();
      await resolver.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
