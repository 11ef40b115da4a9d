// Shared by the file-based pattern tables (regexp:, pcre:, cidr:). Mirrors
// Postfix's util/dict_stream.c (a table is a file, or "{{rule}, {rule}}"
// given inline), util/readlline.c (logical lines), util/mac_parse.c as the
// pattern tables use it ($1, ${1}, $(1), $$ in replacement text) and
// util/dict_file.c (postmap -F: a value names files whose contents are
// returned base64-encoded).
//
// Byte semantics: Postfix runs its regular expression engines in the C
// locale, one byte per character. Table text is therefore read as latin1
// ("one JS character per byte") and keys are turned into the same form
// before matching; results go back to UTF-8 text on the way out. ASCII text,
// the common case, passes through both conversions without a copy.
import { readFileSync } from 'node:fs';
import { type Dict, type DictOpener, type LookupResult, DICT_FLAG_FOLD_MUL, DICT_FLAG_PATTERN, NOT_FOUND, O_RDONLY, found, surrogateDict, STDERR_DICT_ENV } from './dict.js';
import type { MsgLog } from '../util/msg.js';
import { errnoText } from '../util/errno.js';
import { CHARS_BRACE, CHARS_COMMA_SP, extractGroup, tokenizeQuoted } from '../util/tokens.js';

const NON_ASCII = /[^\x00-\x7f]/;

/** UTF-8 text to one character per byte (no copy for ASCII). */
export function toBytes(text: string): string {
  return NON_ASCII.test(text) ? Buffer.from(text, 'utf8').toString('latin1') : text;
}

/** One character per byte back to UTF-8 text (no copy for ASCII). */
export function fromBytes(bytes: string): string {
  return NON_ASCII.test(bytes) ? Buffer.from(bytes, 'latin1').toString('utf8') : bytes;
}

/** C isspace() in the C locale. */
export function isSpace(ch: string | undefined): boolean {
  return ch === ' ' || ch === '\t' || ch === '\n' || ch === '\r' || ch === '\v' || ch === '\f';
}

/** C isalnum() in the C locale. */
export function isAlnum(ch: string | undefined): boolean {
  if (ch === undefined) return false;
  const c = ch.charCodeAt(0);
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
}

/** Postfix's trimblanks(): drop trailing whitespace. */
export function trimEnd(text: string): string {
  let end = text.length;
  while (end > 0 && isSpace(text[end - 1])) end--;
  return end === text.length ? text : text.slice(0, end);
}

/** Index of the first character at or after i that is not whitespace. */
export function skipSpace(text: string, i: number): number {
  while (i < text.length && isSpace(text[i])) i++;
  return i;
}

/** ASCII-only lower case, as Postfix's lowercase() does in the C locale. */
export function asciiLower(text: string): string {
  return /[A-Z]/.test(text) ? text.replace(/[A-Z]+/g, (s) => s.toLowerCase()) : text;
}

/** ASCII-only upper case. */
export function asciiUpper(text: string): string {
  return /[a-z]/.test(text) ? text.replace(/[a-z]+/g, (s) => s.toUpperCase()) : text;
}

// ---------------------------------------------------------------------------
// Table source: a file, or an inline "{rule, {rule with spaces}}" list.

export interface TableSource {
  /** Table text, one character per byte. */
  text: string;
  /** What readllines() calls the stream in its warnings. */
  path: string;
}

export type SourceResult = { ok: true; source: TableSource } | { ok: false; reason: string };

/**
 * Opens a pattern table's text as dict_stream_open() does: a name that starts
 * with "{" is the table itself, one rule per {group} or comma/space-separated
 * word; anything else is a file name.
 */
export function openTableSource(type: string, name: string): SourceResult {
  if (name[0] === CHARS_BRACE[0]) {
    const outer = extractGroup(name, false);
    let text = '';
    let error = outer.error;
    if (error === undefined) {
      for (const rule of tokenizeQuoted(outer.text, CHARS_COMMA_SP, CHARS_BRACE)) {
        const inner = extractGroup(rule, true);
        if (inner.error !== undefined) {
          error = inner.error;
          break;
        }
        text += inner.text + '\n';
      }
    }
    if (error !== undefined) return { ok: false, reason: `${type} map: ${error}` };
    return { ok: true, source: { text: toBytes(text), path: name } };
  }
  try {
    return { ok: true, source: { text: readFileSync(name, 'latin1'), path: name } };
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    // open(2) succeeds on a directory and read(2) fails: Postfix's line reader sees an empty file, cidr: a read error.
    if (err.code === 'EISDIR') {
      if (type === 'cidr') return { ok: false, reason: `cidr map ${name}: read error: ${errnoText(err)}` };
      return { ok: true, source: { text: '', path: name } };
    }
    return { ok: false, reason: `open ${name}: ${errnoText(err)}` };
  }
}

