// Mirrors Postfix's util/match_list.c with the string and hostname matchers
// of util/match_ops.c, as global/string_list.c and global/domain_list.c use
// them: a parameter such as "mydestination = $myhostname, hash:/x, !foo"
// becomes a list of literal patterns, lookup tables and /file/name
// inclusions, searched in order, first match wins, '!' negates. Tables are
// opened here (through the shared TableCache); a table that cannot answer
// makes the search stop with an error, which callers turn into "try again".
import { readFileSync } from 'node:fs';
import { DICT_FLAG_FIXED, DICT_FLAG_LOCK, DICT_FLAG_UTF8_REQUEST, O_RDONLY, surrogateDict, type Dict } from '../dict/dict.js';
import { casefold, lowercaseAscii } from '../dict/utf8.js';
import { ConfigError } from '../config/config.js';
import { errnoText } from '../util/errno.js';
import { CHARS_BRACE, CHARS_COMMA_SP } from '../util/tokens.js';
import { defaultLog, dictLookup, TableCache, type AddressLog } from './maps.js';

/** MATCH_FLAG_PARENT: "example.com" also matches its subdomains. */
export const MATCH_FLAG_NONE = 0;
export const MATCH_FLAG_PARENT = 1 << 0;
/** MATCH_FLAG_RETURN: a table error is a warning and a non-match, not a fatal error. */
export const MATCH_FLAG_RETURN = 1 << 1;

/** Tables in lists are opened without key folding: the search string is folded instead. */
const LIST_DICT_FLAGS = DICT_FLAG_LOCK | DICT_FLAG_UTF8_REQUEST;

/** Postfix's casefold(): Unicode folding with SMTPUTF8 on (the caller's smtputf8_enable), ASCII lowercase otherwise. */
export function foldCase(text: string, utf8: boolean): string {
  return utf8 ? casefold(text) : lowercaseAscii(text);
}

/** strcasecmp_utf8() == 0. */
export function sameCaseless(a: string, b: string, utf8: boolean): boolean {
  return foldCase(a, utf8) === foldCase(b, utf8);
}

/** A table reference: anything with a colon that is not an [address literal]. */
function isDictionaryPattern(pattern: string): boolean {
  return pattern[0] !== '[' && pattern.includes(':');
}

type Pattern =
  | { negate: boolean; kind: 'text'; text: string }
  | { negate: boolean; kind: 'dict'; dict: Dict };

/** 'match' and 'nomatch' are answers; 'error' means a table failed and nothing can be said. */
export type MatchResult = 'match' | 'nomatch' | 'error';

type Matcher = (list: MatchList, name: string, pattern: Pattern) => Promise<MatchResult>;

export class MatchList {
  private constructor(
    /** The parameter name, used in warnings. */
    readonly pname: string,
    readonly flags: number,
    private readonly patterns: Pattern[],
    private readonly matcher: Matcher,
    readonly log: AddressLog,
    /** smtputf8_enable of the program the list belongs to: how names are case-folded. */
    readonly utf8: boolean,
  ) {}

  /** match_list_init with string_list semantics: exact, case-insensitive string matches. */
  static async stringList(pname: string, flags: number, text: string, opts: ListOptions = {}): Promise<MatchList> {
    const log = opts.log ?? opts.cache?.log ?? defaultLog;
    const cache = opts.cache ?? new TableCache(log);
    const patterns = await parseList(pname, text, true, cache, log);
    return new MatchList(pname, flags, patterns, matchString, log, cache.utf8);
  }

  /** match_list_init with domain_list semantics: hostnames, with parent-domain matching. */
  static async domainList(pname: string, flags: number, text: string, opts: ListOptions = {}): Promise<MatchList> {
    const log = opts.log ?? opts.cache?.log ?? defaultLog;
    const cache = opts.cache ?? new TableCache(log);
    const patterns = await parseList(pname, text, true, cache, log);
    return new MatchList(pname, flags, patterns, matchHostname, log, cache.utf8);
  }

  /** match_list_match: the first pattern that matches decides; '!' turns a match into a refusal. */
  async match(name: string): Promise<MatchResult> {
    const folded = foldCase(name, this.utf8);
    for (const pattern of this.patterns) {
      const r = await this.matcher(this, folded, pattern);
      if (r === 'match') return pattern.negate ? 'nomatch' : 'match';
      if (r === 'error') return 'error';
    }
    return 'nomatch';
  }

  /** match_error with MATCH_FLAG_RETURN: warn and report the failure (without it Postfix dies). */
  tableProblem(dict: Dict): MatchResult {
    const text = `${this.pname}: ${dict.type}:${dict.name}: table lookup problem`;
    if (!(this.flags & MATCH_FLAG_RETURN)) throw new ConfigError(text);
    this.log.warning(text);
    return 'error';
  }
}

export interface ListOptions {
  /** Tables already opened by this configuration (shared, as Postfix's dict_handle shares them). */
  cache?: TableCache;
  log?: AddressLog;
}

/**
 * match_list_parse: splits the text at commas and white space outside
 * braces. A "#" item ends the list with a warning; "/file/name" contributes
 * the lines of that file (comment lines skipped), each inheriting the
 * negation in front of the file name.
 */
