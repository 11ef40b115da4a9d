// The command halves that postmap.c and postalias.c have in common: the
// options both take (-N -c -d -f -i -n -o -p -q -r -s -u -v -w, acted on in
// getopt order), what runs after main.cf is read (-d, -q, -s or a build of
// each map argument), and the frame of a build: opening the source, the
// bulk-build checks and the sorted warnings at the end, and the -i update
// of an open table. table-tool.ts holds the operations themselves.
import { openSync, readFileSync } from 'node:fs';
import {
  DICT_FLAG_BULK_UPDATE, DICT_FLAG_DUP_IGNORE, DICT_FLAG_DUP_REPLACE, DICT_FLAG_DUP_WARN, DICT_FLAG_FOLD_FIX,
  DICT_FLAG_LOCK, DICT_FLAG_TRY0NULL, DICT_FLAG_TRY1NULL, DICT_FLAG_UTF8_ACTIVE, DICT_FLAG_UTF8_REQUEST, type Dict,
} from '../dict/dict.js';
import type { LineMessage, MapBuilder } from '../dict/mkmap.js';
import { needUtf8Activation, validUtf8 } from '../dict/utf8.js';
import { errnoText } from '../util/errno.js';
import { msgFatal, msgWarn } from '../util/msg.js';
import { flushOut } from '../util/output.js';
import {
  type Progress, type ToolConfig, checkMkmapType, deleteOne, deleteStdin, mapArg, newTablePermissions,
  queryOne, queryStdin, sequenceMap, toolEnv,
} from './table-tool.js';

/** Build flags of both commands: -o clears FLAG_AS_OWNER, -p clears FLAG_SAVE_PERM. */
export const FLAG_AS_OWNER = 1 << 0;
export const FLAG_SAVE_PERM = 1 << 1;

/** What the shared options set. */
export interface TableOptions {
  /** FLAG_* bits (postmap adds its own key flags). */
  flags: number;
  incremental: boolean;
  dictFlags: number;
  query?: string;
  delkey?: string;
  sequence: boolean;
  configDir?: string;
  verbose: number;
}

/** The settings before any option. */
export function defaultTableOptions(): TableOptions {
  return {
    flags: FLAG_AS_OWNER | FLAG_SAVE_PERM,
    incremental: false,
    dictFlags: DICT_FLAG_DUP_WARN | DICT_FLAG_FOLD_FIX | DICT_FLAG_UTF8_REQUEST,
    sequence: false,
    verbose: process.env.MAIL_VERBOSE ? 1 : 0,
  };
}

/** Acts on one option both commands take; false when `opt` is not one of them. */
export function tableOption(o: TableOptions, opt: string, arg: string | undefined): boolean {
  switch (opt) {
    case 'N': o.dictFlags = (o.dictFlags | DICT_FLAG_TRY1NULL) & ~DICT_FLAG_TRY0NULL; break;
    case 'c': o.configDir = arg!; process.env.MAIL_CONFIG = arg!; break;
    case 'd':
      if (o.sequence || o.query !== undefined || o.delkey !== undefined) msgFatal('specify only one of -s -q or -d');
      o.delkey = arg!;
      break;
    case 'f': o.dictFlags &= ~DICT_FLAG_FOLD_FIX; break;
    case 'i': o.incremental = true; break;
    case 'n': o.dictFlags = (o.dictFlags | DICT_FLAG_TRY0NULL) & ~DICT_FLAG_TRY1NULL; break;
    case 'o': o.flags &= ~FLAG_AS_OWNER; break;
    case 'p': o.flags &= ~FLAG_SAVE_PERM; break;
    case 'q':
      if (o.sequence || o.query !== undefined || o.delkey !== undefined) msgFatal('specify only one of -s -q or -d');
      o.query = arg!;
      break;
    case 'r': o.dictFlags = (o.dictFlags & ~(DICT_FLAG_DUP_WARN | DICT_FLAG_DUP_IGNORE)) | DICT_FLAG_DUP_REPLACE; break;
    case 's':
      if (o.query !== undefined || o.delkey !== undefined) msgFatal('specify only one of -s or -q or -d');
      o.sequence = true;
      break;
    case 'u': o.dictFlags &= ~DICT_FLAG_UTF8_REQUEST; break;
    case 'v': o.verbose++; break;
    case 'w': o.dictFlags = (o.dictFlags & ~(DICT_FLAG_DUP_WARN | DICT_FLAG_DUP_REPLACE)) | DICT_FLAG_DUP_IGNORE; break;
    default: return false;
  }
  return true;
}

