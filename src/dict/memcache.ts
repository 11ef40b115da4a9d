// Mirrors Postfix's global/dict_memcache.c: memcache:/file/name (or
// memcache:prefix, settings from main.cf), a table kept in a memcached
// server, optionally in front of a persistent "backup" table. A lookup asks
// memcache first, then the backup, and stores what the backup found in
// memcache; an update or delete goes to memcache, then to the backup, whose
// answer counts. Keys are rewritten by key_format and limited by domain;
// keys that cannot be used are skipped (silently for lookups and deletes).
// Each request is tried max_try times, retry_pause seconds apart, and only
// the failures after the first are reported. memcache_table(5) lists the
// settings. Talks to the memcache server and the backup table only.
import type { MsgLog } from '../util/msg.js';
import {
  type Dict, type DictOpener, type LookupResult, type UpdateResult, NOT_FOUND, found, lookupError, surrogateDict, isSurrogate,
  O_RDONLY, O_RDWR, DICT_FLAG_NO_UNAUTH, DICT_FLAG_FOLD_FIX, DICT_FLAG_FIXED, DICT_FLAG_MULTI_WRITER, STDERR_DICT_ENV,
} from './dict.js';
import { asciiLower, fromBytes, toBytes } from './pattern-common.js';
import { CfgError, CfgParser } from './cfg-parser.js';
import { type DomainList, type KeyTemplate, DomainList as Domains, checkDomain, expandKey, parseKeyTemplate } from './db-common.js';
import { MemcacheClient } from './memcache-client.js';

const O_WRONLY = 1;
const O_APPEND = 0o2000;

/** The settings of one memcache table, with Postfix's defaults. */
export interface McSettings {
  keyFormat: string;
  timeout: number;
  ttl: number;
  flags: number;
  retryPause: number;
  maxTry: number;
  lineSizeLimit: number;
  dataSizeLimit: number;
  memcache: string;
  backup: string | null;
  domain: string;
}

const DEF_KEY_FORMAT = '%s';

/** Reads the settings in Postfix's order, so that the first bad one is the one reported. */
export function readSettings(p: CfgParser): McSettings {
  return {
    keyFormat: p.getStr('key_format', DEF_KEY_FORMAT)!,
    timeout: p.getInt('timeout', 2),
    ttl: p.getInt('ttl', 3600),
    flags: p.getInt('flags', 0),
    retryPause: p.getInt('retry_pause', 1, 1),
    maxTry: p.getInt('max_try', 2, 1),
    lineSizeLimit: p.getInt('line_size_limit', 1024, 1),
    dataSizeLimit: p.getInt('data_size_limit', 10240, 1),
    memcache: p.getStr('memcache', 'inet:localhost:11211')!,
    backup: null,
    domain: '',
  };
}

/** auto_clnt_create()'s check of "transport:endpoint". */
export function parseService(service: string): { transport: 'inet' | 'unix'; endpoint: string } {
  const colon = service.indexOf(':');
  const transport = colon < 0 ? '' : service.slice(0, colon);
  const endpoint = colon < 0 ? '' : service.slice(colon + 1);
  if (colon < 0 || transport === '' || endpoint === '') throw new CfgError(`need service transport:endpoint instead of "${service}"`);
  if (transport === 'inet') return { transport, endpoint };
  if (transport === 'unix' || transport === 'local') return { transport: 'unix', endpoint };
  throw new CfgError(`invalid transport name: ${transport} in service: ${service}`);
}

let pauseScale = 1000;

