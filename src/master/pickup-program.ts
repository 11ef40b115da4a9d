// pickup(8) as a program of the master's registry: a "single" trigger
// program on public/pickup (FIFO or UNIX socket). Each request (a "W" from
// postdrop or postkick, the master's wakeup timer) makes it scan maildrop/;
// it also scans once when it starts, so mail dropped while the daemon was
// down is taken at once. The cleanup work runs in-process, built as
// ./smtpd-stack.ts builds it: main.cf plus the -o settings of the service
// named by cleanup_service_name. Touches maildrop/ and, through cleanup,
// incoming/.
import { AddressResolver } from '../address/resolve.js';
import { TableCache } from '../address/maps.js';
import { createCleanupService } from '../cleanup/service.js';
import { ConfigError } from '../config/config.js';
import { loadServiceConfig } from '../config/service-config.js';
import { createLogger } from '../log/logger.js';
import { layoutFromConfig } from '../queue/layout.js';
import { Pickup, pickupCleanupFlags } from '../pickup/pickup.js';
import type { ProgramContext, ProgramModule } from './program.js';
import { lookupUser } from './users.js';

export const pickupProgram: ProgramModule = {
  skeleton: 'trigger',
  start(ctx: ProgramContext) {
    const { init } = ctx;
    const config = ctx.config();
    const cleanupName = config.get('cleanup_service_name') || 'cleanup';
    const cleanupConfig = loadServiceConfig(init.configDir, cleanupName, 'cleanup', init.unixOptions[cleanupName] ?? []);
    const cleanupUtf8 = cleanupConfig.getBool('smtputf8_enable');
    const cleanupLog = createLogger(ctx.sink, `${cleanupConfig.get('syslog_name')}/cleanup`, process.pid, cleanupUtf8);
    const resolver = new AddressResolver(cleanupConfig, { cache: new TableCache(cleanupLog, cleanupUtf8), log: cleanupLog });
    const cleanup = createCleanupService({ config: cleanupConfig, resolver, logger: cleanupLog });
    const layout = layoutFromConfig(config);
    if ('error' in layout) throw new ConfigError(layout.error);
    const flags = pickupCleanupFlags(config.get('receive_override_options'), config.getBool('smtputf8_enable'), config.get('smtputf8_autodetect_classes'));
    const log = createLogger(ctx.sink, `${config.get('syslog_name')}/${init.command}`, process.pid, config.getBool('smtputf8_enable'));
    const pickup = new Pickup({
      queueDir: config.get('queue_directory'),
      layout,
      cleanup,
      log,
      myhostname: config.get('myhostname'),
      mailName: config.get('mail_name'),
      contentFilter: config.get('content_filter'),
      ownerUid: lookupUser(config.get('mail_owner'))?.uid ?? -1,
      cleanupFlags: flags.normal,
      requeueFlags: flags.requeue,
      lineLimit: config.getInt('line_length_limit'),
    });
    const scan = () => {
      pickup.wakeup().catch((e: unknown) => log.warning(`maildrop scan failed: ${(e as Error).message}`));
    };
    const ready = Promise.all([cleanup.ready, resolver.ready()]).then(scan);
    ready.catch(() => undefined);
    return {
      ready,
      trigger: scan,
      drain: () => pickup.idle(),
      close: async () => {
        await pickup.close();
        await cleanup.close();
        await resolver.close().catch(() => undefined);
      },
    };
  },
};
