// Mirrors Postfix's util/dict_random.c: randmap:{value1, value2, ...}
// answers every lookup with one of its values, picked at random each time
// (used for spreading mail over transports or relays). Read-only; with
// postmap -F the values name files returned base64-encoded.
import { type DictOpener, found, surrogateDict, DICT_FLAG_PATTERN, DICT_FLAG_SRC_RHS_IS_FILE, O_RDONLY } from './dict.js';
import { filesToBase64 } from './pattern-common.js';
import { balancedLength, tokenizeQuoted, CHARS_COMMA_SP } from '../util/tokens.js';

export const open: DictOpener = (name, openFlags, dictFlags) => {
  if (openFlags !== O_RDONLY) {
    return surrogateDict('randmap', name, dictFlags, `randmap:${name} map requires O_RDONLY access mode`);
  }
  const syntax = `bad syntax: "randmap:${name}"; need "randmap:{value...}"`;
  const len = balancedLength(name);
  if (len === 0 || len !== name.length || len === 2) return surrogateDict('randmap', name, dictFlags, syntax);
  const replies: string[] = [];
  for (const word of tokenizeQuoted(name.slice(1, -1), CHARS_COMMA_SP)) {
    if (dictFlags & DICT_FLAG_SRC_RHS_IS_FILE) {
      const b64 = filesToBase64(word);
      if (!b64.ok) return surrogateDict('randmap', name, dictFlags, b64.reason);
      replies.push(b64.value);
    } else {
      replies.push(word);
    }
  }
  if (replies.length === 0) return surrogateDict('randmap', name, dictFlags, syntax);
  return {
    type: 'randmap',
    name,
    flags: dictFlags | DICT_FLAG_PATTERN,
    lookup: () => found(replies[Math.floor(Math.random() * replies.length)]!),
    close: () => undefined,
  };
};
