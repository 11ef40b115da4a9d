// Mirrors Postfix's util/dict_inline.c: inline:{name=value, {name = value
// with spaces}, ...}, a small table written in place of a file name. Keys are
// folded to lower case at open time when the caller asks for fixed-case
// folding, as Postfix's in-memory table does; with postmap -F each value
// names files whose contents the table holds base64-encoded.
import {
  type Dict, type DictOpener, type LookupResult, NOT_FOUND, found, surrogateDict,
  O_RDONLY, DICT_FLAG_FIXED, DICT_FLAG_FOLD_FIX, DICT_FLAG_SRC_RHS_IS_FILE, STDERR_DICT_ENV,
} from './dict.js';
import { asciiLower, filesToBase64, isSpace } from './pattern-common.js';
import { CHARS_BRACE, CHARS_COMMA_SP, balancedLength, extractGroup, tokenizeQuoted } from '../util/tokens.js';
import { casefold, needUtf8Activation } from './utf8.js';

/** split_qnameval(): "key = value" with an optionally "quoted" key; error text or the pair. */
export function splitQuotedNameValue(text: string): { key: string; value: string } | string {
  let k = 0;
  while (k < text.length && isSpace(text[k])) k++;
  if (k >= text.length) return 'no key found; expected format: key = value';
  let end = k;
  let inQuotes = false;
  for (; end < text.length; end++) {
    const ch = text[end];
    if (ch === '\\') {
      if (++end >= text.length) break;
    } else if (isSpace(ch) || ch === '=') {
      if (!inQuotes) break;
    } else if (ch === '"') {
      inQuotes = !inQuotes;
    }
  }
  if (inQuotes) return "unbalanced '\"'";
  let v = end;
  while (v < text.length && isSpace(text[v])) v++;
  if (text[v] !== '=') return "missing '=' after attribute name";
  v++;
  while (v < text.length && isSpace(text[v])) v++;
  let vend = text.length;
  while (vend > v && isSpace(text[vend - 1])) vend--;
  return { key: text.slice(k, end), value: text.slice(v, vend) };
}

/** Postfix's in-memory table (dict_ht) as inline: uses it. */
export class InlineDict implements Dict {
  readonly type = 'inline';
  constructor(readonly name: string, public flags: number, private readonly table: Map<string, string>) {}

  private fold(key: string): string {
    return this.flags & DICT_FLAG_FOLD_FIX ? asciiLower(key) : key;
  }

  lookup(key: string): LookupResult {
    const v = this.table.get(this.fold(key));
    return v === undefined ? NOT_FOUND : found(v);
  }

  sequence(): Iterable<[string, string]> {
    return this.table.entries();
  }

  close(): void {}
}

export const open: DictOpener = (name, openFlags, dictFlags, env = STDERR_DICT_ENV) => {
  const fail = (reason: string): Dict => surrogateDict('inline', name, dictFlags, reason);
  if (openFlags !== O_RDONLY) return fail(`inline:${name} map requires O_RDONLY access mode`);
  const len = balancedLength(name, CHARS_BRACE);
  const inner = len > 0 ? name.slice(1, len - 1) : '';
  if (len === 0 || len !== name.length || inner.length === 0) {
    return fail(`bad syntax: "inline:${name}"; need "inline:{name=value...}"`);
  }
  // Keys go in as the UTF-8 layer will look them up: casefolded when that
  // layer is active (SMTPUTF8 on), else with ASCII letters lowered.
  const foldKey = needUtf8Activation(dictFlags, env.utf8) ? casefold : asciiLower;
  const fold = (k: string): string => (dictFlags & DICT_FLAG_FOLD_FIX ? foldKey(k) : k);
  const table = new Map<string, string>();
  let err: string | undefined;
  for (let token of tokenizeQuoted(inner, CHARS_COMMA_SP, CHARS_BRACE)) {
    if (token[0] === CHARS_BRACE[0]) {
      const g = extractGroup(token, true);
      if (g.error !== undefined) {
        err = g.error;
        break;
      }
      token = g.text;
    }
    const pair = splitQuotedNameValue(token);
    if (typeof pair === 'string') {
      err = pair;
      break;
    }
    let value = pair.value;
    if (dictFlags & DICT_FLAG_SRC_RHS_IS_FILE) {
      const b64 = filesToBase64(value);
      if (!b64.ok) {
        err = b64.reason;
        break;
      }
      value = b64.value;
    }
    table.set(fold(pair.key), value);
  }
  if (err !== undefined || table.size === 0) {
    const what = dictFlags & DICT_FLAG_SRC_RHS_IS_FILE ? 'filename' : 'value';
    return fail(`${err ?? 'empty table'}: "inline:${name}"; need "inline:{name=${what}...}"`);
  }
  return new InlineDict(name, dictFlags | DICT_FLAG_FIXED, table);
};
