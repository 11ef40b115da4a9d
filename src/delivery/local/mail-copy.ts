// Mirrors Postfix's global/mail_copy.c: the message as a delivery agent
// writes it to a mailbox, a file, a maildir or a command's standard input.
// The content records of the queue file (N and L, from the data offset up
// to the X record) become lines, optionally preceded by the mbox "From "
// line, Return-Path:, X-Original-To: and Delivered-To:, with ">From "
// quoting, dot escaping and a closing blank line as the flags ask. Also the
// append-with-limit writer: Node cannot set RLIMIT_FSIZE, so the file size
// limit is enforced here and a failed append is cut back to the original
// length, as Postfix's ftruncate() does. Reads the queue file through the
// descriptor it is given; writes only the descriptor it is given.
import * as fs from 'node:fs';
import { promisify } from 'node:util';
import { quote822Local } from '../../address/quote.js';
import { FileInput, REC_FLAG_DEFAULT, recGetRaw } from '../../queue/record.js';
import { REC_TYPE } from '../../queue/rec-type.js';
import { MAIL_QUEUE_STAT_CORRUPT } from '../../queue/layout.js';
import { codeError, type LocalOutcome } from './outcome.js';

export const MAIL_COPY_QUOTE = 1 << 0;
export const MAIL_COPY_TOFILE = 1 << 1;
export const MAIL_COPY_FROM = 1 << 2;
export const MAIL_COPY_DELIVERED = 1 << 3;
export const MAIL_COPY_RETURN = 1 << 4;
export const MAIL_COPY_RETURN_PATH = MAIL_COPY_RETURN;
export const MAIL_COPY_DOT = 1 << 5;
export const MAIL_COPY_BLANK = 1 << 6;
export const MAIL_COPY_ORIG_RCPT = 1 << 7;
export const MAIL_COPY_MBOX = MAIL_COPY_FROM | MAIL_COPY_QUOTE | MAIL_COPY_TOFILE | MAIL_COPY_DELIVERED
  | MAIL_COPY_RETURN | MAIL_COPY_BLANK | MAIL_COPY_ORIG_RCPT;
export const MAIL_COPY_NONE = 0;

/** MAILER-DAEMON: what the From_ line says for the null sender (global/mail_addr.h). */
export const MAIL_ADDR_MAIL_DAEMON = 'MAILER-DAEMON';

/** Where the message comes from and what the prepended headers say. Strings are byte strings. */
export interface CopySource {
  /** The queue file, already open (read with positioned reads only). */
  fd: number;
  /** request.dataOffset: the first content record. */
  dataOffset: number;
  /** The envelope sender ('' = null sender). */
  sender: string;
  /** The address for Delivered-To:. */
  deliveredTo: string;
  /** The address for X-Original-To: ('' = none). */
  origRcpt: string;
  /** enable_original_recipient (default yes): without it X-Original-To: is never written. */
  enableOrcpt?: boolean;
  /** For diagnostics: the queue file's name. */
  path?: string;
}

export type CopyResult =
  | { ok: true; data: Buffer }
  /** The content ended at something other than the X record: the copy is complete as far as it goes, but the file is bad. */
  | { ok: false; corrupt: true; data: Buffer; warning: string }
  | { ok: false; corrupt: false; readError: NodeJS.ErrnoException };

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];

/** asctime(localtime(t)) without its newline: "Sun Dec  6 02:06:00 2026". */
export function asctime(d: Date): string {
  const two = (n: number): string => String(n).padStart(2, '0');
  return `${DAYS[d.getDay()]} ${MONTHS[d.getMonth()]} ${String(d.getDate()).padStart(2, ' ')} `
    + `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())} ${d.getFullYear()}`;
}

/** The lines mail_copy() writes before the message. */
export function copyPrefix(src: CopySource, flags: number, eol: string, now: Date): string {
  let out = '';
  if (flags & (MAIL_COPY_FROM | MAIL_COPY_RETURN)) {
    const quoted = quote822Local(src.sender);
    if (flags & MAIL_COPY_FROM) out += `From ${src.sender === '' ? MAIL_ADDR_MAIL_DAEMON : quoted}  ${asctime(now)}${eol}`;
    if (flags & MAIL_COPY_RETURN) out += `Return-Path: <${src.sender === '' ? '' : quoted}>${eol}`;
  }
  if (flags & MAIL_COPY_ORIG_RCPT && (src.enableOrcpt ?? true) && src.origRcpt !== '') {
    out += `X-Original-To: ${quote822Local(src.origRcpt)}${eol}`;
  }
  if (flags & MAIL_COPY_DELIVERED) out += `Delivered-To: ${quote822Local(src.deliveredTo)}${eol}`;
  return out;
}

