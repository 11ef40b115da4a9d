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

const LEAF_CACHE_PAGES = 8192;
/** How often a reader with steady traffic re-checks that its file was not replaced. */
const RECHECK_MS = 5;

export class LmdbReader {
  private fd: number;
  private ino = 0;
  private dev = 0;
  private mtimeMs = 0;
  private size = 0;
  private meta!: MdbMeta;
  private psize = 4096;
  private branchCache = new Map<number, Buffer>();
  private leafCache = new Map<number, Buffer>();
  private lastCheck = 0;

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
    this.branchCache.clear();
    this.leafCache.clear();
    if (this.meta.main.root !== P_INVALID && (this.meta.lastPg + 1) * psize > st.size) return 'truncated LMDB file';
    return undefined;
  }

  /**
   * Notices a table rebuilt by rename (new inode) or updated in place
   * (mtime, size): reopens or rereads the metas. Throttled when lookups
   * come back to back; force skips the throttle.
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

  get entries(): number {
    return this.meta.main.entries;
  }

  private readPage(pgno: number, branch: boolean): Buffer {
    const cache = branch ? this.branchCache : this.leafCache;
    const hit = cache.get(pgno);
    if (hit) return hit;
    if (pgno < 2 || pgno > this.meta.lastPg) throw new CorruptTable(`page ${pgno} out of range`);
    const page = Buffer.allocUnsafe(this.psize);
    const n = readSync(this.fd, page, 0, this.psize, pgno * this.psize);
    if (n !== this.psize) throw new CorruptTable(`short read of page ${pgno}`);
    if (Number(page.readBigUInt64LE(0)) !== pgno) throw new CorruptTable(`page ${pgno} has a wrong number`);
    if (!branch && this.leafCache.size >= LEAF_CACHE_PAGES) this.leafCache.clear();
    cache.set(pgno, page);
    return page;
  }

  private numKeys(page: Buffer): number {
    const lower = page.readUInt16LE(12);
    const upper = page.readUInt16LE(14);
    if (lower < PAGEHDRSZ || upper > this.psize || lower > upper) throw new CorruptTable('bad page bounds');
    return (lower - PAGEHDRSZ) >> 1;
  }

  private nodeAt(page: Buffer, i: number): number {
    const off = page.readUInt16LE(PAGEHDRSZ + 2 * i);
    if (off < PAGEHDRSZ || off + NODESIZE > this.psize) throw new CorruptTable('bad node offset');
    const ks = page.readUInt16LE(off + 6);
    if (off + NODESIZE + ks > this.psize) throw new CorruptTable('bad key size');
    return off;
  }

  /** Looks up exact key bytes; undefined when absent. Throws CorruptTable on damage. */
  get(key: Uint8Array): Buffer | undefined {
    const root = this.meta.main.root;
    if (root === P_INVALID) return undefined;
    let pgno = Number(root);
    for (let level = 0; ; level++) {
      if (level > 64) throw new CorruptTable('tree too deep');
      const leaf = level + 1 >= this.meta.main.depth;
      const page = this.readPage(pgno, !leaf);
      const flags = page.readUInt16LE(10);
      const n = this.numKeys(page);
      if (flags & P_BRANCH) {
        if (n < 1) throw new CorruptTable('empty branch page');
        pgno = this.branchChild(page, n, key);
        continue;
      }
      if (!(flags & P_LEAF)) throw new CorruptTable('unexpected page type');
      return this.leafFind(page, n, key);
    }
  }

  /** The child whose subtree holds key: the last node whose key is <= key (node 0 counts as -inf). */
  private branchChild(page: Buffer, n: number, key: Uint8Array): number {
    let lo = 1;
    let hi = n - 1;
    let best = 0;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const off = this.nodeAt(page, mid);
      if (compareKey(page, off, key) <= 0) {
        best = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    const off = this.nodeAt(page, best);
    return page.readUInt16LE(off) + page.readUInt16LE(off + 2) * 0x10000 + page.readUInt16LE(off + 4) * 0x100000000;
  }

  private leafFind(page: Buffer, n: number, key: Uint8Array): Buffer | undefined {
    let lo = 0;
    let hi = n - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const off = this.nodeAt(page, mid);
      const c = compareKey(page, off, key);
      if (c === 0) return this.nodeData(page, off);
      if (c < 0) lo = mid + 1;
      else hi = mid - 1;
    }
    return undefined;
  }

  private nodeData(page: Buffer, off: number): Buffer {
    const dsize = page.readUInt16LE(off) + page.readUInt16LE(off + 2) * 0x10000;
    const flags = page.readUInt16LE(off + 4);
    const ks = page.readUInt16LE(off + 6);
    const at = off + NODESIZE + ks;
    if (flags & (F_SUBDATA | F_DUPDATA)) throw new CorruptTable('unexpected sub-database');
    if (!(flags & F_BIGDATA)) {
      if (at + dsize > this.psize) throw new CorruptTable('bad data size');
      return Buffer.from(page.subarray(at, at + dsize));
    }
    const ovpg = Number(page.readBigUInt64LE(at));
    if (ovpg < 2 || ovpg > this.meta.lastPg || (ovpg * this.psize) + PAGEHDRSZ + dsize > this.size) {
      throw new CorruptTable('bad overflow page');
    }
    const head = Buffer.alloc(PAGEHDRSZ);
    readSync(this.fd, head, 0, PAGEHDRSZ, ovpg * this.psize);
    if (!(head.readUInt16LE(10) & P_OVERFLOW)) throw new CorruptTable('not an overflow page');
    const data = Buffer.allocUnsafe(dsize);
    const n = readSync(this.fd, data, 0, dsize, ovpg * this.psize + PAGEHDRSZ);
    if (n !== dsize) throw new CorruptTable('short overflow read');
    return data;
  }

  /** All records in key order (postmap -s). */
  *scan(): Generator<[Buffer, Buffer]> {
    const root = this.meta.main.root;
    if (root === P_INVALID) return;
    yield* this.walk(Number(root), 1);
  }

  private *walk(pgno: number, level: number): Generator<[Buffer, Buffer]> {
    if (level > 64) throw new CorruptTable('tree too deep');
    const leaf = level >= this.meta.main.depth;
    const page = this.readPage(pgno, !leaf);
    const flags = page.readUInt16LE(10);
    const n = this.numKeys(page);
    for (let i = 0; i < n; i++) {
      const off = this.nodeAt(page, i);
      if (flags & P_BRANCH) {
        const child = page.readUInt16LE(off) + page.readUInt16LE(off + 2) * 0x10000 + page.readUInt16LE(off + 4) * 0x100000000;
        yield* this.walk(child, level + 1);
      } else if (flags & P_LEAF) {
        const ks = page.readUInt16LE(off + 6);
        yield [Buffer.from(page.subarray(off + NODESIZE, off + NODESIZE + ks)), this.nodeData(page, off)];
      } else throw new CorruptTable('unexpected page type');
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

/** mdb_cmp_memn: node key versus key; negative when the node's key sorts first. */
function compareKey(page: Buffer, off: number, key: Uint8Array): number {
  const ks = page.readUInt16LE(off + 6);
  const kl = key.length;
  const m = ks < kl ? ks : kl;
  const base = off + NODESIZE;
  for (let j = 0; j < m; j++) {
    const d = page[base + j]! - key[j]!;
    if (d !== 0) return d;
  }
  return ks - kl;
}
