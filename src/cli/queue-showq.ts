// Mirrors Postfix's showq daemon (showq/showq.c) as the queue commands use
// it here: instead of asking a showq service, mailq and postqueue read the
// queue directly, in showq's order (maildrop, active, incoming, deferred,
// hold; directory order inside each, hash subdirectories included), and
// produce what showq would have sent: per message the queue, ID, arrival
// time, size, forced-expire flag and sender, then (recipient, reason)
// pairs from the defer log followed by the envelope recipients not already
// named there. Also the two formatters of postqueue (postqueue/showq_compat.c
// for -p, showq_json.c for -j). Strings are byte strings (latin1). Reads
// only; warnings go to the caller.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { quote822Local } from '../address/quote.js';
import { type QueueLayout, MAIL_QUEUE_DEFER, isForcedExpire, isReadyMode, mailQueuePath } from '../queue/layout.js';
import { mailQueueIdOk } from '../queue/queue-id.js';
import { inputFromFd } from '../queue/record.js';
import { REC_TYPE, asctimeLocal, atol } from '../queue/rec-type.js';
import { BufferCursor, type DeferReason, InputCursor, type RecordCursor, deferReasons } from './queue-showq-records.js';

/** showq's scan order. */
export const SHOWQ_QUEUES = ['maildrop', 'active', 'incoming', 'deferred', 'hold'];

export interface ShowqRecipient {
  address: string;
  reason: string;
}

export interface ShowqMessage {
  queue: string;
  id: string;
  arrival: number;
  size: number;
  forcedExpire: boolean;
  sender: string;
  recipients: ShowqRecipient[];
}

export interface ShowqOptions {
  queueDir: string;
  layout: QueueLayout;
  utf8: boolean;
  emptyAddress: string;
  dupFilterLimit: number;
  warn(text: string): void;
}

/** printable(s, '?') over a byte string, as Postfix's util/printable.c. */
export function printableBytes(s: string, utf8: boolean): string {
  // eslint-disable-next-line no-control-regex
  if (/^[\x20-\x7e]*$/.test(s)) return s;
  let r = '';
  for (let i = 0; i < s.length; i++) {
    const ch = s.charCodeAt(i);
    if (ch >= 0x20 && ch < 0x7f) {
      r += s[i];
      continue;
    }
    const next = () => s.charCodeAt(i + 1);
    if (utf8 && ch >= 194 && ch <= 254 && next() >= 128 && next() < 192) {
      r += s[i];
      while (next() >= 128 && next() < 192) r += s[++i];
      continue;
    }
    r += '?';
  }
  return r;
}

/**
 * The names in a directory in the order readdir(3) gives them, as Postfix's
 * scan_dir sees them (fs.readdirSync sorts them). Throws as opendir does.
 */
export function readdirRaw(dir: string): string[] {
  const d = fs.opendirSync(dir, { bufferSize: 1024 });
  const names: string[] = [];
  try {
    for (let e = d.readSync(); e !== null; e = d.readSync()) names.push(e.name);
  } finally {
    d.closeSync();
  }
  return names;
}

/** File names of one queue directory in readdir order, descending into hash subdirectories. */
export function scanQueueDir(queueDir: string, queue: string, recurse: boolean): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    let names: string[];
    try {
      names = readdirRaw(path.join(queueDir, rel));
    } catch {
      return;
    }
    for (const name of names) {
      if (name.startsWith('.')) continue;
      if (recurse && name.length === 1) {
        const st = lstatOrNull(path.join(queueDir, rel, name));
        if (st?.isDirectory()) {
          walk(`${rel}/${name}`);
          continue;
        }
      }
      out.push(name);
    }
  };
  walk(queue);
  return out;
}

function lstatOrNull(p: string): fs.Stats | null {
  try {
    return fs.lstatSync(p, { throwIfNoEntry: false }) ?? null;
  } catch {
    return null;
  }
}

/** A queue file's path: plain concatenation (path.join's normalising shows in a scan of 10,000 files). */
function queueFilePath(opts: ShowqOptions, queue: string, id: string): string {
  return `${opts.queueDir}/${mailQueuePath(opts.layout, queue, id)}`;
}

/** A buffer reused from file to file; it grows when a file does not fit. */
const logBuffer = { buf: null as Buffer | null };

/** The bytes of a file into logBuffer: how many, or null when it cannot be opened or read. */
function readSmall(file: string): number | null {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch {
    return null;
  }
  try {
    let buf = (logBuffer.buf ??= Buffer.allocUnsafe(1 << 16));
    let n = 0;
    for (;;) {
      const got = fs.readSync(fd, buf, n, buf.length - n, null);
      n += got;
      if (got === 0 || n < buf.length) return n;
      const bigger = Buffer.allocUnsafe(buf.length * 2);
      buf.copy(bigger, 0, 0, n);
      buf = logBuffer.buf = bigger;
    }
  } catch {
    return null;
  } finally {
    fs.closeSync(fd);
  }
}

