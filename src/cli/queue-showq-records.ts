// The readers behind showq's scan (queue-showq.ts), lean because mailq reads
// every file of a queue that may hold tens of thousands of messages:
//  - a record cursor over a queue file already read into memory: the
//    record_get() of Postfix's global/record.c with REC_FLAG_DEFAULT
//    (pointers followed, padding skipped, END seeks to the end), walking
//    the bytes in place without a Buffer or result object per record;
//  - the same cursor over a file too large to read whole (queue/record.ts);
//  - the (recipient, reason) pairs of a defer log as global/bounce_log.c
//    reads them, straight from the bytes when the log is plain ASCII (the
//    usual case), else through queue/status-log.ts.
// Reads only what it is given; no file access.
import { MAIL_QUEUE_DEFER } from '../queue/layout.js';
import { type ByteInput, REC_FLAG_DEFAULT, cString, parseOffset, recGetRaw } from '../queue/record.js';
import { REC_TYPE } from '../queue/rec-type.js';
import { parseStatusLog } from '../queue/status-log.js';

/** Records one at a time: next() gives a type (-1 at the end or at a malformed record). */
export interface RecordCursor {
  next(): number;
  /** The current record's data up to its first NUL, as a byte string. */
  text(): string;
  /** Moves n bytes past the end of the current record (showq's skip over the content). */
  skip(n: number): void;
}

/** rec_goto()'s limit on backward jumps within one file. */
const REVERSE_JUMP_LIMIT = 10000;
/** A record length is a C int: more than 32 bits of it is malformed. */
const LENGTH_BITS = 32;

/** The cursor over a whole queue file in memory (bytes 0..n of buf). */
export class BufferCursor implements RecordCursor {
  private pos = 0;
  private start = 0;
  private end = 0;
  private savedOffset = 0;
  private reverseCount = 0;
  constructor(
    private readonly buf: Buffer,
    private readonly n: number,
  ) {}

  next(): number {
    const { buf, n } = this;
    for (;;) {
      if (this.pos >= n) return -1;
      const type = buf[this.pos++]!;
      let len = 0;
      for (let shift = 0; ; shift += 7) {
        if (shift >= LENGTH_BITS || this.pos >= n) return -1;
        const b = buf[this.pos++]!;
        len |= (b & 0x7f) << shift;
        if ((b & 0x80) === 0) break;
      }
      if (len < 0 || this.pos + len > n) return -1;
      this.start = this.pos;
      this.end = this.pos + len;
      this.pos = this.end;
      if (type === REC_TYPE.PTR) {
        if (!this.jump()) return -1;
        continue;
      }
      if (type === REC_TYPE.DTXT) continue;
      if (type === REC_TYPE.END) this.pos = n;
      return type;
    }
  }

  /** rec_goto(): false when the pointer is malformed or loops. */
  private jump(): boolean {
    const offset = parseOffset(this.text().replace(/^[ \t\n\v\f\r]+/, ''));
    if (offset < 0n) return false;
    if (offset === 0n) return true;
    const to = Number(offset);
    if (to <= this.savedOffset && ++this.reverseCount > REVERSE_JUMP_LIMIT) return false;
    this.pos = to;
    this.savedOffset = to;
    return true;
  }

  text(): string {
    const nul = this.buf.indexOf(0, this.start);
    return latin1(this.buf, this.start, nul >= 0 && nul < this.end ? nul : this.end);
  }

  skip(n: number): void {
    this.pos = this.end + n;
  }
}

/** The cursor over a ByteInput (record_get() of queue/record.ts). */
export class InputCursor implements RecordCursor {
  private data: Buffer = Buffer.alloc(0);
  constructor(private readonly input: ByteInput) {}

  next(): number {
    const r = recGetRaw(this.input, 0, REC_FLAG_DEFAULT);
    if (!('data' in r)) return -1;
    this.data = r.data;
    return r.type;
  }

  text(): string {
    return cString(this.data).toString('latin1');
  }

  skip(n: number): void {
    this.input.seek(BigInt(this.input.tell()) + BigInt(n));
  }
}

