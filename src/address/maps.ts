// Mirrors Postfix's global/maps.c, plus the table sharing of util/dict.c
// (dict_handle/dict_register): a parameter value such as
// "virtual_alias_maps = hash:/etc/postfix/virtual, regexp:/etc/postfix/re"
// becomes a list of tables, opened once, searched in order. The first table
// that has the key answers; a table that fails stops the search with an
// error (the caller answers "try again later"), as does an empty value.
// Tables are opened with the logger and UTF-8 switch of the program whose
// cache this is (DictEnv), so their warnings carry that program's tag.
import {
  DICT_FLAG_PATTERN, NOT_FOUND, O_RDONLY, isSurrogate, lookupError,
  type Dict, type DictEnv, type LookupResult,
} from '../dict/dict.js';
import { dictOpen } from '../dict/registry.js';
import { stderrLog, type MsgLog } from '../util/msg.js';
import { tokenizeQuoted, CHARS_BRACE, CHARS_COMMA_SP } from '../util/tokens.js';

/**
 * Where the address layer's diagnostics go: util/msg.ts's MsgLog. A daemon
 * passes its MailLogger; the default writes Postfix-style lines on stderr.
 */
export type AddressLog = MsgLog;

export const defaultLog: AddressLog = stderrLog;

/**
 * One daemon configuration's open tables, keyed as Postfix registers them
 * ("type:name" plus open and dictionary flags), so that each table is opened
 * once however many parameters name it. A reloaded configuration gets a new
 * cache, hence freshly opened tables.
 */
export class TableCache {
  private readonly tables = new Map<string, Promise<Dict>>();
  /** What the tables are opened with: this program's logger and smtputf8_enable. */
  readonly env: DictEnv;

  /**
   * log: the program's logger (its tables warn under its tag, as each
   * Postfix daemon's do); utf8: its smtputf8_enable.
   */
  constructor(readonly log: AddressLog = defaultLog, readonly utf8 = false) {
    this.env = { log, utf8 };
  }

  open(spec: string, openFlags: number, dictFlags: number): Promise<Dict> {
    const key = `${spec}(${openFlags.toString(8)},${dictFlags})`;
    let dict = this.tables.get(key);
    if (dict === undefined) {
      dict = dictOpen(spec, openFlags, dictFlags, this.env).then((d) => {
        // dict_surrogate in a daemon: say so now, and again at each access.
        if (isSurrogate(d)) this.log.error(d.openError);
        return d;
      });
      this.tables.set(key, dict);
    }
    return dict;
  }

  /** Closes every table opened through this cache. */
  async close(): Promise<void> {
    const all = [...this.tables.values()];
    this.tables.clear();
    for (const d of all) await (await d).close();
  }
}

/**
 * dict_get: one table lookup. A table that could not be opened reports
 * itself unavailable at every access, as Postfix's surrogate table does.
 */
export async function dictLookup(dict: Dict, key: string, log: AddressLog = defaultLog): Promise<LookupResult> {
  if (isSurrogate(dict)) {
    log.warning(`${dict.type}:${dict.name} is unavailable. ${dict.openError}`);
    return lookupError('retry', dict.openError);
  }
  return await dict.lookup(key);
}

/** The flags maps_find filters on; a surrogate counts as a pattern table, as in Postfix. */
function searchFlags(dict: Dict): number {
  return isSurrogate(dict) ? dict.flags | DICT_FLAG_PATTERN : dict.flags;
}

/** The "type:name" items of a table list parameter (mystrtokq at commas and white space, braces kept). */
export function splitTableList(mapNames: string): string[] {
  return tokenizeQuoted(mapNames, CHARS_COMMA_SP, CHARS_BRACE);
}

export class Maps {
  private constructor(
    /** Used in diagnostics; usually the parameter name. */
    readonly title: string,
    readonly tables: readonly Dict[],
    private readonly log: AddressLog,
  ) {}

  /**
   * maps_create: opens each table of the list read-only with the given
   * DICT_FLAG_* bits (FOLD_FIX, NO_REGSUB, UTF8_REQUEST as the caller's
   * Postfix counterpart passes them). An empty list gives an empty Maps.
   */
  static async create(title: string, mapNames: string, dictFlags: number, cache?: TableCache): Promise<Maps> {
    const tc = cache ?? new TableCache();
    const tables: Dict[] = [];
    for (const spec of splitTableList(mapNames)) tables.push(await tc.open(spec, O_RDONLY, dictFlags));
    return new Maps(title, tables, tc.log);
  }

  get isEmpty(): boolean {
    return this.tables.length === 0;
  }

  /**
   * maps_find: the first table that has the key answers. With flags, only
   * tables having one of those DICT_FLAG_* bits are asked (DICT_FLAG_FIXED
   * keeps partial keys such as "@domain" away from regexp tables). An empty
   * key is never looked up.
   */
  async find(key: string, flags = 0): Promise<LookupResult> {
    if (key === '') return NOT_FOUND;
    for (const dict of this.tables) {
      if (flags !== 0 && (searchFlags(dict) & flags) === 0) continue;
      const r = await dictLookup(dict, key, this.log);
      if (r.status === 'found') {
        if (r.value === '') {
          this.log.warning(`${this.title} lookup of ${key} returns an empty string result`);
          this.log.warning(`${this.title} should return NO RESULT in case of NOT FOUND`);
          return lookupError('config', 'empty string result');
        }
        return r;
      }
      if (r.status === 'error') {
        this.log.warning(`${dict.type}:${dict.name} lookup error for "${key}"`);
        return r;
      }
    }
    return NOT_FOUND;
  }
}
