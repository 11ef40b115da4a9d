// Mirrors Postfix's global/mkmap_open.c with mkmap_db.c and mkmap_lmdb.c:
// building a whole hash:, btree: or lmdb: table from records. Unlike Postfix,
// which truncates the table and fills it in place, the table is written to a
// temporary file beside it and renamed over the old one, so readers see the
// old table or the new one, and a build that fails changes nothing.
// Touches FILE.db / FILE.lmdb and its temporary FILE.db.tmpPID.
import { accessSync, constants as fsConstants, chownSync, closeSync, fchmodSync, fsyncSync, openSync, renameSync, statSync, unlinkSync, writevSync } from 'node:fs';
import { dirname } from 'node:path';
import {
  DICT_FLAG_DUP_IGNORE, DICT_FLAG_DUP_REPLACE, DICT_FLAG_FOLD_FIX, DICT_FLAG_TRY0NULL, DICT_FLAG_TRY1NULL,
  DICT_FLAG_UTF8_ACTIVE,
} from './dict.js';
import { EntryList, sortedOrder, VAL_SOURCE } from './entries.js';
import { buildLmdbImage } from './lmdb-writer.js';
import { KIND_MARKER } from './lmdb-format.js';
import { maxKeyBytes, STORE_SUFFIX, storeLabel, type StoreKind } from './lmdb-store.js';
import { bytesToText, casefold, textToBytes } from './utf8.js';
import { isStandIn, needsStandIn, standInKey, unwrapValue, wrapValue } from './long-keys.js';
import { fsyncDir } from '../util/atomic.js';
import { errnoText } from '../util/errno.js';

/** A message tied to a source line, so that all of a build's warnings print in line order. */
export interface LineMessage {
  line: number;
  text: string;
}

export interface BuildTarget {
  kind: StoreKind;
  name: string;
  /** DICT_FLAG_* as postmap/postalias pass them (DUP_*, FOLD_FIX, TRY*NULL, UTF8_ACTIVE). */
  dictFlags: number;
  /** lmdb_map_size: recorded in the meta pages as Postfix's liblmdb would. */
  mapSize: number;
}

export type BuildResult = { ok: true; warnings: LineMessage[] } | { ok: false; warnings: LineMessage[]; fatal: string };

/** Collects a table's records, then writes the whole table at once. */
export class MapBuilder {
  readonly entries: EntryList;
  readonly path: string;
  /** Whether keys and values get a trailing NUL (TRY1NULL; Postfix's default on Linux). */
  readonly nul: boolean;
  private readonly maxKey: number;
  private readonly foldAscii: boolean;
  private readonly foldUtf8: boolean;

  constructor(readonly target: BuildTarget, source?: Buffer) {
    this.entries = new EntryList(source);
    if (source) {
      // Keys from the source stay where they are (see addFromSource).
      this.entries.keyArena = source;
      this.entries.keyUsed = source.length;
    }
    this.path = target.name + STORE_SUFFIX[target.kind];
    const f = target.dictFlags;
    this.nul = (f & DICT_FLAG_TRY1NULL) !== 0 || (f & DICT_FLAG_TRY0NULL) === 0;
    this.maxKey = maxKeyBytes(target.kind);
    this.foldAscii = (f & DICT_FLAG_FOLD_FIX) !== 0;
    this.foldUtf8 = this.foldAscii && (f & DICT_FLAG_UTF8_ACTIVE) !== 0;
  }

  /** The fatal text Postfix prints when a key is too large for the table. */
  private sizeError(): string {
    return `error updating ${this.target.kind}:${this.target.name}: MDB_BAD_VALSIZE: Unsupported size of key/DB name/data, or wrong DUPFIXED size`;
  }

