// Mirrors Postfix's postdrop/postdrop.c (the work behind the postdrop
// command and sendmail's submission): copy a record stream into a new file
// in maildrop/, keeping only what a local user may say. The file gets an
// arrival time of our own (T, never the caller's), records are checked
// against the order envelope (M F S R V A i n), content (X L N), extracted
// (E A R), named attributes are limited to the harmless ones (encoding,
// DSN, rewrite_context, trace_flags), and a submission without sender or
// recipient is refused (that file stays behind, mode 0644, never complete,
// as with Postfix). The file is created mode 0644 and marked complete
// (0744) after fsync; then pickup is woken through public/pickup.
// Touches maildrop/ and public/pickup of the queue directory it is given.
import * as fs from 'node:fs';
import type { QueueLayout } from '../queue/layout.js';
import { MAIL_QUEUE_MAILDROP } from '../queue/layout.js';
import { createQueueFile, getTimeOfDay, type QueueFile, type TimeVal } from '../queue/queue-file.js';
import { REC_TYPE, REC_TYPE_EOF, REC_TYPE_ERROR, REC_TYPE_POST_CONTENT, REC_TYPE_POST_ENVELOPE, REC_TYPE_POST_EXTRACT, formatTimeRecord, splitNameValue } from '../queue/rec-type.js';
import { type ByteInput, REC_FLAG_NONE, RecordWriter, recGetRaw } from '../queue/record.js';
import type { MsgLog } from '../util/msg.js';
import { mailTrigger } from '../queue/mail-trigger.js';

/** CLEANUP_STAT_* values postdrop reports (global/cleanup_user.h). */
export const POSTDROP_STAT_OK = 0;
export const POSTDROP_STAT_BAD = 1 << 0;
export const POSTDROP_STAT_WRITE = 1 << 1;
export const POSTDROP_STAT_SIZE = 1 << 2;
export const POSTDROP_STAT_NOPERM = 1 << 9;

export interface MaildropOptions {
  queueDir: string;
  layout: QueueLayout;
  /** enable_long_queue_ids. */
  longIds: boolean;
  /** The submitting user, for messages. */
  uid: number;
  /** line_length_limit: the largest record accepted. */
  lineLimit: number;
  /** Warnings as "postdrop: warning: ..." (a command) or to the maillog. */
  log: MsgLog;
  /** pickup_service_name. */
  pickupService?: string;
  /** message_size_limit: the largest file (0: none). */
  messageSizeLimit?: number;
  /** trigger_timeout in milliseconds. */
  triggerTimeoutMs?: number;
  clock?: () => TimeVal;
}

export type MaildropResult =
  /** The input ended before its END record: the file is gone, nothing was queued. */
  | { kind: 'canceled'; queueId: string }
  /** Postfix's postdrop dies with this text (the file is removed first). */
  | { kind: 'fatal'; text: string }
  /** The file is queued when status is 0; else removed, with status bits and a reason. */
  | { kind: 'done'; queueId: string; status: number; reason: string };

const SEGMENTS = [REC_TYPE_POST_ENVELOPE, REC_TYPE_POST_CONTENT, REC_TYPE_POST_EXTRACT, ''];

/** Named attributes a local user may set (postdrop's list plus rec_attr_map()'s). */
function attributeAllowed(name: string, value: string): boolean {
  switch (name) {
    case 'encoding':
      return value === '7bit' || value === '8bit' || value === 'none';
    case 'rewrite_context':
      return value === 'local' || value === 'remote';
    case 'envelope_id':
    case 'notify_flags':
    case 'dsn_orig_rcpt':
    case 'ret_flags':
    case 'create_time':
    case 'trace_flags':
      return true;
    default:
      return false;
  }
}

/** A maildrop file just created, before any record was copied into it. */
export interface OpenMaildrop {
  file: QueueFile;
  /** When postdrop started on it: the arrival time it records. */
  start: TimeVal;
}

/** Creates a new file in maildrop/ (mode 0644 until it is complete); its name is the queue ID. */
export function openMaildrop(opts: MaildropOptions): OpenMaildrop | { fatal: string } {
  const created = createQueueFile({
    queueDir: opts.queueDir, layout: opts.layout, queue: MAIL_QUEUE_MAILDROP, longIds: opts.longIds, mode: 0o644, ...(opts.clock ? { clock: opts.clock } : {}),
  });
  for (const w of created.warnings) opts.log.warning(w);
  if ('error' in created) return { fatal: created.error };
  return { file: created.file, start: (opts.clock ?? getTimeOfDay)() };
}

/**
 * Creates the maildrop file (onQueueId learns its name at once, as
 * postdrop's client does) and copies the records of input into it.
 */
export async function writeMaildrop(input: ByteInput, opts: MaildropOptions, onQueueId?: (id: string) => void): Promise<MaildropResult> {
  const opened = openMaildrop(opts);
  if ('fatal' in opened) return { kind: 'fatal', text: opened.fatal };
  onQueueId?.(opened.file.id);
  return copyToMaildrop(opened, input, opts);
}

