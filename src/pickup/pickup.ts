// Mirrors Postfix's pickup/pickup.c: takes the files local users dropped
// into maildrop/ and feeds each to cleanup as a new message. A file is
// taken only when complete (owner execute bit set) and a regular file; its
// envelope, content and extracted segments are copied record by record,
// with only the record types each segment may hold, and pickup adds what a
// local submission lacks: an arrival time from the file's mtime, the
// content filter, and the "Received: by HOST (MAIL_NAME, from userid UID)"
// header (cleanup then adds Message-Id, Date and From). The file is
// removed once cleanup has it, or when it can never be taken; kept when
// cleanup failed for a reason that may pass. One scan at a time; a wakeup
// during a scan makes it scan again. Touches maildrop/ and, through the
// cleanup service it is given, incoming/.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { CleanupService, CleanupSession } from '../cleanup/api.js';
import {
  CLEANUP_FLAG_AUTOUTF8, CLEANUP_FLAG_BCC_OK, CLEANUP_FLAG_BOUNCE, CLEANUP_FLAG_FILTER, CLEANUP_FLAG_MAP_OK, CLEANUP_FLAG_MILTER,
  CLEANUP_STAT_BAD, CLEANUP_STAT_RCPT, cleanupStatDetail,
} from '../cleanup/api.js';
import type { MailLogger } from '../log/logger.js';
import { mailDate } from '../mail/mail-date.js';
import { type QueueLayout, MAIL_QUEUE_MAILDROP, mailQueuePath } from '../queue/layout.js';
import { mailQueueIdOk } from '../queue/queue-id.js';
import { REC_TYPE, REC_TYPE_CONTENT, REC_TYPE_ENVELOPE, REC_TYPE_EXTRACT, splitNameValue } from '../queue/rec-type.js';
import { MemoryInput, REC_FLAG_DEFAULT, recGetRaw } from '../queue/record.js';
import { toText } from '../util/bytes.js';
import { errnoText } from '../util/errno.js';

export interface PickupOptions {
  queueDir: string;
  layout: QueueLayout;
  cleanup: CleanupService;
  /** postfix/pickup's logger. */
  log: MailLogger;
  myhostname: string;
  /** mail_name ("Postfix"). */
  mailName: string;
  /** content_filter. */
  contentFilter: string;
  /** mail_owner's uid: its files without world read are "postsuper -r" requeues. */
  ownerUid: number;
  /** CLEANUP_FLAG_* for ordinary submissions (receive_override_options, SMTPUTF8 autodetection applied). */
  cleanupFlags: number;
  /** The flags for a requeued file (no Milters). */
  requeueFlags: number;
  lineLimit: number;
  /** Wall clock in seconds (tests). */
  now?: () => number;
}

const REMOVE = 1;
const KEEP = 2;
const DAY = 86400;
const HOUR = 3600;

/** Records named attributes stand for (rec_attr_map()). */
const MAPPED_ATTRS = new Set(['dsn_orig_rcpt', 'notify_flags', 'envelope_id', 'ret_flags', 'create_time']);

interface FileInfo {
  /** The cleanup queue ID once known, else the maildrop name. */
  id: string;
  path: string;
  st: fs.Stats;
  mtime: number;
  sender: string | null;
}

class SegmentError {
  constructor(readonly outcome: number) {}
}

export class Pickup {
  private scanning: Promise<void> | null = null;
  private again = false;
  private closed = false;

  constructor(private readonly opts: PickupOptions) {}

  /** A trigger or the master's wakeup: scan maildrop (again, if a scan is under way). */
  wakeup(): Promise<void> {
    if (this.closed) return Promise.resolve();
    if (this.scanning) {
      this.again = true;
      return this.scanning;
    }
    this.scanning = (async () => {
      try {
        do {
          this.again = false;
          await this.scanUntilQuiet();
        } while (this.again && !this.closed);
      } finally {
        this.scanning = null;
      }
    })();
    return this.scanning;
  }

  /** Resolves when no scan is under way. */
  async idle(): Promise<void> {
    while (this.scanning) await this.scanning;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.idle();
  }

