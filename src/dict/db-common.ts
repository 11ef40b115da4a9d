// Mirrors the query side of Postfix's global/db_common.c, shared by table
// types that build a server-side key from the lookup key: the template
// escapes (%s whole key, %u local part, %d domain, %[1-9] domain labels from
// the right, %S %U %D the same for the key, %% a percent sign) and the
// "domain" setting that limits lookups to keys in listed domains. Opens the
// domain list's tables through the registry; touches nothing else.
import { type Dict, O_RDONLY, DICT_FLAG_LOCK, DICT_FLAG_UTF8_REQUEST, type DictEnv } from './dict.js';
import { asciiLower } from './pattern-common.js';
import { CfgError } from './cfg-parser.js';

const KEY_DOMAIN = 1 << 0;
const KEY_USER = 1 << 1;

/** A parsed query template (db_common_parse with query = 1). */
export interface KeyTemplate {
  readonly format: string;
  readonly flags: number;
  /** Highest %[1-9] label index used. */
  readonly nparts: number;
}

/** db_common_parse(): the template's needs; CfgError for an unknown escape. */
export function parseKeyTemplate(dictName: string, format: string): KeyTemplate {
  let flags = 0;
  let nparts = 0;
  for (let i = 0; i < format.length; i++) {
    if (format[i] !== '%') continue;
    const c = format[++i];
    if (c === '%' || c === 's' || c === 'S') continue;
    if (c === 'u' || c === 'U') flags |= KEY_USER;
    else if (c === 'd' || c === 'D') flags |= KEY_DOMAIN;
    else if (c !== undefined && c >= '1' && c <= '9') {
      nparts = Math.max(nparts, Number(c));
      flags |= KEY_DOMAIN;
    } else {
      throw new CfgError(`db_common_parse: ${dictName}: Invalid query template: ${format}`);
    }
  }
  return { format, flags, nparts };
}

/**
 * db_common_expand() for a query: the expanded key, or null when the key
 * cannot fill the template (no domain for %d, an empty local part for %u,
 * too few or empty labels for %[1-9]).
 */
export function expandKey(t: KeyTemplate, value: string): string | null {
  const at = value.lastIndexOf('@');
  const domain = t.flags & (KEY_DOMAIN | KEY_USER) && at >= 0 ? value.slice(at + 1) : null;
  if ((t.flags & KEY_DOMAIN && !domain) || (t.flags & KEY_USER && at === 0)) return null;
  let labels: string[] = [];
  if (t.nparts > 0) {
    // argv_split on "." drops empty fields, so "a..b" has two labels.
    labels = (domain ?? '').split('.').filter((l) => l !== '');
    if (labels.length < t.nparts) return null;
  }
  const user = domain !== null ? value.slice(0, at) : value;
  let out = '';
  for (let i = 0; i < t.format.length; i++) {
    const ch = t.format[i]!;
    if (ch !== '%') {
      out += ch;
      continue;
    }
    const c = t.format[++i]!;
    if (c === '%') out += '%';
    else if (c === 's' || c === 'S') out += value;
    else if (c === 'u' || c === 'U') out += user;
    else if (c === 'd' || c === 'D') out += domain ?? '';
    else out += labels[labels.length - Number(c)] ?? '';
  }
  return out;
}

type DomainPattern = { negate: boolean; text: string } | { negate: boolean; dict: Dict };

/** What a domain check says: the key is in scope, out of scope, or a table failed. */
export type DomainCheck = 'match' | 'nomatch' | 'error';

/**
 * The "domain" setting: Postfix's string_list (exact, case-insensitive
 * names, "!" to exclude, type:table lookups), first match wins.
 */
export class DomainList {
  private constructor(private readonly pname: string, private readonly patterns: DomainPattern[]) {}

  /** string_list_init(); tables in the list are opened here. */
  static async parse(pname: string, text: string, env: DictEnv): Promise<DomainList> {
    const { dictOpen } = await import('./registry.js');
    const patterns: DomainPattern[] = [];
    for (let item of text.split(/[, \t\r\n]+/).filter((w) => w !== '')) {
      let negate = false;
      while (item.startsWith('!')) {
        negate = !negate;
        item = item.slice(1);
      }
      if (item === '') throw new CfgError(`${pname}: no pattern after '!'`);
      if (item[0] !== '[' && item.includes(':')) {
        patterns.push({ negate, dict: await dictOpen(item, O_RDONLY, DICT_FLAG_LOCK | DICT_FLAG_UTF8_REQUEST, env) });
      } else {
        patterns.push({ negate, text: asciiLower(item) });
      }
    }
    return new DomainList(pname, patterns);
  }

  /** match_list_match() with MATCH_FLAG_RETURN: a failing table is a warning and an error. */
  async match(domain: string, warn: (text: string) => void): Promise<DomainCheck> {
    const name = asciiLower(domain);
    for (const p of this.patterns) {
      let hit: boolean;
      if ('text' in p) {
        hit = p.text === name;
      } else {
        const r = await p.dict.lookup(name);
        if (r.status === 'error') {
          warn(`${this.pname}: ${p.dict.type}:${p.dict.name}: table lookup problem`);
          return 'error';
        }
        hit = r.status === 'found';
      }
      if (hit) return p.negate ? 'nomatch' : 'match';
    }
    return 'nomatch';
  }

  async close(): Promise<void> {
    for (const p of this.patterns) if ('dict' in p) await p.dict.close();
  }
}

/** db_common_check_domain(): keys need a non-empty local part and a listed domain. */
export async function checkDomain(list: DomainList | null, key: string, warn: (text: string) => void): Promise<DomainCheck> {
  if (!list) return 'match';
  const at = key.lastIndexOf('@');
  if (at <= 0) return 'nomatch';
  return list.match(key.slice(at + 1), warn);
}
