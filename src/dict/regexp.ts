// Mirrors Postfix's util/dict_regexp.c: the regexp: table, POSIX regular
// expressions tried in file order, first match wins. A rule is
//   /pattern/flags replacement        (or !/pattern/, or /p1/!/p2/)
//   if /pattern/flags ... endif        (nesting allowed)
// with flags i (toggle case-insensitive, on by default), x (toggle extended
// syntax, on by default) and m (toggle REG_NEWLINE). The replacement may use
// $1 or ${1}; $$ is a dollar. Everything is compiled once at open time, with
// Postfix's warnings for each rule it skips; regex/posix.ts holds the
// POSIX-to-JavaScript translation and its known differences, and
// pattern-rules.ts the line parsing shared with pcre: tables.
import { type DictOpener } from './dict.js';
import {
  type Replacement, type RuleBase, OP_MATCH, OP_IF, OP_ENDIF,
  asciiUpper, expandReplacement, fromBytes, isSpace, patternTableOpener,
} from './pattern-common.js';
import { type ParsedPattern, type PatternSyntax, PatternRuleParser } from './pattern-rules.js';
import { compiledRegExp, linearRegExp, riskyPattern } from './regex/budget.js';
import { translatePosix } from './regex/posix.js';
import { type MsgLog } from '../util/msg.js';

/** A compiled pattern and whether the rule wants it to match (false after "!"). */
interface Matcher {
  re: RegExp;
  match: boolean;
  /** Match against the upper-cased key (REG_ICASE). */
  icase: boolean;
  /** The same pattern for V8's linear-time engine, for tests of patterns that could backtrack without end. */
  linear: RegExp | null;
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

const REGEXP_SYNTAX: PatternSyntax = {
  type: 'regexp', trailingBackslashCloses: true, unclosedAction: 'skipping', outOfRangeWord: 'out-of-range',
};

class RegexpParser extends PatternRuleParser<RegexpRule, PatternSpec> {
  constructor(mapname: string, dictFlags: number, log: MsgLog) {
    super(REGEXP_SYNTAX, mapname, dictFlags, log);
  }

  /** dict_regexp_get_pat(): one [!]/pattern/flags; returns the position after it. */
  protected getPattern(line: string, i: number, lineno: number): ParsedPattern<PatternSpec> | null {
    const pat = this.getDelimited(line, i, lineno);
    if (!pat) return null;
    const spec: PatternSpec = { source: pat.source, match: pat.match, extended: true, icase: true, newline: false };
    for (i = pat.end + 1; i < line.length && !isSpace(line[i]) && line[i] !== '!'; i++) {
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
    const re = compiledRegExp(t.source, withIndices && spec.icase ? 'd' : '');
    if (re === null) {
      this.warn(lineno, 'Regular expression too big');
      return null;
    }
    // glibc's engine does not backtrack without end: a pattern that V8's would is tested in linear time.
    const linear = riskyPattern(t.source) ? linearRegExp(t.source, '') : null;
    return { m: { re, linear, match: spec.match, icase: spec.icase }, nsub: t.nsub };
  }

  protected parseMatch(line: string, lineno: number): RegexpRule | null {
    const first = this.getPattern(line, 0, lineno);
    if (!first) return null;
    let i = first.next;
    let second: ParsedPattern<PatternSpec> | null = null;
    if (line[i] === '!') {
      second = this.getPattern(line, i, lineno);
      if (!second) return null;
      i = second.next;
    }
    const replacement = this.parseReplacement(line, i, lineno, first.spec.match);
    if (!replacement) return null;
    const c1 = this.compile(first.spec, lineno, replacement.maxSub > 0);
    if (!c1) return null;
    if (!this.groupsInRange(replacement, c1.nsub, lineno)) return null;
    const rule: RegexpRule = { op: OP_MATCH, lineno, endif: -1, first: c1.m, replacement };
    if (second) {
      const c2 = this.compile(second.spec, lineno, false);
      if (!c2) return null;
      rule.second = c2.m;
    }
    return rule;
  }

  protected ifRule(spec: PatternSpec, lineno: number): RegexpRule | null {
    const c = this.compile(spec, lineno, false);
    if (!c) return null;
    return { op: OP_IF, lineno, endif: -1, first: c.m };
  }

  protected endifRule(lineno: number): RegexpRule {
    return { op: OP_ENDIF, lineno, endif: -1 };
  }
}

/** Runs one matcher; `upper` is the key upper-cased, computed on first need. */
function test(m: Matcher, key: string, keys: { upper?: string }): boolean {
  const subject = m.icase ? (keys.upper ??= asciiUpper(key)) : key;
  return (m.linear ?? m.re).test(subject) === m.match;
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
  parser: (name, dictFlags, log) => new RegexpParser(name, dictFlags, log),
  lookupRules,
});
