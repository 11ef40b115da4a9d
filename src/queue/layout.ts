// Mirrors Postfix's global/mail_queue.c (mail_queue_dir, mail_queue_path,
// mail_queue_mkdirs, mail_queue_rename, mail_queue_remove), global/mail_queue.h
// (queue names, file modes) and util/dir_forest.c. Paths are relative to
// queue_directory, as Postfix's daemons see them after chdir; callers that
// have not changed directory pass queueDir. Touches only the queue tree.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CHARS_COMMA_SP } from '../util/tokens.js';
import { mailQueueIdOk, mailQueueNameOk, queueIdHashKey } from './queue-id.js';

export const MAIL_QUEUE_MAILDROP = 'maildrop';
export const MAIL_QUEUE_HOLD = 'hold';
export const MAIL_QUEUE_INCOMING = 'incoming';
export const MAIL_QUEUE_ACTIVE = 'active';
export const MAIL_QUEUE_DEFERRED = 'deferred';
export const MAIL_QUEUE_TRACE = 'trace';
export const MAIL_QUEUE_DEFER = 'defer';
export const MAIL_QUEUE_BOUNCE = 'bounce';
export const MAIL_QUEUE_CORRUPT = 'corrupt';
export const MAIL_QUEUE_FLUSH = 'flush';
export const MAIL_QUEUE_SAVED = 'saved';

export const MAIL_QUEUE_NAMES = [
  MAIL_QUEUE_MAILDROP, MAIL_QUEUE_HOLD, MAIL_QUEUE_INCOMING, MAIL_QUEUE_ACTIVE, MAIL_QUEUE_DEFERRED,
  MAIL_QUEUE_TRACE, MAIL_QUEUE_DEFER, MAIL_QUEUE_BOUNCE, MAIL_QUEUE_CORRUPT, MAIL_QUEUE_FLUSH, MAIL_QUEUE_SAVED,
] as const;

/** A complete queue file: owner rwx. Readers skip files whose owner bits differ (mail_open_ok). */
export const MAIL_QUEUE_STAT_READY = 0o700;
/** A file moved aside as corrupt. */
export const MAIL_QUEUE_STAT_CORRUPT = 0o400;
/** Deliver now regardless of destination backoff (postqueue -i / flush). */
export const MAIL_QUEUE_STAT_UNTHROTTLE = 0o040;
/** Forced to expire (postsuper -e / -f): bounce on the next delivery attempt. */
export const MAIL_QUEUE_STAT_EXPIRE = 0o010;

/** True when the owner bits say the file is complete. */
export function isReadyMode(mode: number): boolean {
  return (mode & 0o700) === MAIL_QUEUE_STAT_READY;
}

/** True when postsuper marked the file to expire. */
export function isForcedExpire(mode: number): boolean {
  return (mode & MAIL_QUEUE_STAT_EXPIRE) !== 0;
}

/** hash_queue_names and hash_queue_depth: which queues are split into subdirectories, how deep. */
export interface QueueLayout {
  hashQueueNames: readonly string[];
  hashQueueDepth: number;
}

export const DEFAULT_LAYOUT: QueueLayout = { hashQueueNames: ['deferred', 'defer'], hashQueueDepth: 1 };

/** A parameter source: Config satisfies it. */
export interface ParamSource {
  get(name: string): string;
}

/**
 * The layout from main.cf. Errors carry Postfix's fatal text
 * (mail_params_init checks hash_queue_depth >= 1).
 */
export function layoutFromConfig(config: ParamSource): QueueLayout | { error: string } {
  const names = config.get('hash_queue_names');
  const depthText = config.get('hash_queue_depth');
  // strtol() must use up the text; an empty value converts to 0.
  if (depthText !== '' && !/^[ \t\n\v\f\r]*[-+]?[0-9]+$/.test(depthText)) {
    return { error: `bad numerical configuration: hash_queue_depth = ${depthText}` };
  }
  const depth = depthText === '' ? 0 : parseInt(depthText, 10);
  if (depth < 1) return { error: `invalid hash_queue_depth parameter value ${depth} < 1` };
  return { hashQueueNames: splitList(names), hashQueueDepth: depth };
}

