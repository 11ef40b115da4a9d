// The postsuper command (Postfix's postsuper/postsuper.c): queue
// maintenance for the superuser. Delete (-d), hold (-h), release (-H),
// requeue (-r), force-expire (-e, -f) messages by queue ID, "ALL" or "-"
// (IDs from stdin), in the named queues or the default ones; -s/-S repair
// the structure (hash placement, names that do not match the inode); -p
// purges stale temporary files. Same order of work, messages and counts as
// Postfix: the repair pass runs first, then each option in command-line
// order. Every step is a single rename, unlink or chmod, so qmgr never sees
// a half-moved file; a rename target is made only under a name qmgr ignores
// (the "#FIX" suffix) until the repair pass completes.
import { loadConfigOr, queueDirOr } from './load-config.js';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CONF_ENV_PATH } from '../config/config.js';
import { type QueueLayout, MAIL_QUEUE_STAT_EXPIRE, layoutFromConfig, mailQueuePath } from '../queue/layout.js';
import { fileId, longIdSeparator, mailQueueIdOk, mailQueueNameOk, parseQueueId, shortUsec } from '../queue/queue-id.js';
import { Getopt } from '../util/getopt.js';
import { runMain } from '../util/main.js';
import { getProgName, msgError, msgFatal, msgInfo, msgWarn, setVerbose, verboseLevel } from '../util/msg.js';
import { type Account, lookupUser } from '../master/users.js';
import { readdirRaw } from './queue-showq.js';
import { errText } from './queue-trigger.js';

const MAX_TEMP_AGE = 7 * 24 * 3600;
const SUFFIX = '#FIX';
const STAT_READY = 0o700;

const A = {
  STRUCT: 1 << 0, PURGE: 1 << 1, DELETE_ONE: 1 << 2, DELETE_ALL: 1 << 3, REQUEUE_ONE: 1 << 4, REQUEUE_ALL: 1 << 5,
  HOLD_ONE: 1 << 6, HOLD_ALL: 1 << 7, RELEASE_ONE: 1 << 8, RELEASE_ALL: 1 << 9, STRUCT_RED: 1 << 10,
  EXPIRE_ONE: 1 << 11, EXPIRE_ALL: 1 << 12, EXP_REL_ONE: 1 << 13, EXP_REL_ALL: 1 << 14,
};
const BY_QUEUE_ID = A.DELETE_ONE | A.REQUEUE_ONE | A.HOLD_ONE | A.RELEASE_ONE | A.EXPIRE_ONE | A.EXP_REL_ONE;
const BY_WILDCARD = A.DELETE_ALL | A.REQUEUE_ALL | A.HOLD_ALL | A.RELEASE_ALL | A.EXPIRE_ALL | A.EXP_REL_ALL;
const FOR_REPAIR = A.PURGE | A.STRUCT | A.STRUCT_RED;

interface QueueInfo {
  perms: number;
  recurse: boolean;
}
const QUEUE_INFO = new Map<string, QueueInfo>([
  ['maildrop', { perms: STAT_READY, recurse: false }],
  ['incoming', { perms: STAT_READY, recurse: true }],
  ['active', { perms: STAT_READY, recurse: true }],
  ['deferred', { perms: STAT_READY, recurse: true }],
  ['hold', { perms: STAT_READY, recurse: true }],
  ['trace', { perms: 0o600, recurse: true }],
  ['defer', { perms: 0o600, recurse: true }],
  ['bounce', { perms: 0o600, recurse: true }],
  ['flush', { perms: 0o600, recurse: true }],
]);
const LOG_QUEUES = ['bounce', 'defer', 'trace'];
const DEFAULT_QUEUES = ['defer', 'bounce', 'maildrop', 'incoming', 'active', 'deferred', 'hold', 'flush'];

const USAGE =
  '[-c config_dir] [-d queue_id (delete)] [-e queue_id (expire)] [-f queue_id (expire and/or un-hold)] ' +
  '[-h queue_id (hold)] [-H queue_id (un-hold)] [-p (purge temporary files)] [-r queue_id (requeue)] ' +
  '[-s (structure fix)] [-S (redundant structure fix)][-v (verbose)] [queue...]';

const isMessageQueue = (q: QueueInfo) => q.perms === STAT_READY;
const readyMessage = (st: fs.Stats) => (st.mode & 0o700) === STAT_READY;

/** One run's state: the counters Postfix keeps in globals. */
class Super {
  deleted = 0;
  requeued = 0;
  held = 0;
  released = 0;
  expired = 0;
  inodeFixed = 0;
  inodeMismatch = 0;
  positionMismatch = 0;

