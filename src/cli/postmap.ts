// Mirrors Postfix's postmap/postmap.c: build a lookup table from a
// "key whitespace value" source file, update it from stdin (-i), query
// (-q, -q -, -b/-h/-m with a message on stdin), delete (-d), dump (-s).
// Options are taken in order with getopt, as Postfix does; main.cf is read
// after them. Touches the table files through src/dict, reads the source.
import { openSync, readFileSync } from 'node:fs';
import {
  DICT_FLAG_BULK_UPDATE, DICT_FLAG_DUP_IGNORE, DICT_FLAG_DUP_REPLACE, DICT_FLAG_DUP_WARN,
  DICT_FLAG_FOLD_FIX, DICT_FLAG_LOCK, DICT_FLAG_SRC_RHS_IS_FILE, DICT_FLAG_TRY0NULL,
  DICT_FLAG_TRY1NULL, DICT_FLAG_UTF8_ACTIVE, DICT_FLAG_UTF8_REQUEST, O_CREAT, O_RDONLY, O_RDWR,
  type Dict,
} from '../dict/dict.js';
import { filesToBase64 } from '../dict/file-values.js';
import { MapBuilder, type LineMessage } from '../dict/mkmap.js';
import { LogicalLineReader, cEnd, cstr, parseKeyValue } from '../dict/source.js';
import type { StoreKind } from '../dict/lmdb-store.js';
import { bytesToText, needUtf8Activation, validUtf8 } from '../dict/utf8.js';
import { errnoText } from '../util/errno.js';
import { Getopt } from '../util/getopt.js';
import { runMain } from '../util/main.js';
import { msgFatal, msgWarn, setVerbose } from '../util/msg.js';
import { flushOut } from '../util/output.js';
import { mimeKeys } from './postmap-mime.js';
import {
  Progress, checkMkmapType, emit, emitFlush, deleteOne, deleteStdin, mapArg, newTablePermissions, openOrDie,
  queryOne, queryStdin, readToolConfig, sequenceMap, stdinLines, type ToolConfig,
} from './table-tool.js';

const FLAG_AS_OWNER = 1 << 0;
const FLAG_SAVE_PERM = 1 << 1;
const FLAG_HEADER_KEY = 1 << 2;
const FLAG_BODY_KEY = 1 << 3;
const FLAG_MIME_KEY = 1 << 4;
const FLAG_HB_KEY = FLAG_HEADER_KEY | FLAG_BODY_KEY;
const FLAG_ANY_KEY = FLAG_HB_KEY | FLAG_MIME_KEY;

function usage(prog: string): never {
  msgFatal(`usage: ${prog} [-bfFhimnNoprsuUvw] [-c config_dir] [-d key] [-q key] [map_type:]file...`);
}

interface BuildJob {
  type: string;
  name: string;
  postmapFlags: number;
  incremental: boolean;
  dictFlags: number;
  cfg: ToolConfig;
}

/** One parsed source record, or the warning that replaces it. */
type SourceRecord =
  | { kind: 'record'; buf: Buffer; keyStart: number; keyEnd: number; valStart: number; valEnd: number; lineno: number; keyPlain: boolean }
  | { kind: 'skip' };

const SKIP: SourceRecord = Object.freeze({ kind: 'skip' });
/** parseSourceLine's result, reused from line to line. */
const RECORD = { kind: 'record' as const, buf: Buffer.alloc(0) as Buffer, keyStart: 0, keyEnd: 0, valStart: 0, valEnd: 0, lineno: 0, keyPlain: false };

/** The per-line checks and split of postmap(): warnings go to warn(line, text). */
function parseSourceLine(
  line: { buf: Buffer; start: number; end: number; lineno: number },
  path: string, utf8Check: boolean, warn: (line: number, text: string) => void,
): SourceRecord {
  const { buf, start, lineno } = line;
  if (utf8Check && !validUtf8(buf, start, line.end)) {
    warn(lineno, `${path}, line ${lineno}: non-UTF-8 input "${cstr(buf.subarray(start, line.end))}" -- ignoring this line`);
    return SKIP;
  }
  const end = cEnd(buf, start, line.end);
  const p = parseKeyValue(buf, start, end);
  if (!p.ok) {
    if (p.why === 'unbalanced') {
      warn(lineno, `${path}, line ${lineno}: unbalanced '"' in '${cstr(buf.subarray(start, end))}' -- ignoring this line`);
    } else {
      warn(lineno, `${path}, line ${lineno}: expected format: key whitespace value`);
    }
    return SKIP;
  }
  if (p.aliasLike) warn(lineno, `${path}, line ${lineno}: record is in "key: value" format; is this an alias file?`);
  const r = RECORD;
  r.buf = buf;
  r.keyStart = p.keyStart;
  r.keyEnd = p.keyEnd;
  r.valStart = p.valStart;
  r.valEnd = p.valEnd;
  r.lineno = lineno;
  r.keyPlain = p.keyPlain;
  return r;
}