function splitList(text: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (const ch of text) {
    if (CHARS_COMMA_SP.includes(ch)) {
      if (cur) out.push(cur);
      cur = '';
    } else cur += ch;
  }
  if (cur) out.push(cur);
  return out;
}

/**
 * dir_forest(): the first depth characters of key, each followed by '/',
 * '_' standing in when the key is short. Keys are queue IDs or hash keys
 * and never hold '.', '/' or unprintable characters.
 */
export function dirForest(key: string, depth: number): string {
  if (key.length === 0) throw new Error('dir_forest: empty path');
  if (depth < 1) throw new Error(`dir_forest: depth ${depth}`);
  let out = '';
  for (let n = 0; n < depth; n++) {
    const ch = key[n] ?? '_';
    if (n < key.length && (ch === '.' || ch === '/' || ch < ' ' || ch > '~')) {
      throw new Error(`dir_forest: invalid pathname: ${key}`);
    }
    out += ch + '/';
  }
  return out;
}

/** True when the queue is hashed (hash_queue_names is compared without case). */
export function isHashedQueue(layout: QueueLayout, queue: string): boolean {
  const q = queue.toLowerCase();
  return layout.hashQueueNames.some((n) => n.toLowerCase() === q);
}

/** mail_queue_dir(): "queue/" plus the hash subdirectories for this ID. */
export function mailQueueDir(layout: QueueLayout, queue: string, id: string): string {
  if (!mailQueueNameOk(queue)) throw new Error(`mail_queue_dir: bad queue name: ${queue}`);
  if (!mailQueueIdOk(id)) throw new Error(`mail_queue_dir: bad queue id: ${id}`);
  if (!isHashedQueue(layout, queue)) return `${queue}/`;
  return `${queue}/${dirForest(queueIdHashKey(id), layout.hashQueueDepth)}`;
}

/** mail_queue_path(): where a queue file lives, relative to queue_directory. */
export function mailQueuePath(layout: QueueLayout, queue: string, id: string): string {
  return mailQueueDir(layout, queue, id) + id;
}

/** An error as a value: the Node error code and message. */
export interface FsFailure {
  code: string;
  error: NodeJS.ErrnoException;
}

function failure(e: unknown): FsFailure {
  const error = e as NodeJS.ErrnoException;
  return { code: error.code ?? 'EIO', error };
}

/** mail_queue_mkdirs(): create the directories above a queue file path, mode 0700. */
export function mailQueueMkdirs(queueDir: string, relPath: string): FsFailure | null {
  const slash = relPath.lastIndexOf('/');
  if (slash < 0) throw new Error(`mail_queue_mkdirs: no slash in: ${relPath}`);
  try {
    fs.mkdirSync(path.resolve(queueDir, relPath.slice(0, slash)), { recursive: true, mode: 0o700 });
    return null;
  } catch (e) {
    return failure(e);
  }
}

/** mail_queue_rename(): move a file between queues, creating a missing hash directory. */
export function mailQueueRename(
  queueDir: string,
  layout: QueueLayout,
  id: string,
  oldQueue: string,
  newQueue: string,
): FsFailure | null {
  const from = path.resolve(queueDir, mailQueuePath(layout, oldQueue, id));
  const toRel = mailQueuePath(layout, newQueue, id);
  const to = path.resolve(queueDir, toRel);
  try {
    fs.renameSync(from, to);
    return null;
  } catch (e) {
    const first = failure(e);
    if (mailQueueMkdirs(queueDir, toRel) !== null) return first;
  }
  try {
    fs.renameSync(from, to);
    return null;
  } catch (e) {
    return failure(e);
  }
}

/** mail_queue_remove(). */
export function mailQueueRemove(queueDir: string, layout: QueueLayout, queue: string, id: string): FsFailure | null {
  try {
    fs.unlinkSync(path.resolve(queueDir, mailQueuePath(layout, queue, id)));
    return null;
  } catch (e) {
    return failure(e);
  }
}