export interface LogicalLine {
  /** Line text (bytes), continuation lines joined without their newline. */
  text: string;
  /** Number of the first physical line. */
  lineno: number;
}

/**
 * Splits table text into logical lines as readllines() does: comment and
 * blank lines are dropped, a line that starts with whitespace continues the
 * previous one, and a logical line that would start with whitespace is
 * skipped with Postfix's warning.
 */
export function logicalLines(text: string, path: string, log: MsgLog): LogicalLine[] {
  const physical = text.split('\n');
  if (physical.length > 0 && physical[physical.length - 1] === '') physical.pop();
  const out: LogicalLine[] = [];
  let buf = '';
  let first = 0;
  const flush = (): void => {
    if (buf.length === 0) return;
    if (isSpace(buf[0])) {
      const shown = fromBytes(buf.slice(0, 30));
      log.warning(`${path}: logical line must not start with whitespace: "${shown}${buf.length > 30 ? '...' : ''}"`);
    } else {
      out.push({ text: buf, lineno: first });
    }
    buf = '';
  };
  for (let n = 0; n < physical.length; n++) {
    const line = physical[n]!;
    const k = skipSpace(line, 0);
    if (k === line.length || line[k] === '#') continue;
    if (!isSpace(line[0])) flush();
    if (buf.length === 0) first = n + 1;
    buf += line;
  }
  flush();
  return out;
}

// ---------------------------------------------------------------------------
// Replacement text: $number substitution.

/** One piece of parsed replacement text: a literal, or a $name reference. */
export type MacPiece = { literal: string } | { name: string };

/**
 * Splits text as mac_parse() does. Returns the pieces and whether a syntax
 * error (truncated ${...}, empty name) was found; those are warned about here
 * with Postfix's wording.
 */
export function macParse(text: string, log: MsgLog): { pieces: MacPiece[]; error: boolean } {
  const pieces: MacPiece[] = [];
  let buf = '';
  let i = 0;
  while (i < text.length) {
    const ch = text[i]!;
    if (ch !== '$') {
      buf += ch;
      i++;
    } else if (text[i + 1] === '$') {
      buf += '$';
      i += 2;
    } else {
      if (buf.length > 0) pieces.push({ literal: buf });
      buf = '';
      i++;
      const open = text[i];
      if (open === '{' || open === '(') {
        const close = open === '{' ? '}' : ')';
        let level = 1;
        let j = i + 1;
        for (; level > 0; j++) {
          if (j >= text.length) {
            log.warning(`truncated macro reference: "${fromBytes(text)}"`);
            return { pieces, error: true };
          }
          if (text[j] === open) level++;
          if (text[j] === close) level--;
        }
        buf = text.slice(i + 1, j - 1);
        i = j;
      } else {
        let j = i;
        while (j < text.length && (isAlnum(text[j]) || text[j] === '_')) j++;
        buf = text.slice(i, j);
        i = j;
      }
      if (buf.length === 0) {
        log.warning(`empty macro name: "${fromBytes(text)}"`);
        return { pieces, error: true };
      }
      pieces.push({ name: buf });
      buf = '';
    }
  }
  if (buf.length > 0) pieces.push({ literal: buf });
  return { pieces, error: false };
}

/** Replacement text compiled at open time: a constant, or pieces with group numbers. */
export interface Replacement {
  /** Largest $number used; 0 means `literal` is the whole result. */
  maxSub: number;
  literal: string;
  /** Literal text (string) and group numbers (number), in order. */
  parts: Array<string | number>;
}

/**
 * The pre-scan of dict_regexp.c/dict_pcre.c: every $name must be a number
 * from 1 up. Returns null after warning (the caller then warns "bad
 * replacement syntax" and skips the rule).
 */
export function prescanReplacement(kind: string, mapname: string, lineno: number, text: string, outOfRangeWord: string, log: MsgLog): Replacement | null {
  const { pieces, error } = macParse(text, log);
  let failed = error;
  let maxSub = 0;
  const parts: Array<string | number> = [];
  for (const p of pieces) {
    if ('literal' in p) {
      parts.push(p.literal);
      continue;
    }
    if (!/^[0-9]+$/.test(p.name)) {
      log.warning(`${kind} map ${mapname}, line ${lineno}: non-numeric replacement index "${fromBytes(p.name)}"`);
      failed = true;
      continue;
    }
    const n = parseInt(p.name, 10);
    if (n < 1) {
      log.warning(`${kind} map ${mapname}, line ${lineno}: ${outOfRangeWord} replacement index "${p.name}"`);
      failed = true;
      continue;
    }
    if (n > maxSub) maxSub = n;
    parts.push(n);
  }
  if (failed) return null;
  const literal = maxSub === 0 ? parts.join('') : '';
  return { maxSub, literal, parts };
}