async function parseList(pname: string, text: string, initMatch: boolean, cache: TableCache, log: AddressLog): Promise<Pattern[]> {
  const out: Pattern[] = [];
  for (const { token: start, rest } of splitItems(text)) {
    if (start.startsWith('#')) {
      log.warning(`${pname}: comment at end of line is not supported: ${start} ${rest}`);
      break;
    }
    let match = initMatch;
    let item = start;
    while (item.startsWith('!')) {
      match = !match;
      item = item.slice(1);
    }
    if (item === '') throw new ConfigError(`${pname}: no pattern after '!'`);
    if (item.startsWith('/')) {
      out.push(...(await parseFile(pname, item, match, cache, log)));
    } else if (isDictionaryPattern(item)) {
      out.push({ negate: !match, kind: 'dict', dict: await cache.open(item, O_RDONLY, LIST_DICT_FLAGS) });
    } else {
      out.push({ negate: !match, kind: 'text', text: foldCase(item, cache.utf8) });
    }
  }
  return out;
}

/** mystrtokq over CHARS_COMMA_SP with braces: each item and the raw text after its separator. */
function* splitItems(text: string): Generator<{ token: string; rest: string }> {
  let i = 0;
  for (;;) {
    while (i < text.length && CHARS_COMMA_SP.includes(text[i]!)) i++;
    if (i >= text.length) return;
    const start = i;
    let level = 0;
    for (; i < text.length; i++) {
      const ch = text[i]!;
      if (ch === CHARS_BRACE[0]) level++;
      else if (level > 0 && ch === CHARS_BRACE[1]) level--;
      else if (level === 0 && CHARS_COMMA_SP.includes(ch)) break;
    }
    const token = text.slice(start, i);
    if (i < text.length) i++;
    yield { token, rest: text.slice(i) };
  }
}

/** One /file/name item: its lines as patterns, or a table that always fails when it cannot be read. */
async function parseFile(pname: string, path: string, match: boolean, cache: TableCache, log: AddressLog): Promise<Pattern[]> {
  let content: string;
  try {
    content = readFileSync(path, 'latin1');
  } catch (e) {
    const reason = `open file ${path}: ${errnoText(e as NodeJS.ErrnoException)}`;
    log.error(reason);
    return [{ negate: !match, kind: 'dict', dict: surrogateDict('non-existent', path, LIST_DICT_FLAGS, reason) }];
  }
  const out: Pattern[] = [];
  for (const line of content.split(/(?<=\n)/)) {
    if (line.startsWith('#')) continue;
    out.push(...(await parseList(pname, line, match, cache, log)));
  }
  return out;
}

/** match_string: a table lookup of the whole string, or an exact comparison. */
const matchString: Matcher = async (list, name, pattern) => {
  if (pattern.kind === 'text') return name === pattern.text ? 'match' : 'nomatch';
  const r = await dictLookup(pattern.dict, name, list.log);
  if (r.status === 'found') return 'match';
  if (r.status === 'error') return list.tableProblem(pattern.dict);
  return 'nomatch';
};

/**
 * match_hostname: a table is asked for the name, then (fixed-key tables
 * only) for each parent: "sub.example.com" tries ".example.com" and
 * ".com", or "example.com" and "com" when parent-style matching is on. A
 * literal pattern matches the name, a ".parent" pattern (or with
 * parent-style matching, a bare parent) matches its subdomains.
 */
const matchHostname: Matcher = async (list, name, pattern) => {
  const parent = (list.flags & MATCH_FLAG_PARENT) !== 0;
  if (pattern.kind === 'dict') {
    const dict = pattern.dict;
    let entry = 0;
    for (;;) {
      if (entry === 0 || dict.flags & DICT_FLAG_FIXED) {
        const r = await dictLookup(dict, name.slice(entry), list.log);
        if (r.status === 'found') return 'match';
        if (r.status === 'error') return list.tableProblem(dict);
      }
      const dot = name.indexOf('.', entry + 1);
      if (dot < 0) return 'nomatch';
      entry = parent ? dot + 1 : dot;
      if (entry >= name.length) return 'nomatch';
    }
  }
  const pat = pattern.text;
  if (name === pat) return 'match';
  const tail = name.length - pat.length;
  if (parent) {
    if (tail > 0 && name[tail - 1] === '.' && name.slice(tail) === pat) return 'match';
  } else if (pat.startsWith('.')) {
    if (tail > 0 && name.slice(tail) === pat) return 'match';
  }
  return 'nomatch';
};

/**
 * match_parent_style (global/match_parent_style.c): MATCH_FLAG_PARENT when
 * the parameter is listed in parent_domain_matches_subdomains, else 0.
 */
export async function matchParentStyle(parDomMatch: string, name: string, opts: ListOptions = {}): Promise<number> {
  const list = await MatchList.stringList('parent_domain_matches_subdomains', MATCH_FLAG_NONE, parDomMatch, opts);
  return (await list.match(name)) === 'match' ? MATCH_FLAG_PARENT : 0;
}
