// Mirrors Postfix's global/mail_command_client.c and global/flush_clnt.c:
// a one-request attribute exchange with a service socket (the server names
// its protocol, the client sends name/value pairs, the server answers with
// a status), and the requests every part sends to the fast flush service:
// add (a deferred queue ID for a site), send_site (smtpd's ETRN, postqueue
// -s), send_file (postqueue -i), refresh and purge. Sites outside
// fast_flush_domains are refused here, without asking the server, as
// Postfix's client does. Touches only the service's socket.
import * as net from 'node:net';
import { type Config, ConfigError } from '../config/config.js';
import { MATCH_FLAG_RETURN, MatchList, matchParentStyle } from '../address/match-list.js';
import type { AddressLog } from '../address/maps.js';
import { errnoText } from '../util/errno.js';
import { stderrLog } from '../util/msg.js';
import { parseCompatLevel } from '../config/expand.js';

/** The flush service's answers (global/flush_clnt.h). */
export const FLUSH_STAT_FAIL = -1;
export const FLUSH_STAT_OK = 0;
export const FLUSH_STAT_BAD = 3;
export const FLUSH_STAT_DENY = 4;

export const FLUSH_REQ_ADD = 'add';
export const FLUSH_REQ_SEND_SITE = 'send_site';
export const FLUSH_REQ_SEND_FILE = 'send_file';
export const FLUSH_REQ_REFRESH = 'rfrsh';
export const FLUSH_REQ_PURGE = 'purge';
/** The protocol name the flush server announces. */
export const MAIL_ATTR_PROTO_FLUSH = 'queue_flush_protocol';

/** ipc_timeout's default: how long one exchange may take. */
const IPC_TIMEOUT_MS = 3600_000;

/** Serialises attributes in the attr_print0 form: name NUL value NUL ..., then NUL. */
export function attrPrint0(attrs: Array<[string, string]>): Buffer {
  return Buffer.from(attrs.map(([n, v]) => `${n}\0${v}\0`).join('') + '\0', 'latin1');
}

/** The complete attr0 groups ("name\0value\0...\0") at the start of text, and what follows them. */
export function attrGroups(text: string): { groups: Array<Map<string, string>>; rest: string } {
  const groups: Array<Map<string, string>> = [];
  let cur = new Map<string, string>();
  let pos = 0;
  let done = 0;
  for (;;) {
    const end = text.indexOf('\0', pos);
    if (end < 0) break;
    const name = text.slice(pos, end);
    if (name === '') {
      groups.push(cur);
      cur = new Map();
      pos = done = end + 1;
      continue;
    }
    const vend = text.indexOf('\0', end + 1);
    if (vend < 0) break;
    cur.set(name, text.slice(end + 1, vend));
    pos = vend + 1;
  }
  return { groups, rest: text.slice(done) };
}

/**
 * mail_command_client(): -1 (after Postfix's warning) when the service is
 * not there or the exchange fails, else the status the server answered.
 * cls/service name the socket under queueDir ("public", "flush").
 */
export function mailCommandClient(queueDir: string, cls: string, service: string, proto: string,
  attrs: Array<[string, string]>, warn: (t: string) => void, timeoutMs = IPC_TIMEOUT_MS): Promise<number> {
  const rel = `${cls}/${service}`;
  const stream = `${rel} socket`;
  return new Promise((resolve) => {
    const sock = net.connect({ path: `${queueDir}/${rel}` });
    let connected = false;
    let sent = false;
    let data = '';
    let finished = false;
    const done = (status: number, warning?: string) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      sock.destroy();
      if (warning) warn(warning);
      resolve(status);
    };
    const timer = setTimeout(() => done(-1, `${sent ? 'write/read' : 'read'} ${stream}: Connection timed out`), timeoutMs);
    sock.on('connect', () => (connected = true));
    sock.on('error', (e) => done(-1, connected ? `${sent ? 'write/read' : 'read'} ${stream}: ${errnoText(e as NodeJS.ErrnoException)}` : `connect to ${rel}: ${errnoText(e as NodeJS.ErrnoException)}`));
    sock.on('end', () => done(-1, `${sent ? 'write/read' : 'read'} ${stream}: Success`));
    sock.on('data', (chunk: Buffer) => {
      data += chunk.toString('latin1');
      const { groups } = attrGroups(data);
      if (!sent && groups.length >= 1) {
        if (groups[0]!.get('protocol') !== proto) return done(-1, `read ${stream}: Success`);
        sent = true;
        sock.write(attrPrint0(attrs));
      }
      if (sent && groups.length >= 2) {
        const status = groups[1]!.get('status');
        if (status === undefined || !/^-?\d+$/.test(status)) return done(-1, `write/read ${stream}: Success`);
        done(Number(status));
      }
    });
  });
}

