// Bulk writer for LMDB 0.9 data files: lays out a complete B+tree from
// sorted records in memory, as mdb_put with MDB_APPEND would leave it (full
// leaf pages, overflow pages for large values, branch levels above), with
// both meta pages. This is how postmap/postalias rebuild hash:, btree: and
// lmdb: tables: one pass, no native code, files Postfix's liblmdb reads.
// Produces buffers only; the caller writes them to a temporary file.
import { EntryList } from './entries.js';
import {
  F_BIGDATA, FREE_DB_FLAGS, MDB_DATA_VERSION, MDB_MAGIC, NODESIZE, P_BRANCH, P_INVALID, P_LEAF,
  P_OVERFLOW, PAGE_SIZE, PAGEHDRSZ, emptyDb, even, nodeMax, ovPages, writeMeta, type MdbDb,
} from './lmdb-format.js';

export interface LmdbImage {
  /** Page-aligned chunks to write in order; together they are the whole file. */
  chunks: Buffer[];
  size: number;
}

interface Child {
  pgno: number;
  /** The record whose key is the smallest in the child's subtree. */
  first: number;
}

/** Records to write: `order[0..count)` are indices into `e`, sorted by key, without duplicates. */
export function buildLmdbImage(e: EntryList, order: Uint32Array, count: number, mapSize: number, kindMarker = 0): LmdbImage {
  const psize = PAGE_SIZE;
  const nmax = nodeMax(psize);
  const room = psize - PAGEHDRSZ;
  // Pass 1: where each leaf starts, and how many overflow pages there are.
  const leafStarts: number[] = [];
  let used = room + 1;
  let overflowPages = 0;
  for (let j = 0; j < count; j++) {
    const i = order[j]!;
    const ks = e.keyLen[i]!;
    const vs = e.valLen[i]! + e.valNul[i]!;
    let node = NODESIZE + ks;
    if (node + vs > nmax) {
      node += 8;
      overflowPages += ovPages(vs, psize);
    } else node += vs;
    const sz = even(node) + 2;
    if (used + sz > room) {
      leafStarts.push(j);
      used = 0;
    }
    used += sz;
  }
  const leafCount = leafStarts.length;
  const firstLeaf = 2;
  let nextOverflow = firstLeaf + leafCount;
  const body = Buffer.alloc((leafCount + overflowPages) * psize);
  const children: Child[] = [];
  // Pass 2: fill the leaves (and overflow pages) in key order.
  for (let l = 0; l < leafCount; l++) {
    const pgno = firstLeaf + l;
    const base = l * psize;
    const from = leafStarts[l]!;
    const to = l + 1 < leafCount ? leafStarts[l + 1]! : count;
    let lower = PAGEHDRSZ;
    let upper = psize;
    for (let j = from; j < to; j++) {
      const i = order[j]!;
      const ks = e.keyLen[i]!;
      const vl = e.valLen[i]!;
      const vs = vl + e.valNul[i]!;
      const big = NODESIZE + ks + vs > nmax;
      const node = even(NODESIZE + ks + (big ? 8 : vs));
      upper -= node;
      const at = base + upper;
      put16(body, base + lower, upper);
      lower += 2;
      put16(body, at, vs & 0xffff);
      put16(body, at + 2, vs >>> 16);
      put16(body, at + 4, big ? F_BIGDATA : 0);
      put16(body, at + 6, ks);
      copyBytes(e.keyArena, e.keyOff[i]!, ks, body, at + NODESIZE);
      const vbuf = e.valueBuffer(i);
      const voff = e.valOff[i]!;
      if (big) {
        const ovPg = nextOverflow;
        const n = ovPages(vs, psize);
        nextOverflow += n;
        const ob = (ovPg - firstLeaf) * psize;
        body.writeBigUInt64LE(BigInt(ovPg), ob);
        body.writeUInt16LE(P_OVERFLOW, ob + 10);
        body.writeUInt32LE(n, ob + 12);
        copyBytes(vbuf, voff, vl, body, ob + PAGEHDRSZ);
        body.writeBigUInt64LE(BigInt(ovPg), at + NODESIZE + ks);
      } else {
        copyBytes(vbuf, voff, vl, body, at + NODESIZE + ks);
      }
    }
    body.writeBigUInt64LE(BigInt(pgno), base);
    body.writeUInt16LE(P_LEAF, base + 10);
    body.writeUInt16LE(lower, base + 12);
    body.writeUInt16LE(upper, base + 14);
    children.push({ pgno, first: order[from]! });
  }
  // Branch levels, bottom up, until one page holds the root.
  const branchChunks: Buffer[] = [];
  let level = children;
  let depth = leafCount > 0 ? 1 : 0;
  let branchPages = 0;
  let nextPg = nextOverflow;
  while (level.length > 1) {
    const { pages, parents } = packBranches(e, level, nextPg);
    branchChunks.push(...pages);
    branchPages += pages.length;
    nextPg += pages.length;
    level = parents;
    depth++;
  }
  const lastPg = nextPg - 1;
  const main: MdbDb = {
    pad: kindMarker, flags: 0, depth, branchPages, leafPages: leafCount, overflowPages,
    entries: count, root: level.length === 1 ? BigInt(level[0]!.pgno) : P_INVALID,
  };
  const metas = Buffer.alloc(2 * psize);
  const fileSize = (lastPg + 1) * psize;
  let ms = mapSize;
  while (ms < fileSize) ms *= 2;
  const free = emptyDb(psize, FREE_DB_FLAGS);
  writeMeta(metas, 0, 0, { magic: MDB_MAGIC, version: MDB_DATA_VERSION, mapSize: ms, free, main: emptyDb(), lastPg: 1, txnid: 0 });
  writeMeta(metas, psize, 1, { magic: MDB_MAGIC, version: MDB_DATA_VERSION, mapSize: ms, free, main, lastPg: Math.max(lastPg, 1), txnid: 1 });
  const chunks = [metas, body, ...branchChunks];
  return { chunks, size: chunks.reduce((n, c) => n + c.length, 0) };
}

