// Mirrors how Postfix's qmgr reads a queue file (qmgr/qmgr_message.c,
// qmgr_message_read) with the record rules of global/record.c and
// global/rec_attr_map.c: one reader for every part that needs a queue
// file's envelope: the queue manager, the delivery agents, the queue tools.
// It follows pointer records, skips padding, jumps over the message content
// using the SIZE record, and collects the envelope, the recipients with the
// offsets of their records (so they can be marked done in place) and the
// extracted segment. A malformed file is a value (ok: false) with the
// reason qmgr would log, never an exception. The parsing runs over the
// synchronous record decoder; the asynchronous entry point feeds it pages
// read with fs/promises (page-input.ts). Reads only.
import * as fs from 'node:fs';
import { type QueueHandle, openQueueHandle } from './handle.js';
import { type ByteInput, MemoryInput, REC_FLAG_DEFAULT, type RecordResult, cString, inputFromFd, openInput, recGetRaw, recordSpace } from './record.js';
import { REC_TYPE, REC_TYPE_ENVELOPE, REC_TYPE_EXTRACT, type SizeFields, atol, scanSizeFields, splitNameValue, strtol } from './rec-type.js';
import { PageInput } from './page-input.js';

export type Segment = 'envelope' | 'extracted';

/** R: still to deliver; D: delivered (done); '/': canceled (a milter removed it). */
export type RecipientStatus = 'pending' | 'done' | 'canceled';

export interface QueueRecipient {
  /** The recipient as stored (a byte string: one character per byte). */
  address: string;
  /** File offset of the record's type byte: where a done mark is written. */
  offset: number;
  status: RecipientStatus;
  /** Original recipient (the O record before it), or null. */
  orcpt: string | null;
  /** DSN ORCPT ("rfc822;addr", from A dsn_orig_rcpt or o), or null. */
  dsnOrcpt: string | null;
  /** DSN NOTIFY mask (A notify_flags or n): NEVER 1, SUCCESS 2, FAILURE 4, DELAY 8; 0 when absent. */
  notify: number;
  segment: Segment;
}

export interface QueueAttribute {
  name: string;
  value: string;
  offset: number;
  segment: Segment;
}

/** What a queue file says. Strings are byte strings (latin1: one character per byte). */
export interface QueueFileInfo {
  path: string;
  size: SizeFields | null;
  /** T record: seconds and microseconds. */
  arrival: { sec: number; usec: number } | null;
  /** A create_time (or an old c record); null when absent. */
  createTime: number | null;
  sender: string | null;
  fullName: string | null;
  contentFilter: string | null;
  inspector: string | null;
  redirect: string | null;
  verp: string | null;
  /** W record: when to send the delay warning; 0 once sent. */
  warnTime: number | null;
  dsnEnvid: string | null;
  /** DSN RET: FULL 1, HDRS 2; 0 when absent. */
  dsnRet: number;
  returnReceipt: string | null;
  errorsTo: string | null;
  /** Named attributes other than the ones mapped to the fields above, in file order. */
  attributes: QueueAttribute[];
  recipients: QueueRecipient[];
  /** Offset of the M record, of the first content record (data offset), of X and of E; -1 if not seen. */
  messageOffset: number;
  contentOffset: number;
  extractedOffset: number;
  endOffset: number;
  /** Things qmgr warns about and ignores. */
  warnings: string[];
}

export type ReadResult = { ok: true; file: QueueFileInfo } | { ok: false; error: string; file: QueueFileInfo };

/** The last value of a named attribute (the extracted segment overrides the envelope), or null. */
export function attributeValue(file: QueueFileInfo, name: string): string | null {
  for (let i = file.attributes.length - 1; i >= 0; i--) if (file.attributes[i]!.name === name) return file.attributes[i]!.value;
  return null;
}

const DSN_NOTIFY_NEVER = 1;
const DSN_NOTIFY_ANY = 2 | 4 | 8;
const QMGR_READ_FLAG_USER = 1 | ((DSN_NOTIFY_NEVER | DSN_NOTIFY_ANY) << 1);
const notifyOk = (v: number) => v === DSN_NOTIFY_NEVER || v === (v & DSN_NOTIFY_ANY);
const retOk = (v: number) => v === 1 || v === 2;

/** rec_attr_map(): attributes that stand for record types old files may not know. */
const ATTR_TYPE: Record<string, number> = {
  dsn_orig_rcpt: REC_TYPE.DSN_ORCPT,
  notify_flags: REC_TYPE.DSN_NOTIFY,
  envelope_id: REC_TYPE.DSN_ENVID,
  ret_flags: REC_TYPE.DSN_RET,
  create_time: REC_TYPE.CTIME,
};

const ENV_TYPES = REC_TYPE_ENVELOPE + REC_TYPE_EXTRACT;
const XTRA_ONLY = 'X';

/** %.200s and friends. */
const cut = (s: string, n: number) => (s.length > n ? s.slice(0, n) : s);
const digitsOnly = (s: string) => /^[0-9]+$/.test(s);

