// Mirrors Postfix's global/namadr_list.c over util/match_list.c and
// util/match_ops.c: host lists such as mynetworks,
// smtpd_authorized_xclient_hosts or smtpd_forbid_bare_newline_exclusions,
// whose patterns (names, .parent domains, addresses, [addresses],
// net/masks, /file/name includes, type:table, "!" negation) are matched
// first-hit-wins against a client name, then its address. The address
// layer's MatchList covers string and domain lists; this adds the
// address matcher. Tables are shared through the service's TableCache.
import { readFileSync } from 'node:fs';
import { DICT_FLAG_FIXED, DICT_FLAG_LOCK, DICT_FLAG_UTF8_REQUEST, O_RDONLY, surrogateDict, type Dict } from '../dict/dict.js';
import { formatAddress, maskAddress, parseAddress } from '../dict/ipaddr.js';
import { tokenizeQuoted, CHARS_COMMA_SP } from '../util/tokens.js';
import { errnoText } from '../util/errno.js';
import { dictLookup, type TableCache } from '../address/maps.js';
import { foldCase, MATCH_FLAG_PARENT, MATCH_FLAG_RETURN } from '../address/match-list.js';
import type { MailLogger } from '../log/logger.js';

export { MATCH_FLAG_PARENT, MATCH_FLAG_RETURN };

const LIST_DICT_FLAGS = DICT_FLAG_LOCK | DICT_FLAG_UTF8_REQUEST;

type Pattern = { negate: boolean; text: string; dict?: Dict; net?: { net: Uint8Array; bits: number } | string };

/** 'error' when a table failed (the list then answers "no match" and sets `error`). */
type Step = 'match' | 'nomatch' | 'error';

export class NamadrList {
  /** Non-zero after a table failure in the last match (the list's error field). */
  error = 0;

  private constructor(
    readonly pname: string,
    readonly flags: number,
    private readonly patterns: Pattern[],
    private readonly log: MailLogger,
    /** smtputf8_enable of this smtpd: how names are case-folded. */
    private readonly utf8: boolean,
  ) {}

  static async create(pname: string, flags: number, text: string, cache: TableCache, log: MailLogger): Promise<NamadrList> {
    const patterns: Pattern[] = [];
    await parseInto(patterns, pname, text, true, cache, log);
    return new NamadrList(pname, flags, patterns, log, cache.utf8);
  }

  get isEmpty(): boolean {
    return this.patterns.length === 0;
  }

  /** namadr_list_match(): each pattern is tried on the name, then on the address. */
  async match(name: string, addr: string): Promise<boolean> {
    this.error = 0;
    const fname = foldCase(name, this.utf8);
    const faddr = foldCase(addr, this.utf8);
    for (const p of this.patterns) {
      let r = await this.matchHostname(fname, p);
      if (r === 'nomatch') r = await this.matchHostaddr(faddr, p);
      if (r === 'match') return !p.negate;
      if (r === 'error') return false;
    }
    return false;
  }

  private async lookup(p: Pattern, key: string): Promise<Step> {
    const r = await dictLookup(p.dict!, key, this.log);
    if (r.status === 'found') return 'match';
    if (r.status === 'notfound') return 'nomatch';
    this.error = r.error === 'retry' ? -1 : -2;
    this.problem(`${p.dict!.type}:${p.dict!.name}: table lookup problem`);
    return 'error';
  }

  /** match_error(): a warning with MATCH_FLAG_RETURN, else fatal. */
  private problem(text: string): void {
    if (this.flags & MATCH_FLAG_RETURN) this.log.warning(`${this.pname}: ${text}`);
    else this.log.fatal(`${this.pname}: ${text}`);
  }

  /** match_hostname(). */
  private async matchHostname(name: string, p: Pattern): Promise<Step> {
    if (p.dict) {
      let entry = name;
      let first = true;
      while (entry !== '') {
        if (first || p.dict.flags & DICT_FLAG_FIXED) {
          const r = await this.lookup(p, entry);
          if (r !== 'nomatch') return r;
        }
        first = false;
        const dot = entry.indexOf('.', 1);
        if (dot < 0) break;
        entry = this.flags & MATCH_FLAG_PARENT ? entry.slice(dot + 1) : entry.slice(dot);
      }
      return 'nomatch';
    }
    const pat = p.text;
    if (name === pat) return 'match';
    const tail = name.length - pat.length;
    if (this.flags & MATCH_FLAG_PARENT) {
      if (tail > 0 && name[tail - 1] === '.' && name.slice(tail) === pat) return 'match';
    } else if (pat[0] === '.' && tail > 0 && name.slice(tail) === pat) {
      return 'match';
    }
    return 'nomatch';
  }