  constructor(readonly qdir: string, readonly layout: QueueLayout, readonly longIds: boolean, readonly owner: Account | null) {}

  abs(rel: string): string {
    return path.join(this.qdir, rel);
  }

  queuePath(queue: string, id: string): string {
    return mailQueuePath(this.layout, queue, id);
  }

  findQueueInfo(name: string): QueueInfo {
    const q = QUEUE_INFO.get(name);
    if (!q) msgFatal(`invalid directory name: ${name}`);
    return q;
  }

  remove(rel: string): boolean {
    try {
      fs.unlinkSync(this.abs(rel));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') msgFatal(`remove file ${rel}: ${errText(e)}`);
      return false;
    }
    if (verboseLevel()) msgInfo(`removed file ${rel}`);
    return true;
  }

  rename(from: string, to: string): boolean {
    const attempt = () => fs.renameSync(this.abs(from), this.abs(to));
    try {
      attempt();
    } catch (e) {
      let err = e as NodeJS.ErrnoException;
      if (err.code === 'ENOENT') {
        try {
          const made = fs.mkdirSync(path.dirname(this.abs(to)), { recursive: true, mode: 0o700 });
          // Postfix's postsuper runs as mail_owner; a directory made here as root must be the daemon's too.
          if (made !== undefined && this.owner) fs.chownSync(made, this.owner.uid, this.owner.gid);
          attempt();
          err = null as unknown as NodeJS.ErrnoException;
        } catch (e2) {
          err = e2 as NodeJS.ErrnoException;
        }
      }
      if (err) {
        if (err.code !== 'ENOENT') msgFatal(`rename file ${from} as ${to}: ${errText(err)}`);
        return false;
      }
    }
    if (verboseLevel()) msgInfo(`renamed file ${from} as ${to}`);
    return true;
  }

  expire(rel: string): boolean {
    let fd: number;
    try {
      fd = fs.openSync(this.abs(rel), fs.constants.O_RDWR | fs.constants.O_NOFOLLOW);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') msgWarn(`expire file ${rel}: cannot open file: ${errText(e)}`);
      return false;
    }
    try {
      const st = fs.fstatSync(fd);
      if (!st.isFile() || !readyMessage(st) || st.mode & MAIL_QUEUE_STAT_EXPIRE) return false;
      try {
        fs.fchmodSync(fd, (st.mode | MAIL_QUEUE_STAT_EXPIRE) & 0o7777);
      } catch (e) {
        msgWarn(`expire file ${rel}: cannot set permission: ${errText(e)}`);
        return false;
      }
      return true;
    } finally {
      fs.closeSync(fd);
    }
  }

  /** mail_open_ok(): the file's path and status when it is a complete message. */
  openOk(queue: string, id: string): { rel: string; st: fs.Stats } | null {
    if (!mailQueueNameOk(queue)) {
      msgWarn(`bad mail queue name: ${queue}`);
      return null;
    }
    if (!mailQueueIdOk(id)) return null;
    const rel = this.queuePath(queue, id);
    let st: fs.Stats;
    try {
      st = fs.lstatSync(this.abs(rel));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') msgWarn(`${rel}: ${errText(e)}`);
      return null;
    }
    if (!st.isFile()) {
      msgWarn(`${rel}: uid ${st.uid}: not a regular file`);
      return null;
    }
    if (!readyMessage(st)) return null;
    if (st.nlink > 1) {
      if (verboseLevel()) msgInfo(`${rel}: uid ${st.uid}: file has ${st.nlink} links`);
      else if (st.ctimeMs / 1000 < Date.now() / 1000 - 60) msgWarn(`${rel}: uid ${st.uid}: file has ${st.nlink} links`);
    }
    return { rel, st };
  }

  private checkId(id: string): boolean {
    if (mailQueueIdOk(id)) return true;
    msgWarn(`invalid mail queue id: ${id}`);
    return false;
  }

  deleteOne(queues: string[], id: string): void {
    if (!this.checkId(id)) return;
    let found = false;
    for (let tries = 0; !found && tries < 2; tries++) {
      for (const q of queues) {
        if (!isMessageQueue(this.findQueueInfo(q))) continue;
        const hit = this.openOk(q, id);
        if (!hit) continue;
        for (const log of LOG_QUEUES) this.remove(this.queuePath(log, id));
        if (this.remove(hit.rel)) {
          found = true;
          msgInfo(`${id}: removed`);
          break;
        }
      }
    }
    if (found) this.deleted++;
  }

