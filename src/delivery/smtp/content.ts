// The message content as smtp(8)/lmtp(8) sends it after DATA (Postfix's
// smtp_proto.c smtp_text_out and the record loop of smtp_loop): the queue
// file's content records from the data offset to the X record become
// CRLF lines, a line that starts with "." gets another, and a line longer
// than smtp_line_length_limit is broken with CRLF SPACE (logged once per
// message). Output is handed over in pieces so that a large message never
// sits in memory whole. When the output is rewritten (generic maps,
// header and body checks, 8bit to 7bit conversion) the records go through
// a ContentFilter (./rewrite.ts) that writes into the same TextOut. Reads
// the queue file through its descriptor.
import { FileInput, REC_FLAG_DEFAULT, recGetRaw } from '../../queue/record.js';
import { REC_TYPE } from '../../queue/rec-type.js';

const CRLF = Buffer.from('\r\n', 'latin1');
const DOT = Buffer.from('.', 'latin1');
const SPACE = Buffer.from(' ', 'latin1');
/** How much content is gathered before it is written out. */
const PIECE = 64 * 1024;

export type ContentResult =
  | { ok: true }
  /** The content did not end with the X record (a damaged queue file). */
  | { ok: false; badType: number }
  | { ok: false; readError: NodeJS.ErrnoException }
  /** The MIME parser reported these MIME_ERR_* bits (downgrading). */
  | { ok: false; mimeErrs: number }
  /** A table lookup failed while rewriting (the stream is abandoned as a local data error). */
  | { ok: false; dataError: true };

/** Takes the content records one at a time (type 'N' or 'L', or the type that ended the content). */
export interface ContentFilter {
  /** Returns MIME_ERR_* bits (0: fine); throws ContentDataError. */
  update(type: string, text: string): Promise<number>;
}

/** A table failure in a content filter. */
export class ContentDataError extends Error {}

export interface ContentOptions {
  fd: number;
  path: string;
  dataOffset: number;
  /** smtp_line_length_limit; 0: no limit. */
  lineLimit: number;
  /** Called once when a line is folded. */
  onFold: () => void;
  /** Rewrites the content on the way (null: records go out as they are). */
  filter?: ((out: TextOut) => ContentFilter) | null;
  /** Takes one piece of output; resolves when it may be given more. */
  write: (piece: Buffer) => Promise<void>;
}

/** Folds and dot-stuffs records as smtp_text_out() does; its state is the space left on the output line. */
export class TextOut {
  private spaceLeft: number;
  private parts: Buffer[] = [];
  size = 0;
  private folded = false;

  constructor(private readonly limit: number, private readonly onFold: () => void) {
    this.spaceLeft = limit;
  }

  private put(b: Buffer): void {
    this.parts.push(b);
    this.size += b.length;
  }

  take(): Buffer {
    const out = Buffer.concat(this.parts);
    this.parts = [];
    this.size = 0;
    return out;
  }

  record(type: number, text: Buffer): void {
    const enforcing = this.limit > 0;
    let data = text;
    for (;;) {
      if (this.spaceLeft === this.limit && data.length > 0 && data[0] === 0x2e) this.put(DOT);
      if (enforcing && data.length >= this.spaceLeft) {
        this.put(data.subarray(0, this.spaceLeft));
        this.put(CRLF);
        data = data.subarray(this.spaceLeft);
        this.spaceLeft = this.limit;
        if (data.length > 0 || type === REC_TYPE.CONT) {
          this.put(SPACE);
          this.spaceLeft -= 1;
          if (!this.folded) {
            this.folded = true;
            this.onFold();
          }
        }
        if (data.length === 0) return;
        continue;
      }
      if (data.length > 0) this.put(data);
      if (type === REC_TYPE.CONT) {
        this.spaceLeft -= data.length;
      } else {
        this.put(CRLF);
        this.spaceLeft = this.limit;
      }
      return;
    }
  }

  /** One line of a byte string (one character per byte); type 'N' ends the line, 'L' continues it. */
  text(type: string, text: string): void {
    this.record(type === 'L' ? REC_TYPE.CONT : REC_TYPE.NORM, Buffer.from(text, 'latin1'));
  }

  /** A message that ended inside a line gets its CRLF. */
  finish(prevType: number): void {
    if (prevType === REC_TYPE.CONT) this.put(CRLF);
  }
}

/** Sends the content; the caller writes the final "." itself. */
export async function sendContent(opts: ContentOptions): Promise<ContentResult> {
  const input = new FileInput(opts.fd, opts.path);
  const seek = input.seek(opts.dataOffset);
  if (!seek.ok) return { ok: false, readError: Object.assign(new Error(seek.text), { code: seek.code }) };
  const out = new TextOut(opts.lineLimit, opts.onFold);
  const filter = opts.filter ? opts.filter(out) : null;
  let prevType = 0;
  let type = 0;
  try {
    for (;;) {
      const r = recGetRaw(input, 0, REC_FLAG_DEFAULT);
      type = r.type;
      if (!('data' in r) || (type !== REC_TYPE.NORM && type !== REC_TYPE.CONT)) break;
      if (filter) {
        const errs = await filter.update(String.fromCharCode(type), r.data.toString('latin1'));
        if (errs) return { ok: false, mimeErrs: errs };
      } else out.record(type, r.data);
      prevType = type;
      if (out.size >= PIECE) await opts.write(out.take());
    }
    if (input.error) return { ok: false, readError: input.error };
    if (filter) {
      // The end of the content flushes what the parser still holds (a header, a line without its end).
      const errs = await filter.update(String.fromCharCode(type), '');
      if (errs) return { ok: false, mimeErrs: errs };
    }
  } catch (e) {
    if (e instanceof ContentDataError) return { ok: false, dataError: true };
    throw e;
  }
  if (!filter) out.finish(prevType);
  if (out.size > 0) await opts.write(out.take());
  if (type !== REC_TYPE.XTRA) return { ok: false, badType: type };
  return { ok: true };
}