/** The value of a record as stored: the text itself, or with -F the base64 of the named files. */
function recordValue(r: Extract<SourceRecord, { kind: 'record' }>, dictFlags: number, path: string, warn: (line: number, text: string) => void): string | undefined {
  const text = bytesToText(r.buf.subarray(r.valStart, r.valEnd));
  if (!(dictFlags & DICT_FLAG_SRC_RHS_IS_FILE)) return text;
  const f = filesToBase64(text);
  if ('error' in f) {
    warn(r.lineno, `${path}, line ${r.lineno}: ${f.error}: skipping this entry`);
    return undefined;
  }
  return f.b64;
}

/** postmap() in bulk mode: read the whole source, then write the table at once. */
function buildBulk(job: BuildJob): void {
  const { type, name } = job;
  if (type === 'proxy') msgFatal("can't create maps via the proxy service");
  let fd: number;
  try {
    fd = openSync(name, 'r');
  } catch (e) {
    msgFatal(`open ${name}: ${errnoText(e as NodeJS.ErrnoException)}`);
  }
  const perm = newTablePermissions(fd, (job.postmapFlags & FLAG_SAVE_PERM) !== 0, (job.postmapFlags & FLAG_AS_OWNER) !== 0);
  const src = readFileSync(fd);
  checkMkmapType(type);
  let dictFlags = job.dictFlags | DICT_FLAG_BULK_UPDATE | DICT_FLAG_DUP_WARN;
  if (needUtf8Activation(dictFlags)) dictFlags |= DICT_FLAG_UTF8_ACTIVE;
  const utf8Check = (dictFlags & DICT_FLAG_UTF8_ACTIVE) !== 0 && !validUtf8(src);
  const warnings: LineMessage[] = [];
  const warn = (line: number, text: string) => warnings.push({ line, text });
  // Warnings about whitespace-led lines name no line: pin them just before the next record.
  const unpinned: LineMessage[] = [];
  const reader = new LogicalLineReader(src, name, (text) => {
    const w = { line: Infinity, text };
    warnings.push(w);
    unpinned.push(w);
  });
  const builder = type === 'fail' ? undefined : new MapBuilder({ kind: type as StoreKind, name, dictFlags, mapSize: job.cfg.mapSize }, src);
  const progress = new Progress(`${type}:${name}`);
  let fatal: string | undefined;
  let count = 0;
  for (let line = reader.next(); line; line = reader.next()) {
    if ((++count & 0x3fff) === 0) progress.tick(count);
    if (unpinned.length > 0) for (const w of unpinned.splice(0)) w.line = line.lineno - 0.5;
    const r = parseSourceLine(line, name, utf8Check, warn);
    if (r.kind === 'skip') continue;
    if (!builder) {
      fatal = `table fail:${name}: write error: Application error`;
      break;
    }
    if (r.buf === src && !(dictFlags & DICT_FLAG_SRC_RHS_IS_FILE)) {
      fatal = builder.addFromSource(src, r.keyStart, r.keyEnd, r.valStart, r.valEnd - r.valStart, r.lineno, r.keyPlain);
    } else {
      const value = recordValue(r, dictFlags, name, warn);
      if (value === undefined) continue;
      fatal = builder.addText(bytesToText(r.buf.subarray(r.keyStart, r.keyEnd)), value, r.lineno);
    }
    if (fatal) break;
  }
  progress.note(`${count} lines read, writing ${type}:${name}`);
  let all = warnings;
  if (fatal === undefined && builder) {
    const result = builder.finish(perm, (what) => progress.note(what));
    all = warnings.concat(result.warnings);
    if (!result.ok) fatal = result.fatal;
  } else if (builder) {
    all = warnings.concat(builder.duplicateWarnings());
  }
  progress.done();
  all.sort((a, b) => a.line - b.line);
  for (const w of all) msgWarn(w.text);
  if (fatal !== undefined) msgFatal(fatal);
}