export function emptyQueueFileInfo(path: string): QueueFileInfo {
  return {
    path, size: null, arrival: null, createTime: null, sender: null, fullName: null, contentFilter: null, inspector: null,
    redirect: null, verp: null, warnTime: null, dsnEnvid: null, dsnRet: 0, returnReceipt: null, errorsTo: null,
    attributes: [], recipients: [], messageOffset: -1, contentOffset: -1, extractedOffset: -1, endOffset: -1, warnings: [],
  };
}

/** The record-by-record state of one read; the drivers below feed it. */
class QueueFileParser {
  readonly file: QueueFileInfo;
  error: string | null = null;
  done = false;
  private segment: Segment = 'envelope';
  private orcpt: string | null = null;
  private dsnOrcpt: string | null = null;
  private notify = 0;

  constructor(path: string) {
    this.file = emptyQueueFileInfo(path);
  }

  /**
   * One record: skip the content when the input stands at its start, read,
   * process. Returns false, having changed nothing, when starved() says a
   * part of the file the read needed is not loaded yet.
   */
  step(input: ByteInput, starved: () => boolean): boolean {
    let expected = ENV_TYPES;
    const size = this.file.size;
    let at = input.tell();
    if (size !== null && at === size.dataOffset && at > 0) {
      input.seek(at + size.contentSize);
      at += size.contentSize;
      expected = XTRA_ONLY;
    }
    const r = recGetRaw(input, 0, REC_FLAG_DEFAULT);
    if (starved()) return false;
    this.take(r, expected, at);
    return true;
  }

  private fail(error: string): void {
    this.error = error;
    this.done = true;
  }

  private take(r: RecordResult, expected: string, at: number): void {
    if (!('data' in r)) return this.fail('warning' in r ? r.warning : 'missing end record');
    const type = r.type;
    if (!expected.includes(String.fromCharCode(type))) {
      return this.fail(`unexpected record type '${String.fromCharCode(type)}' at offset ${at}`);
    }
    const text = cString(r.data).toString('latin1');
    switch (type) {
      case REC_TYPE.END:
        this.file.endOffset = r.offset;
        this.done = true;
        return;
      case REC_TYPE.MESG:
        this.file.messageOffset = r.offset;
        this.file.contentOffset = r.offset + recordSpace(r.data.length);
        return;
      case REC_TYPE.XTRA:
        this.file.extractedOffset = r.offset;
        this.segment = 'extracted';
        return;
      case REC_TYPE.ATTR: {
        const nv = splitNameValue(text);
        if ('error' in nv) return this.fail(`bad attribute record: ${nv.error}: ${cut(text, 200)}`);
        const mapped = ATTR_TYPE[nv.name];
        if (mapped !== undefined) return this.field(mapped, nv.value, r.offset);
        this.file.attributes.push({ name: nv.name, value: nv.value, offset: r.offset, segment: this.segment });
        return;
      }
      default:
        return this.field(type, text, r.offset);
    }
  }

  private warn(text: string): void {
    this.file.warnings.push(text);
  }

  private recipient(address: string, offset: number, status: RecipientStatus): void {
    const { orcpt, dsnOrcpt, notify, segment } = this;
    this.file.recipients.push({ address, offset, status, orcpt, dsnOrcpt, notify, segment });
    this.orcpt = this.dsnOrcpt = null;
    this.notify = 0;
  }

  private field(type: number, text: string, offset: number): void {
    const f = this.file;
    switch (type) {
      case REC_TYPE.RCPT: return this.recipient(text, offset, 'pending');
      case REC_TYPE.DONE: return this.recipient(text, offset, 'done');
      case REC_TYPE.DRCP: return this.recipient(text, offset, 'canceled');
      case REC_TYPE.DSN_ORCPT:
        if (this.dsnOrcpt !== null) this.warn(`ignoring out-of-order DSN original recipient address <${cut(this.dsnOrcpt, 200)}>`);
        this.dsnOrcpt = text;
        return;
      case REC_TYPE.DSN_NOTIFY: {
        if (this.notify !== 0) this.warn(`ignoring out-of-order DSN notify flags <${this.notify}>`);
        const n = digitsOnly(text) ? Number(atol(text)) : 0;
        if (n === 0 || !notifyOk(n)) {
          this.notify = 0;
          this.warn(`ignoring malformed DSN notify flags <${cut(text, 200)}>`);
        } else this.notify = n;
        return;
      }
      case REC_TYPE.ORCP:
        if (this.orcpt !== null) this.warn(`ignoring out-of-order original recipient <${cut(this.orcpt, 200)}>`);
        this.orcpt = text;
        return;
      case REC_TYPE.SIZE: return this.sizeRecord(text);
      case REC_TYPE.TIME:
        if (f.arrival === null) {
          const sec = strtol(text);
          f.arrival = { sec: Number(sec.value), usec: Number(strtol(text, sec.end).value) };
        }
        return;
      case REC_TYPE.CTIME:
        if (f.createTime === null) f.createTime = Number(atol(text));
        return;
      case REC_TYPE.FILT: f.contentFilter = text; return;
      case REC_TYPE.INSP: f.inspector = text; return;
      case REC_TYPE.RDR: f.redirect = text; return;
      case REC_TYPE.FROM:
        if (f.sender === null) f.sender = text;
        return;
      case REC_TYPE.FULL: f.fullName = text; return;
      case REC_TYPE.DSN_ENVID: f.dsnEnvid = text; return;
      case REC_TYPE.DSN_RET: {
        const n = digitsOnly(text) ? Number(atol(text)) : 0;
        if (retOk(n)) f.dsnRet = n;
        else this.warn(`ignoring malformed DSN RET flags in queue file record:${cut(text, 100)}`);
        return;
      }
      case REC_TYPE.WARN:
        if (f.warnTime === null) f.warnTime = Number(atol(text));
        return;
      case REC_TYPE.VERP: f.verp = text; return;
      case REC_TYPE.RRTO: f.returnReceipt = text; return;
      case REC_TYPE.ERTO: f.errorsTo = text; return;
      default:
        // K (killed), P (priority) and the like carry nothing a reader needs.
        return;
    }
  }

