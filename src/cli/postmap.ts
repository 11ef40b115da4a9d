// Mirrors Postfix's postmap/postmap.c: build a lookup table from a
// "key whitespace value" source file, update it from stdin (-i), query
// (-q, -q -, -b/-h/-m with a message on stdin), delete (-d), dump (-s).
// Options are taken in order with getopt, as Postfix does; main.cf is read
// after them. Touches the table files through src/dict, reads the source.
import { readFileSync } from 'node:fs';
import {
  DICT_FLAG_DUP_WARN, DICT_FLAG_SRC_RHS_IS_FILE, DICT_FLAG_UTF8_ACTIVE, DICT_FLAG_UTF8_REQUEST, O_CREAT, O_RDONLY, O_RDWR,
  type Dict,
} from '../dict/dict.js';
import { filesToBase64 } from '../dict/file-values.js';
import { MapBuilder, type LineMessage } from '../dict/mkmap.js';
import { LogicalLineReader, cEnd, cstr, parseKeyValue } from '../dict/source.js';
import type { StoreKind } from '../dict/lmdb-store.js';
import { bytesToText, validUtf8 } from '../dict/utf8.js';
import { Getopt } from '../util/getopt.js';
import { runMain } from '../util/main.js';
import { msgFatal, msgWarn, setVerbose } from '../util/msg.js';
import { mimeKeys } from './postmap-mime.js';
import {
  defaultTableOptions, finishBulk, openBulkSource, runTableCommand, tableOption, updateAndClose, updateOrDie,
} from './table-cmd.js';
import {
  Progress, checkMkmapType, emit, emitFlush, mapArg, openOrDie, readToolConfig, stdinLines, type ToolConfig,
} from './table-tool.js';

/** postmap's own FLAG_* bits, next to table-cmd.ts's FLAG_AS_OWNER and FLAG_SAVE_PERM. */
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
  const source = openBulkSource(type, name, job.postmapFlags, job.dictFlags);
  const { src, dictFlags, utf8Check } = source;
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
  const unwritable = builder?.checkWritable();
  if (unwritable !== undefined) msgFatal(unwritable);
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
  finishBulk(builder, source, progress, warnings, fatal);
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
  await updateAndClose(d, () => {
    for (let line = reader.next(); line; line = reader.next()) {
      const r = parseSourceLine(line, 'stdin', utf8Check, warn);
      if (r.kind === 'skip') continue;
      const value = recordValue(r, dictFlags, 'stdin', warn);
      if (value === undefined) continue;
      updateOrDie(d, type, name, bytesToText(r.buf.subarray(r.keyStart, r.keyEnd)), value);
    }
  });
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
  const o = defaultTableOptions();
  let forceUtf8 = false;
  const g = new Getopt(argv, 'bc:d:fFhimnNopq:rsuUvw');
  for (const { opt, arg } of g) {
    switch (opt) {
      case 'b': o.flags |= FLAG_BODY_KEY; break;
      case 'F': o.dictFlags |= DICT_FLAG_SRC_RHS_IS_FILE; break;
      case 'h': o.flags |= FLAG_HEADER_KEY; break;
      case 'm': o.flags |= FLAG_MIME_KEY; break;
      case 'U': forceUtf8 = true; break;
      default: if (!tableOption(o, opt, arg)) usage(prog);
    }
  }
  setVerbose(o.verbose);
  const cfg = readToolConfig(o.configDir);
  const postmapFlags = o.flags;
  if ((o.query === undefined || o.query !== '-') && postmapFlags & FLAG_ANY_KEY) msgFatal('specify -b -h or -m only with "-q -"');
  if ((postmapFlags & FLAG_ANY_KEY) !== 0 && (postmapFlags & FLAG_ANY_KEY) === (postmapFlags & FLAG_MIME_KEY)) {
    msgWarn('ignoring -m option without -b or -h');
  }
  if (postmapFlags & (FLAG_ANY_KEY & ~FLAG_MIME_KEY) && !forceUtf8) o.dictFlags &= ~(DICT_FLAG_UTF8_REQUEST | DICT_FLAG_UTF8_ACTIVE);
  const { incremental, dictFlags } = o;
  return runTableCommand(o, argv.slice(g.optind), cfg, {
    usage: () => usage(prog),
    format: (k, v) => `${k}\t${v}\n`,
    queryStdin: (maps, lockFlags) => (postmapFlags & FLAG_HB_KEY ? queryMessage(maps, cfg, postmapFlags, lockFlags) : undefined),
    build: (type, name) => {
      const job: BuildJob = { type, name, postmapFlags, incremental, dictFlags, cfg };
      if (incremental) return buildIncremental(job);
      buildBulk(job);
    },
  });
}

void runMain('postmap', postmapMain);
