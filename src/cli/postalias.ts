// Mirrors Postfix's postalias/postalias.c: build an alias table from an
// aliases(5) file ("name: value, value", RFC 822 tokens, so quoted names,
// :include:, |command and /file values survive), add the "@" and NIS
// YP_LAST_MODIFIED / YP_MASTER_NAME entries, and query, delete or dump.
// The alias line parser uses address/tok822 (dict/ may not import address/,
// so it lives here). Touches the alias table files through src/dict.
import { openSync, readFileSync } from 'node:fs';
import {
  TOK822_STR_DEFL, tok822Externalize, tok822Internalize,
} from '../address/tok822-format.js';
import { tok822CutAfter, tok822FindType, tok822RfindType, tok822Scan, tok822Unlink, tokOp } from '../address/tok822.js';
import {
  DICT_FLAG_BULK_UPDATE, DICT_FLAG_DUP_IGNORE, DICT_FLAG_DUP_REPLACE, DICT_FLAG_DUP_WARN,
  DICT_FLAG_FOLD_FIX, DICT_FLAG_LOCK, DICT_FLAG_TRY0NULL, DICT_FLAG_TRY1NULL, DICT_FLAG_UTF8_ACTIVE,
  DICT_FLAG_UTF8_REQUEST, O_CREAT, O_RDWR, type Dict,
} from '../dict/dict.js';
import type { StoreKind } from '../dict/lmdb-store.js';
import { MapBuilder, type LineMessage } from '../dict/mkmap.js';
import { LogicalLineReader, cEnd, cstr } from '../dict/source.js';
import { bytesToText, needUtf8Activation, validUtf8 } from '../dict/utf8.js';
import { errnoText } from '../util/errno.js';
import { Getopt } from '../util/getopt.js';
import { runMain } from '../util/main.js';
import { msgFatal, msgWarn, setVerbose } from '../util/msg.js';
import { flushOut } from '../util/output.js';
import {
  Progress, checkMkmapType, deleteOne, deleteStdin, mapArg, newTablePermissions, openOrDie,
  queryOne, queryStdin, readToolConfig, sequenceMap, type ToolConfig,
} from './table-tool.js';

const FLAG_AS_OWNER = 1 << 0;
const FLAG_SAVE_PERM = 1 << 1;

function usage(prog: string): never {
  msgFatal(`usage: ${prog} [-Nfinoprsuvw] [-c config_dir] [-d key] [-q key] [map_type:]file...`);
}

export type AliasRecord = { ok: true; key: string; value: string } | { ok: false; warning?: string };

/** One logical line of an aliases file: key in internal form, value in external (quoted) form. */
export function parseAliasLine(text: string, path: string, lineno: number): AliasRecord {
  const { head } = tok822Scan(text);
  if (!head) return { ok: false };
  const colon = tok822FindType(head, tokOp(':'));
  if (!colon || !colon.prev || !colon.next || tok822RfindType(colon, tokOp(','))) {
    return { ok: false, warning: `${path}, line ${lineno}: need name:value pair` };
  }
  if (tok822RfindType(colon, tokOp('@')) || tok822RfindType(colon, tokOp('%'))) {
    return { ok: false, warning: `${path}, line ${lineno}: name must be local` };
  }
  const valueList = tok822CutAfter(colon);
  tok822Unlink(colon);
  const key = tok822Internalize(head, TOK822_STR_DEFL);
  const value = tok822Externalize(valueList, TOK822_STR_DEFL);
  return { ok: true, key, value };
}

interface AliasJob {
  type: string;
  name: string;
  flags: number;
  incremental: boolean;
  dictFlags: number;
  cfg: ToolConfig;
}

