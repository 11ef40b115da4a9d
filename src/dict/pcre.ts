// Mirrors Postfix's util/dict_pcre.c (PCRE2 build): the pcre: table,
// Perl-compatible regular expressions tried in file order, first match wins.
// A rule is
//   /pattern/flags replacement        (or !/pattern/ replacement)
//   if /pattern/flags ... endif        (nesting allowed)
// Flags toggle PCRE options: i (caseless, on by default), s (dotall, on by
// default), m (multiline), x (extended), A (anchored), E (dollar_endonly),
// U (ungreedy); X is obsolete with PCRE2 and only warned about. $1, ${1}
// and $$ work in the replacement as in regexp: tables. Patterns are compiled
// once at open time; regex/pcre.ts does the PCRE-to-JavaScript translation
// and lists what it cannot translate (such a rule is skipped with a warning
// that says so, instead of matching differently). pattern-rules.ts holds the
// line parsing shared with regexp: tables.
import { type DictOpener } from './dict.js';
import {
  type Replacement, type RuleBase, OP_MATCH, OP_IF, OP_ENDIF,
  expandReplacement, fromBytes, isSpace, patternTableOpener,
} from './pattern-common.js';
import { type ParsedPattern, type PatternSyntax, PatternRuleParser } from './pattern-rules.js';
import { budgetedExec, compiledRegExp, requiredLiteral, riskyPattern } from './regex/budget.js';
import { type PcreOptions, translatePcre } from './regex/pcre.js';
import { type MsgLog } from '../util/msg.js';

interface PcreRule extends RuleBase {
  re: RegExp;
  match: boolean;
  replacement?: Replacement;
  /** PCRE group number -> JS group number. */
  groupMap?: number[];
  /** Matched under the budget (regex/budget.ts). */
  risky: boolean;
  /** For a risky rule: a literal every match contains (one of these characters), checked first as PCRE2 does. */
  required?: string[] | null;
}

interface PatternSpec {
  source: string;
  match: boolean;
  opts: PcreOptions;
}

const PCRE_SYNTAX: PatternSyntax = {
  type: 'pcre', trailingBackslashCloses: false, unclosedAction: 'ignoring', outOfRangeWord: 'out of range',
};

class PcreParser extends PatternRuleParser<PcreRule, PatternSpec> {
  constructor(mapname: string, dictFlags: number, log: MsgLog) {
    super(PCRE_SYNTAX, mapname, dictFlags, log);
  }

  /** dict_pcre_get_pattern(): [!]/pattern/flags; returns the position after it. */
  protected getPattern(line: string, i: number, lineno: number): ParsedPattern<PatternSpec> | null {
    const pat = this.getDelimited(line, i, lineno);
    if (!pat) return null;
    const opts: PcreOptions = {
      caseless: true, dotall: true, multiline: false, extended: false,
      anchored: false, dollarEndonly: false, ungreedy: false,
    };
    for (i = pat.end + 1; i < line.length && !isSpace(line[i]); i++) {
      switch (line[i]) {
        case 'i': opts.caseless = !opts.caseless; break;
        case 'm': opts.multiline = !opts.multiline; break;
        case 's': opts.dotall = !opts.dotall; break;
        case 'x': opts.extended = !opts.extended; break;
        case 'A': opts.anchored = !opts.anchored; break;
        case 'E': opts.dollarEndonly = !opts.dollarEndonly; break;
        case 'U': opts.ungreedy = !opts.ungreedy; break;
        case 'X':
          this.warn(lineno, `ignoring obsolete regexp option "${line[i]}"`);
          break;
        default:
          this.warn(lineno, `unknown regexp option "${fromBytes(line[i]!)}": skipping this rule`);
          return null;
      }
    }
    return { spec: { source: pat.source, match: pat.match, opts }, next: i };
  }