  requeueOne(queues: string[], id: string): void {
    if (!this.checkId(id)) return;
    let found = false;
    for (let tries = 0; !found && tries < 2; tries++) {
      for (const q of queues) {
        if (q === 'maildrop' || !isMessageQueue(this.findQueueInfo(q))) continue;
        const hit = this.openOk(q, id);
        if (!hit) continue;
        const to = this.queuePath('maildrop', id);
        if (this.rename(hit.rel, to)) {
          const now = new Date();
          try {
            fs.utimesSync(this.abs(to), now, now);
          } catch (e) {
            msgWarn(`${to}: reset time stamps: ${errText(e)}`);
          }
          msgInfo(`${id}: requeued`);
          found = true;
          break;
        }
      }
    }
    if (found) this.requeued++;
  }

  holdOne(queues: string[], id: string): void {
    if (!this.checkId(id)) return;
    let found = false;
    for (let tries = 0; !found && tries < 2; tries++) {
      for (const q of queues) {
        if (q === 'maildrop' || q === 'hold' || !isMessageQueue(this.findQueueInfo(q))) continue;
        const hit = this.openOk(q, id);
        if (!hit) continue;
        if (this.rename(hit.rel, this.queuePath('hold', id))) {
          msgInfo(`${id}: placed on hold`);
          found = true;
          break;
        }
      }
    }
    if (found) this.held++;
  }

  releaseOne(queues: string[], id: string): void {
    if (!this.checkId(id)) return;
    for (const q of queues) {
      if (q !== 'hold') continue;
      const hit = this.openOk(q, id);
      if (!hit) continue;
      if (this.rename(hit.rel, this.queuePath('deferred', id))) {
        msgInfo(`${id}: released from hold`);
        this.released++;
        return;
      }
    }
  }

  expireOne(queues: string[], id: string): void {
    if (!this.checkId(id)) return;
    let found = false;
    for (let tries = 0; !found && tries < 2; tries++) {
      for (const q of queues) {
        if (!isMessageQueue(this.findQueueInfo(q)) || q === 'maildrop') continue;
        const hit = this.openOk(q, id);
        if (!hit) continue;
        if (this.expire(hit.rel)) {
          found = true;
          msgInfo(`${id}: expired`);
          break;
        }
      }
    }
    if (found) this.expired++;
  }

  expRelOne(queues: string[], id: string): void {
    this.expireOne(queues, id);
    this.releaseOne(queues, id);
  }

  /** fix_queue_id(): rename a message (and its logs) after its inode, with the #FIX suffix. */
  fixQueueId(actualRel: string, queue: string, id: string, st: fs.Stats): void {
    const z = longIdSeparator(id);
    let newId: string;
    if (z < 0) newId = id.slice(0, 5) + fileId(st.ino, false);
    else if (this.longIds) newId = `${id.slice(0, z)}z${fileId(st.ino, true)}`;
    else newId = shortUsec(parseQueueId(id).usec ?? 0) + fileId(st.ino, false);
    for (const log of LOG_QUEUES) this.rename(this.queuePath(log, id), this.queuePath(log, newId) + SUFFIX);
    this.rename(actualRel, this.queuePath(queue, newId) + SUFFIX);
  }

  /** super(): one pass over the queues doing the mass actions. */
  pass(queues: string[], actionIn: number): void {
    let action = actionIn;
    for (const queue of queues) {
      if (verboseLevel()) msgInfo(`queue: ${queue}`);
      const qp = this.findQueueInfo(queue);
      const wantedDepth = this.layout.hashQueueNames.includes(queue) ? this.layout.hashQueueDepth : 0;
      if (wantedDepth > 0 && !qp.recurse) msgFatal(`${queue} queue must not be hashed`);
      const visit = (dirRel: string, depth: number): void => {
        let names: string[];
        try {
          names = readdirRaw(this.abs(dirRel));
        } catch (e) {
          msgFatal(`scan_dir_push: open directory ${dirRel}: ${errText(e)}`);
        }
        for (const name of names) {
          if (name.startsWith('.')) continue;
          if (name.length === 1 && qp.recurse) {
            visit(`${dirRel}/${name}`, depth + 1);
            continue;
          }
          action = this.visitFile(queue, qp, `${dirRel}/${name}`, name, action);
        }
        if (depth > wantedDepth) {
          try {
            fs.rmdirSync(this.abs(dirRel));
            if (verboseLevel()) msgInfo(`remove directory ${dirRel}`);
          } catch (e) {
            if ((e as NodeJS.ErrnoException).code !== 'ENOENT') msgFatal(`remove directory ${dirRel}: ${errText(e)}`);
          }
        }
      };
      visit(queue, 0);
    }
  }

