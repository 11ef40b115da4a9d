// Mirrors Postfix's util/dict.h: the one interface every lookup table type
// implements. A lookup that finds nothing, or a table that cannot be read,
// is a value (LookupResult), never an exception: callers such as smtpd must
// tell "not found" from "try again later" to answer 550 or 451. A table
// reports through the logger of the program that opened it (DictEnv), and
// takes its UTF-8 switch from there too: nothing here is process-wide.
import { stderrLog, type MsgLog } from '../util/msg.js';

/** Open flags (Postfix's open(2) flags for dict_open). */
export const O_RDONLY = 0;
export const O_RDWR = 2;
export const O_CREAT = 0o100;
export const O_TRUNC = 0o1000;

/** Dictionary flags, spelled and numbered as in Postfix's dict.h. */
export const DICT_FLAG_NONE = 0;
export const DICT_FLAG_DUP_WARN = 1 << 0; // warn about duplicate keys
export const DICT_FLAG_DUP_IGNORE = 1 << 1; // ignore duplicate keys
export const DICT_FLAG_TRY0NULL = 1 << 2; // do not append 0 to key/value
export const DICT_FLAG_TRY1NULL = 1 << 3; // append 0 to key/value
export const DICT_FLAG_FIXED = 1 << 4; // fixed key map
export const DICT_FLAG_PATTERN = 1 << 5; // keys are patterns
export const DICT_FLAG_LOCK = 1 << 6; // use temp lock before access
export const DICT_FLAG_DUP_REPLACE = 1 << 7; // replace dups if supported
export const DICT_FLAG_SYNC_UPDATE = 1 << 8; // sync updates if supported
export const DICT_FLAG_DEBUG = 1 << 9; // log access
export const DICT_FLAG_NO_REGSUB = 1 << 11; // disallow regexp substitution
export const DICT_FLAG_NO_PROXY = 1 << 12; // disallow proxy mapping
export const DICT_FLAG_NO_UNAUTH = 1 << 13; // disallow unauthenticated data
export const DICT_FLAG_FOLD_FIX = 1 << 14; // fold fixed-string keys
export const DICT_FLAG_FOLD_MUL = 1 << 15; // fold multi-string keys
export const DICT_FLAG_FOLD_ANY = DICT_FLAG_FOLD_FIX | DICT_FLAG_FOLD_MUL;
export const DICT_FLAG_OPEN_LOCK = 1 << 16; // perm lock if not multi-writer safe
export const DICT_FLAG_BULK_UPDATE = 1 << 17; // optimize for bulk updates
export const DICT_FLAG_MULTI_WRITER = 1 << 18; // multi-writer safe
export const DICT_FLAG_UTF8_REQUEST = 1 << 19; // activate UTF-8 if possible
export const DICT_FLAG_UTF8_ACTIVE = 1 << 20; // UTF-8 proxy layer is present
export const DICT_FLAG_SRC_RHS_IS_FILE = 1 << 21; // Map source RHS is a file

/** Postfix's default flags for a table opened for lookups by a daemon or postmap -q. */
export const DICT_FLAG_PARANOID = DICT_FLAG_NO_REGSUB | DICT_FLAG_NO_PROXY | DICT_FLAG_NO_UNAUTH;

/** Why a table could not answer: RETRY is a transient failure (451), CONFIG a broken table (451 + warning). */
export type DictError = 'retry' | 'config';

export type LookupResult =
  | { readonly status: 'found'; readonly value: string }
  | { readonly status: 'notfound' }
  | {
    readonly status: 'error'; readonly error: DictError; readonly reason?: string;
    /** Set where Postfix's program would die with this text (see UpdateResult). */
    readonly fatal?: string;
  };

export const NOT_FOUND: LookupResult = Object.freeze({ status: 'notfound' });

export function found(value: string): LookupResult {
  return { status: 'found', value };
}

export function lookupError(error: DictError, reason?: string): LookupResult {
  return { status: 'error', error, reason };
}

/** Result of an update or delete: done, not found (delete only), a duplicate refused, or a failure. */
export type UpdateResult =
  | { readonly status: 'ok' }
  | { readonly status: 'notfound' }
  | { readonly status: 'duplicate' }
  | {
    readonly status: 'error'; readonly error: DictError; readonly reason?: string;
    /**
     * Set where Postfix's program would die with this text (a duplicate key
     * without DICT_FLAG_DUP_WARN, a key the table cannot hold): a command's
     * edge prints it as "<program>: fatal: ..."; a daemon reports the error.
     */
    readonly fatal?: string;
  };

export type MaybePromise<T> = T | Promise<T>;

export interface Dict {
  /** Table type, e.g. "hash", "regexp". */
  readonly type: string;
  /** Table name as given after the colon. */
  readonly name: string;
  /** DICT_FLAG_* bits in effect. */
  flags: number;
  lookup(key: string): MaybePromise<LookupResult>;
  update?(key: string, value: string): MaybePromise<UpdateResult>;
  delete?(key: string): MaybePromise<UpdateResult>;
  /**
   * Optional: many lookups at once (postmap -q -), same results as calling
   * lookup() for each key; indexed tables answer them in key order, which
   * reads each page once instead of once per key.
   */
  lookupBatch?(keys: readonly string[]): MaybePromise<LookupResult[]>;
  /** All entries in the table's own order (postmap -s). */
  sequence?(): MaybePromise<Iterable<[string, string]>>;
  /** Makes pending updates durable (end of postmap bulk load). */
  sync?(): MaybePromise<void>;
  close(): MaybePromise<void>;
}

/**
 * A stand-in for a table that could not be opened (Postfix's dict_surrogate):
 * every access reports a configuration error, so a daemon answers 451 and
 * logs why instead of dying. Commands that need the table print `openError`
 * as a fatal message.
 */
export interface SurrogateDict extends Dict {
  readonly openError: string;
}

export function surrogateDict(type: string, name: string, dictFlags: number, reason: string): SurrogateDict {
  const failure = { status: 'error', error: 'config', reason } as const;
  return {
    type,
    name,
    flags: dictFlags,
    openError: reason,
    lookup: () => failure,
    update: () => failure,
    delete: () => failure,
    sequence: () => {
      throw new Error(reason);
    },
    close: () => undefined,
  };
}

export function isSurrogate(d: Dict): d is SurrogateDict {
  return typeof (d as SurrogateDict).openError === 'string';
}

/**
 * What a table gets from the program that opens it: where its warnings go
 * (a command's stderr, a daemon's maillog under that daemon's tag) and that
 * program's smtputf8_enable (Postfix's util_utf8_enable), which decides the
 * UTF-8 layer of tables opened with DICT_FLAG_UTF8_REQUEST.
 */
export interface DictEnv {
  readonly log: MsgLog;
  readonly utf8: boolean;
  /**
   * Postfix's dict_allow_surrogate off: a command passes a callback that
   * ends the program on the first table that cannot be opened (nested ones
   * in unionmap: or pipemap: too). A daemon leaves it unset and gets a
   * surrogate table that fails each lookup.
   */
  readonly onOpenFailure?: (reason: string) => void;
}

/** Diagnostics on stderr, UTF-8 off, surrogates allowed: tests and tools without main.cf. */
export const STDERR_DICT_ENV: DictEnv = Object.freeze({ log: stderrLog, utf8: false });

/**
 * What every table type module (src/dict/<type>.ts) exports for the
 * registry, which always passes the opening program's env.
 */
export type DictOpener = (name: string, openFlags: number, dictFlags: number, env?: DictEnv) => MaybePromise<Dict>;
