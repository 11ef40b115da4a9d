// What postmap.c and postalias.c share: reading main.cf after the options,
// opening tables for queries (lazily, one map at a time, as Postfix does),
// the -q/-q -/-d/-d -/-s loops with their exact output and exit statuses,
// the bulk-build type check, permissions of new tables, and the progress
// line shown on a terminal. Reads stdin and main.cf; tables via the registry.
import { isAscii, isUtf8 } from 'node:buffer';
import { fstatSync, readFileSync } from 'node:fs';
import { Config, ConfigError } from '../config/config.js';
import {
  DICT_FLAG_SRC_RHS_IS_FILE, DICT_FLAG_UTF8_ACTIVE, O_CREAT, O_RDONLY, O_RDWR, STDERR_DICT_ENV, isSurrogate,
  type Dict, type DictEnv, type LookupResult,
} from '../dict/dict.js';
import { setDictMainConfig } from '../dict/cfg-parser.js';
import { dictOpen3, isDictType, isMkmapType, parseDictSpec } from '../dict/registry.js';
import { bytesToText, textToBytes } from '../dict/utf8.js';
import { CorruptTable } from '../dict/lmdb-reader.js';
import type { RawBatchDict } from '../dict/lmdb-store.js';
import { writeSync } from 'node:fs';
import { FatalExit, msgFatal, msgWarn, setMsgUtf8, stderrLog } from '../util/msg.js';
import { flushOut } from '../util/output.js';

export interface ToolConfig {
  config: Config;
  dbType: string;
  mapSize: number;
}

/** %m for a table failure that names no cause (Postfix's errno after dict_fail and friends). */
const NO_REASON = 'Application error';

/** Postfix's VSTREAM buffer: stdout is written in chunks of this size. */
const VSTREAM_BUFSIZE = 4096;
let pending: Buffer[] = [];
let pendingLen = 0;

/**
 * Writes command output as Postfix's buffered VSTREAM does: whole 4096-byte
 * chunks as they fill, the rest at emitFlush(). A fatal error in between
 * loses that rest, exactly as it does in Postfix. Text holding bytes that
 * are not UTF-8 goes out as those bytes.
 */
export function emit(text: string): void {
  const b = text.isWellFormed() ? Buffer.from(text, 'utf8') : textToBytes(text);
  pending.push(b);
  pendingLen += b.length;
  if (pendingLen >= 4 * VSTREAM_BUFSIZE) drain(false);
}

/** emit() for bytes already encoded. */
export function emitBytes(b: Buffer): void {
  pending.push(b);
  pendingLen += b.length;
  if (pendingLen >= 4 * VSTREAM_BUFSIZE) drain(false);
}

/** vstream_fflush(VSTREAM_OUT). */
export function emitFlush(): void {
  drain(true);
}

function drain(all: boolean): void {
  if (pendingLen === 0) return;
  const buf = pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingLen);
  const n = all ? buf.length : buf.length - (buf.length % VSTREAM_BUFSIZE);
  flushOut();
  let off = 0;
  try {
    while (off < n) off += writeSync(1, buf, off, n - off);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPIPE') throw e;
  }
  pending = n < buf.length ? [buf.subarray(n)] : [];
  pendingLen = buf.length - n;
}

/**
 * What this command hands the tables it opens: stderr for their warnings,
 * main.cf's smtputf8_enable, and (dict_allow_surrogate off) the end of the
 * program at the first table that cannot be opened. Set by readToolConfig;
 * state of the command's edge, as the program name is.
 */
let toolDictEnv: DictEnv = STDERR_DICT_ENV;

/** The env of this command's tables (after readToolConfig). */
export function toolEnv(): DictEnv {
  return toolDictEnv;
}

