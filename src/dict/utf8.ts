// Mirrors Postfix's util/dict_utf8.c, casefold.c, valid_utf8_string.c and
// printable.c: the UTF-8 layer that dict_open puts in front of a table when
// smtputf8_enable is on, and the byte/text conversions every table needs.
// Tables store bytes; the Dict interface speaks JavaScript strings. Bytes
// that are not UTF-8 survive the trip as lone surrogates U+DC80..U+DCFF
// (Python's "surrogateescape"), so nothing a file holds is ever lost;
// util/bytes.ts holds those two conversions.
import { isAscii, isUtf8 } from 'node:buffer';
import {
  DICT_FLAG_FIXED, DICT_FLAG_FOLD_ANY, DICT_FLAG_FOLD_FIX, DICT_FLAG_FOLD_MUL,
  DICT_FLAG_UTF8_ACTIVE, DICT_FLAG_UTF8_REQUEST, NOT_FOUND, lookupError,
  type Dict, type LookupResult, type UpdateResult,
} from './dict.js';
import type { MsgLog } from '../util/msg.js';

export { bytesToText, textToBytes } from '../util/bytes.js';
export { printable } from '../util/printable.js';

/**
 * DICT_NEED_UTF8_ACTIVATION: the layer applies when the opening program
 * has UTF-8 on (its smtputf8_enable, Postfix's util_utf8_enable) and the
 * caller asked for it.
 */
export function needUtf8Activation(dictFlags: number, utf8: boolean): boolean {
  return utf8 && (dictFlags & DICT_FLAG_UTF8_REQUEST) !== 0;
}

/** valid_utf8_string() on a byte range. */
export function validUtf8(b: Uint8Array, start = 0, end = b.length): boolean {
  const sub = b.subarray(start, end);
  return isAscii(sub) || isUtf8(sub);
}

/** True when text holds only well-formed Unicode (no escaped non-UTF-8 bytes). */
export function validUtf8Text(s: string): boolean {
  return s.isWellFormed();
}

const NON_ASCII = /[^\x00-\x7f]/;

/** Postfix's lowercase(): ASCII letters only. */
export function lowercaseAscii(s: string): string {
  return /[A-Z]/.test(s) ? s.replace(/[A-Z]+/g, (m) => m.toLowerCase()) : s;
}

/**
 * Unicode case folding as ICU's ucasemap_utf8FoldCase(U_FOLD_CASE_DEFAULT)
 * does it for Postfix. JavaScript has no fold(), so each character goes
 * through lower(upper(lower(c))), which gives the full folding (ß -> ss,
 * ſ -> s, ς -> σ, ligatures) except for the few characters handled below.
 */
export function casefold(s: string): string {
  if (!NON_ASCII.test(s)) return lowercaseAscii(s);
  let r = '';
  for (const ch of s) r += foldChar(ch);
  return r;
}

function foldChar(ch: string): string {
  const cp = ch.codePointAt(0)!;
  if (cp < 0x80) return cp >= 0x41 && cp <= 0x5a ? String.fromCharCode(cp + 32) : ch;
  if (cp === 0x131) return ch; // dotless i has no folding
  if (cp >= 0xd800 && cp <= 0xdfff) return ch; // escaped raw byte
  // Cherokee folds to its uppercase letters.
  if ((cp >= 0xab70 && cp <= 0xabbf) || (cp >= 0x13f8 && cp <= 0x13fd)) return ch.toUpperCase();
  if (cp >= 0x13a0 && cp <= 0x13f5) return ch;
  return ch.toLowerCase().toUpperCase().toLowerCase();
}

/** dict_utf8_check_fold: validate, then casefold when the table's fold flag applies. */
function checkFold(dict: Dict, key: string): string | undefined {
  if (!validUtf8Text(key)) return undefined;
  const fold = dict.flags & DICT_FLAG_FOLD_ANY;
  const want = dict.flags & DICT_FLAG_FIXED ? DICT_FLAG_FOLD_FIX : DICT_FLAG_FOLD_MUL;
  return fold & want ? casefold(key) : key;
}

const BAD_UTF8 = 'malformed UTF-8 or invalid codepoint';

/**
 * dict_utf8_activate: wraps a table so that keys are checked and casefolded
 * and results are checked. The inner table still lowercases ASCII, which is
 * a no-op on folded text, so its flags need no juggling. Complaints go to
 * log; the logger applies printable() to the whole line (UTF-8 is on here).
 */
export function utf8Activate<D extends Dict>(dict: D, log: MsgLog): D {
  if (dict.flags & DICT_FLAG_UTF8_ACTIVE) return dict;
  const inner = { lookup: dict.lookup.bind(dict), update: dict.update?.bind(dict), delete: dict.delete?.bind(dict) };
  const where = () => `${dict.type}:${dict.name}`;
  const where_ = where;
  const checkValue = (key: string, r: LookupResult): LookupResult => {
    if (r.status === 'found' && !validUtf8Text(r.value)) {
      log.warning(`${where()}: key "${key}": non-UTF-8 value "${r.value}": ${BAD_UTF8}`);
      return lookupError('config', 'non-UTF-8 value');
    }
    return r;
  };
  dict.lookup = (key: string) => {
    const k = checkFold(dict, key);
    if (k === undefined) {
      log.warning(`${where()}: non-UTF-8 key "${key}": ${BAD_UTF8}`);
      return NOT_FOUND;
    }
    const r = inner.lookup(k);
    return r instanceof Promise ? r.then((x) => checkValue(key, x)) : checkValue(key, r);
  };
  if (dict.lookupBatch) {
    const batch = dict.lookupBatch.bind(dict);
    dict.lookupBatch = (keys: readonly string[]) => {
      // ASCII keys need no check, and the table folds ASCII itself.
      const pass: string[] = [];
      const where: number[] = [];
      const results: LookupResult[] = new Array(keys.length);
      for (let i = 0; i < keys.length; i++) {
        const key = keys[i]!;
        const k = NON_ASCII.test(key) ? checkFold(dict, key) : key;
        if (k === undefined) {
          log.warning(`${where_()}: non-UTF-8 key "${key}": ${BAD_UTF8}`);
          results[i] = NOT_FOUND;
          continue;
        }
        pass.push(k);
        where.push(i);
      }
      const finish = (rs: LookupResult[]) => {
        for (let j = 0; j < rs.length; j++) results[where[j]!] = checkValue(keys[where[j]!]!, rs[j]!);
        return results;
      };
      const rs = batch(pass);
      return rs instanceof Promise ? rs.then(finish) : finish(rs);
    };
  }
  if (inner.update) {
    const update = inner.update;
    dict.update = (key: string, value: string): UpdateResult | Promise<UpdateResult> => {
      const k = checkFold(dict, key);
      if (k === undefined) {
        log.warning(`${where()}: non-UTF-8 key "${key}": ${BAD_UTF8}`);
        return { status: 'ok' };
      }
      if (!validUtf8Text(value)) {
        log.warning(`${where()}: key "${key}": non-UTF-8 value "${value}": ${BAD_UTF8}`);
        return { status: 'ok' };
      }
      return update(k, value);
    };
  }
  if (inner.delete) {
    const del = inner.delete;
    dict.delete = (key: string): UpdateResult | Promise<UpdateResult> => {
      const k = checkFold(dict, key);
      if (k === undefined) {
        log.warning(`${where()}: non-UTF-8 key "${key}": ${BAD_UTF8}`);
        return { status: 'ok' };
      }
      return del(k);
    };
  }
  dict.flags |= DICT_FLAG_UTF8_ACTIVE;
  return dict;
}