  /**
   * Adds a record whose key is src[keyStart..keyEnd) and whose value lies in
   * the source buffer. The key is folded where it lies and ended by a NUL
   * written over the white space after it: no copy. (Keys added otherwise
   * go after the source, in a copy of it that keySpace() makes.)
   */
  addFromSource(src: Buffer, keyStart: number, keyEnd: number, valOff: number, valLen: number, line: number, plain = false): string | undefined {
    const e = this.entries;
    const ka = e.keyArena;
    const klen = keyEnd - keyStart;
    let high = false;
    if (this.foldAscii && !plain) {
      for (let j = keyStart; j < keyEnd; j++) {
        const c = ka[j]!;
        if (c >= 65 && c <= 90) ka[j] = c + 32;
        else if (c >= 128) high = true;
      }
    }
    if (high && this.foldUtf8) {
      // Unicode folding may change the length; this key goes to the arena.
      const folded = textToBytes(casefold(bytesToText(ka.subarray(keyStart, keyEnd))));
      return this.addKeyBytes(folded, valOff, valLen, line);
    }
    const total = klen + (this.nul ? 1 : 0);
    if (this.nul) ka[keyEnd] = 0;
    if (total > this.maxKey) return this.longKey(Buffer.from(ka.subarray(keyStart, keyStart + total)), src.subarray(valOff, valOff + valLen), this.nul, line);
    e.addAt(keyStart, total, VAL_SOURCE, valOff, valLen, this.nul ? 1 : 0, line);
    return undefined;
  }

  /** A key too long for LMDB: fatal for lmdb: (as Postfix), a stand-in for hash:/btree:. */
  private longKey(key: Buffer, value: Uint8Array, nul: boolean, line: number): string | undefined {
    if (this.target.kind === 'lmdb' || !needsStandIn(key.length)) return this.sizeError();
    this.entries.add(standInKey(key), wrapValue(key, value), nul ? 1 : 0, line);
    return undefined;
  }

  private addKeyBytes(folded: Buffer, valOff: number, valLen: number, line: number): string | undefined {
    const e = this.entries;
    const total = folded.length + (this.nul ? 1 : 0);
    const at = e.keySpace(total);
    folded.copy(e.keyArena, at);
    if (this.nul) e.keyArena[at + folded.length] = 0;
    if (total > this.maxKey) {
      const value = this.entries.source.subarray(valOff, valOff + valLen);
      return this.longKey(Buffer.from(e.keyArena.subarray(at, at + total)), value, this.nul, line);
    }
    e.addRaw(total, VAL_SOURCE, valOff, valLen, this.nul ? 1 : 0, line);
    return undefined;
  }

  /**
   * Adds a record given as text (postalias values, -F contents, the "@" and
   * YP_* entries). fold and nul override the table's defaults.
   */
  addText(key: string, value: string | Buffer, line: number, opts: { fold?: boolean; nul?: boolean } = {}): string | undefined {
    const fold = opts.fold ?? this.foldAscii;
    const nul = opts.nul ?? this.nul;
    let k = key;
    if (fold) k = this.foldUtf8 ? casefold(k) : k.replace(/[A-Z]+/g, (m) => m.toLowerCase());
    const kb = textToBytes(k);
    const keyBytes = nul ? Buffer.concat([kb, Buffer.from([0])]) : kb;
    const valueBytes = typeof value === 'string' ? textToBytes(value) : value;
    if (keyBytes.length > this.maxKey) return this.longKey(keyBytes, valueBytes, nul, line);
    this.entries.add(keyBytes, valueBytes, nul ? 1 : 0, line);
    return undefined;
  }

  /** Key of record i as Postfix names it in messages (folded, without the NUL). */
  private keyText(i: number): string {
    let k = this.entries.key(i);
    if (isStandIn(k)) k = unwrapValue(this.entries.value(i))?.key ?? k;
    const z = k.indexOf(0);
    return bytesToText(z >= 0 ? k.subarray(0, z) : k);
  }