export interface DeferReason {
  address: string;
  reason: string;
}

/**
 * The (recipient, reason) pairs of a defer log, in order, with bounce_log_read()'s
 * placeholders; a pair counts once its closing empty line is there.
 */
export function deferReasons(buf: Buffer, n: number, id: string, utf8: boolean): DeferReason[] {
  return plainDeferReasons(buf, n) ?? parseStatusLog(buf.toString('latin1', 0, n), MAIL_QUEUE_DEFER, id, { utf8 }).entries;
}

const NL = 0x0a;
const SP = 0x20;
const EQ = 0x3d;
const LT = 0x3c;
const LOWER_R = 0x72;

// eslint-disable-next-line no-control-regex
const PLAIN_LOG = /^[\x20-\x7e\n]*$/;


/**
 * parseStatusLog() for a log of printable ASCII lines (printable() changes
 * nothing there and the only white space is a space), keeping only what showq
 * shows; null for anything else.
 */
function plainDeferReasons(buf: Buffer, n: number): DeferReason[] | null {
  if (!PLAIN_LOG.test(latin1(buf, 0, n))) return null;
  const out: DeferReason[] = [];
  let open = false;
  let address = '';
  let reason = '';
  for (let ls = 0; ls < n; ) {
    let le = buf.indexOf(NL, ls);
    if (le < 0 || le > n) le = n;
    if (le === ls) {
      if (open) out.push({ address: address || '(recipient address unavailable)', reason: reason || '(description unavailable)' });
      open = false;
      address = reason = '';
    } else {
      open = true;
      const c = buf[ls]!;
      if (c === LOWER_R) {
        // Only recipient= and reason= matter; other attributes, well-formed or not, are ignored.
        const value = attributeValue(buf, ls, le);
        if (value === null) {
          // Malformed, or an attribute showq does not show.
        } else if (value.name === RECIPIENT) address = value.text === '' ? '(MAILER-DAEMON)' : value.text;
        else reason = value.text;
      } else if (c === LT) {
        const line = latin1(buf, ls, le);
        const close = line.indexOf('>: ', 1);
        if (close >= 0) {
          const addr = line.slice(1, close);
          address = addr === '' ? '(MAILER-DAEMON)' : addr;
          reason = line.slice(close + 2).replace(/^ +/, '');
        }
      }
    }
    ls = le + 1;
  }
  return out;
}

const RECIPIENT = 0;
const REASON = 1;
const NAMES: [number, number[]][] = [
  [RECIPIENT, [...Buffer.from('recipient', 'latin1')]],
  [REASON, [...Buffer.from('reason', 'latin1')]],
];

function nameAt(buf: Buffer, ls: number, ep: number): number {
  for (const [name, bytes] of NAMES) {
    if (bytes.length !== ep - ls) continue;
    let i = 0;
    while (i < bytes.length && buf[ls + i] === bytes[i]) i++;
    if (i === bytes.length) return name;
  }
  return -1;
}

/**
 * split_nameval() on bytes ls..le of a line that starts with 'r',
 * for the recipient and reason attributes; null for other names or a malformed line.
 */
function attributeValue(buf: Buffer, ls: number, le: number): { name: number; text: string } | null {
  let ep = ls;
  while (ep < le && buf[ep] !== SP && buf[ep] !== EQ) ep++;
  let cp = ep;
  while (cp < le && buf[cp] === SP) cp++;
  if (cp >= le || buf[cp] !== EQ) return null;
  const name = nameAt(buf, ls, ep);
  if (name < 0) return null;
  let vp = cp + 1;
  while (vp < le && buf[vp] === SP) vp++;
  let end = le;
  while (end > vp && buf[end - 1] === SP) end--;
  return { name, text: latin1(buf, vp, end) };
}

/** Bytes start..end as a byte string, without Buffer#toString's argument checks. */
export function latin1(buf: Buffer, start: number, end: number): string {
  return (buf as Buffer & { latin1Slice(s: number, e: number): string }).latin1Slice(start, end);
}
