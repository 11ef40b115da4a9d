// Mirrors Postfix's flush/flush.c, the work of the fast flush service: one
// logfile per destination under $queue_directory/flush/ (the site name in
// ASCII, lower case, every character other than a letter or digit made
// "_"), holding the queue IDs of mail deferred for that destination, one a
// line. "add" appends an ID; "send_site" moves the listed messages from
// deferred/ to incoming/ (touching them so that qmgr takes them at once),
// empties the logfile and wakes qmgr; "send_file" does the same for one
// message, marked so that qmgr ignores dead destinations for it; the
// refresh (the master's wake-up, "rfrsh") and "purge" requests do a
// send_site for logfiles not read for fast_flush_refresh_time (purge: all
// of them) and remove empty ones older than fast_flush_purge_time.
// File operations are synchronous: each request is short, and the server
// (./server.ts) runs one request at a time, which is what Postfix's
// exclusive lock on a logfile achieves between its flush processes.
// Touches flush/, the deferred/ and incoming/ queue files it names, and
// the qmgr trigger endpoint.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { MatchList } from '../address/match-list.js';
import { midnaDomainToAscii } from '../address/resolve-local.js';
import type { MailLogger } from '../log/logger.js';
import { FLUSH_STAT_BAD, FLUSH_STAT_DENY, FLUSH_STAT_FAIL, FLUSH_STAT_OK } from '../queue/flush-client.js';
import {
  type QueueLayout, MAIL_QUEUE_DEFERRED, MAIL_QUEUE_FLUSH, MAIL_QUEUE_INCOMING, MAIL_QUEUE_STAT_READY,
  MAIL_QUEUE_STAT_UNTHROTTLE, isHashedQueue, mailQueueMkdirs, mailQueuePath, mailQueueRename,
} from '../queue/layout.js';
import { mailQueueIdOk } from '../queue/queue-id.js';
import { errnoText } from '../util/errno.js';

/** Only refresh the logfile, or really deliver as ETRN asks (forget dead destinations first, or per message). */
export const REFRESH_ONLY = 0;
export const UNTHROTTLE_BEFORE = 1 << 0;
export const UNTHROTTLE_AFTER = 1 << 1;

/** How many queue IDs a send remembers to skip duplicates. */
const DUP_FILTER_SIZE = 10000;

export interface FlushServiceOptions {
  queueDir: string;
  layout: QueueLayout;
  /** fast_flush_domains of the service's configuration. */
  domains: MatchList;
  /** fast_flush_refresh_time and fast_flush_purge_time, in seconds. */
  refreshTime: number;
  purgeTime: number;
  /** Logs as postfix/flush. */
  log: MailLogger;
  /** Sends qmgr a trigger request ("F", "I"). */
  triggerQmgr(request: string): void;
  /** The event time in seconds (tests fix it). */
  now?: () => number;
  /** Runs the file operations of a request as mail_owner (a master started as root). */
  asOwner?: <T>(fn: () => T) => T;
}

/** The flush logfile name for a site, or null when the name has no ASCII form. */
export function flushSiteToPath(site: string, log: MailLogger): string | null {
  const ascii = midnaDomainToAscii(site, log);
  if (ascii === null) return null;
  return ascii.toLowerCase().replace(/[^a-z0-9]/g, '_');
}

export class FlushService {
  constructor(private readonly opts: FlushServiceOptions) {}

  private now(): number {
    return this.opts.now ? this.opts.now() : Math.floor(Date.now() / 1000);
  }

  private owned<T>(fn: () => T): T {
    return this.opts.asOwner ? this.opts.asOwner(fn) : fn();
  }

  private full(rel: string): string {
    return path.resolve(this.opts.queueDir, rel);
  }

  /** The site's logfile, or a status when the site may not have one. */
  private async sitePath(site: string): Promise<string | number> {
    const m = await this.opts.domains.match(site);
    if (m !== 'match') return m === 'error' ? FLUSH_STAT_FAIL : FLUSH_STAT_DENY;
    return flushSiteToPath(site, this.opts.log) ?? FLUSH_STAT_DENY;
  }

  /** flush_add_service(). */
  async add(site: string, queueId: string): Promise<number> {
    const p = await this.sitePath(site);
    return typeof p === 'number' ? p : this.owned(() => this.addPath(p, queueId));
  }