function readDeferLog(opts: ShowqOptions, id: string): DeferReason[] | null {
  const n = readSmall(queueFilePath(opts, MAIL_QUEUE_DEFER, id));
  return n === null ? null : deferReasons(logBuffer.buf!, n, id, opts.utf8);
}

/** showq_report(): one queue file; null when it yields nothing (no sender). */
function reportFile(opts: ShowqOptions, queue: string, id: string, records: RecordCursor, st: fs.Stats, ext: (addr: string) => string): ShowqMessage | null {
  let arrival = 0;
  let msgSize = st.size;
  let sizeOk = false;
  let msg: ShowqMessage | null = null;
  let dupFilter: Set<string> | null = null;
  for (let type = records.next(); type >= 0; type = records.next()) {
    switch (type) {
      case REC_TYPE.TIME:
        if (arrival === 0) arrival = leadingNumber(records.text());
        break;
      case REC_TYPE.SIZE:
        if (!sizeOk) {
          const text = records.text();
          sizeOk = /^[0-9 ]*$/.test(text) && atol(text) >= 0n;
          if (sizeOk) msgSize = leadingNumber(text);
          else {
            opts.warn(`${id}: malformed size record: ${printableBytes(text.slice(0, 100), false)} -- using file size instead`);
            msgSize = st.size;
          }
        }
        break;
      case REC_TYPE.FROM: {
        const sender = ext(records.text());
        if (msg) {
          opts.warn(`${id}: duplicate sender address: ${sender} -- skipping remainder of this file`);
          return msg;
        }
        msg = {
          queue, id, arrival: arrival > 0 ? arrival : Math.floor(st.mtimeMs / 1000), size: msgSize,
          forcedExpire: isForcedExpire(st.mode), sender, recipients: [],
        };
        const log = readDeferLog(opts, id);
        if (log) {
          dupFilter = new Set();
          for (const e of log) {
            if (opts.dupFilterLimit === 0 || dupFilter.size < opts.dupFilterLimit) dupFilter.add(e.address);
            msg.recipients.push({ address: printableBytes(e.address, opts.utf8), reason: printableBytes(e.reason, opts.utf8) });
          }
        }
        break;
      }
      case REC_TYPE.RCPT: {
        if (!msg) {
          opts.warn(`${id}: missing sender address:  -- skipping remainder of this file`);
          return null;
        }
        const addr = ext(records.text());
        if (!dupFilter?.has(addr)) msg.recipients.push({ address: addr, reason: '' });
        break;
      }
      case REC_TYPE.MESG:
        if (sizeOk) records.skip(msgSize);
        break;
      default:
        break;
    }
  }
  return msg;
}

/** atol() as a number: the plain digits of a TIME or SIZE record without a BigInt. */
function leadingNumber(text: string): number {
  const m = LEADING_DIGITS.exec(text);
  return m ? parseInt(m[1]!, 10) : Number(atol(text));
}

const LEADING_DIGITS = /^ *([0-9]{1,15})(?![0-9])/;

/**
 * The external form of an address as showq prints it. Queues repeat the same
 * senders and recipients: the answers are remembered for one scan.
 */
function addressFormatter(opts: ShowqOptions): (addr: string) => string {
  const seen = new Map<string, string>();
  return (addr) => {
    let out = seen.get(addr);
    if (out === undefined) {
      out = printableBytes(quote822Local(addr === '' ? opts.emptyAddress : addr), opts.utf8);
      if (seen.size < ADDRESS_MEMORY) seen.set(addr, out);
    }
    return out;
  };
}

const ADDRESS_MEMORY = 100000;

// Most queue files are a few kilobytes: one read into a buffer that is
// reused from file to file beats a windowed reader (and its allocations).
const SMALL_FILE = 1 << 18;
const smallBuffer = { buf: null as Buffer | null };

/** The whole of a small file as an input, or null when it is larger (or grew). */
function smallFileRecords(fd: number, size: number): RecordCursor | null {
  if (size >= SMALL_FILE) return null;
  const buf = (smallBuffer.buf ??= Buffer.allocUnsafe(SMALL_FILE));
  let n = 0;
  // A regular file's read(2) returns less than asked only at its end.
  for (;;) {
    const want = SMALL_FILE - n;
    const got = fs.readSync(fd, buf, n, want, n);
    n += got;
    if (n === SMALL_FILE) return null;
    if (got < want) break;
  }
  return new BufferCursor(buf, n);
}

