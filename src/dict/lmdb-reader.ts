// Read-only access to an LMDB 0.9 data file in plain TypeScript: pick the
// newer meta page, walk the B+tree with pread(), follow overflow pages.
// Used for every read-only open of hash:, btree: and lmdb: tables, so a
// lookup needs no native module, creates no "-lock" file beside the table,
// and a damaged or foreign file is a value ("corrupt"), never a crash.
// Holds one read-only file descriptor; reopens when the file is replaced.
import { closeSync, fstatSync, openSync, readSync, statSync } from 'node:fs';
import {
  F_BIGDATA, F_DUPDATA, F_SUBDATA, MDB_DATA_VERSION, NODESIZE, P_BRANCH, P_INVALID, P_LEAF,
  P_OVERFLOW, PAGEHDRSZ, identifyForeign, readMeta, type MdbMeta,
} from './lmdb-format.js';

export type OpenFailure = { error: 'errno'; err: NodeJS.ErrnoException } | { error: 'format'; what: string };

/** A damaged page or pointer: the table must be rebuilt. */
export class CorruptTable extends Error {}

/** Throws CorruptTable; kept out of line so that the lookup code stays small for the optimizer. */
function corrupt(why: string): never {
  throw new CorruptTable(why);
}

/** Leaf pages kept in memory (in one slab, so that a page read allocates nothing); lookups in key order never look back far. */
const LEAF_CACHE_PAGES = 1024;
/** Pages read at once on a leaf miss: leaves sit in key order, and batch lookups come in key order. */
const READ_AHEAD_PAGES = 64;
/** Tables up to this size are read into memory whole; larger ones page by page. */
const WHOLE_FILE_LIMIT = 4 << 20;
/** How often a reader with steady traffic re-checks that its file was not replaced. */
const RECHECK_MS = 5;

function u16(b: Buffer, o: number): number {
  return b[o]! | (b[o + 1]! << 8);
}

/** Where a value was found: bytes [start, end) of buf, valid until the next call. */
export interface ValueRef {
  buf: Buffer;
  start: number;
  end: number;
}

export class LmdbReader {
  private fd: number;
  private ino = 0;
  private dev = 0;
  private mtimeMs = 0;
  private size = 0;
  private meta!: MdbMeta;
  private psize = 4096;
  /** The main tree's root page (-1: empty), depth and last page, as plain numbers. */
  private root = -1;
  private depth = 0;
  private lastPg = 0;
  /** The whole file, when it is small enough. */
  private whole: Buffer | undefined;
  private branchCache = new Map<number, Buffer>();
  /** Leaf page number -> slot in the slab, -1 when not cached (sized to the file's pages). */
  private leafSlot = new Int32Array(0);
  /** Allocated when the file is paged; an empty buffer otherwise (one field type for the optimizer). */
  private slab: Buffer = Buffer.alloc(0);
  private slabUsed = 0;
  private lastCheck = 0;
  /** The leaf the last lookup ended in (-1: none). */
  private lastLeaf = -1;
  /** The buffer holding the page most recently loaded by loadPage(). */
  private pb: Buffer = Buffer.alloc(0);
  private readonly ref: ValueRef = { buf: Buffer.alloc(0), start: 0, end: 0 };

  private constructor(readonly path: string, fd: number) {
    this.fd = fd;
  }

  /** Opens and validates the file; a missing file or a foreign format is a value. */
  static open(path: string): LmdbReader | OpenFailure {
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch (e) {
      return { error: 'errno', err: e as NodeJS.ErrnoException };
    }
    const r = new LmdbReader(path, fd);
    const bad = r.load();
    if (bad !== undefined) {
      closeSync(fd);
      return { error: 'format', what: bad };
    }
    return r;
  }