  private visitFile(queue: string, qp: QueueInfo, relIn: string, nameIn: string, action: number): number {
    let rel = relIn;
    let name = nameIn;
    let st: fs.Stats;
    try {
      st = fs.lstatSync(this.abs(rel));
    } catch {
      return action;
    }
    if (st.isDirectory()) {
      try {
        fs.rmdirSync(this.abs(rel));
        if (verboseLevel()) msgInfo(`remove subdirectory ${rel}`);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') msgWarn(`remove subdirectory ${rel}: ${errText(e)}`);
      }
      return action;
    }
    if (action & A.DELETE_ALL) {
      if (this.remove(rel) && isMessageQueue(qp) && readyMessage(st)) this.deleted++;
      return action;
    }
    if (!st.isFile() || (action & A.PURGE && isMessageQueue(qp) && !readyMessage(st) && Date.now() / 1000 > st.mtimeMs / 1000 + MAX_TEMP_AGE)) {
      this.remove(rel);
      return action;
    }
    if (action & A.STRUCT && name.endsWith(SUFFIX)) {
      name = name.slice(0, -SUFFIX.length);
      if (!mailQueueIdOk(name)) {
        msgWarn(`bogus file name: ${rel}`);
        return action;
      }
      if (isMessageQueue(qp)) {
        const p = parseQueueId(name);
        if (p.inode === undefined) {
          msgWarn(`bogus file name: ${rel}`);
          return action;
        }
        if (p.inode !== BigInt(st.ino)) {
          msgWarn(`name/inode mismatch: ${rel}`);
          return action;
        }
      }
      const wanted = this.queuePath(queue, name);
      if (!this.rename(rel, wanted)) return action;
      if (isMessageQueue(qp)) this.inodeFixed++;
      rel = wanted;
    }
    if (!mailQueueIdOk(name)) {
      msgWarn(`bogus file name: ${rel}`);
      return action;
    }
    if (action & A.STRUCT && isMessageQueue(qp)) {
      const p = parseQueueId(name);
      if (p.inode === undefined) {
        msgWarn(`bogus file name: ${rel}`);
        return action;
      }
      if ((p.long && !this.longIds) || (p.inode !== BigInt(st.ino) && (!p.long || action & A.STRUCT_RED))) {
        this.inodeMismatch++;
        this.fixQueueId(rel, queue, name, st);
        return action & ~BY_WILDCARD;
      }
    }
    if (action & A.REQUEUE_ALL && isMessageQueue(qp) && queue !== 'maildrop') {
      if (this.rename(rel, this.queuePath('maildrop', name))) this.requeued++;
      return action;
    }
    if (action & (A.EXPIRE_ALL | A.EXP_REL_ALL) && isMessageQueue(qp) && readyMessage(st) && queue !== 'maildrop' && this.expire(rel)) {
      this.expired++;
    }
    if (action & A.HOLD_ALL && isMessageQueue(qp) && queue !== 'maildrop' && queue !== 'hold') {
      if (this.rename(rel, this.queuePath('hold', name))) this.held++;
      return action;
    }
    if (action & (A.RELEASE_ALL | A.EXP_REL_ALL) && queue === 'hold') {
      if (this.rename(rel, this.queuePath('deferred', name))) this.released++;
      return action;
    }
    if (action & A.STRUCT) {
      const wanted = this.queuePath(queue, name);
      if (rel !== wanted) {
        this.positionMismatch++;
        this.rename(rel, wanted);
      }
    }
    return action;
  }
}

function readStdinIds(): string[] {
  let text: string;
  try {
    text = fs.readFileSync(0, 'latin1');
  } catch {
    return [];
  }
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}

const plural = (n: number) => (n !== 1 ? 's' : '');

