// Mirrors the queue-file side of Postfix's bounce/bounce_notify_util.c
// (bounce_mail_alloc and bounce_original): what a notice needs from the
// message it is about (sender, arrival time, content size and offset) and
// the content records to return, whole or headers only. Reads the queue
// file; writes nothing. A missing file is not an error: the notice says
// the message is unavailable.
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { type FsFailure, type QueueLayout, mailQueuePath } from '../queue/layout.js';
import { MemoryInput, recGetRaw, cString } from '../queue/record.js';
import { readQueueBytes } from '../queue/reader.js';
import { REC_TYPE } from '../queue/rec-type.js';
import { quote822LocalFlags } from '../address/quote.js';
import { isHeader } from '../mail/header.js';

/** The original message as bounce_mail_alloc() finds it. */
export interface OriginalMessage {
  /** The queue file's bytes; null when the file is gone. */
  data: Buffer | null;
  path: string;
  /** Envelope sender in external form ("" when unknown); a null sender shows as MAILER-DAEMON@$myhostname. */
  sender: string;
  /** Arrival time in seconds; 0 when unknown. */
  arrival: number;
  /** First SIZE field (content size); 0 when unknown. */
  messageSize: number;
  /** Offset of the first content record; 0 when unknown. */
  contentOffset: number;
  /** The Message-ID header's value, for enable_threaded_bounces; "" when not looked for or absent. */
  messageId: string;
}

/** One content record to pass on: 'N' (a line) or 'L' (part of a longer line). */
export interface ContentRecord {
  type: string;
  data: Buffer;
}

/** Reads the queue file of the message; a missing file is a value with data null. */
export async function readOriginal(
  queueDir: string, layout: QueueLayout, queueName: string, queueId: string, myhostname: string, threaded = false,
): Promise<OriginalMessage | FsFailure> {
  const rel = mailQueuePath(layout, queueName, queueId);
  const none: OriginalMessage = { data: null, path: rel, sender: '', arrival: 0, messageSize: 0, contentOffset: 0, messageId: '' };
  let data: Buffer;
  try {
    data = await fsp.readFile(path.resolve(queueDir, rel));
  } catch (e) {
    const error = e as NodeJS.ErrnoException;
    if (error.code === 'ENOENT') return none;
    return { code: error.code ?? 'EIO', error };
  }
  // A damaged envelope still gives what it can: a notice is a best effort.
  const { file } = readQueueBytes(data, rel);
  const size = file.size;
  const messageSize = size && size.contentSize > 0 ? size.contentSize : 0;
  let contentOffset = size && size.dataOffset > 0 ? size.dataOffset : 0;
  if (contentOffset === 0 && file.contentOffset > 0) contentOffset = file.contentOffset;
  const arrival = file.arrival && file.arrival.sec > 0 ? file.arrival.sec : 0;
  let sender = '';
  if (file.sender !== null) sender = quote822LocalFlags(file.sender === '' ? `MAILER-DAEMON@${myhostname}` : file.sender, 0);
  const orig: OriginalMessage = { data, path: rel, sender, arrival, messageSize, contentOffset, messageId: '' };
  if (threaded) orig.messageId = findMessageId(orig);
  return orig;
}

/** The first Message-ID header that is one line and looks like "<...>" (bounce_mail_alloc). */
function findMessageId(orig: OriginalMessage): string {
  let prevType = 0;
  for (const r of contentRecords(orig, true)) {
    const type = r.type.charCodeAt(0);
    const text = cString(r.data).toString('latin1');
    const skip = prevType === REC_TYPE.CONT || text.startsWith(' ') || text.startsWith('\t');
    prevType = type;
    if (skip || !/^message-id:/i.test(text)) continue;
    const value = text.slice('message-id:'.length).replace(/[ \t\n\v\f\r]+$/, '').replace(/^[ \t\n\v\f\r]+/, '');
    if (value.startsWith('<') && value.endsWith('>')) return value;
  }
  return '';
}

const isHeaderRecord = (data: Buffer): boolean => {
  const text = cString(data).toString('latin1');
  return text.startsWith(' ') || text.startsWith('\t') || isHeader(text);
};

/** The content records up to the end of the message, or of its headers when headersOnly. */
export function contentRecords(orig: OriginalMessage, headersOnly: boolean): ContentRecord[] {
  const out: ContentRecord[] = [];
  if (orig.data === null) return out;
  const input = new MemoryInput(orig.data, orig.path);
  if (!input.seek(orig.contentOffset).ok) return out;
  for (;;) {
    const r = recGetRaw(input);
    if (!('data' in r)) break;
    if (r.type !== REC_TYPE.NORM && r.type !== REC_TYPE.CONT) break;
    if (headersOnly && !isHeaderRecord(r.data)) break;
    out.push({ type: String.fromCharCode(r.type), data: r.data });
  }
  return out;
}
