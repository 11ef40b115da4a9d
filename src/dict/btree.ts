// Mirrors Postfix's Berkeley DB btree: tables (util/dict_db.c), stored here as LMDB in FILE.db.
// The registry loads this module for "btree:name"; the work is in lmdb-store.ts.
import type { DictOpener } from './dict.js';
import { openStore } from './lmdb-store.js';

export const open: DictOpener = (name, openFlags, dictFlags, env) => openStore('btree', name, openFlags, dictFlags, env);