/** The logical lines of a source, each checked for UTF-8 and parsed; warnings via warn(). */
function* aliasRecords(src: Buffer, path: string, utf8Check: boolean, warn: (line: number, text: string) => void): Generator<{ key: string; value: string; lineno: number }> {
  const unpinned: LineMessage[] = [];
  const reader = new LogicalLineReader(src, path, (text) => {
    unpinned.push({ line: Infinity, text });
  });
  for (let line = reader.next(); line; line = reader.next()) {
    for (const w of unpinned.splice(0)) warn(line.lineno - 0.5, w.text);
    const { buf, start, lineno } = line;
    if (utf8Check && !validUtf8(buf, start, line.end)) {
      warn(lineno, `${path}, line ${lineno}: non-UTF-8 input "${cstr(buf.subarray(start, line.end))}" -- ignoring this line`);
      continue;
    }
    const r = parseAliasLine(bytesToText(buf.subarray(start, cEnd(buf, start, line.end))), path, lineno);
    if (!r.ok) {
      if (r.warning) warn(lineno, r.warning);
      continue;
    }
    yield { key: r.key, value: r.value, lineno };
  }
  for (const w of unpinned) warn(Infinity, w.text);
}

/** Seconds since the epoch, ten digits, as YP_LAST_MODIFIED holds them. */
function ypTime(): string {
  return String(Math.floor(Date.now() / 1000)).padStart(10, '0');
}