  /** pickup_service(): scan until a pass removes nothing. */
  private async scanUntilQuiet(): Promise<void> {
    let removed: number;
    do {
      removed = 0;
      let names: string[];
      try {
        names = fs.readdirSync(path.join(this.opts.queueDir, MAIL_QUEUE_MAILDROP));
      } catch (e) {
        this.opts.log.warning(`open ${MAIL_QUEUE_MAILDROP}: ${errnoText(e as NodeJS.ErrnoException)}`);
        return;
      }
      for (const name of names) {
        if (this.closed) return;
        const info = this.openOk(name);
        if (!info) continue;
        if ((await this.pickupFile(info)) !== REMOVE) continue;
        try {
          fs.unlinkSync(path.resolve(this.opts.queueDir, info.path));
          removed++;
        } catch (e) {
          this.opts.log.warning(`remove ${info.path}: ${errnoText(e as NodeJS.ErrnoException)}`);
        }
      }
    } while (removed > 0);
  }

  /** mail_open_ok(): a complete regular file with a queue ID for a name. */
  private openOk(id: string): FileInfo | null {
    if (!mailQueueIdOk(id)) return null;
    const rel = mailQueuePath(this.opts.layout, MAIL_QUEUE_MAILDROP, id);
    let st: fs.Stats;
    try {
      st = fs.lstatSync(path.resolve(this.opts.queueDir, rel));
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      if (err.code !== 'ENOENT') this.opts.log.warning(`${rel}: ${errnoText(err)}`);
      return null;
    }
    if (!st.isFile()) {
      this.opts.log.warning(`${rel}: uid ${st.uid}: not a regular file`);
      return null;
    }
    if ((st.mode & 0o700) !== 0o700) return null;
    return { id, path: rel, st, mtime: Math.floor(st.mtimeMs / 1000), sender: null };
  }

  private requeued(info: FileInfo): boolean {
    return info.st.uid === this.opts.ownerUid && (info.st.mode & 0o004) === 0;
  }

