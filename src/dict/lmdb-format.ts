// The on-disk layout of an LMDB 0.9 data file (liblmdb's mdb.c, data format
// version 1), which Postfix's lmdb: tables use and which this project also
// uses for hash: and btree: (FILE.db). Shared by the pure-TypeScript bulk
// writer and reader; the layout facts were checked against files written by
// Postfix's own postmap. No I/O here.

export const MDB_MAGIC = 0xbeefc0de;
export const MDB_DATA_VERSION = 1;
export const PAGE_SIZE = 4096;
export const PAGEHDRSZ = 16;
export const NODESIZE = 8;
export const P_INVALID = 0xffffffffffffffffn;

export const P_BRANCH = 0x01;
export const P_LEAF = 0x02;
export const P_OVERFLOW = 0x04;
export const P_META = 0x08;

export const F_BIGDATA = 0x01;
export const F_SUBDATA = 0x02;
export const F_DUPDATA = 0x04;

/** MDB_INTEGERKEY|MDB_NOSUBDIR, as Postfix's liblmdb records in the free DB's flags. */
export const FREE_DB_FLAGS = 0x4008;

/** Largest node kept inside a leaf page (me_nodemax for 4 KiB pages). */
export function nodeMax(psize: number): number {
  return (((psize - PAGEHDRSZ) / 2) & ~1) - 2;
}

/** Largest key Postfix's liblmdb accepts (MDB_MAXKEYSIZE). */
export const LMDB_MAX_KEY = 511;

/** What lmdb-js (built with MDB_MAXKEYSIZE=0) accepts; used for hash:/btree:, which Postfix never reads. */
export const LMDBJS_MAX_KEY = 1978;

/** Pages an overflow value of `size` bytes needs (OVPAGES). */
export function ovPages(size: number, psize: number): number {
  return Math.floor((PAGEHDRSZ - 1 + size) / psize) + 1;
}

export function even(n: number): number {
  return (n + 1) & ~1;
}

/** One of the two tree descriptors in a meta page (MDB_db). */
export interface MdbDb {
  pad: number;
  flags: number;
  depth: number;
  branchPages: number;
  leafPages: number;
  overflowPages: number;
  entries: number;
  root: bigint;
}

export interface MdbMeta {
  magic: number;
  version: number;
  mapSize: number;
  free: MdbDb;
  main: MdbDb;
  lastPg: number;
  txnid: number;
}

const META_OFF = PAGEHDRSZ;
const DB_SIZE = 48;

function readDb(b: Buffer, off: number): MdbDb {
  return {
    pad: b.readUInt32LE(off),
    flags: b.readUInt16LE(off + 4),
    depth: b.readUInt16LE(off + 6),
    branchPages: Number(b.readBigUInt64LE(off + 8)),
    leafPages: Number(b.readBigUInt64LE(off + 16)),
    overflowPages: Number(b.readBigUInt64LE(off + 24)),
    entries: Number(b.readBigUInt64LE(off + 32)),
    root: b.readBigUInt64LE(off + 40),
  };
}

function writeDb(b: Buffer, off: number, db: MdbDb): void {
  b.writeUInt32LE(db.pad, off);
  b.writeUInt16LE(db.flags, off + 4);
  b.writeUInt16LE(db.depth, off + 6);
  b.writeBigUInt64LE(BigInt(db.branchPages), off + 8);
  b.writeBigUInt64LE(BigInt(db.leafPages), off + 16);
  b.writeBigUInt64LE(BigInt(db.overflowPages), off + 24);
  b.writeBigUInt64LE(BigInt(db.entries), off + 32);
  b.writeBigUInt64LE(db.root, off + 40);
}

/** Parses the meta record of a page that starts at `off`; undefined when the magic is wrong. */
export function readMeta(b: Buffer, off: number): MdbMeta | undefined {
  if (b.length < off + META_OFF + 24 + 2 * DB_SIZE + 16) return undefined;
  const m = off + META_OFF;
  const magic = b.readUInt32LE(m);
  if (magic !== MDB_MAGIC) return undefined;
  return {
    magic,
    version: b.readUInt32LE(m + 4),
    mapSize: Number(b.readBigUInt64LE(m + 16)),
    free: readDb(b, m + 24),
    main: readDb(b, m + 24 + DB_SIZE),
    lastPg: Number(b.readBigUInt64LE(m + 24 + 2 * DB_SIZE)),
    txnid: Number(b.readBigUInt64LE(m + 24 + 2 * DB_SIZE + 8)),
  };
}

/** Writes a complete meta page for page number pgno (0 or 1) at `off`. */
export function writeMeta(b: Buffer, off: number, pgno: number, meta: MdbMeta): void {
  b.writeBigUInt64LE(BigInt(pgno), off);
  b.writeUInt16LE(P_META, off + 10);
  const m = off + META_OFF;
  b.writeUInt32LE(meta.magic, m);
  b.writeUInt32LE(meta.version, m + 4);
  b.writeBigUInt64LE(BigInt(meta.mapSize), m + 16);
  writeDb(b, m + 24, meta.free);
  writeDb(b, m + 24 + DB_SIZE, meta.main);
  b.writeBigUInt64LE(BigInt(meta.lastPg), m + 24 + 2 * DB_SIZE);
  b.writeBigUInt64LE(BigInt(meta.txnid), m + 24 + 2 * DB_SIZE + 8);
}

export function emptyDb(pad = 0, flags = 0): MdbDb {
  return { pad, flags, depth: 0, branchPages: 0, leafPages: 0, overflowPages: 0, entries: 0, root: P_INVALID };
}

/**
 * What this project records in the main tree's unused md_pad field, so that
 * hash: and btree: tables (both LMDB here) are told apart as Berkeley DB
 * tells its hash and btree files apart; 0 (Postfix's lmdb:, lmdb-js) says nothing.
 */
export const KIND_MARKER: Readonly<Record<string, number>> = { lmdb: 0, hash: 1, btree: 2 };

/** Magic numbers of the Berkeley DB files that Postfix's hash:/btree: write (at offset 12). */
const BDB_MAGICS: Record<number, string> = { 0x061561: 'hash', 0x053162: 'btree' };

/** Names what a non-LMDB file is, for the "rebuild it" message. */
export function identifyForeign(head: Buffer): string | undefined {
  if (head.length < 16) return undefined;
  for (const le of [true, false]) {
    const v = le ? head.readUInt32LE(12) : head.readUInt32BE(12);
    const kind = BDB_MAGICS[v];
    if (kind) return `Berkeley DB ${kind} file`;
  }
  return undefined;
}
