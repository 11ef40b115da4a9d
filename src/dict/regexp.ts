// Mirrors Postfix's util/dict_regexp.c: the regexp: table, POSIX regular
// expressions tried in file order, first match wins. A rule is
//   /pattern/flags replacement        (or !/pattern/, or /p1/!/p2/)
//   if /pattern/flags ... endif        (nesting allowed)
// with flags i (toggle case-insensitive, on by default), x (toggle extended
// syntax, on by default) and m (toggle REG_NEWLINE). The replacement may use
// $1 or ${1}; $$ is a dollar. Everything is compiled once at open time, with
// Postfix's warnings for each rule it skips; regex/posix.ts holds the
// POSIX-to-JavaScript translation and its known differences.
import { msgWarn } from '../util/msg.js';
import {
  type DictOpener, DICT_FLAG_NO_REGSUB, DICT_FLAG_SRC_RHS_IS_FILE,
} from './dict.js';
import {
  type Replacement, type RuleBase, OP_MATCH, OP_IF, OP_ENDIF,
  asciiUpper, expandReplacement, filesToBase64, fromBytes, isAlnum, isSpace,
  prescanReplacement, skipSpace, patternTableOpener,
} from './pattern-common.js';
import { translatePosix } from './regex/posix.js';

/** A compiled pattern and whether the rule wants it to match (false after "!"). */
interface Matcher {
  re: RegExp;
  match: boolean;
  /** Match against the upper-cased key (REG_ICASE). */
  icase: boolean;
}

interface RegexpRule extends RuleBase {
  first?: Matcher;
  second?: Matcher;
  replacement?: Replacement;
}

interface PatternSpec {
  source: string;
  match: boolean;
  extended: boolean;
  icase: boolean;
  newline: boolean;
}

class RegexpParser {
  constructor(private readonly mapname: string, private readonly dictFlags: number) {}

  private warn(lineno: number, text: string): void {
    msgWarn(`regexp map ${this.mapname}, line ${lineno}: ${text}`);
  }

  /** dict_regexp_get_pat(): one [!]/pattern/flags; returns the position after it. */
  private getPattern(line: string, i: number, lineno: number): { spec: PatternSpec; next: number } | null {
    let match = true;
    for (; i < line.length; i++) {
      if (line[i] === '!') match = !match;
      else if (!isSpace(line[i])) break;
    }
    if (i >= line.length) {
      this.warn(lineno, 'no regexp: skipping this rule');
      return null;
    }
    const delim = line[i++]!;
    const start = i;
    while (i < line.length) {
      if (line[i] === '\\') {
        if (i + 1 < line.length) i++;
        else break;
      } else if (line[i] === delim) {
        break;
      }
      i++;
    }
    if (i >= line.length) {
      this.warn(lineno, `no closing regexp delimiter "${fromBytes(delim)}": skipping this rule`);
      return null;
    }
    const spec: PatternSpec = { source: line.slice(start, i), match, extended: true, icase: true, newline: false };
    for (i++; i < line.length && !isSpace(line[i]) && line[i] !== '!'; i++) {
      switch (line[i]) {
        case 'i': spec.icase = !spec.icase; break;
        case 'm': spec.newline = !spec.newline; break;
        case 'x': spec.extended = !spec.extended; break;
        default:
          this.warn(lineno, `unknown regexp option "${fromBytes(line[i]!)}": skipping this rule`);
          return null;
      }
    }
    return { spec, next: i };
  }

  private compile(spec: PatternSpec, lineno: number, withIndices: boolean): { m: Matcher; nsub: number } | null {
    const t = translatePosix(spec.source, spec);
    if (!t.ok) {
      this.warn(lineno, t.error);
      return null;
    }
    const re = new RegExp(t.source, withIndices && spec.icase ? 'd' : '');
    return { m: { re, match: spec.match, icase: spec.icase }, nsub: t.nsub };
  }

  parseLine(line: string, lineno: number, nesting: number): RegexpRule | null {
    if (!isAlnum(line[0])) return this.parseMatch(line, lineno);
    if (/^if(?![A-Za-z0-9])/i.test(line)) return this.parseIf(line, lineno);
    if (/^endif(?![A-Za-z0-9])/i.test(line)) {
      if (nesting === 0) {
        this.warn(lineno, 'ignoring ENDIF without matching IF');
        return null;
      }
      if (skipSpace(line, 5) < line.length) this.warn(lineno, 'ignoring extra text after ENDIF');
      return { op: OP_ENDIF, lineno, endif: -1 };
    }
    this.warn(lineno, 'ignoring unrecognized request');
    return null;
  }

