// pickup(8) as a program of the master's registry: a "single" trigger
// program on public/pickup (FIFO or UNIX socket). Each request (a "W" from
// postdrop or postkick, the master's wakeup timer) makes it scan maildrop/;
// it also scans once when it starts, so mail dropped while the daemon was
// down is taken at once. The cleanup work runs in-process
// (./cleanup-stack.ts: main.cf plus the -o settings of the service named by
// cleanup_service_name). Touches maildrop/ and, through cleanup,
// incoming/.
import { ConfigError } from '../config/config.js';
import { createLogger } from '../log/logger.js';
import { layoutFromConfig } from '../queue/layout.js';
import { Pickup, pickupCleanupFlags } from '../pickup/pickup.js';
import { buildCleanupStack } from './cleanup-stack.js';
import type { ProgramContext, ProgramModule } from './program.js';
import { lookupUser } from './users.js';

export const pickupProgram: ProgramModule = {
  skeleton: 'trigger',
  start(ctx: ProgramContext) {
    const { init } = ctx;
    const config = ctx.config();
    const stack = buildCleanupStack(init, config, ctx.sink);
    const layout = layoutFromConfig(config);
    if ('error' in layout) throw new ConfigError(layout.error);
    const flags = pickupCleanupFlags(config.get('receive_override_options'), config.getBool('smtputf8_enable'), config.get('smtputf8_autodetect_classes'));
    const log = createLogger(ctx.sink, `${config.get('syslog_name')}/${init.command}`, process.pid, config.getBool('smtputf8_enable'));
    const pickup = new Pickup({
      queueDir: config.get('queue_directory'),
      layout,
      cleanup: stack.cleanup,
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
    const ready = stack.ready.then(scan);
    ready.catch(() => undefined);
    return {
      ready,
      trigger: scan,
      drain: () => pickup.idle(),
      close: async () => {
        await pickup.close();
        await stack.close();
      },
    };
  },
};
