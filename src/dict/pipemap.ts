// Mirrors Postfix's util/dict_pipe.c: pipemap:{type:name, ...} looks the key
// up in the first member, that result up in the second, and so on; the last
// result is the answer. Any member that finds nothing, or fails, ends the
// lookup with that outcome.
import { type Dict, type DictOpener, type LookupResult, found, STDERR_DICT_ENV } from './dict.js';
import { memberFlags, openMembers } from './unionmap.js';

class PipeDict implements Dict {
  readonly type = 'pipemap';
  constructor(readonly name: string, public flags: number, private readonly members: Dict[]) {}

  async lookup(key: string): Promise<LookupResult> {
    let query = key;
    for (const m of this.members) {
      const r = await m.lookup(query);
      if (r.status !== 'found') return r;
      query = r.value;
    }
    return found(query);
  }

  async close(): Promise<void> {
    for (const m of this.members) await m.close();
  }
}

export const open: DictOpener = async (name, openFlags, dictFlags, env = STDERR_DICT_ENV) => {
  const members = await openMembers('pipemap', name, openFlags, dictFlags, env);
  if (!Array.isArray(members)) return members;
  return new PipeDict(name, memberFlags(members, dictFlags), members);
};
