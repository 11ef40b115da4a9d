// Mirrors Postfix's util/dict_env.c: environ:name looks keys up in this
// process's environment (and updates set variables). With fixed-case
// folding, the default for postmap, the key is lower-cased first, so
// "postmap -q HOME environ:x" finds nothing unless -f is given.
import { type DictOpener, NOT_FOUND, found, DICT_FLAG_FIXED, DICT_FLAG_FOLD_FIX } from './dict.js';
import { asciiLower } from './pattern-common.js';

export const open: DictOpener = (name, _openFlags, dictFlags) => {
  const dict = {
    type: 'environ',
    name,
    flags: dictFlags | DICT_FLAG_FIXED,
    fold(key: string): string {
      return dict.flags & DICT_FLAG_FOLD_FIX ? asciiLower(key) : key;
    },
    lookup(key: string) {
      const v = process.env[dict.fold(key)];
      return v === undefined ? NOT_FOUND : found(v);
    },
    update(key: string, value: string) {
      process.env[dict.fold(key)] = value;
      return { status: 'ok' } as const;
    },
    close: () => undefined,
  };
  return dict;
};