  private parseMatch(line: string, lineno: number): RegexpRule | null {
    const first = this.getPattern(line, 0, lineno);
    if (!first) return null;
    let i = first.next;
    let second: { spec: PatternSpec; next: number } | null = null;
    if (line[i] === '!') {
      second = this.getPattern(line, i, lineno);
      if (!second) return null;
      i = second.next;
    }
    i = skipSpace(line, i);
    let text = line.slice(i);
    if (text.length === 0) this.warn(lineno, 'no replacement text: using empty string');
    if (this.dictFlags & DICT_FLAG_SRC_RHS_IS_FILE) {
      const b64 = filesToBase64(text);
      if (!b64.ok) {
        this.warn(lineno, `${b64.reason}: skipping this rule`);
        return null;
      }
      text = b64.value;
    }
    const replacement = prescanReplacement('regexp', this.mapname, lineno, text, 'out-of-range');
    if (!replacement) {
      this.warn(lineno, 'bad replacement syntax: skipping this rule');
      return null;
    }
    if (replacement.maxSub > 0 && !first.spec.match) {
      this.warn(lineno, '$number found in negative match replacement text: skipping this rule');
      return null;
    }
    if (replacement.maxSub > 0 && this.dictFlags & DICT_FLAG_NO_REGSUB) {
      this.warn(lineno, 'regular expression substitution is not allowed: skipping this rule');
      return null;
    }
    const c1 = this.compile(first.spec, lineno, replacement.maxSub > 0);
    if (!c1) return null;
    if (replacement.maxSub > c1.nsub) {
      this.warn(lineno, `out of range replacement index "${replacement.maxSub}": skipping this rule`);
      return null;
    }
    const rule: RegexpRule = { op: OP_MATCH, lineno, endif: -1, first: c1.m, replacement };
    if (second) {
      const c2 = this.compile(second.spec, lineno, false);
      if (!c2) return null;
      rule.second = c2.m;
    }
    return rule;
  }

  private parseIf(line: string, lineno: number): RegexpRule | null {
    const pat = this.getPattern(line, skipSpace(line, 2), lineno);
    if (!pat) return null;
    const i = skipSpace(line, pat.next);
    if (i < line.length) {
      this.warn(lineno, `ignoring extra text after IF statement: "${fromBytes(line.slice(i))}"`);
      this.warn(lineno, 'do not prepend whitespace to statements between IF and ENDIF');
    }
    const c = this.compile(pat.spec, lineno, false);
    if (!c) return null;
    return { op: OP_IF, lineno, endif: -1, first: c.m };
  }
}

/** Runs one matcher; `upper` is the key upper-cased, computed on first need. */
function test(m: Matcher, key: string, keys: { upper?: string }): boolean {
  const subject = m.icase ? (keys.upper ??= asciiUpper(key)) : key;
  return m.re.test(subject) === m.match;
}

/** Finds the groups of a positive match; under REG_ICASE they are cut from the original key. */
function captureGroups(m: Matcher, key: string, keys: { upper?: string }): Array<string | undefined> {
  if (!m.icase) return m.re.exec(key) ?? [];
  const r = m.re.exec((keys.upper ??= asciiUpper(key)));
  const out: Array<string | undefined> = [];
  const idx = r?.indices;
  if (!idx) return out;
  for (let n = 0; n < idx.length; n++) {
    const span = idx[n];
    out.push(span ? key.slice(span[0], span[1]) : undefined);
  }
  return out;
}

function lookupRules(rules: RegexpRule[], key: string): string | null {
  const keys: { upper?: string } = {};
  for (let i = 0; i < rules.length; i++) {
    const rule = rules[i]!;
    if (rule.op === OP_MATCH) {
      if (!test(rule.first!, key, keys)) continue;
      if (rule.second && !test(rule.second, key, keys)) continue;
      const rep = rule.replacement!;
      if (rep.maxSub === 0) return rep.literal;
      return expandReplacement(rep, captureGroups(rule.first!, key, keys));
    }
    if (rule.op === OP_IF) {
      if (test(rule.first!, key, keys)) continue;
      if (rule.endif < 0) return null;
      i = rule.endif;
    }
  }
  return null;
}

export const open: DictOpener = patternTableOpener<RegexpRule>({
  type: 'regexp',
  parser: (name, dictFlags) => new RegexpParser(name, dictFlags),
  lookupRules,
});
