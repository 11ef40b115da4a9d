// Mirrors Postfix's util/dict_thash.c: texthash:FILE reads a postmap source
// file into memory when opened, so it needs no postmap run (postmap -s and
// -q work on it directly). Same parser as postmap, with dict_thash's own
// wording of the warnings and its handling of duplicate keys.
// Reads FILE once per open; never writes.
import { readFileSync } from 'node:fs';
import {
  DICT_FLAG_DUP_IGNORE, DICT_FLAG_DUP_REPLACE, DICT_FLAG_DUP_WARN, DICT_FLAG_FIXED, DICT_FLAG_FOLD_FIX,
  DICT_FLAG_SRC_RHS_IS_FILE, NOT_FOUND, O_RDONLY, found, surrogateDict,
  type Dict, type DictOpener, type LookupResult, STDERR_DICT_ENV,
} from './dict.js';
import { filesToBase64 } from './file-values.js';
import { LogicalLineReader, cEnd, cstr, parseKeyValue } from './source.js';
import { bytesToText, casefold, lowercaseAscii, needUtf8Activation, validUtf8 } from './utf8.js';
import { errnoText } from '../util/errno.js';

class TextHash implements Dict {
  readonly type = 'texthash';
  constructor(readonly name: string, public flags: number, private readonly table: Map<string, string>) {}

  lookup(key: string): LookupResult {
    const k = this.flags & DICT_FLAG_FOLD_FIX ? lowercaseAscii(key) : key;
    const v = this.table.get(k);
    return v === undefined ? NOT_FOUND : found(v);
  }

  sequence(): Iterable<[string, string]> {
    return this.table.entries();
  }

  close(): void {
    /* nothing to release */
  }
}

export const open: DictOpener = (path, openFlags, dictFlags, env = STDERR_DICT_ENV) => {
  if (openFlags !== O_RDONLY) {
    return surrogateDict('texthash', path, dictFlags, `texthash:${path} map requires O_RDONLY access mode`);
  }
  let src: Buffer;
  try {
    src = readFileSync(path);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const what = err.code === 'EISDIR' ? 'read' : 'open database';
    return surrogateDict('texthash', path, dictFlags, `${what} ${path}: ${errnoText(err)}`);
  }
  const utf8 = needUtf8Activation(dictFlags, env.utf8);
  const warn = (text: string): void => env.log.warning(text);
  const fold = (k: string) => (utf8 && dictFlags & DICT_FLAG_FOLD_FIX ? casefold(k) : dictFlags & DICT_FLAG_FOLD_FIX ? lowercaseAscii(k) : k);
  const table = new Map<string, string>();
  const reader = new LogicalLineReader(src, path, warn);
  for (let line = reader.next(); line; line = reader.next()) {
    const { buf, start, lineno } = line;
    if (utf8 && !validUtf8(buf, start, line.end)) {
      warn(`${path}, line ${lineno}: non-UTF-8 input "${cstr(buf.subarray(start, line.end))}" -- ignoring this line`);
      continue;
    }
    const end = cEnd(buf, start, line.end);
    const p = parseKeyValue(buf, start, end);
    if (!p.ok) {
      if (p.why === 'unbalanced') warn(`${path}, line ${lineno}: unbalanced '"' in '${cstr(buf.subarray(start, end))}' -- ignoring this line`);
      else warn(`${path}, line ${lineno}: expected format: key whitespace value -- ignoring this line`);
      continue;
    }
    if (p.aliasLike) warn(`${path}, line ${lineno}: record is in "key: value" format; is this an alias file?`);
    const key = bytesToText(buf.subarray(p.keyStart, p.keyEnd));
    let value = bytesToText(buf.subarray(p.valStart, p.valEnd));
    if (dictFlags & DICT_FLAG_SRC_RHS_IS_FILE) {
      const f = filesToBase64(value);
      if ('error' in f) {
        warn(`${path}, line ${lineno}: ${f.error}: skipping this entry`);
        continue;
      }
      value = f.b64;
    }
    const k = fold(key);
    if (table.has(k)) {
      if (dictFlags & DICT_FLAG_DUP_IGNORE) continue;
      if (dictFlags & DICT_FLAG_DUP_REPLACE) table.set(k, value);
      else if (dictFlags & DICT_FLAG_DUP_WARN) warn(`${path}, line ${lineno}: duplicate entry: "${key}"`);
      else return surrogateDict('texthash', path, dictFlags, `${path}, line ${lineno}: duplicate entry: "${key}"`);
      continue;
    }
    table.set(k, value);
  }
  return new TextHash(path, dictFlags | DICT_FLAG_FIXED, table);
};