function buildBulk(job: AliasJob): void {
  const { type, name } = job;
  if (type === 'proxy') msgFatal("can't create maps via the proxy service");
  let fd: number;
  try {
    fd = openSync(name, 'r');
  } catch (e) {
    msgFatal(`open ${name}: ${errnoText(e as NodeJS.ErrnoException)}`);
  }
  const perm = newTablePermissions(fd, (job.flags & FLAG_SAVE_PERM) !== 0, (job.flags & FLAG_AS_OWNER) !== 0);
  const src = readFileSync(fd);
  checkMkmapType(type);
  let dictFlags = job.dictFlags | DICT_FLAG_BULK_UPDATE | DICT_FLAG_DUP_WARN;
  if (needUtf8Activation(dictFlags)) dictFlags |= DICT_FLAG_UTF8_ACTIVE;
  const utf8Check = (dictFlags & DICT_FLAG_UTF8_ACTIVE) !== 0 && !validUtf8(src);
  const warnings: LineMessage[] = [];
  const warn = (line: number, text: string) => warnings.push({ line, text });
  const builder = type === 'fail' ? undefined : new MapBuilder({ kind: type as StoreKind, name, dictFlags, mapSize: job.cfg.mapSize });
  const progress = new Progress(`${type}:${name}`);
  let fatal: string | undefined;
  let count = 0;
  for (const rec of aliasRecords(src, name, utf8Check, warn)) {
    if ((++count & 0xfff) === 0) progress.tick(count);
    if (!builder) {
      fatal = `table fail:${name}: write error: Application error`;
      break;
    }
    fatal = builder.addText(rec.key, rec.value, rec.lineno);
    if (fatal) break;
  }
  if (!fatal && builder) {
    fatal = builder.addText('@', '@', Infinity);
    fatal ??= builder.addText('YP_LAST_MODIFIED', ypTime(), Infinity, { fold: false, nul: false });
    fatal ??= builder.addText('YP_MASTER_NAME', job.cfg.config.get('myhostname'), Infinity, { fold: false, nul: false });
  }
  if (!builder && !fatal) fatal = `table fail:${name}: write error: Application error`;
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

/** postalias -i: records from stdin, then "@" replaced and the YP entries rewritten. */
async function buildIncremental(job: AliasJob): Promise<void> {
  const { type, name } = job;
  const stdin = readFileSync(0);
  checkMkmapType(type);
  const d = await openOrDie(type, name, O_RDWR | O_CREAT, job.dictFlags | DICT_FLAG_DUP_WARN);
  const utf8Check = (d.flags & DICT_FLAG_UTF8_ACTIVE) !== 0;
  const put = (k: string, v: string) => {
    if (type === 'fail') msgFatal(`table fail:${name}: write error: Application error`);
    const r = d.update!(k, v);
    if (!(r instanceof Promise) && r.status === 'error') msgFatal(`table ${type}:${name}: write error: ${r.reason ?? 'Input/output error'}`);
  };
  const apply = () => {
    for (const rec of aliasRecords(stdin, 'stdin', utf8Check, (_l, text) => msgWarn(text))) put(rec.key, rec.value);
    d.flags |= DICT_FLAG_DUP_REPLACE;
    put('@', '@');
    d.flags = (d.flags & ~(DICT_FLAG_TRY1NULL | DICT_FLAG_FOLD_FIX)) | DICT_FLAG_TRY0NULL;
    put('YP_LAST_MODIFIED', ypTime());
    put('YP_MASTER_NAME', job.cfg.config.get('myhostname'));
  };
  const tx = (d as Dict & { transaction?: <T>(fn: () => T) => T }).transaction;
  if (tx) tx.call(d, apply);
  else apply();
  await d.close();
}

export async function postaliasMain(argv: string[]): Promise<number> {
  const prog = 'postalias';
  let flags = FLAG_AS_OWNER | FLAG_SAVE_PERM;
  let incremental = false;
  let dictFlags = DICT_FLAG_DUP_WARN | DICT_FLAG_FOLD_FIX | DICT_FLAG_UTF8_REQUEST;
  let query: string | undefined;
  let delkey: string | undefined;
  let sequence = false;
  let configDir: string | undefined;
  let verbose = process.env.MAIL_VERBOSE ? 1 : 0;
  const g = new Getopt(argv, 'Nc:d:finopq:rsuvw');
  for (const { opt, arg } of g) {
    switch (opt) {
      case 'N': dictFlags = (dictFlags | DICT_FLAG_TRY1NULL) & ~DICT_FLAG_TRY0NULL; break;
      case 'c': configDir = arg!; process.env.MAIL_CONFIG = arg!; break;
      case 'd':
        if (sequence || query !== undefined || delkey !== undefined) msgFatal('specify only one of -s -q or -d');
        delkey = arg!;
        break;
      case 'f': dictFlags &= ~DICT_FLAG_FOLD_FIX; break;
      case 'i': incremental = true; break;
      case 'n': dictFlags = (dictFlags | DICT_FLAG_TRY0NULL) & ~DICT_FLAG_TRY1NULL; break;
      case 'o': flags &= ~FLAG_AS_OWNER; break;
      case 'p': flags &= ~FLAG_SAVE_PERM; break;
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
      case 'v': verbose++; break;
      case 'w': dictFlags = (dictFlags & ~(DICT_FLAG_DUP_WARN | DICT_FLAG_DUP_REPLACE)) | DICT_FLAG_DUP_IGNORE; break;
      default: usage(prog);
    }
  }
  setVerbose(verbose);
  const cfg = readToolConfig(configDir);
  const maps = argv.slice(g.optind);
  const lockFlags = dictFlags | DICT_FLAG_LOCK;
  if (delkey !== undefined) {
    if (maps.length < 1) usage(prog);
    return delkey === '-' ? deleteStdin(maps, cfg.dbType, lockFlags) : deleteOne(maps, delkey, cfg.dbType, lockFlags);
  }
  if (query !== undefined) {
    if (maps.length < 1) usage(prog);
    if (query === '-') return queryStdin(maps, cfg.dbType, lockFlags, (k, v) => `${k}:\t${v}\n`);
    return queryOne(maps, query, cfg.dbType, lockFlags);
  }
  if (sequence) {
    if (maps.length < 1) return 1;
    await sequenceMap(maps[0]!, cfg.dbType, lockFlags, (k, v) => `${k}:\t${v}\n`);
    return 0;
  }
  if (maps.length < 1) usage(prog);
  for (const arg of maps) {
    const { type, name } = mapArg(arg, cfg.dbType);
    const job: AliasJob = { type, name, flags, incremental, dictFlags, cfg };
    if (incremental) await buildIncremental(job);
    else buildBulk(job);
  }
  flushOut();
  return 0;
}

/** Run as a command unless newaliases loaded this module to call postaliasMain itself. */
if (!(globalThis as { __postfixTsNoMain?: boolean }).__postfixTsNoMain) void runMain('postalias', postaliasMain);
