// Mirrors Postfix's util/dict_lmdb.c and dict_db.c: hash:, btree: and lmdb:
// tables, all three stored as LMDB 0.9 files (FILE.db, FILE.lmdb). Keys are
// lowercased unless -f; NUL-terminated keys and values are tried as Postfix
// does (TRY1NULL/TRY0NULL). Read-only opens use the TypeScript reader; opens
// for update (postmap -i/-d, daemon caches) use lmdb-js, loaded only then.
// Touches FILE.db / FILE.lmdb (and lmdb-js's FILE.lmdb-lock when updating).
import { existsSync, statSync } from 'node:fs';
import {
  DICT_FLAG_DUP_IGNORE, DICT_FLAG_DUP_REPLACE, DICT_FLAG_DUP_WARN, DICT_FLAG_FIXED,
  DICT_FLAG_FOLD_FIX, DICT_FLAG_LOCK, DICT_FLAG_MULTI_WRITER, DICT_FLAG_TRY0NULL, DICT_FLAG_TRY1NULL,
  O_CREAT, O_RDWR, NOT_FOUND, found, lookupError, surrogateDict,
  type Dict, type LookupResult, type UpdateResult, STDERR_DICT_ENV, type DictEnv,
} from './dict.js';
import { CorruptTable, LmdbReader, type OpenFailure, type ValueRef } from './lmdb-reader.js';
import { KIND_MARKER, LMDB_MAX_KEY, LMDBJS_MAX_KEY } from './lmdb-format.js';
import { isAbsolute } from 'node:path';
import { EntryList, localityOrder } from './entries.js';
import { isStandIn, needsStandIn, standInKey, unwrapValue, wrapValue } from './long-keys.js';
import { bytesToText, lowercaseAscii, textToBytes } from './utf8.js';
import { errnoText } from '../util/errno.js';
import { getProgName, type MsgLog } from '../util/msg.js';

export type StoreKind = 'hash' | 'btree' | 'lmdb';

export const STORE_SUFFIX: Readonly<Record<StoreKind, string>> = { hash: '.db', btree: '.db', lmdb: '.lmdb' };

/** Largest key stored as itself (Postfix's liblmdb limit for lmdb:; longer hash:/btree: keys get a stand-in). */
export function maxKeyBytes(kind: StoreKind): number {
  return kind === 'lmdb' ? LMDB_MAX_KEY : LMDBJS_MAX_KEY;
}

/** liblmdb's text for a key it cannot take (empty, or too long to store). */
export const BAD_VALSIZE = 'MDB_BAD_VALSIZE: Unsupported size of key/DB name/data, or wrong DUPFIXED size';

/** dict_db names a table by its file (FILE.db), dict_lmdb by the name given. */
function dictName(kind: StoreKind, name: string): string {
  return kind === 'lmdb' ? name : name + STORE_SUFFIX[kind];
}

/** A stored record as the table's user sees it: stand-ins of long keys resolved. */
function visible(kind: StoreKind, k: Buffer, v: Buffer): [Buffer, Buffer] {
  if (kind !== 'lmdb' && isStandIn(k)) {
    const u = unwrapValue(v);
    if (u) return [u.key, u.value];
  }
  return [k, v];
}

/** How duplicate and size errors are worded for this kind: dict_db names the file, dict_lmdb the table. */
export function storeLabel(kind: StoreKind, name: string): string {
  return kind === 'lmdb' ? `lmdb:${name}` : `${name}${STORE_SUFFIX[kind]}`;
}

/** The advice that ends every "this file is not a usable table" message. */
export function rebuildHint(kind: StoreKind, name: string): string {
  const tool = /^(postalias|newaliases|sendmail)$/.test(getProgName()) ? 'postalias' : 'postmap';
  return `rebuild it with "${tool} ${kind}:${name}"`;
}

/** The text of a failed open, as Postfix words it, plus the rebuild advice for foreign files. */
export function openFailureText(kind: StoreKind, name: string, path: string, f: OpenFailure): string {
  if (f.error === 'errno') return `open database ${path}: ${errnoText(f.err)}`;
  const lead = f.what === 'not an LMDB file' ? 'MDB_INVALID: File is not an LMDB file'
    : f.what.startsWith('Berkeley DB') ? `${f.what}, which this Postfix does not read (its ${kind}: tables are LMDB files)` : f.what;
  return `open database ${path}: ${lead}; ${rebuildHint(kind, name)}`;
}

