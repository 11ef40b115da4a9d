// Mirrors Postfix's qmgr/qmgr_message.c: a message in the active queue as
// the queue manager holds it: its envelope, its delivery flags, how many
// of its entries are still out, and where in the file the next batch of
// recipients starts (at most qmgr_message_recipient_limit are in core at
// once; the rest are read when the first ones are done). Also the update
// of the delay-warning (W) record once the warning has gone out. Reads
// the queue file; writes only the W record.
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { DEL_REQ_TRACE_FLAGS_MASK, type DeliveryRecipient, type MsgStats, NO_TIME } from '../delivery/api.js';
import type { TimeVal } from '../queue/queue-file.js';
import { type QueueLayout, mailQueuePath } from '../queue/layout.js';
import { type QueueFileInfo, attributeValue, readQueueFileSync } from '../queue/reader.js';
import { encodeRecord, recGetRaw, REC_FLAG_DEFAULT, type ByteInput } from '../queue/record.js';
import { REC_TYPE } from '../queue/rec-type.js';
import { PageInput } from '../queue/page-input.js';
import type { EntryOwner } from './queue.js';
import type { NoticeRequest } from './status.js';

/** Recipients with NOTIFY=SUCCESS: the rflags bit qmgr checks before asking for a trace flush. */
const DSN_NOTIFY_SUCCESS = 2;

/** One message in the active queue (QMGR_MESSAGE). */
export class QmgrMessage implements EntryOwner {
  readonly queueName = 'active';
  refcount = 0;
  /** Non-zero when some recipient must be tried again (DEL_STAT_DEFER) or a notice failed. */
  flags = 0;
  /** Offset of the next recipient record not read yet; 0 when all are read. */
  rcptOffset = 0;
  /** Pending recipients read into core so far, over all batches. */
  rcptRead = 0;
  /** Recipient slots (qmgr_message_recipient_minimum to start with, then what its jobs hold) and recipients in core. */
  rcptLimit: number;
  rcptCount = 0;
  /** When the last batch was read (seconds). */
  refillTime = 0;
  /** A later batch is being read. */
  reading = false;
  /** A later batch could not be read: the file goes to corrupt/ when the message is finished. */
  readFailed = false;
  readonly jobs: Array<{ moveLimits(): void; rcptLimit: number; rcptCount: number; stackLevel: number }> = [];
  /** Some recipient asked for NOTIFY=SUCCESS. */
  notifySuccess = false;
  sender = '';
  size = 0;
  nrcpt = 0;
  arrival: TimeVal = NO_TIME;
  createTime = 0;
  warnTime = 0;
  dataOffset = 0;
  dataSize = 0;
  /** The trace flags of the message (DEL_REQ_FLAG_RECORD and friends; the trace_flags attribute). */
  tflags = 0;
  encoding = '';
  smtputf8 = 0;
  dsnEnvid = '';
  dsnRet = 0;
  attrs: Record<string, string> = {};

  constructor(
    readonly queueId: string,
    readonly activeArrival: TimeVal,
    /** Postsuper -e: bounce at this attempt. */
    readonly forceExpire: boolean,
    /** Postqueue -i or flush: ignore defer_transports and dead destinations. */
    readonly flushEach: boolean,
    /** Ignore defer_transports (the F trigger, postqueue -i). */
    readonly flushDfxp: boolean,
    recipientMinimum = 1,
  ) {
    this.rcptLimit = recipientMinimum;
  }

  get refillBlocked(): boolean {
    return this.reading || this.readFailed;
  }

  /** When it entered the active queue (seconds): where its jobs go on the job lists. */
  get queuedTime(): number {
    return this.activeArrival.sec;
  }

  /** Recipients still in the file (Postfix's rcpt_unread): the job scheduler's estimate of what is to come. */
  get rcptUnread(): number {
    return this.rcptOffset === 0 ? 0 : Math.max(0, this.nrcpt - this.rcptRead);
  }

