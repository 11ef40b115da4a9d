// Mirrors Postfix's util/readlline.c, util/split_nameval.c and the loader in
// util/dict.c (dict_load_fp): main.cf's logical lines, "name = value"
// entries, and the warnings and fatal errors Postfix prints for them.
// Reading only; postconf's editor works on physical lines (cli/postconf).
import { readFileSync } from 'node:fs';
import { errnoText } from '../util/errno.js';

/** Postfix's ISSPACE: the C locale's isspace() on ASCII. */
export function isSpace(ch: string | undefined): boolean {
  return ch === ' ' || ch === '\t' || ch === '\n' || ch === '\r' || ch === '\v' || ch === '\f';
}

export interface LogicalLine {
  text: string;
  /** Line number of the first physical line. */
  line: number;
}

/**
 * Joins continuation lines (leading whitespace) onto their logical line,
 * dropping comments and blank lines, as readllines() does. A logical line
 * that starts with whitespace is reported through warn and skipped.
 */
export function logicalLines(text: string, path: string, warn: (msg: string) => void): LogicalLine[] {
  const physical = text.split('\n');
  // A trailing newline does not start another (empty) line.
  if (physical.length > 0 && physical[physical.length - 1] === '') physical.pop();
  const result: LogicalLine[] = [];
  let current: string | undefined;
  let first = 0;
  const finish = () => {
    if (current === undefined) return;
    if (isSpace(current[0])) {
      const shown = current.length > 30 ? current.slice(0, 30) + '...' : current;
      warn(`${path}: logical line must not start with whitespace: "${shown}"`);
    } else {
      result.push({ text: current, line: first });
    }
    current = undefined;
  };
  for (let n = 0; n < physical.length; n++) {
    const line = physical[n]!;
    let k = 0;
    while (k < line.length && isSpace(line[k])) k++;
    if (k === line.length || line[k] === '#') continue;
    if (current !== undefined && isSpace(line[0])) {
      current += line;
      continue;
    }
    finish();
    current = line;
    first = n + 1;
  }
  finish();
  return result;
}

export type NameValue = { name: string; value: string } | { error: string };

/** Splits "name = value", trimming whitespace around both, as split_nameval() does. */
export function splitNameValue(text: string): NameValue {
  let i = 0;
  while (i < text.length && isSpace(text[i])) i++;
  if (i === text.length || text[i] === '=') return { error: 'missing attribute name' };
  const nameStart = i;
  while (i < text.length && !isSpace(text[i]) && text[i] !== '=') i++;
  const name = text.slice(nameStart, i);
  while (i < text.length && isSpace(text[i])) i++;
  if (text[i] !== '=') return { error: "missing '=' after attribute name" };
  i++;
  while (i < text.length && isSpace(text[i])) i++;
  let end = text.length;
  while (end > i && isSpace(text[end - 1])) end--;
  return { name, value: text.slice(i, end) };
}

export interface MainCfHandlers {
  warn(msg: string): void;
  /** A malformed entry; Postfix stops here with a fatal error. */
  fatal(msg: string): never;
}

/**
 * Loads name=value entries into params (later entries win, with Postfix's
 * "overriding earlier entry" warning when the value differs).
 */
export function loadNameValues(text: string, path: string, params: Map<string, string>, h: MainCfHandlers): void {
  for (const { text: line, line: lineno } of logicalLines(text, path, h.warn)) {
    const nv = splitNameValue(line);
    if ('error' in nv) h.fatal(`${path}, line ${lineno}: ${nv.error}: "${line}"`);
    const old = params.get(nv.name);
    if (old !== undefined && old !== nv.value) h.warn(`${path}, line ${lineno}: overriding earlier entry: ${nv.name}=${old}`);
    params.set(nv.name, nv.value);
  }
}

/** Reads a main.cf-style file; undefined with the errno text when it cannot be opened. */
export function readConfigFile(path: string): { text: string } | { error: string; code?: string } {
  try {
    return { text: readFileSync(path, 'utf8') };
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    return { error: errnoText(err), code: err.code };
  }
}
