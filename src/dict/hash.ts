// Mirrors Postfix's Berkeley DB hash: tables (util/dict_db.c), stored here as LMDB in FILE.db.
// The registry loads this module for "hash:name"; the work is in lmdb-store.ts.
import type { DictOpener } from './dict.js';
import { openStore } from './lmdb-store.js';

export const open: DictOpener = (name, openFlags, dictFlags, env) => openStore('hash', name, openFlags, dictFlags, env);