/** Postfix's flag defaults for an opened table: fixed keys, and both NUL styles when none was chosen. */
function effectiveFlags(dictFlags: number): number {
  let flags = dictFlags | DICT_FLAG_FIXED | DICT_FLAG_MULTI_WRITER;
  if ((flags & (DICT_FLAG_TRY0NULL | DICT_FLAG_TRY1NULL)) === 0) flags |= DICT_FLAG_TRY0NULL | DICT_FLAG_TRY1NULL;
  return flags;
}

/** The C-string view of a stored value: up to the first NUL. */
function cstring(b: Buffer): string {
  const z = b.indexOf(0);
  return bytesToText(z < 0 ? b : b.subarray(0, z));
}

function withNul(b: Buffer): Buffer {
  const r = Buffer.allocUnsafe(b.length + 1);
  b.copy(r);
  r[b.length] = 0;
  return r;
}

/** Opens a table for the registry's type modules hash.ts, btree.ts and lmdb.ts. */
export async function openStore(kind: StoreKind, name: string, openFlags: number, dictFlags: number, env: DictEnv = STDERR_DICT_ENV): Promise<Dict> {
  const path = name + STORE_SUFFIX[kind];
  if (openFlags & O_RDWR) return openWritable(kind, name, path, openFlags, dictFlags, env.log);
  const r = LmdbReader.open(path);
  if (!(r instanceof LmdbReader)) return surrogateDict(kind, name, dictFlags, openFailureText(kind, name, path, r));
  if (wrongKind(kind, r.kindMarker)) {
    r.close();
    return bdbTypeMismatch(kind, name, path, dictFlags);
  }
  warnIfOlder(path, name, dictFlags, env.log);
  return new ReadOnlyStore(kind, dictName(kind, name), r, effectiveFlags(dictFlags), env.log);
}

/** A hash: table opened as btree: or the reverse, which Berkeley DB refuses. */
function wrongKind(kind: StoreKind, marker: number): boolean {
  return kind !== 'lmdb' && marker !== 0 && marker !== KIND_MARKER[kind];
}

/** Berkeley DB's own complaint on stderr, then the open failure Postfix reports. */
function bdbTypeMismatch(kind: StoreKind, name: string, path: string, dictFlags: number): Dict {
  process.stderr.write(`BDB0641 __db_meta_setup: ${isAbsolute(path) ? path : `./${path}`}: unexpected file type or format\n`);
  return surrogateDict(kind, name, dictFlags, `open database ${path}: Invalid argument`);
}

/** "database X is older than source file Y", when the source changed more than 100 s after the table. */
function warnIfOlder(path: string, source: string, dictFlags: number, log: MsgLog): void {
  if (!(dictFlags & DICT_FLAG_LOCK)) return;
  try {
    const db = statSync(path);
    const src = statSync(source);
    if (Math.floor(src.mtimeMs / 1000) > Math.floor(db.mtimeMs / 1000) && src.mtimeMs < Date.now() - 100_000) {
      log.warning(`database ${path} is older than source file ${source}`);
    }
  } catch {
    /* no source file: nothing to compare */
  }
}

/** The TRY1NULL/TRY0NULL probing shared by lookups and deletes: which key forms to try, in order. */
function keyForms(flags: number, key: Buffer): Array<{ bytes: Buffer; nul: boolean }> {
  const forms: Array<{ bytes: Buffer; nul: boolean }> = [];
  if (flags & DICT_FLAG_TRY1NULL) forms.push({ bytes: withNul(key), nul: true });
  if (flags & DICT_FLAG_TRY0NULL) forms.push({ bytes: key, nul: false });
  return forms;
}

function foldKey(flags: number, key: string): Buffer {
  return textToBytes(flags & DICT_FLAG_FOLD_FIX ? lowercaseAscii(key) : key);
}