  /**
   * Orders the records, settles duplicates as -r/-w/default say (keep the
   * last, keep the first silently, keep the first and warn), and returns
   * the surviving order plus the duplicate warnings.
   */
  private settle(): { order: Uint32Array; count: number; warnings: LineMessage[] } {
    const e = this.entries;
    const order = sortedOrder(e);
    const flags = this.target.dictFlags;
    const replace = (flags & DICT_FLAG_DUP_REPLACE) !== 0;
    const quiet = (flags & DICT_FLAG_DUP_IGNORE) !== 0;
    const label = storeLabel(this.target.kind, this.target.name);
    const warnings: LineMessage[] = [];
    let out = 0;
    for (let j = 0; j < order.length; ) {
      let run = j + 1;
      while (run < order.length && e.keysEqual(order[j]!, order[run]!)) run++;
      if (run - j > 1 && !replace && !quiet) {
        for (let d = j + 1; d < run; d++) {
          warnings.push({ line: e.line[order[d]!]!, text: `${label}: duplicate entry: "${this.keyText(order[d]!)}"` });
        }
      }
      order[out++] = replace ? order[run - 1]! : order[j]!;
      j = run;
    }
    return { order, count: out, warnings };
  }

  /** The duplicate warnings alone, when a fatal error stops the build before anything is written. */
  duplicateWarnings(): LineMessage[] {
    return this.settle().warnings;
  }

  /**
   * Postfix opens the old table for writing before it reads the source: a
   * table it may not write ends the build at once. Berkeley DB reports
   * "open PATH", LMDB "open database PATH". Undefined when writable or new.
   */
  checkWritable(): string | undefined {
    try {
      accessSync(this.path, fsConstants.W_OK);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      if (err.code === 'ENOENT') return undefined;
      return `${this.target.kind === 'lmdb' ? 'open database' : 'open'} ${this.path}: ${errnoText(err)}`;
    }
    return undefined;
  }

  /** Writes the table: temporary file, fsync, rename over the old table, fsync the directory. */
  finish(perm: TablePermissions, phase: (what: string) => void = () => undefined): BuildResult {
    phase(`sorting ${this.entries.count} records`);
    const { order, count, warnings } = this.settle();
    phase(`laying out ${count} records`);
    const image = buildLmdbImage(this.entries, order, count, this.target.mapSize, KIND_MARKER[this.target.kind]);
    phase(`writing ${Math.round(image.size / 1048576)} MB to ${this.path}`);
    const err = writeTableFile(this.path, image.chunks, perm);
    if (err) return { ok: false, warnings, fatal: err };
    return { ok: true, warnings };
  }
}

export interface TablePermissions {
  /** Mode for a table that does not exist yet. */
  mode: number;
  /** Owner for a new table (postmap run by root on someone's source file). */
  uid?: number;
  gid?: number;
}

/** Replaces path with the given bytes; an existing table keeps its mode and owner, as Postfix's in-place rebuild does. */
function writeTableFile(path: string, chunks: Buffer[], perm: TablePermissions): string | undefined {
  const tmp = `${path}.tmp${process.pid}`;
  let mode = perm.mode;
  let uid = perm.uid;
  let gid = perm.gid;
  try {
    const old = statSync(path);
    mode = old.mode & 0o7777;
    uid = old.uid;
    gid = old.gid;
  } catch {
    /* a new table */
  }
  let fd: number | undefined;
  try {
    fd = openSync(tmp, 'w', mode);
    for (let i = 0; i < chunks.length; i += 512) writeAll(fd, chunks.slice(i, i + 512));
    fchmodSync(fd, mode);
    if (uid !== undefined && gid !== undefined && process.getuid?.() === 0) chownSync(tmp, uid, gid);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, path);
  } catch (e) {
    if (fd !== undefined) closeSync(fd);
    try {
      unlinkSync(tmp);
    } catch {
      /* never created */
    }
    return `open database ${path}: ${errnoText(e as NodeJS.ErrnoException)}`;
  }
  fsyncDir(dirname(path) || '.');
  return undefined;
}

function writeAll(fd: number, bufs: Buffer[]): void {
  let pending = bufs.filter((b) => b.length > 0);
  while (pending.length > 0) {
    let n = writevSync(fd, pending);
    const rest: Buffer[] = [];
    for (const b of pending) {
      if (n >= b.length) {
        n -= b.length;
        continue;
      }
      rest.push(n > 0 ? b.subarray(n) : b);
      n = 0;
    }
    pending = rest;
  }
}