  /** pickup_file(): read the file, open a cleanup session, copy. */
  private async pickupFile(info: FileInfo): Promise<number> {
    let data: Buffer;
    try {
      const fd = fs.openSync(path.resolve(this.opts.queueDir, info.path), fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
      try {
        data = fs.readFileSync(fd);
      } finally {
        fs.closeSync(fd);
      }
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      if (err.code !== 'ENOENT') this.opts.log.warning(`open input file ${info.path}: ${errnoText(err)}`);
      if (err.code === 'EACCES') {
        this.opts.log.warning(`if this file was created by Postfix < 1.1, then you may have to chmod a+r ${this.opts.queueDir}/${info.path}`);
        return KEEP;
      }
      return REMOVE;
    }
    let session: CleanupSession;
    try {
      session = await this.opts.cleanup.open(this.requeued(info) ? this.opts.requeueFlags : this.opts.cleanupFlags);
    } catch {
      return KEEP;
    }
    info.id = session.queueId;
    try {
      return await this.copy(new MemoryInput(data, info.path), session, info);
    } catch (e) {
      await session.abort();
      if (e instanceof SegmentError) return e.outcome;
      throw e;
    }
  }

  /** pickup_copy(): the three segments, with pickup's own records in between. */
  private async copy(input: MemoryInput, session: CleanupSession, info: FileInfo): Promise<number> {
    const { log } = this.opts;
    const now = Math.floor(this.opts.now?.() ?? Date.now() / 1000);
    if (info.mtime > now + 2 * HOUR) {
      log.warning(`${info.id}: message dated ${info.mtime - now} seconds into the future`);
      info.mtime = now;
    } else if (info.mtime < now - DAY) {
      log.warning(`${info.id}: message has been queued for ${Math.floor((now - info.mtime) / DAY)} days`);
    }
    if (this.opts.contentFilter !== '') session.record('L', this.opts.contentFilter);
    this.copySegment(input, session, info, REC_TYPE_ENVELOPE);
    if (info.sender === null) {
      log.warning(`${info.id}: uid=${info.st.uid}: no envelope sender`);
      throw new SegmentError(REMOVE);
    }
    const from = `${info.id}: uid=${info.st.uid} from=<${toText(info.sender)}>`;
    log.info(this.requeued(info) ? `${from} orig_id=${path.basename(info.path)}` : from);
    session.record('M', '');
    session.record('N', `Received: by ${this.opts.myhostname} (${this.opts.mailName}, from userid ${info.st.uid})`);
    session.record('N', `\tid ${info.id}; ${mailDate(info.mtime)}`);
    this.copySegment(input, session, info, REC_TYPE_CONTENT);
    session.record('X', '');
    this.copySegment(input, session, info, REC_TYPE_EXTRACT);
    session.record('E', '');
    const result = await session.finish();
    if (result.status === 0) return REMOVE;
    if (result.reason === '') {
      log.warning(`${info.path}: error writing ${info.id}: ${cleanupStatDetail(result.status)?.text ?? 'unknown cleanup error'}`);
    }
    return result.status & (CLEANUP_STAT_BAD | CLEANUP_STAT_RCPT) ? REMOVE : KEEP;
  }

  /** copy_segment(): records up to the first of expected (which is not copied). */
  private copySegment(input: MemoryInput, session: CleanupSession, info: FileInfo, expected: string): void {
    const content = expected === REC_TYPE_CONTENT;
    const extracted = expected === REC_TYPE_EXTRACT;
    let checkFirst = content;
    let timeSeen = false;
    for (;;) {
      const r = recGetRaw(input, this.opts.lineLimit, REC_FLAG_DEFAULT);
      const type = r.type;
      if (!('data' in r) || !expected.includes(String.fromCharCode(type))) {
        this.opts.log.warning(`uid=${info.st.uid}: unexpected or malformed record type ${type}`);
        throw new SegmentError(REMOVE);
      }
      if (type === expected.charCodeAt(0)) return;
      const text = r.data.toString('latin1');
      if (type === REC_TYPE.FROM) {
        info.sender ??= text.split('\0')[0]!;
        if (!timeSeen) session.record('T', String(info.mtime));
      }
      if (type === REC_TYPE.TIME) timeSeen = true;
      if (!content && (type === REC_TYPE.FILT || type === REC_TYPE.RDR)) continue;
      if (extracted) {
        if (type === REC_TYPE.RRTO || type === REC_TYPE.ERTO) continue;
        if (type === REC_TYPE.ATTR) {
          const nv = splitNameValue(text.split('\0')[0]!);
          if (!('error' in nv) && !MAPPED_ATTRS.has(nv.name)) continue;
        }
      }
      if (checkFirst && (type === REC_TYPE.NORM || type === REC_TYPE.CONT)) {
        checkFirst = false;
        if (text[0] === ' ' || text[0] === '\t') session.record('N', '');
      }
      session.record(String.fromCharCode(type), r.data);
    }
  }
}

/**
 * pickup's cleanup flags: CLEANUP_FLAG_BOUNCE plus what receivers of
 * outside mail ask for, less what receive_override_options turns off
 * (input_transp_cleanup); SMTPUTF8 autodetection when
 * smtputf8_autodetect_classes names sendmail. A requeued file gets no Milters.
 */
export function pickupCleanupFlags(receiveOverride: string, smtputf8Enable: boolean, autodetectClasses: string): { normal: number; requeue: number } {
  let flags = CLEANUP_FLAG_BOUNCE | CLEANUP_FLAG_FILTER | CLEANUP_FLAG_MILTER | CLEANUP_FLAG_BCC_OK | CLEANUP_FLAG_MAP_OK;
  const words = receiveOverride.toLowerCase().split(/[\s,]+/);
  if (words.includes('no_header_body_checks')) flags &= ~CLEANUP_FLAG_FILTER;
  if (words.includes('no_address_mappings')) flags &= ~(CLEANUP_FLAG_MAP_OK | CLEANUP_FLAG_BCC_OK);
  if (words.includes('no_milters')) flags &= ~CLEANUP_FLAG_MILTER;
  const classes = autodetectClasses.toLowerCase().split(/[\s,]+/);
  const autoUtf8 = smtputf8Enable && (classes.includes('sendmail') || classes.includes('all')) ? CLEANUP_FLAG_AUTOUTF8 : 0;
  return { normal: flags | autoUtf8, requeue: flags & ~CLEANUP_FLAG_MILTER };
}
