// Mirrors Postfix's util/dict_nis.c as far as this project can: a nis:map
// table asks the NIS domain of the host (getdomainname(), read here from
// /proc/sys/kernel/domainname). With no domain set, or "(none)", Postfix
// warns once per process that NIS lookups are disabled and finds nothing;
// this does the same. A host that does have a NIS domain would need a YP
// client, which this project does not have: every lookup then warns and
// fails as a temporary error (mail is deferred, never wrongly accepted or
// rejected). Reads only that /proc file.
import { readFileSync } from 'node:fs';
import type { MsgLog } from '../util/msg.js';
import {
  type Dict, type DictOpener, type LookupResult, NOT_FOUND, lookupError, surrogateDict,
  O_RDONLY, DICT_FLAG_FIXED, DICT_FLAG_FOLD_FIX, DICT_FLAG_TRY0NULL, DICT_FLAG_TRY1NULL, STDERR_DICT_ENV,
} from './dict.js';
import { asciiLower } from './pattern-common.js';

/** The NIS domain, null when NIS lookups are disabled; read once per process. */
let domain: string | null | undefined;

/**
 * The programs (loggers) already told that NIS is disabled: Postfix warns
 * once per process, and each logger here stands for one Postfix process.
 */
const warned = new WeakSet<MsgLog>();

function nisDomain(log: MsgLog): string | null {
  if (domain === undefined) {
    let name = '';
    try {
      name = readFileSync('/proc/sys/kernel/domainname', 'latin1').replace(/\n$/, '');
    } catch {
      // no such file: treated as no domain
    }
    domain = name === '' || name.toLowerCase() === '(none)' ? null : name;
  }
  if (domain === null && !warned.has(log)) {
    warned.add(log);
    log.warning('dict_nis_init: NIS domain name not set - NIS lookups disabled');
  }
  return domain;
}

class NisDict implements Dict {
  readonly type = 'nis';
  constructor(readonly name: string, public flags: number, private readonly domain: string | null, private readonly log: MsgLog) {}

  lookup(key: string): LookupResult {
    if (this.domain === null) return NOT_FOUND;
    const k = this.flags & DICT_FLAG_FOLD_FIX ? asciiLower(key) : key;
    this.log.warning(`lookup ${k}, NIS domain ${this.domain}, map ${this.name}: NIS client not implemented in this mail system`);
    return lookupError('retry');
  }

  close(): void {}
}

export const open: DictOpener = (name, openFlags, dictFlags, env = STDERR_DICT_ENV) => {
  if (openFlags !== O_RDONLY) return surrogateDict('nis', name, dictFlags, `nis:${name} map requires O_RDONLY access mode`);
  let flags = dictFlags | DICT_FLAG_FIXED;
  if ((dictFlags & (DICT_FLAG_TRY1NULL | DICT_FLAG_TRY0NULL)) === 0) flags |= DICT_FLAG_TRY1NULL | DICT_FLAG_TRY0NULL;
  return new NisDict(name, flags, nisDomain(env.log), env.log);
};
