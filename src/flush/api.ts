// The fast flush service (Postfix's flush(8)) as other parts use it: the
// master hosts a FlushServer on public/flush (src/master/flush-host.ts);
// clients talk to it through src/queue/flush-client.ts.
import type { Config } from '../config/config.js';
import { MATCH_FLAG_RETURN, MatchList, matchParentStyle } from '../address/match-list.js';
import type { MailLogger } from '../log/logger.js';
import { layoutFromConfig } from '../queue/layout.js';
import { ConfigError } from '../config/config.js';
import { FlushService } from './service.js';

export { FlushServer } from './server.js';
export { FlushService, flushSiteToPath, REFRESH_ONLY, UNTHROTTLE_AFTER, UNTHROTTLE_BEFORE } from './service.js';

/**
 * The service for one configuration (main.cf with the flush service's -o
 * settings): fast_flush_domains, fast_flush_refresh_time and
 * fast_flush_purge_time. Throws ConfigError with Postfix's text.
 */
export async function createFlushService(
  config: Config, log: MailLogger, triggerQmgr: (request: string) => void, asOwner?: <T>(fn: () => T) => T,
): Promise<FlushService> {
  const layout = layoutFromConfig(config);
  if ('error' in layout) throw new ConfigError(layout.error);
  const parent = await matchParentStyle(config.get('parent_domain_matches_subdomains'), 'fast_flush_domains');
  const domains = await MatchList.domainList('fast_flush_domains', parent | MATCH_FLAG_RETURN, config.get('fast_flush_domains'), { log });
  return new FlushService({
    queueDir: config.get('queue_directory'),
    layout,
    domains,
    refreshTime: config.getTime('fast_flush_refresh_time'),
    purgeTime: config.getTime('fast_flush_purge_time'),
    log,
    triggerQmgr,
    ...(asOwner ? { asOwner } : {}),
  });
}