/** A value's bytes as text, C-string style (up to the first NUL). */
function refText(ref: ValueRef): string {
  const b = ref.buf;
  let end = ref.start;
  while (end < ref.end && b[end] !== 0) end++;
  const text = b.toString('utf8', ref.start, end);
  // U+FFFD may stand for bytes that are not UTF-8: decode those exactly.
  return text.includes('\uFFFD') ? bytesToText(b.subarray(ref.start, end)) : text;
}

/**
 * The keys' UTF-8 bytes in one buffer, each followed by a NUL, ASCII letters
 * lowercased when fold is set. Lines from stdin cannot hold a newline, so
 * the whole batch is usually encoded with one call.
 */
function keyArena(keys: readonly string[], fold: boolean): EntryList {
  const joined = keys.join('\n');
  const bytes = joined.isWellFormed() ? Buffer.from(joined + '\n', 'utf8') : undefined;
  let count = 0;
  if (bytes) for (let j = bytes.indexOf(10); j >= 0; j = bytes.indexOf(10, j + 1)) count++;
  if (bytes && count === keys.length) return linesArena(bytes, fold);
  const e = new EntryList();
  for (const key of keys) {
    const kb = textToBytes(key);
    const at = e.keySpace(kb.length + 1);
    const ka = e.keyArena;
    kb.copy(ka, at);
    if (fold) for (let j = at; j < at + kb.length; j++) if (ka[j]! >= 65 && ka[j]! <= 90) ka[j]! += 32;
    ka[at + kb.length] = 0;
    e.addRaw(kb.length, 0, 0, 0, 0, 0);
    e.keyUsed++; // the NUL stays after the key
  }
  return e;
}

/** Keys given as lines (each ending in a newline) of a buffer we may change: newlines become NULs. */
function linesArena(bytes: Buffer, fold: boolean): EntryList {
  const e = new EntryList();
  // Folding and NUL-terminating with native string operations: a byte loop
  // in JavaScript runs unoptimized for much of a one-shot command.
  if (fold || bytes.includes(10)) {
    const text = bytes.toString('latin1');
    const folded = fold && /[A-Z]/.test(text) ? lowerAsciiLatin1(text) : text;
    bytes.write(folded.replaceAll('\n', '\0'), 0, 'latin1');
  }
  e.keyArena = bytes;
  let start = 0;
  for (let j = bytes.indexOf(0); j >= 0; j = bytes.indexOf(0, j + 1)) {
    e.keyUsed = start;
    e.addRaw(j - start, 0, 0, 0, 0, 0);
    start = j + 1;
  }
  e.keyUsed = bytes.length;
  return e;
}

/** ASCII lower case of a byte string (characters 0-255): only A-Z change. */
function lowerAsciiLatin1(s: string): string {
  return /[^\x00-\x7f]/.test(s) ? s.replace(/[A-Z]+/g, (m) => m.toLowerCase()) : s.toLowerCase();
}

/** Answers of lookupBatchRaw: per key, its value's bytes vals[start..end), or start -1; where each key's line starts. */
export interface RawAnswers {
  start: Int32Array;
  end: Int32Array;
  vals: Buffer;
  lineStart: Uint32Array;
}

/** Tables that answer many byte-string lookups without building strings (postmap -q -). */
export interface RawBatchDict extends Dict {
  /**
   * lines: the keys, each followed by a newline (the buffer is consumed).
   * undefined means "use lookup()": an empty key, a damaged table, or a
   * table that must report something in input order.
   */
  lookupBatchRaw(lines: Buffer): RawAnswers | undefined;
}

/** Read-only table on the TypeScript reader; follows a rebuild on the next lookup. */
class ReadOnlyStore implements Dict {
  private scratch = Buffer.allocUnsafe(2048);

  constructor(readonly type: StoreKind, readonly name: string, private reader: LmdbReader, public flags: number, private readonly log: MsgLog) {}

  private damaged(e: unknown): LookupResult {
    if (!(e instanceof CorruptTable)) throw e;
    const why = `${this.reader.path}: damaged table (${e.message}); ${rebuildHint(this.type, this.name)}`;
    this.log.warning(why);
    return lookupError('config', why);
  }