/** mail_conf_read(): main.cf from -c DIR or $MAIL_CONFIG; sets the UTF-8 switch. */
export function readToolConfig(configDir: string | undefined): ToolConfig {
  let config: Config;
  try {
    config = Config.load(configDir);
  } catch (e) {
    if (e instanceof ConfigError) msgFatal(e.message);
    throw e;
  }
  const utf8 = config.getBool('smtputf8_enable');
  setMsgUtf8(utf8);
  toolDictEnv = { log: stderrLog, utf8, onOpenFailure: (reason) => msgFatal(reason) };
  setDictMainConfig(config);
  const mapSize = Number(config.get('lmdb_map_size')) || 16777216;
  return { config, dbType: config.get('default_database_type') || 'hash', mapSize };
}

/** "type:name" from an argument, the default type when there is no colon (split_at). */
export function mapArg(arg: string, dbType: string): { type: string; name: string } {
  const colon = arg.indexOf(':');
  if (colon < 0) return { type: dbType, name: arg };
  return { type: arg.slice(0, colon), name: arg.slice(colon + 1) };
}

/** dict_open3 for a command: a table that cannot be opened is fatal, with its reason. */
export async function openOrDie(type: string, name: string, openFlags: number, dictFlags: number): Promise<Dict> {
  if (type === '' || name === '') {
    const p = parseDictSpec(`${type}:${name}`);
    if ('error' in p) msgFatal(p.error);
  }
  const d = await dictOpen3(type, name, openFlags, dictFlags, toolDictEnv);
  if (isSurrogate(d)) msgFatal(d.openError);
  return d;
}

/** All of standard input. */
export function readStdin(): Buffer {
  try {
    return readFileSync(0);
  } catch {
    return Buffer.alloc(0);
  }
}

/** The lines of standard input, as vstring_get_nonl reads them (a last line without newline counts). */
export function stdinLines(data: Buffer = readStdin()): string[] {
  if (data.length === 0) return [];
  if (isUtf8(data)) {
    const lines = data.toString('utf8').split('\n');
    if (data[data.length - 1] === 10) lines.pop();
    return lines;
  }
  const lines: string[] = [];
  let pos = 0;
  while (pos < data.length) {
    let nl = data.indexOf(10, pos);
    if (nl < 0) nl = data.length;
    lines.push(bytesToText(data.subarray(pos, nl)));
    pos = nl + 1;
  }
  return lines;
}

async function lookup(d: Dict, key: string): Promise<LookupResult> {
  return d.lookup(key);
}

/** A lookup result as postmap prints it; undefined when not found; fatal on a table error. */
function resultValue(d: Dict, r: LookupResult, key: string, dictFlags: number, label: { type: string; name: string }): string | undefined {
  if (r.status === 'error') {
    if (r.fatal !== undefined) msgFatal(r.fatal);
    if (r.reason?.startsWith('error reading ')) msgFatal(r.reason);
    msgFatal(r.error === 'config' ? `table ${d.type}:${d.name}: query error` : `table ${d.type}:${d.name}: query error: ${r.reason ?? NO_REASON}`);
  }
  if (r.status !== 'found') return undefined;
  let value = r.value;
  if (dictFlags & DICT_FLAG_SRC_RHS_IS_FILE) {
    const decoded = decodeBase64Value(value);
    if (decoded === undefined) {
      msgWarn(`table ${d.type}:${d.name}: key ${key}: malformed BASE64 value: ${value.slice(0, 30)}`);
      msgFatal(`table ${d.type}:${d.name}: query error`);
    }
    value = decoded;
  }
  if (value === '') {
    msgWarn(`table ${label.type}:${label.name}: key ${key}: empty string result is not allowed`);
    msgWarn(`table ${label.type}:${label.name} should return NO RESULT in case of NOT FOUND`);
  }
  return value;
}

/** Postfix's base64_decode: strict alphabet and padding; undefined when malformed. */
export function decodeBase64Value(v: string): string | undefined {
  if (v.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(v)) return undefined;
  return bytesToText(Buffer.from(v, 'base64'));
}