/** How one command differs in runTableCommand(). */
export interface TableCommand {
  usage(): never;
  /** A record as -q - and -s print it. */
  format(key: string, value: string): string;
  /** -q - read the command's own way (postmap -b/-h); undefined for keys one a line. */
  queryStdin?(maps: string[], dictFlags: number): Promise<number> | undefined;
  /** Builds (or with -i updates) one table. */
  build(type: string, name: string): Promise<void> | void;
}

/** After main.cf is read: -d, -q or -s on the maps, else a build of each; the exit status. */
export async function runTableCommand(o: TableOptions, maps: string[], cfg: ToolConfig, cmd: TableCommand): Promise<number> {
  const lockFlags = o.dictFlags | DICT_FLAG_LOCK;
  if (o.delkey !== undefined) {
    if (maps.length < 1) cmd.usage();
    return o.delkey === '-' ? deleteStdin(maps, cfg.dbType, lockFlags) : deleteOne(maps, o.delkey, cfg.dbType, lockFlags);
  }
  if (o.query !== undefined) {
    if (maps.length < 1) cmd.usage();
    if (o.query === '-') return cmd.queryStdin?.(maps, lockFlags) ?? queryStdin(maps, cfg.dbType, lockFlags, cmd.format);
    return queryOne(maps, o.query, cfg.dbType, lockFlags);
  }
  if (o.sequence) {
    if (maps.length < 1) return 1;
    await sequenceMap(maps[0]!, cfg.dbType, lockFlags, cmd.format);
    return 0;
  }
  if (maps.length < 1) cmd.usage();
  for (const arg of maps) {
    const { type, name } = mapArg(arg, cfg.dbType);
    const built = cmd.build(type, name);
    if (built) await built;
  }
  flushOut();
  return 0;
}

/** A bulk build's source, read, with the flags and checks of the build. */
export interface BulkSource {
  src: Buffer;
  perm: ReturnType<typeof newTablePermissions>;
  dictFlags: number;
  /** Check each line for UTF-8 (the UTF-8 layer is on and the file is not all UTF-8). */
  utf8Check: boolean;
}

/** The source's bytes; a directory reads as empty, as read(2) fails on it and Postfix's reader sees the end. */
function readSource(fd: number): Buffer {
  try {
    return readFileSync(fd);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EISDIR') return Buffer.alloc(0);
    throw e;
  }
}

/** The start of a bulk build: the source file, the new table's permissions, the type check. */
export function openBulkSource(type: string, name: string, flags: number, dictFlags: number): BulkSource {
  if (type === 'proxy') msgFatal("can't create maps via the proxy service");
  let fd: number;
  try {
    fd = openSync(name, 'r');
  } catch (e) {
    msgFatal(`open ${name}: ${errnoText(e as NodeJS.ErrnoException)}`);
  }
  const perm = newTablePermissions(fd, (flags & FLAG_SAVE_PERM) !== 0, (flags & FLAG_AS_OWNER) !== 0);
  checkMkmapType(type);
  const src = readSource(fd);
  let buildFlags = dictFlags | DICT_FLAG_BULK_UPDATE | DICT_FLAG_DUP_WARN;
  if (needUtf8Activation(buildFlags, toolEnv().utf8)) buildFlags |= DICT_FLAG_UTF8_ACTIVE;
  const utf8Check = (buildFlags & DICT_FLAG_UTF8_ACTIVE) !== 0 && !validUtf8(src);
  return { src, perm, dictFlags: buildFlags, utf8Check };
}

/**
 * The end of a bulk build: the table written unless a fatal error stopped
 * the build, then every warning in line order, then the fatal error.
 */
export function finishBulk(builder: MapBuilder | undefined, source: BulkSource, progress: Progress,
  warnings: LineMessage[], fatal: string | undefined): void {
  let all = warnings;
  if (fatal === undefined && builder) {
    const result = builder.finish(source.perm, (what) => progress.note(what));
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

/** One -i record into the open table; a write error is fatal. */
export function updateOrDie(d: Dict, type: string, name: string, key: string, value: string): void {
  if (type === 'fail') msgFatal(`table fail:${name}: write error: Application error`);
  const r = d.update!(key, value);
  if (!(r instanceof Promise) && r.status === 'error' && r.fatal !== undefined) msgFatal(r.fatal);
  if (!(r instanceof Promise) && r.status === 'error') msgFatal(`table ${type}:${name}: write error: ${r.reason ?? 'Input/output error'}`);
}

/** Runs the -i updates in one transaction where the table has them, then closes it. */
export async function updateAndClose(d: Dict, apply: () => void): Promise<void> {
  const tx = (d as Dict & { transaction?: <T>(fn: () => T) => T }).transaction;
  if (tx) tx.call(d, apply);
  else apply();
  await d.close();
}