  /** flush_add_path(): append the ID to the logfile, creating it (mode 0600). */
  addPath(name: string, queueId: string): number {
    if (!mailQueueIdOk(name)) return FLUSH_STAT_BAD;
    const rel = mailQueuePath(this.opts.layout, MAIL_QUEUE_FLUSH, name);
    const open = () => fs.openSync(this.full(rel), fs.constants.O_CREAT | fs.constants.O_APPEND | fs.constants.O_WRONLY, 0o600);
    let fd: number;
    try {
      fd = open();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || mailQueueMkdirs(this.opts.queueDir, rel) !== null) throw this.fatal(`flush_add_path: open fast flush logfile ${name}`, e);
      try {
        fd = open();
      } catch (e2) {
        throw this.fatal(`flush_add_path: open fast flush logfile ${name}`, e2);
      }
    }
    try {
      fs.writeSync(fd, `${queueId}\n`);
    } catch (e) {
      this.opts.log.warning(`write fast flush logfile ${name}: ${errnoText(e as NodeJS.ErrnoException)}`);
    } finally {
      fs.closeSync(fd);
    }
    return FLUSH_STAT_OK;
  }

  /** flush_send_service(). */
  async sendSite(site: string, how: number): Promise<number> {
    const p = await this.sitePath(site);
    return typeof p === 'number' ? p : this.owned(() => this.sendPath(p, how));
  }

  /** flush_send_path(): move each listed message to incoming/, empty the logfile, wake qmgr. */
  sendPath(name: string, how: number): number {
    if (!mailQueueIdOk(name)) return FLUSH_STAT_BAD;
    const full = this.full(mailQueuePath(this.opts.layout, MAIL_QUEUE_FLUSH, name));
    let fd: number;
    try {
      fd = fs.openSync(full, fs.constants.O_RDWR);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return FLUSH_STAT_OK;
      throw this.fatal(`flush_send_path: open fast flush logfile ${name}`, e);
    }
    let count = 0;
    try {
      if (how & UNTHROTTLE_BEFORE) this.opts.triggerQmgr('F');
      const text = fs.readFileSync(fd, 'latin1');
      const seen = new Set<string>();
      const now = this.now();
      const lines = text.split('\n');
      if (lines[lines.length - 1] === '') lines.pop();
      for (const id of lines) {
        count++;
        if (!mailQueueIdOk(id)) {
          this.opts.log.warning(`bad queue id "${id.slice(0, 30)}..." in fast flush logfile ${name}`);
          continue;
        }
        if (seen.size >= DUP_FILTER_SIZE || !seen.has(id)) {
          if (seen.size <= DUP_FILTER_SIZE) seen.add(id);
          count += this.oneFile(id, now, how);
        }
      }
      if (count > 0) fs.ftruncateSync(fd, 0);
      // Marks the logfile as read, also on file systems mounted noatime.
      fs.futimesSync(fd, now, now);
    } finally {
      fs.closeSync(fd);
    }
    if (count > 0) this.opts.triggerQmgr('I');
    return FLUSH_STAT_OK;
  }

  /** flush_send_file_service(). */
  sendFile(queueId: string): number {
    if (!mailQueueIdOk(queueId)) return FLUSH_STAT_BAD;
    if (this.owned(() => this.oneFile(queueId, this.now(), UNTHROTTLE_AFTER)) > 0) this.opts.triggerQmgr('I');
    return FLUSH_STAT_OK;
  }

  /** flush_one_file(): 1 when the message was found (and moved to incoming/ unless it was there). */
  private oneFile(queueId: string, now: number, how: number): number {
    let queue = MAIL_QUEUE_DEFERRED;
    let rel = '';
    for (;;) {
      rel = mailQueuePath(this.opts.layout, queue, queueId);
      try {
        fs.utimesSync(this.full(rel), now, now);
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') this.opts.log.warning(`flush_one_file: update ${rel} time stamps: ${errnoText(e as NodeJS.ErrnoException)}`);
        if (queue === MAIL_QUEUE_INCOMING) return 0;
        queue = MAIL_QUEUE_INCOMING;
      }
    }
    if (how & UNTHROTTLE_AFTER) {
      const marked = this.markUnthrottle(queueId, queue, rel);
      if (marked === null) return 0;
      queue = marked;
    }
    if (queue !== MAIL_QUEUE_INCOMING) {
      const failed = mailQueueRename(this.opts.queueDir, this.opts.layout, queueId, queue, MAIL_QUEUE_INCOMING);
      if (failed && failed.code !== 'ENOENT') this.opts.log.warning(`${rel}: rename from ${queue} to ${MAIL_QUEUE_INCOMING}: ${errnoText(failed.error)}`);
    }
    return 1;
  }

  /**
   * Sets the group-read bit that tells qmgr to ignore dead destinations
   * for this message; the queue the file was found in, or null when it is
   * gone or not a finished queue file.
   */
  private markUnthrottle(queueId: string, queue: string, rel: string): string | null {
    for (;;) {
      let fd: number;
      try {
        fd = fs.openSync(this.full(rel), fs.constants.O_RDWR | fs.constants.O_NOFOLLOW);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code !== 'ENOENT') this.opts.log.warning(`flush_one_file: open ${rel}: ${errnoText(e as NodeJS.ErrnoException)}`);
        if (code !== 'ENOENT' || queue === MAIL_QUEUE_INCOMING) return null;
        queue = MAIL_QUEUE_INCOMING;
        rel = mailQueuePath(this.opts.layout, queue, queueId);
        continue;
      }
      try {
        const st = fs.fstatSync(fd);
        if (!st.isFile() || st.nlink !== 1) {
          this.opts.log.warning(`flush_one_file: open ${rel}: file is not a regular file or has more than one link`);
          return null;
        }
        if ((st.mode & MAIL_QUEUE_STAT_READY) !== MAIL_QUEUE_STAT_READY) return null;
        try {
          fs.fchmodSync(fd, (st.mode & 0o7777) | MAIL_QUEUE_STAT_UNTHROTTLE);
        } catch (e) {
          this.opts.log.warning(`flush_one_file: fchmod ${rel}: ${errnoText(e as NodeJS.ErrnoException)}`);
        }
        return queue;
      } finally {
        fs.closeSync(fd);
      }
    }
  }

  /** flush_refresh_service(): refresh logfiles unread for maxAge seconds, remove old empty ones. */
  refresh(maxAge: number): number {
    return this.owned(() => this.refreshAll(maxAge));
  }

  private refreshAll(maxAge: number): number {
    const now = this.now();
    for (const name of this.logfileNames()) {
      if (!mailQueueIdOk(name)) continue;
      const rel = mailQueuePath(this.opts.layout, MAIL_QUEUE_FLUSH, name);
      let st: fs.Stats;
      try {
        st = fs.statSync(this.full(rel));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') this.opts.log.warning(`flush_refresh_service: stat ${rel}: ${errnoText(e as NodeJS.ErrnoException)}`);
        continue;
      }
      if (st.size === 0) {
        if (Math.floor(st.mtimeMs / 1000) + this.opts.purgeTime < now) {
          try {
            fs.unlinkSync(this.full(rel));
          } catch (e) {
            this.opts.log.warning(`remove logfile ${rel}: ${errnoText(e as NodeJS.ErrnoException)}`);
          }
        }
      } else if (Math.floor(st.atimeMs / 1000) + maxAge < now) {
        this.sendPath(name, REFRESH_ONLY);
      }
    }
    return FLUSH_STAT_OK;
  }

  /** The names under flush/ (mail_scan_dir_next: into the hash subdirectories when the queue is hashed). */
  private logfileNames(): string[] {
    const names: string[] = [];
    const hashed = isHashedQueue(this.opts.layout, MAIL_QUEUE_FLUSH);
    const walk = (dir: string) => {
      let entries: fs.Dirent[];
      try {
        entries = fs.readdirSync(dir, { withFileTypes: true });
      } catch {
        return;
      }
      for (const e of entries) {
        if (hashed && e.isDirectory() && e.name.length === 1) walk(path.join(dir, e.name));
        else if (!e.name.startsWith('.')) names.push(e.name);
      }
    };
    walk(this.full(MAIL_QUEUE_FLUSH));
    return names;
  }

  /** refresh with fast_flush_refresh_time (the master's wake-up, "rfrsh"). */
  refreshOld(): number {
    return this.refresh(this.opts.refreshTime);
  }

  private fatal(what: string, e: unknown): FlushFatal {
    return new FlushFatal(`${what}: ${errnoText(e as NodeJS.ErrnoException)}`);
  }
}

/** A failure Postfix's flush server dies of (msg_fatal); the server logs it and answers nothing. */
export class FlushFatal extends Error {}
