// The byte input behind the asynchronous queue-file reader (the VSTREAM that
// qmgr and the delivery agents read a queue file through). The record
// decoder (record.ts) is synchronous; this input lets it run over a file
// read with fs/promises: it holds pages of the file loaded ahead of time,
// and a read that runs into a page not yet loaded is noted as "missing"
// instead of being served. The driver (reader.ts) then loads that page and
// reads the same record again. Touches only the file handle it is given.
import type { QueueHandle } from './handle.js';
import { type ByteInput, type SeekResult, RecGotoState, ioErrorText } from './record.js';

export const PAGE_SIZE = 65536;
// Pages kept between records; one record may pin more while it is read.
const MAX_PAGES = 8;

export class PageInput implements ByteInput {
  error: NodeJS.ErrnoException | null = null;
  gotoState = new RecGotoState();
  /** The page a read ran into that is not loaded yet, or null. */
  missing: number | null = null;
  private pages = new Map<number, Buffer>();
  private pos = 0;

  constructor(
    private readonly fh: QueueHandle,
    readonly path: string,
    /** The file size, from fstat when the reader started. */
    readonly size: number,
  ) {}

  /** Loads a page (PAGE_SIZE bytes, fewer at the end of the file). */
  async load(page: number): Promise<NodeJS.ErrnoException | null> {
    const start = page * PAGE_SIZE;
    const want = Math.max(0, Math.min(PAGE_SIZE, this.size - start));
    const buf = Buffer.alloc(want);
    let got = 0;
    try {
      while (got < want) {
        const { bytesRead } = await this.fh.read(buf, got, want - got, start + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
    } catch (e) {
      return e as NodeJS.ErrnoException;
    }
    this.pages.set(page, buf.subarray(0, got));
    this.missing = null;
    return null;
  }

  /** Forgets old pages, keeping the one at the current position. */
  trim(): void {
    if (this.pages.size <= MAX_PAGES) return;
    const keep = Math.floor(this.pos / PAGE_SIZE);
    for (const page of this.pages.keys()) {
      if (this.pages.size <= MAX_PAGES) break;
      if (page !== keep) this.pages.delete(page);
    }
  }

  /** The loaded page holding pos, or null (after noting which page is missing). */
  private pageAt(pos: number): { buf: Buffer; i: number } | null {
    if (pos >= this.size) return null;
    const page = Math.floor(pos / PAGE_SIZE);
    const buf = this.pages.get(page);
    if (buf === undefined) {
      if (this.missing === null) this.missing = page;
      return null;
    }
    const i = pos - page * PAGE_SIZE;
    return i < buf.length ? { buf, i } : null;
  }

  getc(): number {
    const at = this.pageAt(this.pos);
    if (at === null) return -1;
    this.pos++;
    return at.buf[at.i]!;
  }

  ungetc(): void {
    this.pos--;
  }

  read(n: number): Buffer {
    const parts: Buffer[] = [];
    let want = n;
    while (want > 0) {
      const at = this.pageAt(this.pos);
      if (at === null) break;
      const take = Math.min(want, at.buf.length - at.i);
      parts.push(at.buf.subarray(at.i, at.i + take));
      this.pos += take;
      want -= take;
    }
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  }

  tell(): number {
    return this.pos;
  }

  seek(offset: bigint | number, whence: 'set' | 'end' = 'set'): SeekResult {
    const target = BigInt(offset) + (whence === 'end' ? BigInt(this.size) : 0n);
    if (target < 0n) return { ok: false, code: 'EINVAL', text: ioErrorText('EINVAL') };
    this.pos = target > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(target);
    return { ok: true, offset: this.pos };
  }

  /** Where a record read starts, to go back there when a page was missing. */
  mark(): { pos: number; path: string | null; savedOffset: bigint; reverseCount: number } {
    const g = this.gotoState;
    return { pos: this.pos, path: g.path, savedOffset: g.savedOffset, reverseCount: g.reverseCount };
  }

  reset(m: ReturnType<PageInput['mark']>): void {
    this.pos = m.pos;
    Object.assign(this.gotoState, { path: m.path, savedOffset: m.savedOffset, reverseCount: m.reverseCount });
  }
}