/** Copies the records of input into a file from openMaildrop(), checking them as postdrop does, and completes it. */
export async function copyToMaildrop(opened: OpenMaildrop, input: ByteInput, opts: MaildropOptions): Promise<MaildropResult> {
  const { file, start } = opened;
  const uid = opts.uid;
  const out = new RecordWriter();
  out.put(REC_TYPE.TIME, formatTimeRecord(start.sec, start.usec));
  let expected = 0;
  let status = POSTDROP_STAT_OK;
  let reason = '';
  let fromCount = 0;
  let rcptCount = 0;
  let validate = true;
  const fail = (text: string): MaildropResult => {
    file.abort();
    return { kind: 'fatal', text };
  };
  for (;;) {
    const r = recGetRaw(input, opts.lineLimit, REC_FLAG_NONE);
    if (r.type === REC_TYPE_EOF) {
      file.abort();
      return { kind: 'canceled', queueId: file.id };
    }
    if (r.type === REC_TYPE_ERROR || !('data' in r)) {
      if ('warning' in r) opts.log.warning(r.warning);
      return fail(`uid=${uid}: malformed input`);
    }
    const type = r.type;
    const set = SEGMENTS[expected]!;
    if (!set.includes(String.fromCharCode(type))) return fail(`uid=${uid}: unexpected record type: ${type}`);
    if (type === set.charCodeAt(0)) expected++;
    if (type === REC_TYPE.TIME) continue;
    const data = r.data.toString('latin1');
    if (type === REC_TYPE.FROM) {
      if (data.includes('\0')) {
        status |= POSTDROP_STAT_BAD;
        reason = 'NUL in FROM record';
      }
      fromCount++;
    }
    if (type === REC_TYPE.RCPT) rcptCount++;
    if (type === REC_TYPE.ATTR) {
      const nv = splitNameValue(data.split('\0')[0]!);
      if ('error' in nv) {
        opts.log.warning(`uid=${uid}: ignoring malformed record: ${nv.error}: ${data.slice(0, 200)}`);
        continue;
      }
      if (attributeAllowed(nv.name, nv.value)) out.put(REC_TYPE.ATTR, `${nv.name}=${nv.value}`);
      else opts.log.warning(`uid=${uid}: ignoring attribute record: ${nv.name.slice(0, 200)}=${nv.value.slice(0, 200)}`);
      continue;
    }
    if (status !== POSTDROP_STAT_OK) {
      // Read the rest, so that the client is not cut off mid-stream.
      for (;;) {
        const rest = recGetRaw(input, opts.lineLimit, REC_FLAG_NONE);
        if (rest.type === REC_TYPE_ERROR) {
          if ('warning' in rest) opts.log.warning(rest.warning);
          return fail(`uid=${uid}: malformed input`);
        }
        if (rest.type === REC_TYPE_EOF || rest.type === REC_TYPE.END) break;
      }
      validate = false;
      break;
    }
    out.put(type, r.data);
    if (type === REC_TYPE.END) break;
  }
  if (validate && (fromCount === 0 || rcptCount === 0)) status |= POSTDROP_STAT_BAD;
  if (status !== POSTDROP_STAT_OK) {
    // As Postfix's postdrop: what was written stays, never marked complete
    // (pickup ignores it); only a fatal error or a cancel removes the file.
    file.append(out.take());
    fs.closeSync(file.fd);
    return { kind: 'done', queueId: file.id, status, reason };
  }
  const records = out.take();
  if (opts.messageSizeLimit && file.size + records.length > opts.messageSizeLimit) {
    // The file size limit Postfix sets from message_size_limit: the write fails with EFBIG.
    opts.log.warning(`uid=${uid}: File too large`);
    file.abort();
    return { kind: 'done', queueId: file.id, status: POSTDROP_STAT_SIZE, reason };
  }
  const wrote = file.append(records);
  const committed = wrote ?? (await file.commit({ extraMode: 0o044 }));
  if (committed !== null) {
    file.abort();
    const code = committed.code === 'EFBIG' ? POSTDROP_STAT_SIZE : POSTDROP_STAT_WRITE;
    opts.log.warning(`uid=${uid}: ${committed.error.message}`);
    return { kind: 'done', queueId: file.id, status: code, reason };
  }
  await mailTrigger(opts.queueDir, `public/${opts.pickupService ?? 'pickup'}`, 'W', opts.log, opts.triggerTimeoutMs);
  return { kind: 'done', queueId: file.id, status: POSTDROP_STAT_OK, reason: '' };
}

/** Whether the maildrop directory lets this process create files (the set-gid model needs the postdrop group). */
export function maildropWritable(queueDir: string): boolean {
  try {
    fs.accessSync(`${queueDir}/${MAIL_QUEUE_MAILDROP}`, fs.constants.W_OK | fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