  private sizeRecord(text: string): void {
    const f = this.file;
    if (f.size !== null) return;
    const s = scanSizeFields(text);
    if (s.count < 3 && s.count !== 1) return this.fail('weird size record');
    if (s.count === 1) {
      // Files older than Postfix 1.0: the content starts after the M record.
      return this.fail(`size record without data offset: ${cut(text, 100)}`);
    }
    if (s.dataOffset <= 0 || s.contentSize <= 0) return this.fail(`invalid size record: ${cut(text, 100)}`);
    if (s.qmgrFlags & ~QMGR_READ_FLAG_USER) return this.fail(`invalid flags in size record: ${cut(text, 100)}`);
    if (s.contentLength === 0) s.contentLength = s.contentSize;
    else if (s.contentLength < 0) return this.fail(`invalid size record: ${cut(text, 100)}`);
    f.size = s;
  }

  /** The result once the reads are over: qmgr's final checks. */
  result(): ReadResult {
    const f = this.file;
    if (this.error === null) {
      if (f.arrival === null) this.error = 'missing arrival time record';
      else if (f.sender === null) this.error = 'missing sender record';
      else if (f.size === null) this.error = 'missing size record';
    }
    if (this.error === null && f.createTime === null) f.createTime = f.arrival!.sec;
    return this.error === null ? { ok: true, file: f } : { ok: false, error: this.error, file: f };
  }
}

/** Reads a queue file through any byte input (a file, a test's image), synchronously. */
export function readQueueInput(input: ByteInput): ReadResult {
  const parser = new QueueFileParser(input.path);
  while (!parser.done) parser.step(input, () => false);
  return parser.result();
}

/** Reads a queue file from bytes in memory. */
export function readQueueBytes(data: Buffer, path = 'queue file'): ReadResult {
  return readQueueInput(new MemoryInput(data, path));
}

/** Reads a queue file by path, synchronously (for the command-line tools). */
export function readQueueFileSync(path: string): ReadResult {
  const opened = openInput(path);
  if ('error' in opened) return { ok: false, error: `open ${path}: ${opened.error.message}`, file: emptyQueueFileInfo(path) };
  try {
    return readQueueInput(opened.input);
  } finally {
    fs.closeSync(opened.fd);
  }
}

/** Reads a queue file over an open descriptor, synchronously. */
export function readQueueFd(fd: number, path: string): ReadResult {
  return readQueueInput(inputFromFd(fd, path, path));
}

/**
 * Reads a queue file through an open FileHandle (a daemon's way): only the
 * pages the envelope and the extracted segment live on are read; the
 * content in between is skipped.
 */
export async function readQueueHandle(fh: QueueHandle, path: string): Promise<ReadResult> {
  let size: number;
  try {
    size = (await fh.stat()).size;
  } catch (e) {
    return { ok: false, error: `fstat ${path}: ${(e as Error).message}`, file: emptyQueueFileInfo(path) };
  }
  const input = new PageInput(fh, path, size);
  const parser = new QueueFileParser(path);
  const loadError = await input.load(0);
  if (loadError) return { ok: false, error: `read ${path}: ${loadError.message}`, file: parser.file };
  while (!parser.done) {
    const mark = input.mark();
    if (parser.step(input, () => input.missing !== null)) {
      input.trim();
      continue;
    }
    const page = input.missing!;
    input.reset(mark);
    const err = await input.load(page);
    if (err) return { ok: false, error: `read ${path}: ${err.message}`, file: parser.file };
  }
  return parser.result();
}

/** Opens and reads a queue file asynchronously. */
export async function readQueueFile(path: string): Promise<ReadResult> {
  let fh: QueueHandle;
  try {
    fh = openQueueHandle(path, 'r');
  } catch (e) {
    return { ok: false, error: `open ${path}: ${(e as Error).message}`, file: emptyQueueFileInfo(path) };
  }
  try {
    return await readQueueHandle(fh, path);
  } finally {
    await fh.close();
  }
}
