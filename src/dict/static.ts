// Mirrors Postfix's util/dict_static.c: static:value answers every lookup
// with the same value; static:{value with spaces} keeps inner whitespace.
// With postmap -F the value names files whose contents are returned
// base64-encoded.
import { type DictOpener, type LookupResult, found, surrogateDict, DICT_FLAG_FIXED, DICT_FLAG_SRC_RHS_IS_FILE } from './dict.js';
import { filesToBase64 } from './pattern-common.js';
import { CHARS_BRACE, extractGroup } from '../util/tokens.js';

export const open: DictOpener = (name, _openFlags, dictFlags) => {
  let value = name;
  if (name[0] === CHARS_BRACE[0]) {
    const g = extractGroup(name, true);
    if (g.error !== undefined) return surrogateDict('static', name, dictFlags, `bad static:name syntax: ${g.error}`);
    value = g.text;
  }
  if (dictFlags & DICT_FLAG_SRC_RHS_IS_FILE) {
    const b64 = filesToBase64(value);
    if (!b64.ok) return surrogateDict('static', name, dictFlags, b64.reason);
    value = b64.value;
  }
  const result: LookupResult = found(value);
  return {
    type: 'static',
    name,
    flags: dictFlags | DICT_FLAG_FIXED,
    lookup: () => result,
    close: () => undefined,
  };
};