/** postmap -i: records from stdin applied one by one to the existing table. */
async function buildIncremental(job: BuildJob): Promise<void> {
  const { type, name } = job;
  const stdin = readFileSync(0);
  checkMkmapType(type);
  const dictFlags = job.dictFlags | DICT_FLAG_DUP_WARN;
  const d = await openOrDie(type, name, O_RDWR | O_CREAT, dictFlags);
  const utf8Check = (d.flags & DICT_FLAG_UTF8_ACTIVE) !== 0;
  const warn = (_line: number, text: string) => msgWarn(text);
  const reader = new LogicalLineReader(stdin, 'stdin', (text) => msgWarn(text));
  const apply = () => {
    for (let line = reader.next(); line; line = reader.next()) {
      const r = parseSourceLine(line, 'stdin', utf8Check, warn);
      if (r.kind === 'skip') continue;
      const value = recordValue(r, dictFlags, 'stdin', warn);
      if (value === undefined) continue;
      if (type === 'fail') msgFatal(`table fail:${name}: write error: Application error`);
      const res = d.update!(bytesToText(r.buf.subarray(r.keyStart, r.keyEnd)), value);
      if (!(res instanceof Promise) && res.status === 'error') msgFatal(`table ${type}:${name}: write error: ${res.reason ?? 'Input/output error'}`);
    }
  };
  const tx = (d as Dict & { transaction?: <T>(fn: () => T) => T }).transaction;
  if (tx) tx.call(d, apply);
  else apply();
  await d.close();
}

/** postmap -b/-h [-m] -q -: keys are the headers and body lines of the message on stdin. */
async function queryMessage(maps: string[], cfg: ToolConfig, postmapFlags: number, dictFlags: number): Promise<number> {
  const dicts: Array<Dict | undefined> = new Array(maps.length);
  let foundAny = false;
  const opts = { header: (postmapFlags & FLAG_HEADER_KEY) !== 0, body: (postmapFlags & FLAG_BODY_KEY) !== 0, mime: (postmapFlags & FLAG_MIME_KEY) !== 0 };
  for (const key of mimeKeys(stdinLines(), opts)) {
    for (let n = 0; n < maps.length; n++) {
      let d = dicts[n];
      if (!d) {
        const { type, name } = mapArg(maps[n]!, cfg.dbType);
        d = dicts[n] = await openOrDie(type, name, O_RDONLY, dictFlags);
      }
      const r = await d.lookup(key.text);
      if (r.status === 'found') {
        if (r.value === '') {
          msgWarn(`table ${d.type}:${d.name}: key ${key.text}: empty string result is not allowed`);
          msgWarn(`table ${d.type}:${d.name} should return NO RESULT in case of NOT FOUND`);
        }
        emit(`${key.text}\t${r.value}\n`);
        foundAny = true;
        break;
      }
      if (r.status === 'error') msgFatal(`table ${d.type}:${d.name}: query error`);
    }
  }
  if (foundAny) emitFlush();
  for (const d of dicts) if (d) await d.close();
  return foundAny ? 0 : 1;
}