/** Packs one level of children into branch pages numbered from firstPg. */
function packBranches(e: EntryList, level: Child[], firstPg: number): { pages: Buffer[]; parents: Child[] } {
  const breaks = branchBreaks(e, level);
  const pages: Buffer[] = [];
  const parents: Child[] = [];
  for (let p = 0; p < breaks.length; p++) {
    const from = breaks[p]!;
    const to = p + 1 < breaks.length ? breaks[p + 1]! : level.length;
    const pgno = firstPg + p;
    pages.push(writeBranch(e, level, from, to, pgno));
    parents.push({ pgno, first: level[from]!.first });
  }
  return { pages, parents };
}

/** Where each branch page starts; every page gets two children at least (LMDB asserts it). */
function branchBreaks(e: EntryList, level: Child[]): number[] {
  const room = PAGE_SIZE - PAGEHDRSZ;
  const breaks: number[] = [];
  let used = room + 1;
  for (let c = 0; c < level.length; c++) {
    const first = used > room || breaks.length === 0;
    const ks = first ? 0 : e.keyLen[level[c]!.first]!;
    const sz = even(NODESIZE + ks) + 2;
    if (used + sz > room) {
      breaks.push(c);
      used = even(NODESIZE) + 2;
      continue;
    }
    used += sz;
  }
  const n = breaks.length;
  if (n > 1 && level.length - breaks[n - 1]! < 2) breaks[n - 1]!--;
  return breaks;
}

function writeBranch(e: EntryList, level: Child[], from: number, to: number, pgno: number): Buffer {
  const page = Buffer.alloc(PAGE_SIZE);
  let lower = PAGEHDRSZ;
  let upper = PAGE_SIZE;
  for (let c = from; c < to; c++) {
    const child = level[c]!;
    // The first key of a branch page is never compared, and LMDB stores it empty.
    const ks = c === from ? 0 : e.keyLen[child.first]!;
    upper -= even(NODESIZE + ks);
    page.writeUInt16LE(upper, lower);
    lower += 2;
    page.writeUInt16LE(child.pgno & 0xffff, upper);
    page.writeUInt16LE(Math.floor(child.pgno / 0x10000) & 0xffff, upper + 2);
    page.writeUInt16LE(Math.floor(child.pgno / 0x100000000) & 0xffff, upper + 4);
    page.writeUInt16LE(ks, upper + 6);
    if (ks > 0) copyBytes(e.keyArena, e.keyOff[child.first]!, ks, page, upper + NODESIZE);
  }
  page.writeBigUInt64LE(BigInt(pgno), 0);
  page.writeUInt16LE(P_BRANCH, 10);
  page.writeUInt16LE(lower, 12);
  page.writeUInt16LE(upper, 14);
  return page;
}

/** Little-endian 16-bit store without Buffer's per-call range checks (offsets are ours). */
function put16(b: Buffer, off: number, v: number): void {
  b[off] = v & 0xff;
  b[off + 1] = v >>> 8;
}

function copyBytes(src: Buffer, from: number, len: number, dst: Buffer, to: number): void {
  if (len > 48) {
    src.copy(dst, to, from, from + len);
    return;
  }
  for (let k = 0; k < len; k++) dst[to + k] = src[from + k]!;
}
