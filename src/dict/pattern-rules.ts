// Shared by the regexp: and pcre: tables: the rule-line parsing that
// Postfix's util/dict_regexp.c and util/dict_pcre.c have in common. A line
// is a match rule ([!]/pattern/flags replacement), IF or ENDIF; the "!"
// toggles and delimiters around a pattern, the replacement-text checks and
// IF/ENDIF handling are the same in both, with the same warnings. Each table
// keeps its own pattern flags, compilation and rule shape (subclasses of
// PatternRuleParser).
import type { MsgLog } from '../util/msg.js';
import { DICT_FLAG_NO_REGSUB, DICT_FLAG_SRC_RHS_IS_FILE } from './dict.js';
import {
  type Replacement, type RuleBase,
  filesToBase64, fromBytes, isAlnum, isSpace, prescanReplacement, skipSpace,
} from './pattern-common.js';

/** Where the two tables' pattern syntax differs. */
export interface PatternSyntax {
  /** The table type, as it appears in warnings ("regexp map NAME, line N: ..."). */
  type: string;
  /**
   * A backslash at the end of the line: dict_regexp.c stops there and takes
   * it for the closing delimiter; dict_pcre.c finds the pattern unclosed.
   */
  trailingBackslashCloses: boolean;
  /** What the "no closing regexp delimiter" warning says happens to the rule. */
  unclosedAction: string;
  /** The word prescanReplacement() uses for $0. */
  outOfRangeWord: string;
}

/** A delimited pattern: its text, its "!" state and the index of its closing delimiter. */
export interface DelimitedPattern {
  source: string;
  match: boolean;
  end: number;
}

/** A table's parsed pattern and flags (S), with the position after it. */
export interface ParsedPattern<S> {
  spec: S;
  next: number;
}

/** The line parser of one regexp: or pcre: table; `S` is its pattern-with-flags type. */
export abstract class PatternRuleParser<R extends RuleBase, S extends { match: boolean }> {
  constructor(
    private readonly syntax: PatternSyntax,
    protected readonly mapname: string,
    protected readonly dictFlags: number,
    protected readonly log: MsgLog,
  ) {}

  protected warn(lineno: number, text: string): void {
    this.log.warning(`${this.syntax.type} map ${this.mapname}, line ${lineno}: ${text}`);
  }

  /** One [!]/pattern/flags starting at i; null after warning. */
  protected abstract getPattern(line: string, i: number, lineno: number): ParsedPattern<S> | null;

  /** A match rule (the line does not start with a letter or digit). */
  protected abstract parseMatch(line: string, lineno: number): R | null;

  /** The IF rule for a pattern; null after warning. */
  protected abstract ifRule(spec: S, lineno: number): R | null;

  /** The ENDIF rule. */
  protected abstract endifRule(lineno: number): R;

  parseLine(line: string, lineno: number, nesting: number): R | null {
    if (!isAlnum(line[0])) return this.parseMatch(line, lineno);
    if (/^if(?![A-Za-z0-9])/i.test(line)) return this.parseIf(line, lineno);
    if (/^endif(?![A-Za-z0-9])/i.test(line)) {
      if (nesting === 0) {
        this.warn(lineno, 'ignoring ENDIF without matching IF');
        return null;
      }
      if (skipSpace(line, 5) < line.length) this.warn(lineno, 'ignoring extra text after ENDIF');
      return this.endifRule(lineno);
    }
    this.warn(lineno, 'ignoring unrecognized request');
    return null;
  }

  private parseIf(line: string, lineno: number): R | null {
    const pat = this.getPattern(line, skipSpace(line, 2), lineno);
    if (!pat) return null;
    const i = skipSpace(line, pat.next);
    if (i < line.length) {
      this.warn(lineno, `ignoring extra text after IF statement: "${fromBytes(line.slice(i))}"`);
      this.warn(lineno, 'do not prepend whitespace to statements between IF and ENDIF');
    }
    return this.ifRule(pat.spec, lineno);
  }

  /**
   * The part of a pattern before its flags: "!" toggles (with whitespace
   * between them), then the pattern up to the closing delimiter, which is
   * the first character. Null after warning.
   */
  protected getDelimited(line: string, i: number, lineno: number): DelimitedPattern | null {
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
        if (i + 1 < line.length) {
          i++;
        } else {
          if (!this.syntax.trailingBackslashCloses) i = line.length;
          break;
        }
      } else if (line[i] === delim) {
        break;
      }
      i++;
    }
    if (i >= line.length) {
      this.warn(lineno, `no closing regexp delimiter "${fromBytes(delim)}": ${this.syntax.unclosedAction} this rule`);
      return null;
    }
    return { source: line.slice(start, i), match, end: i };
  }

  /**
   * The replacement text of a match rule, from index i on: warned about when
   * empty, replaced by file contents under postmap -F, pre-scanned for
   * $number, and refused when it uses $number after a negative pattern
   * (`match` false) or where substitution is not allowed. Null after warning.
   */
  protected parseReplacement(line: string, i: number, lineno: number, match: boolean): Replacement | null {
    let text = line.slice(skipSpace(line, i));
    if (text.length === 0) this.warn(lineno, 'no replacement text: using empty string');
    if (this.dictFlags & DICT_FLAG_SRC_RHS_IS_FILE) {
      const b64 = filesToBase64(text);
      if (!b64.ok) {
        this.warn(lineno, `${b64.reason}: skipping this rule`);
        return null;
      }
      text = b64.value;
    }
    const replacement = prescanReplacement(this.syntax.type, this.mapname, lineno, text, this.syntax.outOfRangeWord, this.log);
    if (!replacement) {
      this.warn(lineno, 'bad replacement syntax: skipping this rule');
      return null;
    }
    if (replacement.maxSub > 0 && !match) {
      this.warn(lineno, '$number found in negative match replacement text: skipping this rule');
      return null;
    }
    if (replacement.maxSub > 0 && this.dictFlags & DICT_FLAG_NO_REGSUB) {
      this.warn(lineno, 'regular expression substitution is not allowed: skipping this rule');
      return null;
    }
    return replacement;
  }

  /** False (after warning) when the replacement uses more groups than the pattern has. */
  protected groupsInRange(replacement: Replacement, groups: number, lineno: number): boolean {
    if (replacement.maxSub <= groups) return true;
    this.warn(lineno, `out of range replacement index "${replacement.maxSub}": skipping this rule`);
    return false;
  }
}