/** postmap -q key: the first map that has the key answers; exit 0 when found. */
export async function queryOne(maps: string[], key: string, dbType: string, dictFlags: number): Promise<number> {
  for (const arg of maps) {
    const { type, name } = mapArg(arg, dbType);
    const d = await openOrDie(type, name, O_RDONLY, dictFlags);
    const value = resultValue(d, await lookup(d, key), key, dictFlags, { type, name });
    if (value !== undefined) {
      emit(`${value}\n`);
      emitFlush();
      await d.close();
      return 0;
    }
    await d.close();
  }
  return 1;
}

/** postmap -q - (and postalias): keys from stdin, maps opened when first needed. */
export async function queryStdin(maps: string[], dbType: string, dictFlags: number, format: (k: string, v: string) => string): Promise<number> {
  const dicts: Array<Dict | undefined> = new Array(maps.length);
  let foundAny = false;
  const input = readStdin();
  if (maps.length === 1 && !(dictFlags & DICT_FLAG_SRC_RHS_IS_FILE)) {
    const { type, name } = mapArg(maps[0]!, dbType);
    const d = (dicts[0] = await openOrDie(type, name, O_RDONLY, dictFlags));
    const fast = rawQueries(d, input, format);
    if (fast !== undefined) {
      await d.close();
      return fast;
    }
  }
  const keys = stdinLines(input);
  if (maps.length === 1 && keys.length > 1) {
    let d = dicts[0];
    if (!d) {
      const { type, name } = mapArg(maps[0]!, dbType);
      d = dicts[0] = await openOrDie(type, name, O_RDONLY, dictFlags);
    }
    if (d.lookupBatch) {
      const results = await d.lookupBatch(keys);
      for (let i = 0; i < keys.length; i++) {
        const value = resultValue(d, results[i]!, keys[i]!, dictFlags, d);
        if (value !== undefined) {
          emit(format(keys[i]!, value));
          foundAny = true;
        }
      }
      if (foundAny) emitFlush();
      await d.close();
      return foundAny ? 0 : 1;
    }
  }
  for (const key of keys) {
    for (let n = 0; n < maps.length; n++) {
      let d = dicts[n];
      if (!d) {
        const { type, name } = mapArg(maps[n]!, dbType);
        d = dicts[n] = await openOrDie(type, name, O_RDONLY, dictFlags);
      }
      let r = d.lookup(key);
      if (r instanceof Promise) r = await r;
      const value = resultValue(d, r, key, dictFlags, d);
      if (value !== undefined) {
        emit(format(key, value));
        foundAny = true;
        break;
      }
    }
  }
  if (foundAny) emitFlush();
  for (const d of dicts) if (d) await d.close();
  return foundAny ? 0 : 1;
}

/**
 * postmap -q - on an indexed table, all in bytes: ASCII keys need nothing
 * from the UTF-8 layer but the folding the table does itself, and values
 * are checked at once. undefined when this shortcut does not apply.
 */
