// Mirrors Postfix's util/dict_cidr.c and util/cidr_match.c: the cidr:
// table, IPv4 and IPv6 networks tried in file order, first match wins.
//   network/length   value          (or a bare address, or [address]/length)
//   !network/length  value          (matches addresses outside the network)
//   if [!]network/length ... endif  (nesting allowed)
// A network with host bits set, a bad length or an unparsable address is
// skipped with Postfix's warning. Lookup keys that are not addresses simply
// match nothing.
import {
  type Dict, type DictOpener, type LookupResult, NOT_FOUND, found, surrogateDict,
  O_RDONLY, DICT_FLAG_PATTERN, DICT_FLAG_SRC_RHS_IS_FILE, STDERR_DICT_ENV,
} from './dict.js';
import {
  type RuleBase, OP_MATCH, OP_IF, OP_ENDIF,
  filesToBase64, fromBytes, isAlnum, isSpace, linkIfEndif, logicalLines, openTableSource, skipSpace, trimEnd,
} from './pattern-common.js';
import { formatAddress, maskAddress, parseAddress } from './ipaddr.js';

interface CidrRule extends RuleBase {
  v6: boolean;
  net: Uint8Array;
  mask: Uint8Array;
  match: boolean;
  value: string;
}

type Parsed = { ok: true; v6: boolean; net: Uint8Array; mask: Uint8Array } | { ok: false; why: string };

/** cidr_match_parse(): "addr", "addr/len", "[addr]" or "[addr]/len". */
function parsePattern(text: string): Parsed {
  let addr = text;
  let len: string | null = null;
  if (addr[0] === '[') {
    const inner = addr.slice(1);
    const close = inner.indexOf(']');
    if (close < 0) return { ok: false, why: `missing ']' character after "[${inner}"` };
    addr = inner.slice(0, close);
    const after = inner.slice(close + 1);
    if (after[0] === '/') len = after.slice(1);
    else if (after.length > 0) return { ok: false, why: `garbage after "[${addr}]"` };
  }
  if (len === null) {
    const slash = addr.indexOf('/');
    if (slash >= 0) {
      len = addr.slice(slash + 1);
      addr = addr.slice(0, slash);
    }
  }
  const v6 = addr.includes(':');
  const bits = v6 ? 128 : 32;
  if (len === null) {
    const net = parseAddress(addr);
    if (!net) return { ok: false, why: `bad address pattern: "${addr}"` };
    return { ok: true, v6, net, mask: new Uint8Array(bits / 8).fill(0xff) };
  }
  let error: string | null = null;
  let shift = 0;
  let net: Uint8Array | null = null;
  if (!/^[0-9]+$/.test(len)) error = 'bad mask value';
  else if ((shift = parseInt(len, 10)) > bits) error = 'bad mask length';
  else if (!(net = parseAddress(addr))) error = 'bad network value';
  if (error !== null || !net) return { ok: false, why: `${error} in "${addr}/${len}"` };
  const mask = maskAddress(new Uint8Array(bits / 8).fill(0xff), shift);
  if (net.some((b, i) => (b & ~mask[i]!) !== 0)) {
    const fixed = formatAddress(maskAddress(net, shift));
    return { ok: false, why: `non-null host address bits in "${addr}/${len}", perhaps you should use "${fixed}/${shift}" instead` };
  }
  return { ok: true, v6, net, mask };
}

/** dict_cidr_parse_rule(): one logical line, or the reason it is skipped. */
function parseRule(line: string, lineno: number, nesting: number, dictFlags: number): CidrRule | string {
  let op = OP_MATCH;
  let match = true;
  let patternText: string;
  let value: string;
  let i = 0;
  const negations = (): void => {
    for (; i < line.length; i++) {
      if (line[i] === '!') match = !match;
      else if (!isSpace(line[i])) break;
    }
  };
  if (/^if/i.test(line) && !isAlnum(line[2])) {
    op = OP_IF;
    i = 2;
    negations();
    if (i >= line.length) return 'no address pattern';
    patternText = trimEnd(line.slice(i));
    value = '';
  } else if (/^endif/i.test(line) && !isAlnum(line[5])) {
    if (skipSpace(line, 5) < line.length) return 'garbage after ENDIF';
    if (nesting === 0) return 'ENDIF without IF';
    patternText = '';
    value = '';
    op = OP_ENDIF;
  } else {
    negations();
    let end = i;
    while (end < line.length && !isSpace(line[end])) end++;
    patternText = line.slice(i, end);
    value = trimEnd(line.slice(skipSpace(line, end)));
    if (patternText.length === 0) return 'no address pattern';
  }
  let parsed: Parsed = { ok: true, v6: false, net: new Uint8Array(4), mask: new Uint8Array(4) };
  if (op !== OP_ENDIF) {
    parsed = parsePattern(patternText);
    if (!parsed.ok) return parsed.why;
    if (op === OP_MATCH && value.length === 0) return 'no lookup result';
  }
  if (dictFlags & DICT_FLAG_SRC_RHS_IS_FILE) {
    const b64 = filesToBase64(value);
    if (!b64.ok) return b64.reason;
    value = b64.value;
  }
  return { op, lineno, endif: -1, v6: parsed.v6, net: parsed.net, mask: parsed.mask, match, value };
}

function matches(rule: CidrRule, addr: Uint8Array): boolean {
  for (let i = 0; i < addr.length; i++) if ((addr[i]! & rule.mask[i]!) !== rule.net[i]) return !rule.match;
  return rule.match;
}

/** cidr_match_execute(): a rule of the other address family never matches, not even negated. */
function lookupRules(rules: CidrRule[], key: string): string | null {
  const addr = parseAddress(key);
  if (!addr) return null;
  const v6 = addr.length === 16;
  for (let i = 0; i < rules.length; i++) {
    const rule = rules[i]!;
    if (rule.op === OP_MATCH) {
      if (rule.v6 === v6 && matches(rule, addr)) return rule.value;
    } else if (rule.op === OP_IF) {
      if (rule.v6 === v6 && matches(rule, addr)) continue;
      if (rule.endif < 0) return null;
      i = rule.endif;
    }
  }
  return null;
}

class CidrDict implements Dict {
  readonly type = 'cidr';
  constructor(readonly name: string, public flags: number, private readonly rules: CidrRule[]) {}

  lookup(key: string): LookupResult {
    const value = lookupRules(this.rules, key);
    return value === null ? NOT_FOUND : found(fromBytes(value));
  }

  close(): void {}
}

export const open: DictOpener = (name, openFlags, dictFlags, env = STDERR_DICT_ENV) => {
  if (openFlags !== O_RDONLY) {
    return surrogateDict('cidr', name, dictFlags, `cidr:${name} map requires O_RDONLY access mode`);
  }
  const src = openTableSource('cidr', name);
  if (!src.ok) return surrogateDict('cidr', name, dictFlags, src.reason);
  const rules: CidrRule[] = [];
  let nesting = 0;
  for (const { text, lineno } of logicalLines(src.source.text, src.source.path, env.log)) {
    const rule = parseRule(text, lineno, nesting, dictFlags);
    if (typeof rule === 'string') {
      env.log.warning(`cidr map ${name}, line ${lineno}: ${fromBytes(rule)}: skipping this rule`);
      continue;
    }
    if (rule.op === OP_IF) nesting++;
    else if (rule.op === OP_ENDIF) nesting--;
    rules.push(rule);
  }
  linkIfEndif(rules, `cidr map ${name}`, env.log);
  return new CidrDict(name, dictFlags | DICT_FLAG_PATTERN, rules);
};
