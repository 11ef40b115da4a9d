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
// that says so, instead of matching differently).
import { msgWarn } from '../util/msg.js';
import {
  type DictOpener, DICT_FLAG_NO_REGSUB, DICT_FLAG_SRC_RHS_IS_FILE,
} from './dict.js';
import {
  type Replacement, type RuleBase, OP_MATCH, OP_IF, OP_ENDIF,
  expandReplacement, filesToBase64, fromBytes, isAlnum, isSpace,
  prescanReplacement, skipSpace, patternTableOpener,
} from './pattern-common.js';
import { type PcreOptions, translatePcre } from './regex/pcre.js';

interface PcreRule extends RuleBase {
  re: RegExp;
  match: boolean;
  replacement?: Replacement;
  /** PCRE group number -> JS group number. */
  groupMap?: number[];
}

interface PatternSpec {
  source: string;
  match: boolean;
  opts: PcreOptions;
}

class PcreParser {
  constructor(private readonly mapname: string, private readonly dictFlags: number) {}

  private warn(lineno: number, text: string): void {
    msgWarn(`pcre map ${this.mapname}, line ${lineno}: ${text}`);
  }

  /** dict_pcre_get_pattern(): [!]/pattern/flags; returns the position after it. */
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
        i++;
        if (i >= line.length) break;
      } else if (line[i] === delim) {
        break;
      }
      i++;
    }
    if (i >= line.length) {
      this.warn(lineno, `no closing regexp delimiter "${fromBytes(delim)}": ignoring this rule`);
      return null;
    }
    const patEnd = i;
    const opts: PcreOptions = {
      caseless: true, dotall: true, multiline: false, extended: false,
      anchored: false, dollarEndonly: false, ungreedy: false,
    };
    for (i++; i < line.length && !isSpace(line[i]); i++) {
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
    return { spec: { source: line.slice(start, patEnd), match, opts }, next: i };
  }

  private compile(spec: PatternSpec, lineno: number): { re: RegExp; captureCount: number; groupMap: number[] } | null {
    const t = translatePcre(spec.source, spec.opts);
    if (t.ok) return { re: new RegExp(t.source, t.flags), captureCount: t.captureCount, groupMap: t.groupMap };
    if ('unsupported' in t) {
      this.warn(lineno, `unsupported PCRE feature: ${t.unsupported}: skipping this rule`);
    } else {
      this.warn(lineno, `error in regex at offset ${t.offset}: ${t.error}`);
    }
    return null;
  }

  parseLine(line: string, lineno: number, nesting: number): PcreRule | null {
    if (!isAlnum(line[0])) return this.parseMatch(line, lineno);
    if (/^if(?![A-Za-z0-9])/i.test(line)) return this.parseIf(line, lineno);
    if (/^endif(?![A-Za-z0-9])/i.test(line)) {
      if (nesting === 0) {
        this.warn(lineno, 'ignoring ENDIF without matching IF');
        return null;
      }
      if (skipSpace(line, 5) < line.length) this.warn(lineno, 'ignoring extra text after ENDIF');
      return { op: OP_ENDIF, lineno, endif: -1, re: /(?:)/, match: true };
    }
    this.warn(lineno, 'ignoring unrecognized request');
    return null;
  }

  private parseMatch(line: string, lineno: number): PcreRule | null {
    const pat = this.getPattern(line, 0, lineno);
    if (!pat) return null;
    let text = line.slice(skipSpace(line, pat.next));
    if (text.length === 0) this.warn(lineno, 'no replacement text: using empty string');
    if (this.dictFlags & DICT_FLAG_SRC_RHS_IS_FILE) {
      const b64 = filesToBase64(text);
      if (!b64.ok) {
        this.warn(lineno, `${b64.reason}: skipping this rule`);
        return null;
      }
      text = b64.value;
    }
    const replacement = prescanReplacement('pcre', this.mapname, lineno, text, 'out of range');
    if (!replacement) {
      this.warn(lineno, 'bad replacement syntax: skipping this rule');
      return null;
    }
    if (replacement.maxSub > 0 && !pat.spec.match) {
      this.warn(lineno, '$number found in negative match replacement text: skipping this rule');
      return null;
    }
    if (replacement.maxSub > 0 && this.dictFlags & DICT_FLAG_NO_REGSUB) {
      this.warn(lineno, 'regular expression substitution is not allowed: skipping this rule');
      return null;
    }
    const c = this.compile(pat.spec, lineno);
    if (!c) return null;
    if (replacement.maxSub > c.captureCount) {
      this.warn(lineno, `out of range replacement index "${replacement.maxSub}": skipping this rule`);
      return null;
    }
    return { op: OP_MATCH, lineno, endif: -1, re: c.re, match: pat.spec.match, replacement, groupMap: c.groupMap };
  }

  private parseIf(line: string, lineno: number): PcreRule | null {
    const pat = this.getPattern(line, skipSpace(line, 2), lineno);
    if (!pat) return null;
    const i = skipSpace(line, pat.next);
    if (i < line.length) {
      this.warn(lineno, `ignoring extra text after IF statement: "${fromBytes(line.slice(i))}"`);
      this.warn(lineno, 'do not prepend whitespace to statements between IF and ENDIF');
    }
    const c = this.compile(pat.spec, lineno);
    if (!c) return null;
    return { op: OP_IF, lineno, endif: -1, re: c.re, match: pat.spec.match };
  }
}

function lookupRules(rules: PcreRule[], key: string): string | null {
  for (let i = 0; i < rules.length; i++) {
    const rule = rules[i]!;
    if (rule.op === OP_MATCH) {
      const rep = rule.replacement!;
      if (rep.maxSub === 0 || !rule.match) {
        if (rule.re.test(key) !== rule.match) continue;
        return rep.literal;
      }
      const m = rule.re.exec(key);
      if (!m) continue;
      const map = rule.groupMap!;
      const groups: Array<string | undefined> = [];
      for (let n = 0; n <= rep.maxSub; n++) groups.push(m[map[n] ?? -1]);
      return expandReplacement(rep, groups);
    }
    if (rule.op === OP_IF) {
      if (rule.re.test(key) === rule.match) continue;
      if (rule.endif < 0) return null;
      i = rule.endif;
    }
  }
  return null;
}

export const open: DictOpener = patternTableOpener<PcreRule>({
  type: 'pcre',
  parser: (name, dictFlags) => new PcreParser(name, dictFlags),
  lookupRules,
});