  /** Reads the metas of the current fd; returns why the file is unusable, if it is. */
  private load(): string | undefined {
    const st = fstatSync(this.fd);
    this.ino = st.ino;
    this.dev = st.dev;
    this.mtimeMs = st.mtimeMs;
    this.size = st.size;
    this.whole = undefined;
    this.lastLeaf = -1;
    this.branchCache.clear();
    this.leafSlot = new Int32Array(0);
    this.slabUsed = 0;
    const head = Buffer.alloc(Math.min(st.size, 8192));
    readSync(this.fd, head, 0, head.length, 0);
    const m0 = readMeta(head, 0);
    if (!m0) return identifyForeign(head) ?? (st.size === 0 ? 'empty file' : 'not an LMDB file');
    if (m0.version !== MDB_DATA_VERSION) return `unsupported LMDB data format version ${m0.version}`;
    const psize = m0.free.pad;
    if (psize < 512 || psize > 65536 || (psize & (psize - 1)) !== 0) return 'bad LMDB page size';
    let m1: MdbMeta | undefined;
    if (st.size >= 2 * psize) {
      const p1 = Buffer.alloc(psize);
      readSync(this.fd, p1, 0, psize, psize);
      m1 = readMeta(p1, 0);
    }
    this.meta = m1 && m1.txnid > m0.txnid ? m1 : m0;
    this.psize = psize;
    this.root = this.meta.main.root === P_INVALID ? -1 : Number(this.meta.main.root);
    this.depth = this.meta.main.depth;
    this.lastPg = this.meta.lastPg;
    if (this.meta.main.root !== P_INVALID && (this.meta.lastPg + 1) * psize > st.size) return 'truncated LMDB file';
    if (st.size > WHOLE_FILE_LIMIT) {
      // Paged: give the page cache its final shape now, before any lookup runs.
      if (this.slab.length === 0) this.slab = Buffer.allocUnsafe(LEAF_CACHE_PAGES * psize);
      this.leafSlot = new Int32Array(this.lastPg + 1).fill(-1);
      this.pb = this.slab;
    }
    if (st.size <= WHOLE_FILE_LIMIT) {
      const whole = Buffer.allocUnsafe(st.size);
      let off = 0;
      while (off < st.size) {
        const n = readSync(this.fd, whole, off, st.size - off, off);
        if (n <= 0) return 'truncated LMDB file';
        off += n;
      }
      this.whole = whole;
    }
    return undefined;
  }

  /**
   * Notices a table rebuilt by rename (new inode) or updated in place
   * (mtime, size): reopens or rereads it. Throttled when lookups come back
   * to back; force skips the throttle.
   */
  refresh(force = false): string | undefined {
    const now = Date.now();
    if (!force && now - this.lastCheck < RECHECK_MS) return undefined;
    this.lastCheck = now;
    let st;
    try {
      st = statSync(this.path);
    } catch {
      return undefined; // the old file is still open and still valid
    }
    if (st.ino !== this.ino || st.dev !== this.dev) {
      let fd: number;
      try {
        fd = openSync(this.path, 'r');
      } catch {
        return undefined;
      }
      closeSync(this.fd);
      this.fd = fd;
      return this.load();
    }
    if (st.mtimeMs !== this.mtimeMs || st.size !== this.size) return this.load();
    return undefined;
  }

  /** The md_pad of the main tree (see KIND_MARKER). */
  get kindMarker(): number {
    return this.meta.main.pad;
  }

  get entries(): number {
    return this.meta.main.entries;
  }

  /** Makes page pgno current: returns its offset in this.pb. */
  private loadPage(pgno: number, branch: boolean): number {
    if (pgno < 2 || pgno > this.lastPg) corrupt(`page ${pgno} out of range`);
    let base = 0;
    if (this.whole) {
      this.pb = this.whole;
      base = pgno * this.psize;
    } else if (branch) {
      let page = this.branchCache.get(pgno);
      if (!page) {
        page = Buffer.allocUnsafe(this.psize);
        const n = readSync(this.fd, page, 0, this.psize, pgno * this.psize);
        if (n !== this.psize) corrupt(`short read of page ${pgno}`);
        this.branchCache.set(pgno, page);
      }
      this.pb = page;
    } else {
      let slot = pgno < this.leafSlot.length ? this.leafSlot[pgno]! : -1;
      if (slot < 0) slot = this.readLeaves(pgno);
      this.pb = this.slab;
      base = slot * this.psize;
    }
    const b = this.pb;
    if ((b[base]! | (b[base + 1]! << 8) | (b[base + 2]! << 16)) + b[base + 3]! * 0x1000000 !== pgno % 0x100000000) {
      corrupt(`page ${pgno} has a wrong number`);
    }
    return base;
  }

  /** Reads leaf pgno and the pages after it into the slab; returns pgno's slot. */
  private readLeaves(pgno: number): number {
    const psize = this.psize;
    if (this.slab.length === 0) this.slab = Buffer.allocUnsafe(LEAF_CACHE_PAGES * psize);
    if (this.leafSlot.length !== this.lastPg + 1) this.leafSlot = new Int32Array(this.lastPg + 1).fill(-1);
    let count = Math.min(READ_AHEAD_PAGES, this.lastPg + 1 - pgno);
    if (this.slabUsed + count > LEAF_CACHE_PAGES) {
      this.leafSlot.fill(-1);
      this.slabUsed = 0;
    }
    const first = this.slabUsed;
    const n = readSync(this.fd, this.slab, first * psize, count * psize, pgno * psize);
    if (n < psize) corrupt(`short read of page ${pgno}`);
    count = Math.floor(n / psize);
    for (let i = 0; i < count; i++) if (this.leafSlot[pgno + i]! < 0) this.leafSlot[pgno + i] = first + i;
    this.slabUsed += count;
    return this.leafSlot[pgno]!;
  }