const FROM_ = Buffer.from('From ', 'latin1');

/**
 * The whole copy as bytes: prefix, content lines, closing newline and
 * blank line. A read error or a bad record is reported, not thrown.
 */
export function buildMessageCopy(src: CopySource, flags: number, eol = '\n', now = new Date()): CopyResult {
  const eolBuf = Buffer.from(eol, 'latin1');
  const parts: Buffer[] = [Buffer.from(copyPrefix(src, flags, eol, now), 'latin1')];
  const input = new FileInput(src.fd, src.path ?? 'queue file');
  const seek = input.seek(src.dataOffset);
  if (!seek.ok) return { ok: false, corrupt: false, readError: codeError(seek.code, seek.text) };
  let prevType: number = REC_TYPE.NORM;
  let type = 0;
  for (;;) {
    const r = recGetRaw(input, 0, REC_FLAG_DEFAULT);
    type = r.type;
    if (!('data' in r)) break;
    if (type !== REC_TYPE.NORM && type !== REC_TYPE.CONT) break;
    const line = r.data;
    if (prevType === REC_TYPE.NORM) {
      if (flags & MAIL_COPY_QUOTE && line.length >= 5 && line.subarray(0, 5).equals(FROM_)) parts.push(Buffer.from('>'));
      if (flags & MAIL_COPY_DOT && line[0] === 0x2e) parts.push(Buffer.from('.'));
    }
    if (line.length > 0) parts.push(line);
    if (type === REC_TYPE.NORM) parts.push(eolBuf);
    prevType = type;
  }
  if (input.error) return { ok: false, corrupt: false, readError: input.error };
  if (prevType !== REC_TYPE.NORM) parts.push(eolBuf);
  if (flags & MAIL_COPY_BLANK) parts.push(eolBuf);
  const data = Buffer.concat(parts);
  if (type !== REC_TYPE.XTRA) {
    return { ok: false, corrupt: true, data, warning: `bad record type: ${type} in message content` };
  }
  return { ok: true, data };
}

/**
 * What mail_copy() does with content that ends badly: the warning, then
 * mark_corrupt(): the queue file gets the corrupt mode, so that the queue
 * manager sets it aside. The outcome defers the request without a log line.
 */
export function corruptOutcome(src: CopySource, warning: string, warn: (text: string) => void): LocalOutcome {
  warn(warning);
  warn(`corrupted queue file: ${src.path ?? 'queue file'}`);
  try {
    fs.fchmodSync(src.fd, MAIL_QUEUE_STAT_CORRUPT);
  } catch (e) {
    warn(`mark_corrupt: fchmod ${src.path ?? 'queue file'}: ${(e as Error).message}`);
  }
  return { ok: false, soft: true, dsn: '4.3.0', reason: 'corrupted queue file', corrupt: true };
}

const write = promisify(fs.write);
const fsync = promisify(fs.fsync);
const ftruncate = promisify(fs.ftruncate);

export interface AppendOptions {
  /** The largest size the file may reach, in bytes; 0 = no limit (mailbox_size_limit, virtual_mailbox_limit). */
  sizeLimit: number;
  /** MAIL_COPY_TOFILE: fsync at the end and cut the file back on failure (a regular file). */
  toFile: boolean;
}

/**
 * Appends data at the end of the open file: the file grows by all of it or
 * not at all (a failed append is truncated back to the original length).
 * Returns null, or the error (EFBIG "File too large" past the size limit).
 */
export async function appendWithLimit(fd: number, data: Buffer, opts: AppendOptions): Promise<NodeJS.ErrnoException | null> {
  let origLength = 0;
  if (opts.toFile) {
    try {
      origLength = fs.fstatSync(fd).size;
    } catch (e) {
      return e as NodeJS.ErrnoException;
    }
  }
  let err: NodeJS.ErrnoException | null = null;
  try {
    let room = data.length;
    if (opts.toFile && opts.sizeLimit > 0) room = Math.max(0, Math.min(data.length, opts.sizeLimit - origLength));
    let done = 0;
    while (done < room) {
      // A regular file takes the data into the page cache at once: a
      // blocking write is cheaper than a hop through the thread pool. A
      // pipe or device may block, so it is written asynchronously.
      done += opts.toFile ? fs.writeSync(fd, data, done, room - done) : (await write(fd, data, done, room - done, null)).bytesWritten;
    }
    if (room < data.length) err = codeError('EFBIG', 'File too large');
    else if (opts.toFile) await fsync(fd);
  } catch (e) {
    err = e as NodeJS.ErrnoException;
  }
  if (err && opts.toFile) await ftruncate(fd, origLength).catch(() => undefined);
  return err;
}