export interface FlushClientOptions {
  queueDir: string;
  /** flush_service_name. */
  service: string;
  /** fast_flush_domains: empty turns the service off for refresh and purge. */
  domainsText: string;
  /** fast_flush_domains as a domain list, with MATCH_FLAG_RETURN and parent-style matching (built on first use when a promise). */
  domains: MatchList | Promise<MatchList>;
  warn: (text: string) => void;
  /**
   * warn_compat_break_flush_domains (compatibility_level below 2, neither
   * relay_domains nor fast_flush_domains set): each request for a listed
   * site is logged with this, as the old default makes it listed.
   */
  compatInfo?: (text: string) => void;
}

/** The client side of the flush service, for one program's configuration. */
export class FlushClient {
  constructor(private readonly opts: FlushClientOptions) {}

  /** flush_init(): fast_flush_domains from the configuration (throws ConfigError for a bad list). */
  static async fromConfig(config: Config, warn: (text: string) => void, log?: AddressLog): Promise<FlushClient> {
    const client = FlushClient.deferred(config, warn, log);
    await client.opts.domains;
    return client;
  }

  /**
   * The same, with fast_flush_domains read on first use (a daemon part
   * whose set-up is synchronous). A list that cannot be read then makes
   * each request fail with a warning.
   */
  static deferred(config: Config, warn: (text: string) => void, log?: AddressLog): FlushClient {
    const text = config.get('fast_flush_domains');
    const domains = (async () => {
      const parent = await matchParentStyle(config.get('parent_domain_matches_subdomains'), 'fast_flush_domains');
      return MatchList.domainList('fast_flush_domains', parent | MATCH_FLAG_RETURN, text, log ? { log } : {});
    })();
    domains.catch(() => undefined);
    const level = parseCompatLevel(config.get('compatibility_level'), () => undefined);
    const compat = level !== undefined && level[0] < 2 && !config.isSet('relay_domains') && !config.isSet('fast_flush_domains');
    return new FlushClient({
      queueDir: config.get('queue_directory'), service: config.get('flush_service_name'), domainsText: text, domains, warn,
      ...(compat ? { compatInfo: (t: string) => (log ?? stderrLog).info(t) } : {}),
    });
  }

  private ask(attrs: Array<[string, string]>): Promise<number> {
    return mailCommandClient(this.opts.queueDir, 'public', this.opts.service, MAIL_ATTR_PROTO_FLUSH, attrs, this.opts.warn);
  }

  /** Asks only for a site in fast_flush_domains; DENY or FAIL (a table failed) otherwise. */
  private async forSite(site: string, attrs: Array<[string, string]>, compatWhat: string): Promise<number> {
    let domains: MatchList;
    try {
      domains = await this.opts.domains;
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      this.opts.warn(e.message);
      return FLUSH_STAT_FAIL;
    }
    const m = await domains.match(site);
    if (m === 'match') {
      this.opts.compatInfo?.(`using backwards-compatible default setting relay_domains=$mydestination to ${compatWhat} for domain "${site}"`);
      return this.ask(attrs);
    }
    return m === 'error' ? FLUSH_STAT_FAIL : FLUSH_STAT_DENY;
  }

  /** flush_add(): a deferred message for site. */
  add(site: string, queueId: string): Promise<number> {
    return this.forSite(site, [['request', FLUSH_REQ_ADD], ['site', site], ['queue_id', queueId]], 'update fast-flush logfile');
  }

  /** flush_send_site(): deliver what is queued for site. */
  sendSite(site: string): Promise<number> {
    return this.forSite(site, [['request', FLUSH_REQ_SEND_SITE], ['site', site]], 'flush mail');
  }

  /** flush_send_file(): deliver one message now. */
  sendFile(queueId: string): Promise<number> {
    return this.ask([['request', FLUSH_REQ_SEND_FILE], ['queue_id', queueId]]);
  }

  /** flush_refresh(): refresh logfiles not read for fast_flush_refresh_time. */
  refresh(): Promise<number> {
    return this.opts.domainsText === '' ? Promise.resolve(FLUSH_STAT_DENY) : this.ask([['request', FLUSH_REQ_REFRESH]]);
  }

  /** flush_purge(): refresh every logfile. */
  purge(): Promise<number> {
    return this.opts.domainsText === '' ? Promise.resolve(FLUSH_STAT_DENY) : this.ask([['request', FLUSH_REQ_PURGE]]);
  }
}