  private numKeys(base: number): number {
    const lower = u16(this.pb, base + 12);
    const upper = u16(this.pb, base + 14);
    if (lower < PAGEHDRSZ || upper > this.psize || lower > upper) corrupt('bad page bounds');
    return (lower - PAGEHDRSZ) >> 1;
  }

  /** Offset (in this.pb) of node i of the page at base. */
  private nodeAt(base: number, i: number): number {
    const b = this.pb;
    const off = u16(b, base + PAGEHDRSZ + 2 * i);
    if (off < PAGEHDRSZ || off + NODESIZE > this.psize) corrupt('bad node offset');
    if (off + NODESIZE + u16(b, base + off + 6) > this.psize) corrupt('bad key size');
    return base + off;
  }

  private childPgno(node: number): number {
    const b = this.pb;
    return u16(b, node) + u16(b, node + 2) * 0x10000 + u16(b, node + 4) * 0x100000000;
  }

  /**
   * Many lookups in one tight loop (postmap -q -): keys are arena[off[i]..
   * off[i]+len[i]) with a NUL after each, taken in `order` (key order, so
   * that consecutive keys mostly land in the same leaf). For each key found,
   * its value (up to the first NUL) is appended to `out`; vs/ve get its
   * position, vs stays -1 when absent. nul: try the NUL-terminated form
   * (1), the bare form (0), or both (2: with NUL first); returns the form
   * that answered first (-1 for none), for Postfix's flag learning.
   */
  getMany(arena: Buffer, off: Uint32Array, len: Uint32Array, order: Uint32Array, nul: 0 | 1 | 2,
    vs: Int32Array, ve: Int32Array, out: { buf: Buffer; used: number }): number {
    let firstForm = -1;
    let mode = nul;
    for (let j = 0; j < order.length; j++) {
      const i = order[j]!;
      let v: ValueRef | undefined;
      if (mode !== 0) {
        v = this.get(arena, len[i]! + 1, off[i]!);
        if (v && mode === 2) {
          mode = 1;
          if (firstForm < 0) firstForm = 1;
        }
      }
      if (!v && mode !== 1) {
        v = this.get(arena, len[i]!, off[i]!);
        if (v && mode === 2) {
          mode = 0;
          if (firstForm < 0) firstForm = 0;
        }
      }
      if (!v) continue;
      const vb = v.buf;
      let e = v.start;
      const vend = v.end;
      while (e < vend && vb[e] !== 0) e++;
      const n = e - v.start;
      if (out.used + n > out.buf.length) {
        const bigger = Buffer.allocUnsafe(Math.max(out.buf.length * 2, out.used + n));
        out.buf.copy(bigger, 0, 0, out.used);
        out.buf = bigger;
      }
      const ob = out.buf;
      let u = out.used;
      vs[i] = u;
      for (let q = v.start; q < e; q++) ob[u++] = vb[q]!;
      out.used = u;
      ve[i] = u;
    }
    return firstForm;
  }

  /** Looks up key bytes key[0..klen); the value's bytes, or undefined. Throws CorruptTable on damage. */
  get(key: Uint8Array, klen = key.length, koff = 0): ValueRef | undefined {
    let pgno = this.root;
    if (pgno < 0) return undefined;
    // Keys that fall within the last leaf's key range (lookups in key order) skip the descent.
    if (this.lastLeaf >= 0) {
      const base = this.loadPage(this.lastLeaf, false);
      const n = this.numKeys(base);
      if (n > 0 && compareKey(this.pb, this.nodeAt(base, 0), key, klen, koff) <= 0
        && compareKey(this.pb, this.nodeAt(base, n - 1), key, klen, koff) >= 0) {
        return this.leafFind(base, n, key, klen, koff);
      }
    }
    for (let level = 0; ; level++) {
      if (level > 64) corrupt('tree too deep');
      const leaf = level + 1 >= this.depth;
      const base = this.loadPage(pgno, !leaf);
      const flags = u16(this.pb, base + 10);
      const n = this.numKeys(base);
      if (flags & P_BRANCH) {
        if (n < 1) corrupt('empty branch page');
        pgno = this.branchChild(base, n, key, klen, koff);
        continue;
      }
      if (!(flags & P_LEAF)) corrupt('unexpected page type');
      this.lastLeaf = pgno;
      return this.leafFind(base, n, key, klen, koff);
    }
  }