function main(argv: string[]): number {
  if (process.env.MAIL_VERBOSE) setVerbose(1);
  if (process.getuid?.() !== 0) msgFatal('use of this command is reserved for the superuser');
  let action = 0;
  const ops: Array<{ opt: string; arg: string }> = [];
  const getopt = new Getopt(argv, 'c:d:e:f:h:H:pr:sSv');
  let verbose = verboseLevel();
  for (const { opt, arg } of getopt) {
    const all = arg === 'ALL';
    switch (opt) {
      case 'c':
        if (!arg!.startsWith('/')) msgFatal('-c requires absolute pathname');
        process.env[CONF_ENV_PATH] = arg!;
        break;
      case 'd': action |= all ? A.DELETE_ALL : A.DELETE_ONE; break;
      case 'e': action |= all ? A.EXPIRE_ALL : A.EXPIRE_ONE; break;
      case 'f': action |= all ? A.EXP_REL_ALL : A.EXP_REL_ONE; break;
      case 'h': action |= all ? A.HOLD_ALL : A.HOLD_ONE; break;
      case 'H': action |= all ? A.RELEASE_ALL : A.RELEASE_ONE; break;
      case 'p': action |= A.PURGE; break;
      case 'r': action |= all ? A.REQUEUE_ALL : A.REQUEUE_ONE; break;
      case 'S': action |= A.STRUCT_RED | A.STRUCT; break;
      case 's': action |= A.STRUCT; break;
      case 'v': verbose++; break;
      default: msgFatal(`usage: ${getProgName()} ${USAGE}`);
    }
    if ('defhHr'.includes(opt)) ops.push({ opt, arg: arg! });
  }
  setVerbose(verbose);
  const config = loadConfigOr(msgFatal);
  const qdir = queueDirOr(config, msgFatal);
  const layout = layoutFromConfig(config);
  if ('error' in layout) msgFatal(layout.error);
  const owner = process.geteuid?.() === 0 ? lookupUser(config.get('mail_owner')) : null;
  const s = new Super(qdir, layout, config.getBool('enable_long_queue_ids'), owner);
  const incomplete = () => {
    if (s.inodeMismatch > 0 || s.inodeFixed > 0 || s.positionMismatch > 0) msgWarn('OPERATION INCOMPLETE -- RERUN COMMAND TO FIX THE QUEUE FIRST');
  };
  try {
    if (action === 0) action = A.STRUCT | A.PURGE;
    const operands = argv.slice(getopt.optind);
    const queues = operands.length > 0 ? operands : DEFAULT_QUEUES;
    if (action & FOR_REPAIR) s.pass(queues, action & FOR_REPAIR);
    if (s.inodeMismatch > 0) s.pass(queues, action & FOR_REPAIR);
    if (action & BY_QUEUE_ID && (s.inodeMismatch > 0 || s.inodeFixed > 0)) {
      msgError('QUEUE FILE NAMES WERE CHANGED TO MATCH INODE NUMBERS');
      msgFatal('CHECK YOUR QUEUE IDS AND RE-ISSUE THE COMMAND');
    }
    let stdinIds: string[] | null = null;
    const each = (arg: string, all: number, one: (q: string[], id: string) => void) => {
      if (arg === 'ALL') s.pass(queues, all);
      else if (arg === '-') {
        stdinIds ??= readStdinIds();
        for (const id of stdinIds.splice(0)) one(queues, id);
      } else one(queues, arg);
    };
    for (const { opt, arg } of ops) {
      switch (opt) {
        case 'd': each(arg, A.DELETE_ALL, (q, id) => s.deleteOne(q, id)); break;
        case 'e': each(arg, A.EXPIRE_ALL, (q, id) => s.expireOne(q, id)); break;
        case 'f': each(arg, A.EXP_REL_ALL, (q, id) => s.expRelOne(q, id)); break;
        case 'h': each(arg, A.HOLD_ALL, (q, id) => s.holdOne(q, id)); break;
        case 'H': each(arg, A.RELEASE_ALL, (q, id) => s.releaseOne(q, id)); break;
        case 'r': each(arg, A.REQUEUE_ALL, (q, id) => s.requeueOne(q, id)); break;
      }
    }
  } catch (e) {
    incomplete();
    throw e;
  }
  if (action & (A.REQUEUE_ONE | A.REQUEUE_ALL)) msgInfo(`Requeued: ${s.requeued} message${plural(s.requeued)}`);
  if (action & (A.DELETE_ONE | A.DELETE_ALL)) msgInfo(`Deleted: ${s.deleted} message${plural(s.deleted)}`);
  if (action & (A.EXPIRE_ONE | A.EXPIRE_ALL | A.EXP_REL_ONE | A.EXP_REL_ALL)) msgInfo(`Force-expired: ${s.expired} message${plural(s.expired)}`);
  if (action & (A.HOLD_ONE | A.HOLD_ALL)) msgInfo(`Placed on hold: ${s.held} message${plural(s.held)}`);
  if (action & (A.RELEASE_ONE | A.RELEASE_ALL | A.EXP_REL_ONE | A.EXP_REL_ALL)) msgInfo(`Released from hold: ${s.released} message${plural(s.released)}`);
  if (s.inodeFixed > 0) msgInfo(`Renamed to match inode number: ${s.inodeFixed} message${plural(s.inodeFixed)}`);
  if (s.inodeMismatch > 0 || s.inodeFixed > 0) msgWarn('QUEUE FILE NAMES WERE CHANGED TO MATCH INODE NUMBERS');
  return 0;
}

void runMain('postsuper', main);