/** Tests shorten retry_pause (milliseconds per configured second); Postfix sleeps whole seconds. */
export function setRetryPauseScale(msPerSecond: number): void {
  pauseScale = msPerSecond;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** What a memcache request came to: Postfix's DICT_STAT_* with dict_errno. */
type McStatus = 'ok' | 'fail' | 'error';

class MemcacheDict implements Dict {
  readonly type = 'memcache';
  /** The server-side key of the request in progress (Postfix's key_buf). */
  private key = '';

  constructor(
    readonly name: string,
    public flags: number,
    private readonly s: McSettings,
    private readonly template: KeyTemplate,
    private readonly domains: DomainList | null,
    private readonly client: MemcacheClient,
    private readonly backup: Dict | null,
    private readonly log: MsgLog,
  ) {}

  private get label(): string {
    return `database memcache:${this.name}`;
  }

  private ioError(): void {
    this.log.warning(this.client.errno ? `${this.label}: I/O error: ${this.client.errno}` : `${this.label}: I/O error`);
  }

  private retryError(): LookupResult {
    const fatal = this.client.fatal;
    if (fatal !== null) return { status: 'error', error: 'config', reason: fatal, fatal };
    return lookupError('retry', this.client.errno ?? 'Success');
  }

  /** Up to max_try rounds of `attempt`; it answers, or returns undefined to try again. */
  private async tries<T>(attempt: (count: number) => Promise<T | undefined>): Promise<T | undefined> {
    for (let count = 0; count < this.s.maxTry; count++) {
      if (count > 0) await sleep(this.s.retryPause * pauseScale);
      if (!(await this.client.access())) break;
      const answer = await attempt(count);
      if (answer !== undefined) return answer;
      this.client.recover();
    }
    return undefined;
  }

  /** dict_memcache_set(). */
  private async mcSet(value: string): Promise<McStatus> {
    const data = toBytes(value);
    if (data.length > this.s.dataSizeLimit) {
      this.log.warning(`${this.label}: data for key ${this.key} is too long (data_size_limit=${this.s.dataSizeLimit}) -- not stored`);
      return 'fail';
    }
    const r = await this.tries(async (count) => {
      const reply = await this.client.request(`set ${this.key} ${this.s.flags} ${this.s.ttl} ${data.length}`, data, this.s.lineSizeLimit);
      if ('failed' in reply) {
        if (count > 0) this.ioError();
      } else if (reply.line !== 'STORED') {
        if (count > 0) this.log.warning(`${this.label}: update failed: ${reply.line.slice(0, 30)}`);
      } else {
        return 'ok' as const;
      }
      return undefined;
    });
    return r ?? 'error';
  }

  /** dict_memcache_get(): the value, null when not found, undefined on failure. */
  private async mcGet(): Promise<string | null | undefined> {
    return this.tries(async (count) => {
      const reply = await this.client.request(`get ${this.key}`, null, this.s.lineSizeLimit);
      if ('failed' in reply) {
        if (count > 0) this.ioError();
        return undefined;
      }
      if (reply.line === 'END') return null;
      const m = /^VALUE[ \t\n\r\v\f]*[^ \t\n\r\v\f]+[ \t\n\r\v\f]+[^ \t\n\r\v\f]+[ \t\n\r\v\f]+([+-]?[0-9]+)/.exec(reply.line);
      const todo = m ? Number(m[1]) : NaN;
      if (!m || todo < 0 || todo > this.s.dataSizeLimit) {
        if (count > 0) this.log.warning(`${this.name}: unexpected memcache server reply: ${reply.line.slice(0, 30)}`);
        return undefined;
      }
      const data = await this.client.readData(todo);
      if (data === null) {
        if (count > 0) this.log.warning(`${this.name}: EOF receiving memcache server reply`);
        return undefined;
      }
      const end = await this.client.readLine(this.s.lineSizeLimit);
      if ('failed' in end || end.line !== 'END') this.client.recover();
      return data;
    });
  }

  /** dict_memcache_del(). */
  private async mcDel(): Promise<McStatus> {
    const r = await this.tries(async (count) => {
      const reply = await this.client.request(`delete ${this.key}`, null, this.s.lineSizeLimit);
      if ('failed' in reply) {
        if (count > 0) this.ioError();
        return undefined;
      }
      if (reply.line === 'DELETED') return 'ok' as const;
      if (reply.line === 'NOT_FOUND') return 'fail' as const;
      if (count > 0) this.log.warning(`${this.label}: delete failed: ${reply.line.slice(0, 30)}`);
      return undefined;
    });
    return r ?? 'error';
  }

  /**
   * dict_memcache_valid_key(): 'ok' with this.key set, 'skip' for a key the
   * table cannot hold (reported through `log` when given), 'error' when the
   * domain list could not be searched.
   */
  private async validKey(name: string, operation: string, log: ((text: string) => void) | null): Promise<'ok' | 'skip' | 'error'> {
    const skip = (why: string) => {
      log?.(`${this.name}: skipping ${operation} for name "${name}": ${why}`);
      return 'skip' as const;
    };
    if (name === '') return skip('empty lookup key');
    const dom = await checkDomain(this.domains, name, (t) => this.log.warning(t));
    if (dom === 'nomatch') return skip('domain mismatch');
    if (dom === 'error') return 'error';
    const folded = this.flags & DICT_FLAG_FOLD_FIX ? asciiLower(name) : name;
    const key = this.template.format === DEF_KEY_FORMAT ? folded : expandKey(this.template, folded);
    if (!key) return skip('empty lookup key expansion');
    this.key = toBytes(key);
    if (/[ \t\n\r\v\f]/.test(this.key)) return skip('name contains space');
    return 'ok';
  }

  async lookup(name: string): Promise<LookupResult> {
    const valid = await this.validKey(name, 'lookup', null);
    if (valid === 'skip') return NOT_FOUND;
    if (valid === 'error') return lookupError('retry');
    const got = await this.mcGet();
    if (typeof got === 'string') return found(fromBytes(got));
    if (!this.backup) return got === null ? NOT_FOUND : this.retryError();
    const r = await this.backup.lookup(name);
    if (r.status === 'found') await this.mcSet(r.value);
    return r;
  }

  async update(name: string, value: string): Promise<UpdateResult> {
    const valid = await this.validKey(name, 'update', (t) => this.log.warning(t));
    if (valid === 'error') return { status: 'error', error: 'retry' };
    if (valid === 'skip') return { status: 'notfound' };
    const st = await this.mcSet(value);
    if (this.backup?.update) return this.backup.update(name, value);
    if (st === 'error') return { status: 'error', error: 'retry', reason: this.client.errno ?? 'Success' };
    return st === 'ok' ? { status: 'ok' } : { status: 'notfound' };
  }

  async delete(name: string): Promise<UpdateResult> {
    const valid = await this.validKey(name, 'delete', null);
    if (valid === 'error') return { status: 'error', error: 'retry' };
    if (valid === 'skip') return { status: 'notfound' };
    const st = await this.mcDel();
    if (this.backup?.delete) return this.backup.delete(name);
    if (st === 'error') return { status: 'error', error: 'retry', reason: this.client.errno ?? 'Success' };
    return st === 'ok' ? { status: 'ok' } : { status: 'notfound' };
  }

  async sequence(): Promise<Iterable<[string, string]>> {
    if (!this.backup?.sequence) {
      this.log.warning(`${this.label}: first/next support requires backup database`);
      return [];
    }
    return this.backup.sequence();
  }

  async close(): Promise<void> {
    this.client.close();
    await this.domains?.close();
    await this.backup?.close();
  }
}

export const open: DictOpener = async (name, openFlags, dictFlags, env = STDERR_DICT_ENV) => {
  if (dictFlags & DICT_FLAG_NO_UNAUTH) {
    return surrogateDict('memcache', name, dictFlags, `memcache:${name} map is not allowed for security-sensitive data`);
  }
  const mode = openFlags & (O_RDONLY | O_RDWR | O_WRONLY | O_APPEND);
  if (mode !== O_RDONLY && mode !== O_RDWR) {
    return surrogateDict('memcache', name, dictFlags, `memcache:${name} map requires O_RDONLY or O_RDWR access mode`);
  }
  try {
    const parser = CfgParser.open(name, env.log);
    if ('error' in parser) return surrogateDict('memcache', name, dictFlags, `open ${name}: ${parser.error}`);
    const s = readSettings(parser);
    const service = parseService(s.memcache);
    s.backup = parser.getStr('backup', null);
    let backup: Dict | null = null;
    if (s.backup !== null) {
      const { dictOpen } = await import('./registry.js');
      backup = await dictOpen(s.backup, mode, dictFlags, env);
      if (isSurrogate(backup)) return surrogateDict('memcache', name, dictFlags, backup.openError);
    }
    const template = parseKeyTemplate(name, s.keyFormat);
    s.domain = parser.getStr('domain', '')!;
    const domains = s.domain ? await Domains.parse(parser.name, s.domain, env) : null;
    const client = new MemcacheClient(service.transport, service.endpoint, s.timeout * 1000, env.log);
    const d = new MemcacheDict(name, dictFlags | DICT_FLAG_FIXED | DICT_FLAG_MULTI_WRITER, s, template, domains, client, backup, env.log);
    if (mode !== O_RDWR) {
      // Postfix installs update and delete only for a table opened read-write.
      (d as Dict).update = undefined;
      (d as Dict).delete = undefined;
    }
    return d;
  } catch (e) {
    if (e instanceof CfgError) return surrogateDict('memcache', name, dictFlags, e.message);
    throw e;
  }
};
