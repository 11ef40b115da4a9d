// Mirrors dict_file_to_b64() of Postfix's util/dict_file.c as postmap -F
// and texthash: with -F use it: a value names files (separated by commas
// or whitespace) whose contents, joined by newlines and base64-encoded,
// become the value. Reads the named files. (The pattern tables have their
// own byte-string version in pattern-common.ts.)
import { readFileSync } from 'node:fs';
import { errnoText } from '../util/errno.js';

/** The files named in `list`, base64-encoded; or the reason, for the caller's warning. */
export function filesToBase64(list: string): { b64: string } | { error: string } {
  const names = list.split(/[, \t\r\n]+/).filter((s) => s !== '');
  if (names.length === 0) return { error: `empty pathname list: >>${list}<<'` };
  const parts: Buffer[] = [];
  for (let i = 0; i < names.length; i++) {
    try {
      parts.push(readFileSync(names[i]!));
    } catch (e) {
      return { error: `open ${names[i]}: ${errnoText(e as NodeJS.ErrnoException)}` };
    }
    if (i + 1 < names.length) parts.push(Buffer.from('\n'));
  }
  return { b64: Buffer.concat(parts).toString('base64') };
}