/** Builds the lookup result from a match: unmatched or empty groups expand to nothing. */
export function expandReplacement(rep: Replacement, groups: ArrayLike<string | undefined>): string {
  let out = '';
  for (const p of rep.parts) out += typeof p === 'number' ? (groups[p] ?? '') : p;
  return out;
}

// ---------------------------------------------------------------------------
// IF/ENDIF rule lists, shared by the three pattern tables.

export const OP_MATCH = 1;
export const OP_IF = 2;
export const OP_ENDIF = 3;

/** A parsed rule; `endif` is the index of the matching ENDIF for an IF, -1 when none. */
export interface RuleBase {
  op: number;
  lineno: number;
  endif: number;
}

/**
 * Links every IF to its ENDIF, as the open loops in dict_regexp.c and friends
 * do, and warns about each IF left open at the end (innermost first).
 */
export function linkIfEndif<R extends RuleBase>(rules: R[], warnPrefix: string, log: MsgLog): void {
  const stack: number[] = [];
  rules.forEach((r, i) => {
    if (r.op === OP_IF) stack.push(i);
    else if (r.op === OP_ENDIF) rules[stack.pop()!]!.endif = i;
  });
  while (stack.length > 0) log.warning(`${warnPrefix}, line ${rules[stack.pop()!]!.lineno}: IF has no matching ENDIF`);
}

// ---------------------------------------------------------------------------
// postmap -F: values name files, the table holds their base64 contents.

/** dict_file_to_b64(): the files named in `pathnames`, joined by newlines, base64-encoded. */
export function filesToBase64(pathnames: string): { ok: true; value: string } | { ok: false; reason: string } {
  const names = pathnames.split(/[, \t\r\n]+/).filter((s) => s.length > 0);
  if (names.length === 0) return { ok: false, reason: `empty pathname list: >>${fromBytes(pathnames)}<<'` };
  const chunks: Buffer[] = [];
  for (let i = 0; i < names.length; i++) {
    const name = fromBytes(names[i]!);
    try {
      chunks.push(readFileSync(name));
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      const verb = err.code === 'EISDIR' ? 'read' : 'open';
      return { ok: false, reason: `${verb} ${name}: ${errnoText(err)}` };
    }
    if (i + 1 < names.length) chunks.push(Buffer.from('\n'));
  }
  return { ok: true, value: Buffer.concat(chunks).toString('base64') };
}

// ---------------------------------------------------------------------------
// The open and lookup shell shared by regexp: and pcre: tables.

export interface PatternTableKind<R extends RuleBase> {
  type: string;
  /** A parser for one table; returns null for lines it skips (after warning). */
  parser(name: string, dictFlags: number, log: MsgLog): { parseLine(line: string, lineno: number, nesting: number): R | null };
  /**
   * First match wins; null when nothing matched. Keys and results are byte
   * strings. `warn` reports a rule that could not be evaluated (its line
   * number and the text after "TYPE map NAME, line N: ").
   */
  lookupRules(rules: readonly R[], key: string, warn: (lineno: number, text: string) => void): string | null;
}

/**
 * Reads a pattern table once at open (the rules, with IF/ENDIF linked) and
 * answers lookups from the compiled rules, as dict_regexp.c and dict_pcre.c
 * both do: read-only, keys folded when the caller asks for it.
 */
export function patternTableOpener<R extends RuleBase>(kind: PatternTableKind<R>): DictOpener {
  return (name, openFlags, dictFlags, env = STDERR_DICT_ENV) => {
    if (openFlags !== O_RDONLY) {
      return surrogateDict(kind.type, name, dictFlags, `${kind.type}:${name} map requires O_RDONLY access mode`);
    }
    const src = openTableSource(kind.type, name);
    if (!src.ok) return surrogateDict(kind.type, name, dictFlags, src.reason);
    const parser = kind.parser(name, dictFlags, env.log);
    const rules: R[] = [];
    let nesting = 0;
    for (const { text, lineno } of logicalLines(src.source.text, src.source.path, env.log)) {
      const line = trimEnd(text);
      if (line.length === 0) continue;
      const rule = parser.parseLine(line, lineno, nesting);
      if (!rule) continue;
      if (rule.op === OP_IF) nesting++;
      else if (rule.op === OP_ENDIF) nesting--;
      rules.push(rule);
    }
    linkIfEndif(rules, `${kind.type} map ${name}`, env.log);
    const flags = dictFlags | DICT_FLAG_PATTERN;
    const warn = (lineno: number, text: string): void => env.log.warning(`${kind.type} map ${name}, line ${lineno}: ${text}`);
    const dict: Dict = {
      type: kind.type,
      name,
      flags,
      lookup(key: string): LookupResult {
        let k = toBytes(key);
        if (dict.flags & DICT_FLAG_FOLD_MUL) k = asciiLower(k);
        const value = kind.lookupRules(rules, k, warn);
        return value === null ? NOT_FOUND : found(fromBytes(value));
      },
      close: () => undefined,
    };
    return dict;
  };
}