  /** Takes the envelope of a (first) read. */
  setEnvelope(f: QueueFileInfo): void {
    const size = f.size!;
    this.sender = f.sender ?? '';
    this.size = size.contentLength;
    this.nrcpt = size.rcptCount;
    this.arrival = f.arrival ?? NO_TIME;
    this.createTime = f.createTime ?? 0;
    this.warnTime = f.warnTime ?? 0;
    this.dataOffset = size.dataOffset;
    this.dataSize = size.contentSize;
    this.smtputf8 = size.smtputf8;
    this.notifySuccess = ((size.qmgrFlags >> 1) & DSN_NOTIFY_SUCCESS) !== 0;
    this.dsnEnvid = f.dsnEnvid ?? '';
    this.dsnRet = f.dsnRet;
    const trace = attributeValue(f, 'trace_flags');
    if (trace !== null && /^[0-9]+$/.test(trace)) this.tflags = Number(trace) & DEL_REQ_TRACE_FLAGS_MASK;
    this.encoding = attributeValue(f, 'encoding') ?? '';
    for (const a of f.attributes) this.attrs[a.name] = a.value;
  }

  /** The stats a delivery of this message starts with. */
  stats(handoff: TimeVal): MsgStats {
    return { incomingArrival: this.arrival, activeArrival: this.activeArrival, agentHandoff: handoff, connSetupDone: NO_TIME, deliverDone: NO_TIME, reuseCount: 0 };
  }

  notice(): NoticeRequest {
    return {
      queueName: this.queueName, queueId: this.queueId, encoding: this.encoding, smtputf8: this.smtputf8,
      sender: this.sender, dsnEnvid: this.dsnEnvid, dsnRet: this.dsnRet,
    };
  }

  attr(name: string): string {
    return this.attrs[name] ?? '';
  }
}

/** A batch of recipients read from a message's file. */
export type BatchResult =
  | { ok: true; file: QueueFileInfo; recipients: DeliveryRecipient[]; nextOffset: number }
  | { ok: false; error: string };

/**
 * Reads a message and keeps the pending recipients whose records start
 * at or after from, at most limit of them; nextOffset is where the next
 * batch starts (0 when none remain). The reader goes over the whole
 * envelope; only the batch is kept.
 */
export async function readBatch(queueDir: string, layout: QueueLayout, id: string, from: number, limit: number): Promise<BatchResult> {
  const r = readQueueFileSync(path.resolve(queueDir, mailQueuePath(layout, 'active', id)));
  if (!r.ok) return { ok: false, error: r.error };
  const recipients: DeliveryRecipient[] = [];
  let nextOffset = 0;
  for (const q of r.file.recipients) {
    if (q.status !== 'pending' || q.offset < from) continue;
    if (recipients.length >= limit) {
      nextOffset = q.offset;
      break;
    }
    recipients.push({ address: q.address, orcpt: q.orcpt ?? '', dsnOrcpt: q.dsnOrcpt ?? '', notify: q.notify, offset: q.offset });
  }
  // The reader's recipient array goes out of scope here; only the batch stays.
  r.file.recipients = [];
  return { ok: true, file: r.file, recipients, nextOffset };
}

/** The offset of the first W record in the envelope, or -1 (the reader does not report it). */
async function warnOffset(fh: fsp.FileHandle, where: string): Promise<number> {
  const size = (await fh.stat()).size;
  const input = new PageInput(fh, where, size);
  if (await input.load(0)) return -1;
  for (;;) {
    const mark = input.mark();
    const r = recGetRaw(input as ByteInput, 0, REC_FLAG_DEFAULT);
    if (input.missing !== null) {
      const page = input.missing;
      input.reset(mark);
      if (await input.load(page)) return -1;
      continue;
    }
    if (!('data' in r)) return -1;
    if (r.type === REC_TYPE.WARN) return r.offset;
    if (r.type === REC_TYPE.MESG || r.type === REC_TYPE.END) return -1;
    input.trim();
  }
}

/**
 * qmgr_message_update_warn(): once the delay warning is out, the W record
 * is rewritten in place so that no second warning is sent. False when the
 * file has no W record or could not be written.
 */
export async function clearWarnTime(queueDir: string, layout: QueueLayout, id: string): Promise<boolean> {
  let fh: fsp.FileHandle | undefined;
  try {
    fh = await fsp.open(path.resolve(queueDir, mailQueuePath(layout, 'active', id)), 'r+');
    const at = await warnOffset(fh, id);
    if (at < 0) return false;
    const rec = encodeRecord(REC_TYPE.WARN, String(-1).padStart(15, ' '));
    await fh.write(rec, 0, rec.length, at);
    await fh.sync();
    return true;
  } catch {
    return false;
  } finally {
    await fh?.close().catch(() => undefined);
  }
}
