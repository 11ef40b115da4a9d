// Mirrors Postfix's util/dict_open.c and global/mail_dict.c: the table of
// lookup table types, "type:name" parsing, and dictOpen(). Each type lives in
// src/dict/<type>.ts exporting `open: DictOpener`, loaded only when a table of
// that type is opened, so postconf or a regexp lookup never loads LMDB.
// Touches no files itself; the type modules do.
import { DICT_FLAG_PATTERN, STDERR_DICT_ENV, isSurrogate, surrogateDict, type Dict, type DictEnv, type DictOpener } from './dict.js';

export { STDERR_DICT_ENV } from './dict.js';
import { needUtf8Activation, utf8Activate } from './utf8.js';

type TypeModule = { open?: DictOpener };

/**
 * Loader of each supported type. Literal import() paths, so that the bundler
 * keeps each type's code apart and evaluates it only when first opened.
 */
const TYPE_MODULES: Readonly<Record<string, () => Promise<TypeModule>>> = {
  btree: () => import('./btree.js'),
  cidr: () => import('./cidr.js'),
  environ: () => import('./environ.js'),
  fail: () => import('./fail.js'),
  hash: () => import('./hash.js'),
  inline: () => import('./inline.js'),
  internal: () => import('./internal.js'),
  lmdb: () => import('./lmdb.js'),
  memcache: () => import('./memcache.js'),
  nis: () => import('./nis.js'),
  pcre: () => import('./pcre.js'),
  pipemap: () => import('./pipemap.js'),
  proxy: () => import('./proxy.js'),
  randmap: () => import('./randmap.js'),
  regexp: () => import('./regexp.js'),
  socketmap: () => import('./socketmap.js'),
  static: () => import('./static.js'),
  tcp: () => import('./tcp.js'),
  texthash: () => import('./texthash.js'),
  unionmap: () => import('./unionmap.js'),
  unix: () => import('./unix.js'),
};

/** Types that postmap/postalias can build in bulk (global/mkmap_open.c). */
const MKMAP_TYPES = new Set(['btree', 'fail', 'hash', 'lmdb']);

/** The types this project supports, sorted as `postconf -m` prints them. */
export function dictTypeNames(): string[] {
  return Object.keys(TYPE_MODULES).sort();
}

export function isDictType(type: string): boolean {
  return Object.prototype.hasOwnProperty.call(TYPE_MODULES, type);
}

export function isMkmapType(type: string): boolean {
  return MKMAP_TYPES.has(type);
}

export type DictSpec = { type: string; name: string };

/**
 * Splits "type:name" at the first colon, as split_at() does; the name keeps
 * any further colons and braces (inline:{a=b}, proxy:hash:/x). A spec
 * without a colon, or with an empty side, is Postfix's syntax error.
 */
export function parseDictSpec(spec: string): DictSpec | { error: string } {
  const colon = spec.indexOf(':');
  if (colon < 0) return { error: `open dictionary: expecting "type:name" form instead of "${spec}"` };
  const type = spec.slice(0, colon);
  const name = spec.slice(colon + 1);
  if (type === '' || name === '') return { error: `open dictionary: expecting "type:name" form instead of "${type}:${name}"` };
  return { type, name };
}

/**
 * Splits a parameter value such as "hash:/a, inline:{x=1, y=2}" into table
 * specs at commas and whitespace outside braces (mystrtokq with "{}").
 */
export function splitMapList(value: string): string[] {
  const out: string[] = [];
  let cur = '';
  let depth = 0;
  for (const ch of value) {
    if (depth === 0 && (ch === ',' || ch === ' ' || ch === '\t' || ch === '\r' || ch === '\n')) {
      if (cur !== '') out.push(cur);
      cur = '';
      continue;
    }
    if (ch === '{') depth++;
    else if (ch === '}' && depth > 0) depth--;
    cur += ch;
  }
  if (cur !== '') out.push(cur);
  return out;
}

const openers = new Map<string, DictOpener>();


/** Loads a type's module; undefined when the type is unknown or its module is missing. */
export async function loadOpener(type: string): Promise<DictOpener | undefined> {
  const cached = openers.get(type);
  if (cached) return cached;
  if (!isDictType(type)) return undefined;
  try {
    const mod = await TYPE_MODULES[type]!();
    if (typeof mod.open !== 'function') return undefined;
    openers.set(type, mod.open);
    return mod.open;
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ERR_MODULE_NOT_FOUND') return undefined;
    throw e;
  }
}

function surrogate(env: DictEnv, type: string, name: string, dictFlags: number, reason: string): Dict {
  env.onOpenFailure?.(reason);
  return surrogateDict(type, name, dictFlags | DICT_FLAG_PATTERN, reason);
}

/** dict_open3: opens type:name; failures come back as a surrogate table carrying the reason. */
export async function dictOpen3(type: string, name: string, openFlags: number, dictFlags: number, env: DictEnv = STDERR_DICT_ENV): Promise<Dict> {
  if (type === '' || name === '') {
    return surrogate(env, type, name, dictFlags, `open dictionary: expecting "type:name" form instead of "${type}:${name}"`);
  }
  const open = await loadOpener(type);
  if (!open) return surrogate(env, type, name, dictFlags, `unsupported dictionary type: ${type}`);
  const dict = await open(name, openFlags, dictFlags, env);
  if (isSurrogate(dict)) env.onOpenFailure?.(dict.openError);
  return needUtf8Activation(dictFlags, env.utf8) ? utf8Activate(dict, env.log) : dict;
}

/** dict_open: opens "type:name". */
export async function dictOpen(spec: string, openFlags: number, dictFlags: number, env: DictEnv = STDERR_DICT_ENV): Promise<Dict> {
  const parsed = parseDictSpec(spec);
  if ('error' in parsed) return surrogate(env, '', spec, dictFlags, parsed.error);
  return dictOpen3(parsed.type, parsed.name, openFlags, dictFlags, env);
}