function rawQueries(d: Dict, input: Buffer, format: (k: string, v: string) => string): number | undefined {
  if (!('lookupBatchRaw' in d) || input.length === 0 || !isAscii(input)) return undefined;
  const tab = format('K', 'V');
  if (tab !== 'K\tV\n' && tab !== 'K:\tV\n') return undefined;
  const sep = Buffer.from(tab.slice(1, -2));
  const lines = input[input.length - 1] === 10 ? Buffer.from(input) : Buffer.concat([input, Buffer.from('\n')]);
  const answers = (d as RawBatchDict).lookupBatchRaw(lines);
  if (!answers) return undefined;
  if (d.flags & DICT_FLAG_UTF8_ACTIVE && !isUtf8(answers.vals)) return undefined;
  const { start, end, vals, lineStart } = answers;
  const n = start.length;
  const last = input[input.length - 1] === 10 ? input.length - 1 : input.length;
  let size = 0;
  for (let i = 0; i < n; i++) {
    if (start[i]! < 0) continue;
    const le = i + 1 < n ? lineStart[i + 1]! - 1 : last;
    size += le - lineStart[i]! + sep.length + end[i]! - start[i]! + 1;
  }
  const outBuf = Buffer.allocUnsafe(size);
  const o = assemble(outBuf, input, lineStart, last, sep, vals, start, end);
  let foundAny = false;
  for (let i = 0; i < n; i++) {
    if (start[i]! < 0) continue;
    foundAny = true;
    if (end[i] === start[i]) {
      const le = i + 1 < n ? lineStart[i + 1]! - 1 : last;
      const key = input.toString('latin1', lineStart[i]!, le);
      msgWarn(`table ${d.type}:${d.name}: key ${key}: empty string result is not allowed`);
      msgWarn(`table ${d.type}:${d.name} should return NO RESULT in case of NOT FOUND`);
    }
  }
  emitBytes(outBuf.subarray(0, o));
  if (foundAny) emitFlush();
  return foundAny ? 0 : 1;
}

/** The output of rawQueries: "key SEP value NL" for each key found, in input order. */
function assemble(outBuf: Buffer, input: Buffer, lineStart: Uint32Array, last: number, sep: Buffer,
  vals: Buffer, start: Int32Array, end: Int32Array): number {
  const n = start.length;
  let o = 0;
  for (let i = 0; i < n; i++) {
    const vs = start[i]!;
    if (vs < 0) continue;
    const ls = lineStart[i]!;
    const le = i + 1 < n ? lineStart[i + 1]! - 1 : last;
    for (let q = ls; q < le; q++) outBuf[o++] = input[q]!;
    for (let q = 0; q < sep.length; q++) outBuf[o++] = sep[q]!;
    for (let q = vs, qe = end[i]!; q < qe; q++) outBuf[o++] = vals[q]!;
    outBuf[o++] = 10;
  }
  return o;
}

function deleteOpenFlags(type: string): number {
  return type === 'proxy' ? O_RDWR | O_CREAT : O_RDWR;
}

async function deleteKey(d: Dict, key: string): Promise<boolean> {
  if (!d.delete) msgFatal(`table ${d.type}:${d.name}: delete error: Operation not supported`);
  const r = await d.delete(key);
  if (r.status === 'error') {
    if (r.reason?.startsWith('error deleting ')) msgFatal(r.reason);
    msgFatal(`table ${d.type}:${d.name}: delete error: ${r.reason ?? NO_REASON}`);
  }
  return r.status === 'ok';
}

/** postmap -d key: delete from every map; exit 0 when any had it. */
export async function deleteOne(maps: string[], key: string, dbType: string, dictFlags: number): Promise<number> {
  let any = false;
  for (const arg of maps) {
    const { type, name } = mapArg(arg, dbType);
    const d = await openOrDie(type, name, deleteOpenFlags(type), dictFlags);
    if (await deleteKey(d, key)) any = true;
    await d.close();
  }
  return any ? 0 : 1;
}

/** postmap -d -: keys from stdin; all maps are opened first. */
export async function deleteStdin(maps: string[], dbType: string, dictFlags: number): Promise<number> {
  const dicts: Dict[] = [];
  for (const arg of maps) {
    const { type, name } = mapArg(arg, dbType);
    dicts.push(await openOrDie(type, name, deleteOpenFlags(type), dictFlags));
  }
  let any = false;
  const run = async () => {
    for (const key of stdinLines()) {
      for (const d of dicts) if (await deleteKey(d, key)) any = true;
    }
  };
  await run();
  for (const d of dicts) await d.close();
  return any ? 0 : 1;
}

