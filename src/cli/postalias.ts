// Mirrors Postfix's postalias/postalias.c: build an alias table from an
// aliases(5) file ("name: value, value", RFC 822 tokens, so quoted names,
// :include:, |command and /file values survive), add the "@" and NIS
// YP_LAST_MODIFIED / YP_MASTER_NAME entries, and query, delete or dump.
// The alias line parser uses address/tok822 (dict/ may not import address/,
// so it lives here). Touches the alias table files through src/dict.
import { readFileSync } from 'node:fs';
import {
  TOK822_STR_DEFL, tok822Externalize, tok822Internalize,
} from '../address/tok822-format.js';
import { tok822CutAfter, tok822FindType, tok822RfindType, tok822Scan, tok822Unlink, tokOp } from '../address/tok822.js';
import {
  DICT_FLAG_DUP_REPLACE, DICT_FLAG_DUP_WARN, DICT_FLAG_FOLD_FIX, DICT_FLAG_TRY0NULL, DICT_FLAG_TRY1NULL,
  DICT_FLAG_UTF8_ACTIVE, O_CREAT, O_RDWR,
} from '../dict/dict.js';
import type { StoreKind } from '../dict/lmdb-store.js';
import { MapBuilder, type LineMessage } from '../dict/mkmap.js';
import { LogicalLineReader, cEnd, cstr } from '../dict/source.js';
import { bytesToText, validUtf8 } from '../dict/utf8.js';
import { Getopt } from '../util/getopt.js';
import { runMain } from '../util/main.js';
import { msgFatal, msgWarn, setVerbose } from '../util/msg.js';
import {
  defaultTableOptions, finishBulk, openBulkSource, runTableCommand, tableOption, updateAndClose, updateOrDie,
} from './table-cmd.js';
import { Progress, checkMkmapType, openOrDie, readToolConfig, type ToolConfig } from './table-tool.js';

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
  const source = openBulkSource(type, name, job.flags, job.dictFlags);
  const { src, dictFlags } = source;
  const warnings: LineMessage[] = [];
  const warn = (line: number, text: string) => warnings.push({ line, text });
  const builder = type === 'fail' ? undefined : new MapBuilder({ kind: type as StoreKind, name, dictFlags, mapSize: job.cfg.mapSize });
  const unwritable = builder?.checkWritable();
  if (unwritable !== undefined) msgFatal(unwritable);
  const progress = new Progress(`${type}:${name}`);
  let fatal: string | undefined;
  let count = 0;
  for (const rec of aliasRecords(src, name, source.utf8Check, warn)) {
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
  finishBulk(builder, source, progress, warnings, fatal);
}

/** postalias -i: records from stdin, then "@" replaced and the YP entries rewritten. */
async function buildIncremental(job: AliasJob): Promise<void> {
  const { type, name } = job;
  const stdin = readFileSync(0);
  checkMkmapType(type);
  const d = await openOrDie(type, name, O_RDWR | O_CREAT, job.dictFlags | DICT_FLAG_DUP_WARN);
  const utf8Check = (d.flags & DICT_FLAG_UTF8_ACTIVE) !== 0;
  const put = (k: string, v: string) => updateOrDie(d, type, name, k, v);
  await updateAndClose(d, () => {
    for (const rec of aliasRecords(stdin, 'stdin', utf8Check, (_l, text) => msgWarn(text))) put(rec.key, rec.value);
    d.flags |= DICT_FLAG_DUP_REPLACE;
    put('@', '@');
    d.flags = (d.flags & ~(DICT_FLAG_TRY1NULL | DICT_FLAG_FOLD_FIX)) | DICT_FLAG_TRY0NULL;
    put('YP_LAST_MODIFIED', ypTime());
    put('YP_MASTER_NAME', job.cfg.config.get('myhostname'));
  });
}

export async function postaliasMain(argv: string[]): Promise<number> {
  const prog = 'postalias';
  const o = defaultTableOptions();
  const g = new Getopt(argv, 'Nc:d:finopq:rsuvw');
  for (const { opt, arg } of g) {
    if (!tableOption(o, opt, arg)) usage(prog);
  }
  setVerbose(o.verbose);
  const cfg = readToolConfig(o.configDir);
  const { flags, incremental, dictFlags } = o;
  return runTableCommand(o, argv.slice(g.optind), cfg, {
    usage: () => usage(prog),
    format: (k, v) => `${k}:\t${v}\n`,
    build: (type, name) => {
      const job: AliasJob = { type, name, flags, incremental, dictFlags, cfg };
      if (incremental) return buildIncremental(job);
      buildBulk(job);
    },
  });
}

/** Run as a command unless newaliases loaded this module to call postaliasMain itself. */
if (!(globalThis as { __postfixTsNoMain?: boolean }).__postfixTsNoMain) void runMain('postalias', postaliasMain);