  /** The key's bytes in a buffer with one spare byte for the NUL; returns [buffer, length]. */
  private keyBytes(key: string): [Buffer, number] {
    const k = this.flags & DICT_FLAG_FOLD_FIX ? lowercaseAscii(key) : key;
    if (k.length * 3 < this.scratch.length && k.isWellFormed()) return [this.scratch, this.scratch.write(k, 0, 'utf8')];
    const b = textToBytes(k);
    const r = Buffer.alloc(b.length + 1);
    b.copy(r);
    return [r, b.length];
  }

  lookup(key: string): LookupResult {
    return this.lookupOne(key);
  }

  /** The lookup itself; lookupBatch calls it directly, past any wrapper put on lookup(). */
  private lookupOne(key: string): LookupResult {
    const bad = this.reader.refresh();
    if (bad) return this.damaged(new CorruptTable(bad));
    const [kb, klen] = this.keyBytes(key);
    kb[klen] = 0;
    try {
      return this.probe(kb, 0, klen);
    } catch (e) {
      return this.damaged(e);
    }
  }

  /** Lookups in key order (each leaf page read once), results in the caller's order. */
  lookupBatch(keys: readonly string[]): LookupResult[] {
    // An empty key can be an error (lmdb:), which must come in input order.
    if (keys.includes('')) return keys.map((k) => this.lookupOne(k));
    const bad = this.reader.refresh(true);
    if (bad) return keys.map(() => this.damaged(new CorruptTable(bad)));
    // The keys' bytes go into one arena and are ordered by the same radix
    // sort that builds tables: no per-key buffers, no comparator calls.
    const e = keyArena(keys, (this.flags & DICT_FLAG_FOLD_FIX) !== 0);
    const order = localityOrder(e);
    const results: LookupResult[] = new Array(keys.length);
    try {
      for (let j = 0; j < order.length; j++) {
        const i = order[j]!;
        results[i] = this.probe(e.keyArena, e.keyOff[i]!, e.keyLen[i]!);
      }
    } catch (err) {
      const r = this.damaged(err);
      for (let i = 0; i < keys.length; i++) results[i] ??= r;
    }
    return results;
  }

  lookupBatchRaw(lines: Buffer): RawAnswers | undefined {
    if (this.reader.refresh(true)) return undefined;
    const e = linesArena(lines, (this.flags & DICT_FLAG_FOLD_FIX) !== 0);
    const n = e.count;
    for (let i = 0; i < n; i++) if (e.keyLen[i] === 0 || e.keyLen[i]! + 1 > LMDBJS_MAX_KEY) return undefined;
    const order = localityOrder(e);
    const start = new Int32Array(n).fill(-1);
    const end = new Int32Array(n);
    const out = { buf: Buffer.allocUnsafe(1 << 16), used: 0 };
    const t1 = (this.flags & DICT_FLAG_TRY1NULL) !== 0;
    const t0 = (this.flags & DICT_FLAG_TRY0NULL) !== 0;
    try {
      const form = this.reader.getMany(e.keyArena, e.keyOff, e.keyLen, order, t1 && t0 ? 2 : t1 ? 1 : 0, start, end, out);
      if (form === 1) this.flags &= ~DICT_FLAG_TRY0NULL;
      if (form === 0) this.flags &= ~DICT_FLAG_TRY1NULL;
    } catch (err) {
      if (err instanceof CorruptTable) return undefined;
      throw err;
    }
    const vals = out.buf;
    const used = out.used;
    return { start, end, vals: vals.subarray(0, used), lineStart: e.keyOff };
  }

  /** A lookup of a key too long to be stored as itself (hash:/btree: stand-ins). */
  private probeLong(form: Buffer): ValueRef | undefined {
    if (this.type === 'lmdb' || !needsStandIn(form.length)) return undefined;
    const v = this.reader.get(standInKey(form));
    if (!v) return undefined;
    const u = unwrapValue(Buffer.from(v.buf.subarray(v.start, v.end)));
    if (!u || !u.key.equals(form)) return undefined;
    return { buf: u.value, start: 0, end: u.value.length };
  }

