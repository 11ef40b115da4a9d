// Mirrors Postfix's util/dict_ht.c, the "internal" table type: a table
// held in the memory of the process that opened it. It starts empty, takes
// updates (a new value replaces the old one, with no duplicate warning),
// deletes and lookups, and is gone when the process ends; postmap can query
// or dump one, which finds nothing. Touches no files.
import {
  type Dict, type DictOpener, type LookupResult, type UpdateResult, NOT_FOUND, found,
  DICT_FLAG_FIXED, DICT_FLAG_FOLD_FIX,
} from './dict.js';
import { asciiLower } from './pattern-common.js';

class InternalDict implements Dict {
  readonly type = 'internal';
  private readonly entries = new Map<string, string>();

  constructor(readonly name: string, public flags: number) {}

  private key(key: string): string {
    return this.flags & DICT_FLAG_FOLD_FIX ? asciiLower(key) : key;
  }

  lookup(key: string): LookupResult {
    const value = this.entries.get(this.key(key));
    return value === undefined ? NOT_FOUND : found(value);
  }

  update(key: string, value: string): UpdateResult {
    this.entries.set(this.key(key), value);
    return { status: 'ok' };
  }

  delete(key: string): UpdateResult {
    return this.entries.delete(this.key(key)) ? { status: 'ok' } : { status: 'notfound' };
  }

  sequence(): Iterable<[string, string]> {
    return [...this.entries];
  }

  close(): void {
    this.entries.clear();
  }
}

export const open: DictOpener = (name, _openFlags, dictFlags) => new InternalDict(name, dictFlags | DICT_FLAG_FIXED);