async function postmapMain(argv: string[]): Promise<number> {
  const prog = 'postmap';
  let postmapFlags = FLAG_AS_OWNER | FLAG_SAVE_PERM;
  let incremental = false;
  let dictFlags = DICT_FLAG_DUP_WARN | DICT_FLAG_FOLD_FIX | DICT_FLAG_UTF8_REQUEST;
  let query: string | undefined;
  let delkey: string | undefined;
  let sequence = false;
  let forceUtf8 = false;
  let configDir: string | undefined;
  let verbose = process.env.MAIL_VERBOSE ? 1 : 0;
  const g = new Getopt(argv, 'bc:d:fFhimnNopq:rsuUvw');
  for (const { opt, arg } of g) {
    switch (opt) {
      case 'N': dictFlags = (dictFlags | DICT_FLAG_TRY1NULL) & ~DICT_FLAG_TRY0NULL; break;
      case 'b': postmapFlags |= FLAG_BODY_KEY; break;
      case 'c': configDir = arg!; process.env.MAIL_CONFIG = arg!; break;
      case 'd':
        if (sequence || query !== undefined || delkey !== undefined) msgFatal('specify only one of -s -q or -d');
        delkey = arg!;
        break;
      case 'f': dictFlags &= ~DICT_FLAG_FOLD_FIX; break;
      case 'F': dictFlags |= DICT_FLAG_SRC_RHS_IS_FILE; break;
      case 'h': postmapFlags |= FLAG_HEADER_KEY; break;
      case 'i': incremental = true; break;
      case 'm': postmapFlags |= FLAG_MIME_KEY; break;
      case 'n': dictFlags = (dictFlags | DICT_FLAG_TRY0NULL) & ~DICT_FLAG_TRY1NULL; break;
      case 'o': postmapFlags &= ~FLAG_AS_OWNER; break;
      case 'p': postmapFlags &= ~FLAG_SAVE_PERM; break;
      case 'q':
        if (sequence || query !== undefined || delkey !== undefined) msgFatal('specify only one of -s -q or -d');
        query = arg!;
        break;
      case 'r': dictFlags = (dictFlags & ~(DICT_FLAG_DUP_WARN | DICT_FLAG_DUP_IGNORE)) | DICT_FLAG_DUP_REPLACE; break;
      case 's':
        if (query !== undefined || delkey !== undefined) msgFatal('specify only one of -s or -q or -d');
        sequence = true;
        break;
      case 'u': dictFlags &= ~DICT_FLAG_UTF8_REQUEST; break;
      case 'U': forceUtf8 = true; break;
      case 'v': verbose++; break;
      case 'w': dictFlags = (dictFlags & ~(DICT_FLAG_DUP_WARN | DICT_FLAG_DUP_REPLACE)) | DICT_FLAG_DUP_IGNORE; break;
      default: usage(prog);
    }
  }
  setVerbose(verbose);
  const cfg = readToolConfig(configDir);
  if ((query === undefined || query !== '-') && postmapFlags & FLAG_ANY_KEY) msgFatal('specify -b -h or -m only with "-q -"');
  if ((postmapFlags & FLAG_ANY_KEY) !== 0 && (postmapFlags & FLAG_ANY_KEY) === (postmapFlags & FLAG_MIME_KEY)) {
    msgWarn('ignoring -m option without -b or -h');
  }
  if (postmapFlags & (FLAG_ANY_KEY & ~FLAG_MIME_KEY) && !forceUtf8) dictFlags &= ~(DICT_FLAG_UTF8_REQUEST | DICT_FLAG_UTF8_ACTIVE);
  const maps = argv.slice(g.optind);
  if (delkey !== undefined) {
    if (maps.length < 1) usage(prog);
    if (delkey === '-') return deleteStdin(maps, cfg.dbType, dictFlags | DICT_FLAG_LOCK);
    return deleteOne(maps, delkey, cfg.dbType, dictFlags | DICT_FLAG_LOCK);
  }
  if (query !== undefined) {
    if (maps.length < 1) usage(prog);
    if (query === '-') {
      if (postmapFlags & FLAG_HB_KEY) return queryMessage(maps, cfg, postmapFlags, dictFlags | DICT_FLAG_LOCK);
      return queryStdin(maps, cfg.dbType, dictFlags | DICT_FLAG_LOCK, (k, v) => `${k}\t${v}\n`);
    }
    return queryOne(maps, query, cfg.dbType, dictFlags | DICT_FLAG_LOCK);
  }
  if (sequence) {
    if (maps.length < 1) return 1;
    await sequenceMap(maps[0]!, cfg.dbType, dictFlags | DICT_FLAG_LOCK, (k, v) => `${k}\t${v}\n`);
    return 0;
  }
  if (maps.length < 1) usage(prog);
  for (const arg of maps) {
    const { type, name } = mapArg(arg, cfg.dbType);
    const job: BuildJob = { type, name, postmapFlags, incremental, dictFlags, cfg };
    if (incremental) await buildIncremental(job);
    else buildBulk(job);
  }
  flushOut();
  return 0;
}

void runMain('postmap', postmapMain);