  private compile(spec: PatternSpec, lineno: number): { re: RegExp; risky: boolean; required: string[] | null; captureCount: number; groupMap: number[] } | null {
    const t = translatePcre(spec.source, spec.opts);
    if (t.ok) {
      const risky = riskyPattern(t.source);
      const re = compiledRegExp(t.source, t.flags);
      if (re === null) {
        // V8 compiles on first use and refuses patterns past its size limit, as PCRE2 does.
        this.warn(lineno, `error in regex at offset ${spec.source.length}: regular expression is too large`);
        return null;
      }
      return {
        re, risky, required: risky ? requiredLiteral(t.source) : null,
        captureCount: t.captureCount, groupMap: t.groupMap,
      };
    }
    if ('unsupported' in t) {
      this.warn(lineno, `unsupported PCRE feature: ${t.unsupported}: skipping this rule`);
    } else {
      this.warn(lineno, `error in regex at offset ${t.offset}: ${t.error}`);
    }
    return null;
  }

  protected parseMatch(line: string, lineno: number): PcreRule | null {
    const pat = this.getPattern(line, 0, lineno);
    if (!pat) return null;
    const replacement = this.parseReplacement(line, pat.next, lineno, pat.spec.match);
    if (!replacement) return null;
    const c = this.compile(pat.spec, lineno);
    if (!c) return null;
    if (!this.groupsInRange(replacement, c.captureCount, lineno)) return null;
    return { op: OP_MATCH, lineno, endif: -1, re: c.re, risky: c.risky, required: c.required, match: pat.spec.match, replacement, groupMap: c.groupMap };
  }

  protected ifRule(spec: PatternSpec, lineno: number): PcreRule | null {
    const c = this.compile(spec, lineno);
    if (!c) return null;
    return { op: OP_IF, lineno, endif: -1, re: c.re, risky: c.risky, required: c.required, match: spec.match };
  }

  protected endifRule(lineno: number): PcreRule {
    return { op: OP_ENDIF, lineno, endif: -1, re: /(?:)/, risky: false, match: true };
  }
}

/**
 * DICT_PCRE_EXEC(): true when the rule applies (a match, or no match under
 * "!"). A match that ran out of budget is PCRE2's match limit: warned
 * about, and the rule does not apply either way.
 */
function applies(rule: PcreRule, key: string, warn: (lineno: number, text: string) => void): RegExpExecArray | boolean {
  if (!rule.risky) {
    if (!rule.match || rule.replacement === undefined || rule.replacement.maxSub === 0) return rule.re.test(key) === rule.match;
    return rule.re.exec(key) ?? false;
  }
  const req = rule.required;
  const m = req && !req.some((ch) => key.includes(ch)) ? null : budgetedExec(rule.re, key);
  if (m === 'limit') {
    warn(rule.lineno, 'match limit exceeded');
    return false;
  }
  if (m === null) return !rule.match;
  return rule.match ? m : false;
}

function lookupRules(rules: PcreRule[], key: string, warn: (lineno: number, text: string) => void): string | null {
  for (let i = 0; i < rules.length; i++) {
    const rule = rules[i]!;
    if (rule.op === OP_MATCH) {
      const m = applies(rule, key, warn);
      if (m === false) continue;
      const rep = rule.replacement!;
      if (m === true || rep.maxSub === 0) return rep.literal;
      const map = rule.groupMap!;
      const groups: Array<string | undefined> = [];
      for (let n = 0; n <= rep.maxSub; n++) groups.push(m[map[n] ?? -1]);
      return expandReplacement(rep, groups);
    }
    if (rule.op === OP_IF) {
      if (applies(rule, key, warn) !== false) continue;
      if (rule.endif < 0) return null;
      i = rule.endif;
    }
  }
  return null;
}

export const open: DictOpener = patternTableOpener<PcreRule>({
  type: 'pcre',
  parser: (name, dictFlags, log) => new PcreParser(name, dictFlags, log),
  lookupRules,
});