/** All messages in showq's order, as showq would report them. */
export function* showqScan(opts: ShowqOptions): Generator<ShowqMessage> {
  const ext = addressFormatter(opts);
  for (const queue of SHOWQ_QUEUES) {
    const names = scanQueueDir(opts.queueDir, queue, queue !== 'maildrop');
    let saved: string | null = null;
    for (const id of names) {
      if (saved === id) {
        opts.warn(`readdir loop on queue ${queue} id ${id}`);
        break;
      }
      saved = id;
      if (!mailQueueIdOk(id)) continue;
      const file = queueFilePath(opts, queue, id);
      const st = lstatOrNull(file);
      if (!st || !st.isFile() || !isReadyMode(st.mode)) continue;
      let fd: number;
      try {
        fd = fs.openSync(file, 'r');
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code !== 'ENOENT') opts.warn(`open ${queue} ${id}: ${(e as Error).message}`);
        continue;
      }
      let m: ShowqMessage | null;
      try {
        m = reportFile(opts, queue, id, smallFileRecords(fd, st.size) ?? new InputCursor(inputFromFd(fd, file, file)), st, ext);
      } finally {
        fs.closeSync(fd);
      }
      if (m) yield m;
    }
  }
}

// ---------------------------------------------------------------------------
// postqueue -p

/** The legacy mailq listing (showq_compat.c) of the messages. */
export class CompatListing {
  private count = 0;
  private total = 0;
  constructor(private readonly longIds: boolean, private readonly write: (s: string) => void) {}

  // Messages that arrived in the same second are common in a large queue.
  private lastArrival = NaN;
  private lastTime = '';
  private arrivalTime(arrival: number): string {
    if (arrival !== this.lastArrival) {
      this.lastArrival = arrival;
      this.lastTime = (asctimeLocal(BigInt(arrival)) ?? '').slice(0, this.longIds ? 19 : 20);
    }
    return this.lastTime;
  }

  private line(id: string, size: string, time: string, addr: string): string {
    return this.longIds
      ? `${id.padEnd(17)} ${size.padStart(8)} ${time.padEnd(19)} ${addr}\n`
      : `${id.padEnd(11)} ${size.padStart(7)} ${time.padEnd(20)} ${addr}\n`;
  }

  add(m: ShowqMessage): void {
    let s = '';
    if (this.count > 0) s += '\n';
    else if (this.longIds) s += this.line('----Queue ID-----', '--Size--', '---Arrival Time----', '--Sender/Recipient------');
    else s += this.line('-Queue ID-', '--Size--', '----Arrival Time----', '-Sender/Recipient-------');
    let status = m.id;
    if (m.queue === 'active') status += '*';
    else if (m.queue === 'hold') status += '!';
    if (m.forcedExpire) status += '#';
    const time = this.arrivalTime(m.arrival);
    s += this.line(status, String(m.size), time, m.sender);
    let saved = '';
    for (const r of m.recipients) {
      if (r.reason !== saved) {
        saved = r.reason;
        const shown = saved || 'reason unavailable';
        s += `${' '.repeat(Math.max(0, 76 - shown.length))}(${shown})\n`;
      }
      s += this.line('', '', '', r.address);
    }
    this.write(s);
    this.total += m.size;
    this.count++;
  }

  finish(): void {
    if (this.count === 0) this.write('Mail queue is empty\n');
    else this.write(`\n-- ${Math.floor(this.total / 1024)} Kbytes in ${this.count} Request${this.count === 1 ? '' : 's'}.\n`);
  }
}

/** json_quote() of showq_json.c, then printable(). */
export function jsonQuote(s: string, utf8: boolean): string {
  let r = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const ch = s[i]!;
    if (ch === '"' || ch === '\\') r += `\\${ch}`;
    else if (c === 8) r += '\\b';
    else if (c === 12) r += '\\f';
    else if (c === 10) r += '\\n';
    else if (c === 13) r += '\\r';
    else if (c === 9) r += '\\t';
    else if (c < 0x20 || c === 0x7f) r += `\\u${c.toString(16).toUpperCase().padStart(4, '0')}`;
    else r += ch;
  }
  return printableBytes(r, utf8);
}

/** One postqueue -j line (showq_json.c). */
export function jsonLine(m: ShowqMessage, utf8: boolean): string {
  const q = (s: string) => `"${jsonQuote(s, utf8)}"`;
  const rcpts = m.recipients.map((r) => `{"address": ${q(r.address)}${r.reason ? `, "delay_reason": ${q(r.reason)}` : ''}}`);
  return `{"queue_name": ${q(m.queue)}, "queue_id": ${q(m.id)}, "arrival_time": ${m.arrival}, "message_size": ${m.size}, "forced_expire": ${m.forcedExpire}, "sender": ${q(m.sender)}, "recipients": [${rcpts.join(', ')}]}\n`;
}