  /** The child whose subtree holds key: the last node whose key is <= key (node 0 counts as -inf). */
  private branchChild(base: number, n: number, key: Uint8Array, klen: number, koff: number): number {
    let lo = 1;
    let hi = n - 1;
    let best = 0;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (compareKey(this.pb, this.nodeAt(base, mid), key, klen, koff) <= 0) {
        best = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return this.childPgno(this.nodeAt(base, best));
  }

  private leafFind(base: number, n: number, key: Uint8Array, klen: number, koff: number): ValueRef | undefined {
    let lo = 0;
    let hi = n - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const node = this.nodeAt(base, mid);
      const c = compareKey(this.pb, node, key, klen, koff);
      if (c === 0) return this.nodeData(base, node);
      if (c < 0) lo = mid + 1;
      else hi = mid - 1;
    }
    return undefined;
  }

  private nodeData(base: number, node: number): ValueRef {
    const b = this.pb;
    const dsize = u16(b, node) + u16(b, node + 2) * 0x10000;
    const flags = u16(b, node + 4);
    const at = node + NODESIZE + u16(b, node + 6);
    if (flags & (F_SUBDATA | F_DUPDATA)) corrupt('unexpected sub-database');
    const ref = this.ref;
    if (!(flags & F_BIGDATA)) {
      if (at + dsize > base + this.psize) corrupt('bad data size');
      ref.buf = b;
      ref.start = at;
      ref.end = at + dsize;
      return ref;
    }
    const ovpg = b.readUInt32LE(at) + b.readUInt32LE(at + 4) * 0x100000000;
    const pos = ovpg * this.psize;
    if (ovpg < 2 || ovpg > this.meta.lastPg || pos + PAGEHDRSZ + dsize > this.size) corrupt('bad overflow page');
    if (this.whole) {
      if (!(u16(this.whole, pos + 10) & P_OVERFLOW)) corrupt('not an overflow page');
      ref.buf = this.whole;
      ref.start = pos + PAGEHDRSZ;
      ref.end = pos + PAGEHDRSZ + dsize;
      return ref;
    }
    const head = Buffer.alloc(PAGEHDRSZ);
    readSync(this.fd, head, 0, PAGEHDRSZ, pos);
    if (!(u16(head, 10) & P_OVERFLOW)) corrupt('not an overflow page');
    const data = Buffer.allocUnsafe(dsize);
    if (readSync(this.fd, data, 0, dsize, pos + PAGEHDRSZ) !== dsize) corrupt('short overflow read');
    ref.buf = data;
    ref.start = 0;
    ref.end = dsize;
    return ref;
  }

  /** All records in key order (postmap -s), as copies. */
  *scan(): Generator<[Buffer, Buffer]> {
    const root = this.meta.main.root;
    if (root === P_INVALID) return;
    yield* this.walk(Number(root), 1);
  }

  private *walk(pgno: number, level: number): Generator<[Buffer, Buffer]> {
    if (level > 64) corrupt('tree too deep');
    const leaf = level >= this.meta.main.depth;
    let base = this.loadPage(pgno, !leaf);
    const flags = u16(this.pb, base + 10);
    const n = this.numKeys(base);
    for (let i = 0; i < n; i++) {
      // A child's walk moves this.pb; come back to this page first.
      base = this.loadPage(pgno, !leaf);
      const node = this.nodeAt(base, i);
      if (flags & P_BRANCH) {
        yield* this.walk(this.childPgno(node), level + 1);
      } else if (flags & P_LEAF) {
        const ks = u16(this.pb, node + 6);
        const key = Buffer.from(this.pb.subarray(node + NODESIZE, node + NODESIZE + ks));
        const v = this.nodeData(base, node);
        yield [key, Buffer.from(v.buf.subarray(v.start, v.end))];
      } else corrupt('unexpected page type');
    }
  }

  close(): void {
    try {
      closeSync(this.fd);
    } catch {
      /* already closed */
    }
  }
}

/** mdb_cmp_memn: node key versus key[ko..ko+kl); negative when the node's key sorts first. */
function compareKey(b: Buffer, node: number, key: Uint8Array, kl: number, ko: number): number {
  const ks = b[node + 6]! | (b[node + 7]! << 8);
  const m = ks < kl ? ks : kl;
  const base = node + NODESIZE;
  for (let j = 0; j < m; j++) {
    const d = b[base + j]! - key[ko + j]!;
    if (d !== 0) return d;
  }
  return ks - kl;
}