  /** TRY1NULL then TRY0NULL lookups of arena[off..off+len), with a NUL already at off+len. */
  private probe(kb: Buffer, off: number, len: number): LookupResult {
    if (len + 1 > LMDBJS_MAX_KEY) {
      for (const nul of [true, false]) {
        if (!(this.flags & (nul ? DICT_FLAG_TRY1NULL : DICT_FLAG_TRY0NULL))) continue;
        const v = this.probeLong(Buffer.from(kb.subarray(off, off + len + (nul ? 1 : 0))));
        if (v) {
          this.flags &= nul ? ~DICT_FLAG_TRY0NULL : ~DICT_FLAG_TRY1NULL;
          return found(refText(v));
        }
      }
      return NOT_FOUND;
    }
    if (this.flags & DICT_FLAG_TRY1NULL) {
      const v = this.reader.get(kb, len + 1, off);
      if (v !== undefined) {
        this.flags &= ~DICT_FLAG_TRY0NULL;
        return found(refText(v));
      }
    }
    if (this.flags & DICT_FLAG_TRY0NULL) {
      if (len === 0 && this.type === 'lmdb') return lookupError('config', `error reading lmdb:${this.name}: ${BAD_VALSIZE}`);
      const v = this.reader.get(kb, len, off);
      if (v !== undefined) {
        this.flags &= ~DICT_FLAG_TRY1NULL;
        return found(refText(v));
      }
    }
    return NOT_FOUND;
  }

  sequence(): Iterable<[string, string]> {
    const bad = this.reader.refresh(true);
    if (bad) throw new CorruptTable(bad);
    const reader = this.reader;
    const kind = this.type;
    return (function* () {
      for (const [k0, v0] of reader.scan()) {
        const [k, v] = visible(kind, k0, v0);
        yield [cstring(k), v.length > 0 ? cstring(v) : ''] as [string, string];
      }
    })();
  }

  close(): void {
    this.reader.close();
  }
}

// ---- Updates through lmdb-js ------------------------------------------------

interface LmdbJsStore {
  getBinary(key: Buffer): Buffer | undefined;
  putSync(key: Buffer, value: Buffer, opts?: { noOverwrite?: boolean }): boolean;
  removeSync(key: Buffer): boolean;
  transactionSync<T>(fn: () => T): T;
  getRange(opts?: object): Iterable<{ key: Buffer; value: Buffer }>;
  close(): Promise<void>;
}

interface LmdbJsModule {
  open(opts: object): LmdbJsStore;
  version?: { major: number; minor: number; patch: number };
}

let lmdbJs: Promise<LmdbJsModule> | undefined;

/** Loads lmdb-js once; refuses (with the reason) a binary that writes a format Postfix cannot read. */
async function loadLmdbJs(): Promise<LmdbJsModule | { error: string }> {
  lmdbJs ??= import('lmdb') as unknown as Promise<LmdbJsModule>;
  const mod = await lmdbJs;
  if (mod.version && mod.version.patch >= 90) {
    return { error: 'the lmdb module was built for LMDB data format 2, which Postfix cannot read; run "npm rebuild" (scripts/build-lmdb.mjs builds it with LMDB_DATA_V1=true)' };
  }
  return mod;
}

async function openWritable(kind: StoreKind, name: string, path: string, openFlags: number, dictFlags: number, log: MsgLog): Promise<Dict> {
  if (!existsSync(path)) {
    if (!(openFlags & O_CREAT)) {
      const err = Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
      return surrogateDict(kind, name, dictFlags, openFailureText(kind, name, path, { error: 'errno', err }));
    }
  } else {
    // Never hand a foreign or damaged file to native code.
    const probe = LmdbReader.open(path);
    if (!(probe instanceof LmdbReader)) {
      if (probe.error === 'errno' || probe.what !== 'empty file') {
        return surrogateDict(kind, name, dictFlags, openFailureText(kind, name, path, probe));
      }
    } else {
      probe.close();
      if (wrongKind(kind, probe.kindMarker)) return bdbTypeMismatch(kind, name, path, dictFlags);
    }
  }
  const mod = await loadLmdbJs();
  if ('error' in mod) return surrogateDict(kind, name, dictFlags, mod.error);
  let db: LmdbJsStore;
  try {
    db = mod.open({ path, noSubdir: true, keyEncoding: 'binary', encoding: 'binary', cache: false, compression: false });
  } catch (e) {
    return surrogateDict(kind, name, dictFlags, `open database ${path}: ${(e as Error).message}`);
  }
  return new WritableStore(kind, dictName(kind, name), db, effectiveFlags(dictFlags), log);
}