/** postmap -s: dumps the first map only, as Postfix does. */
export async function sequenceMap(arg: string, dbType: string, dictFlags: number, format: (k: string, v: string) => string): Promise<void> {
  const { type, name } = mapArg(arg, dbType);
  if (type === 'proxy') msgFatal("can't sequence maps via the proxy service");
  const d = await openOrDie(type, name, O_RDONLY, dictFlags);
  if (!d.sequence) msgFatal(`table ${d.type}:${d.name}: sequence operation is not supported`);
  let entries: Iterable<[string, string]>;
  try {
    entries = await d.sequence();
    for (const [k0, v0] of entries) {
      const k = k0;
      let v = v0;
      if (k === '') msgWarn(`table ${type}:${name}: empty lookup key value is not allowed`);
      else if (v === '') {
        msgWarn(`table ${type}:${name}: key ${k}: empty string result is not allowed`);
        msgWarn(`table ${type}:${name} should return NO RESULT in case of NOT FOUND`);
      }
      if (dictFlags & DICT_FLAG_SRC_RHS_IS_FILE) {
        const decoded = decodeBase64Value(v);
        if (decoded === undefined) {
          msgWarn(`table ${d.type}:${d.name}: key ${k}: malformed BASE64 value: ${v.slice(0, 30)}`);
          continue;
        }
        v = decoded;
      }
      emit(format(k, v));
    }
  } catch (e) {
    if (e instanceof FatalExit) throw e;
    if (e instanceof CorruptTable) msgWarn(`${d.type}:${d.name}: damaged table (${e.message}); rebuild it`);
    msgFatal(`table ${d.type}:${d.name}: sequence error: ${NO_REASON}`);
  }
  emitFlush();
  await d.close();
}

/** Every table type real Postfix 3.7.11 on Debian knows (postconf -m), for its bulk-mode messages. */
const POSTFIX_KNOWN_TYPES = new Set(['internal', 'memcache', 'nis', 'randmap']);

/** mkmap_open's type check, with Debian's dynamicmaps wording. */
export function checkMkmapType(type: string): void {
  if (isMkmapType(type)) return;
  if (isDictType(type) || POSTFIX_KNOWN_TYPES.has(type)) {
    msgFatal(`unsupported dictionary type: ${type} does not support bulk-mode creation.`);
  }
  msgFatal(`unsupported dictionary type: ${type}. Is the postfix-${type} package installed?`);
}

/**
 * Mode and owner for a new table: postmap copies the source file's group
 * and other read bits into its umask (unless -p), and run as root it
 * builds the table as the source file's owner (unless -o).
 */
export function newTablePermissions(sourceFd: number, savePerm: boolean, asOwner: boolean): { mode: number; uid?: number; gid?: number } {
  const st = fstatSync(sourceFd);
  let umask = 0o022;
  if (savePerm && st.isFile()) umask |= ~st.mode & 0o077;
  const perm: { mode: number; uid?: number; gid?: number } = { mode: 0o644 & ~umask };
  if (asOwner && process.getuid?.() === 0 && st.isFile()) {
    perm.uid = st.uid;
    perm.gid = st.gid;
  }
  return perm;
}

/** A "N lines read" line on a terminal, redrawn at most a few times a second; silent in a pipe. */
export class Progress {
  private readonly tty = process.stderr.isTTY === true;
  private readonly started = Date.now();
  private lastDraw = 0;
  private drawn = false;

  constructor(private readonly label: string) {}

  tick(lines: number): void {
    if (!this.tty) return;
    const now = Date.now();
    if (now - this.started < 400 || now - this.lastDraw < 200) return;
    this.lastDraw = now;
    const secs = (now - this.started) / 1000;
    process.stderr.write(`\r${this.label}: ${lines} lines read, ${Math.round(lines / secs)} lines/s\x1b[K`);
    this.drawn = true;
  }

  note(text: string): void {
    if (!this.tty || Date.now() - this.started < 400) return;
    process.stderr.write(`\r${this.label}: ${text}\x1b[K`);
    this.drawn = true;
  }

  done(): void {
    if (this.drawn) process.stderr.write('\r\x1b[K');
    this.drawn = false;
  }
}
