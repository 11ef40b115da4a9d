// Mirrors Postfix's lmdb: tables (util/dict_lmdb.c), FILE.lmdb, interchangeable with Postfix's.
// The registry loads this module for "lmdb:name"; the work is in lmdb-store.ts.
import type { DictOpener } from './dict.js';
import { openStore } from './lmdb-store.js';

export const open: DictOpener = (name, openFlags, dictFlags, env) => openStore('lmdb', name, openFlags, dictFlags, env);