/** A table open for update; one lmdb-js transaction per call unless inside transaction(). */
export class WritableStore implements Dict {
  constructor(readonly type: StoreKind, readonly name: string, private db: LmdbJsStore, public flags: number, private readonly log: MsgLog) {}

  /** Runs fn in one write transaction (postmap -i applies all of stdin at once). */
  transaction<T>(fn: () => T): T {
    return this.db.transactionSync(fn);
  }

  /** The key a form is stored under: itself, or the stand-in of a long hash:/btree: key. */
  private stored(form: Buffer): Buffer {
    return this.type !== 'lmdb' && needsStandIn(form.length) ? standInKey(form) : form;
  }

  /** The value stored under form's key, long-key wrapping removed. */
  private fetch(form: Buffer): Buffer | undefined {
    const v = this.db.getBinary(this.stored(form));
    if (v === undefined || this.type === 'lmdb' || !needsStandIn(form.length)) return v;
    const u = unwrapValue(v);
    return u && u.key.equals(form) ? u.value : undefined;
  }

  lookup(key: string): LookupResult {
    const k = foldKey(this.flags, key);
    for (const form of keyForms(this.flags, k)) {
      if (form.bytes.length === 0) return lookupError('config', `error reading ${this.type}:${this.name}: ${BAD_VALSIZE}`);
      const v = this.fetch(form.bytes);
      if (v !== undefined) {
        this.flags &= form.nul ? ~DICT_FLAG_TRY0NULL : ~DICT_FLAG_TRY1NULL;
        return found(cstring(v));
      }
    }
    return NOT_FOUND;
  }

  update(key: string, value: string): UpdateResult {
    const folded = this.flags & DICT_FLAG_FOLD_FIX ? lowercaseAscii(key) : key;
    let k = textToBytes(folded);
    let v = textToBytes(value);
    if ((this.flags & DICT_FLAG_TRY1NULL) && (this.flags & DICT_FLAG_TRY0NULL)) this.flags &= ~DICT_FLAG_TRY0NULL;
    if (this.flags & DICT_FLAG_TRY1NULL) {
      k = withNul(k);
      v = withNul(v);
    }
    if ((this.type === 'lmdb' && k.length > maxKeyBytes(this.type)) || k.length === 0) {
      const text = `error updating ${this.type}:${this.name}: ${BAD_VALSIZE}`;
      return { status: 'error', error: 'config', reason: text, fatal: text };
    }
    const storedKey = this.stored(k);
    if (storedKey !== k) v = wrapValue(k, v);
    const replace = (this.flags & DICT_FLAG_DUP_REPLACE) !== 0;
    const ok = this.db.putSync(storedKey, v, replace ? undefined : { noOverwrite: true });
    if (ok) return { status: 'ok' };
    if (this.flags & DICT_FLAG_DUP_IGNORE) return { status: 'duplicate' };
    const label = this.type === 'lmdb' ? `lmdb:${this.name}` : this.name;
    const text = `${label}: duplicate entry: "${folded}"`;
    if (this.flags & DICT_FLAG_DUP_WARN) {
      this.log.warning(text);
      return { status: 'duplicate' };
    }
    return { status: 'error', error: 'config', reason: text, fatal: text };
  }

  delete(key: string): UpdateResult {
    const k = foldKey(this.flags, key);
    for (const form of keyForms(this.flags, k)) {
      if (form.bytes.length === 0) return { status: 'error', error: 'config', reason: `error deleting from ${this.type}:${this.name}: ${BAD_VALSIZE}` };
      if (this.fetch(form.bytes) !== undefined && this.db.removeSync(this.stored(form.bytes))) {
        this.flags &= form.nul ? ~DICT_FLAG_TRY0NULL : ~DICT_FLAG_TRY1NULL;
        return { status: 'ok' };
      }
    }
    return { status: 'notfound' };
  }

  sequence(): Iterable<[string, string]> {
    const range = this.db.getRange({});
    const kind = this.type;
    return (function* () {
      for (const { key: k0, value: v0 } of range) {
        const [key, value] = visible(kind, k0, v0);
        yield [cstring(key), value.length > 0 ? cstring(value) : ''] as [string, string];
      }
    })();
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}
