// Mirrors Postfix's util/dict_union.c: unionmap:{type:name, ...} asks every
// member table and joins the values found, comma-separated, in member
// order. A member that fails makes the whole lookup fail. Members are
// opened through the registry with the caller's flags; the first member's
// fixed/pattern nature becomes the union's.
import {
  type Dict, type DictOpener, type LookupResult, NOT_FOUND, found, surrogateDict,
  O_RDONLY, DICT_FLAG_FIXED, DICT_FLAG_PATTERN, STDERR_DICT_ENV, type DictEnv,
} from './dict.js';
import { CHARS_BRACE, CHARS_COMMA_SP, balancedLength, tokenizeQuoted } from '../util/tokens.js';

/** The member specs of "{type:name, ...}", or null when the syntax is bad. */
export function memberSpecs(name: string): string[] | null {
  const len = balancedLength(name, CHARS_BRACE);
  if (len === 0 || len !== name.length) return null;
  const inner = name.slice(1, len - 1);
  if (inner.length === 0) return null;
  const specs = tokenizeQuoted(inner, CHARS_COMMA_SP, CHARS_BRACE);
  if (specs.length === 0 || specs.some((s) => !s.includes(':'))) return null;
  return specs;
}

/**
 * Parses and opens the members of unionmap: or pipemap:. Returns the open
 * members, or a surrogate carrying Postfix's complaint.
 */
export async function openMembers(type: string, name: string, openFlags: number, dictFlags: number, env: DictEnv): Promise<Dict[] | Dict> {
  if (openFlags !== O_RDONLY) return surrogateDict(type, name, dictFlags, `${type}:${name} map requires O_RDONLY access mode`);
  const specs = memberSpecs(name);
  if (!specs) return surrogateDict(type, name, dictFlags, `bad syntax: "${type}:${name}"; need "${type}:{type:name...}"`);
  const { dictOpen } = await import('./registry.js');
  const members: Dict[] = [];
  for (const spec of specs) members.push(await dictOpen(spec, openFlags, dictFlags, env));
  return members;
}

/** The union's or pipeline's own flags: the caller's, plus the first member's fixed/pattern bits. */
export function memberFlags(members: Dict[], dictFlags: number): number {
  return dictFlags | (members[0]!.flags & (DICT_FLAG_FIXED | DICT_FLAG_PATTERN));
}

class UnionDict implements Dict {
  readonly type = 'unionmap';
  constructor(readonly name: string, public flags: number, private readonly members: Dict[]) {}

  async lookup(key: string): Promise<LookupResult> {
    // An empty value adds no separator, exactly like Postfix's reply buffer.
    let joined = '';
    for (const m of this.members) {
      const r = await m.lookup(key);
      if (r.status === 'found') joined += (joined.length > 0 ? ',' : '') + r.value;
      else if (r.status === 'error') return r;
    }
    return joined.length > 0 ? found(joined) : NOT_FOUND;
  }

  async close(): Promise<void> {
    for (const m of this.members) await m.close();
  }
}

export const open: DictOpener = async (name, openFlags, dictFlags, env = STDERR_DICT_ENV) => {
  const members = await openMembers('unionmap', name, openFlags, dictFlags, env);
  if (!Array.isArray(members)) return members;
  return new UnionDict(name, memberFlags(members, dictFlags), members);
};