  /** match_hostaddr(). */
  private async matchHostaddr(addr: string, p: Pattern): Promise<Step> {
    if (!onlyChars(addr, V6_CHARS)) return 'nomatch';
    if (p.dict) return this.lookup(p, addr);
    const pattern = p.text;
    if (pattern[0] !== '[' ? addr === pattern : pattern === `[${addr}]`) return 'match';
    if (addr.includes(':') !== pattern.includes(':')) return 'nomatch';
    if (!/[:/]/.test(pattern) || onlyChars(pattern, V4_CHARS) || !onlyChars(pattern, V6_CHARS + '[]/')) return 'nomatch';
    p.net ??= parseNet(pattern);
    const net = p.net;
    if (typeof net === 'string') {
      this.error = -1;
      this.problem(net);
      return 'error';
    }
    const bytes = parseAddress(addr);
    if (!bytes || bytes.length !== net.net.length) return 'nomatch';
    const masked = maskAddress(bytes, net.bits);
    return masked.every((b, i) => b === net.net[i]) ? 'match' : 'nomatch';
  }
}

const V4_CHARS = '01234567890.';
const V6_CHARS = V4_CHARS + 'abcdefABCDEF:';
const onlyChars = (s: string, set: string): boolean => [...s].every((c) => set.includes(c));

async function parseInto(out: Pattern[], pname: string, text: string, initMatch: boolean, cache: TableCache, log: MailLogger): Promise<void> {
  const items = tokenizeQuoted(text, CHARS_COMMA_SP);
  for (let n = 0; n < items.length; n++) {
    let item = items[n]!;
    if (item[0] === '#') {
      log.warning(`${pname}: comment at end of line is not supported: ${items.slice(n).join(' ')}`);
      break;
    }
    let match = initMatch;
    while (item[0] === '!') {
      match = !match;
      item = item.slice(1);
    }
    if (item === '') {
      log.fatal(`${pname}: no pattern after '!'`);
      continue;
    }
    if (item[0] === '/') {
      let data: string;
      try {
        data = readFileSync(item, 'latin1');
      } catch (e) {
        const reason = `open file ${item}: ${errnoText(e as NodeJS.ErrnoException)}`;
        log.error(reason);
        out.push({ negate: !match, text: item, dict: surrogateDict('non-existent', item, LIST_DICT_FLAGS, reason) });
        continue;
      }
      for (const line of data.split('\n')) {
        if (line[0] !== '#') await parseInto(out, pname, line, match, cache, log);
      }
    } else if (item[0] !== '[' && item.includes(':')) {
      out.push({ negate: !match, text: item, dict: await cache.open(item, O_RDONLY, LIST_DICT_FLAGS) });
    } else {
      out.push({ negate: !match, text: foldCase(item, cache.utf8) });
    }
  }
}

/** cidr_match_parse(): "addr/len", "[addr]/len" or "[addr]"; a string is the complaint. */
function parseNet(pattern: string): { net: Uint8Array; bits: number } | string {
  let text = pattern;
  let lenText: string | null = null;
  const slash = text.indexOf('/');
  if (slash >= 0) {
    lenText = text.slice(slash + 1);
    text = text.slice(0, slash);
  }
  if (text[0] === '[' && text[text.length - 1] === ']') text = text.slice(1, -1);
  const bytes = parseAddress(text);
  if (!bytes) return `bad net/mask pattern: "${pattern}"`;
  let bits = bytes.length * 8;
  if (lenText !== null) {
    if (!/^[0-9]+$/.test(lenText) || Number(lenText) > bits) return `bad net/mask pattern: "${pattern}"`;
    bits = Number(lenText);
  }
  const masked = maskAddress(bytes, bits);
  if (!masked.every((b, i) => b === bytes[i])) {
    return `non-null host address bits in "${pattern}", perhaps you should use "${formatAddress(masked)}/${bits}" instead`;
  }
  return { net: masked, bits };
}
