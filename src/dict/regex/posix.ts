// Translates a POSIX regular expression, as glibc's regcomp() reads it for
// Postfix's regexp: tables (util/dict_regexp.c), into JavaScript RegExp
// source. Postfix runs in the C locale, so characters are bytes: the caller
// hands over one JS character per byte and compiles without the "u" flag.
//
// How each POSIX construct comes out (extended syntax; basic syntax, used
// when a rule's "x" flag turns REG_EXTENDED off, spells groups, intervals,
// "+", "?" and "|" with a backslash and treats a leading "*" as a literal):
//   literal byte          \xNN (letters and digits as themselves)
//   .                     [\s\S], or [^\n] under REG_NEWLINE (flag "m")
//   [...] [^...]         a class computed byte by byte: POSIX classes
//                         ([:alpha:] ...), [.c.] and [=c=] (C locale: one
//                         byte each), ranges by byte value, backslash taken
//                         literally, "]" first and "-" first/last literal;
//                         a negated list excludes newline under REG_NEWLINE
//   ^ $                   (?<![\s\S]) (?![\s\S]); under REG_NEWLINE they
//                         also match after/before a newline
//   \` \'                 start/end of the subject
//   \< \> \b \B           \b(?=\w) \b(?<=\w) \b \B (C locale words: [A-Za-z0-9_])
//   \w \W \s \S           \w \W [\t\n\v\f\r ] [^\t\n\v\f\r ]
//   \1 .. \9              (?:\N), valid only after group N is closed
//   * + ? {n} {n,} {,m} {n,m}   the same; stacked operators are grouped so
//                         that "a*?" stays "(a*)?" and never becomes lazy
//   \c (any other)        the byte c
// Case-insensitive matching (REG_ICASE, the default) works as in glibc: the
// pattern's literal bytes and the subject are upper-cased (ASCII only)
// before matching, while escaped characters keep their case, so "\a" never
// matches under REG_ICASE, exactly as with Postfix.
//
// Known difference: POSIX picks the leftmost-longest match, JavaScript the
// leftmost match that its backtracking finds first. Whether a rule matches
// is the same; the text that $n picks up can differ when alternatives
// overlap, e.g. /(a|ab)/ captures "a" here and "ab" under glibc.
// Errors are reported with glibc's regerror() texts.

export interface PosixOptions {
  extended: boolean;
  icase: boolean;
  newline: boolean;
}

export type PosixCompiled = { ok: true; source: string; nsub: number } | { ok: false; error: string };

export const REG_ERRORS = {
  ECOLLATE: 'Invalid collation character',
  ECTYPE: 'Invalid character class name',
  EESCAPE: 'Trailing backslash',
  ESUBREG: 'Invalid back reference',
  EBRACK: 'Unmatched [, [^, [:, [., or [=',
  EPAREN: 'Unmatched ( or \\(',
  EBRACE: 'Unmatched \\{',
  BADBR: 'Invalid content of \\{\\}',
  ERANGE: 'Invalid range end',
  BADRPT: 'Invalid preceding regular expression',
  ESIZE: 'Regular expression too big',
} as const;

const RE_DUP_MAX = 0x7fff;

class PosixError extends Error {}

type TokType =
  | 'char' | 'alt' | 'star' | 'plus' | 'qmark' | 'opendup' | 'closedup'
  | 'open' | 'close' | 'bracket' | 'period' | 'anchor' | 'backref' | 'class' | 'end';

interface Token {
  type: TokType;
  /** The byte behind the token (raw case for escapes). */
  c: string;
  len: number;
}

const CLASS_TESTS: Record<string, (c: number) => boolean> = {
  alpha: (c) => (c >= 65 && c <= 90) || (c >= 97 && c <= 122),
  upper: (c) => c >= 65 && c <= 90,
  lower: (c) => c >= 97 && c <= 122,
  digit: (c) => c >= 48 && c <= 57,
  xdigit: (c) => (c >= 48 && c <= 57) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102),
  space: (c) => c === 32 || (c >= 9 && c <= 13),
  print: (c) => c >= 32 && c <= 126,
  punct: (c) => c >= 33 && c <= 126 && !CLASS_TESTS.alnum!(c),
  graph: (c) => c >= 33 && c <= 126,
  cntrl: (c) => c < 32 || c === 127,
  blank: (c) => c === 32 || c === 9,
  alnum: (c) => CLASS_TESTS.alpha!(c) || CLASS_TESTS.digit!(c),
};

/** One byte as JS regex source. */
export function byteSource(code: number): string {
  const ch = String.fromCharCode(code);
  return /[A-Za-z0-9]/.test(ch) ? ch : '\\x' + code.toString(16).padStart(2, '0');
}

/** A 256-entry byte set as a JS character class. */
export function classSource(set: boolean[]): string {
  let out = '[';
  for (let c = 0; c < 256; c++) {
    if (!set[c]) continue;
    let end = c;
    while (end + 1 < 256 && set[end + 1]) end++;
    out += byteSource(c);
    if (end > c + 1) out += '-';
    if (end > c) out += byteSource(end);
    c = end;
  }
  return out + ']';
}

class PosixParser {
  private readonly pat: string;
  private pos = 0;
  private tok: Token = { type: 'end', c: '', len: 0 };
  private nsub = 0;
  private completed = 0;

  constructor(pattern: string, private readonly opts: PosixOptions) {
    this.pat = pattern;
  }

  /** The pattern byte at i as the parser sees it: upper-cased under REG_ICASE. */
  private at(i: number): string {
    const ch = this.pat[i] ?? '';
    return this.opts.icase && ch >= 'a' && ch <= 'z' ? ch.toUpperCase() : ch;
  }

  run(): PosixCompiled {
    try {
      this.fetch(true);
      const source = this.regExp(0);
      if (this.tok.type !== 'end') throw new PosixError(REG_ERRORS.EPAREN);
      return { ok: true, source, nsub: this.nsub };
    } catch (e) {
      if (e instanceof PosixError) return { ok: false, error: e.message };
      throw e;
    }
  }

  /** The current token's type, read fresh (the parser moves on between checks). */
  private tokType(): TokType {
    return this.tok.type;
  }

  private fetch(caretHere = false): void {
    this.tok = this.peek(this.pos, caretHere);
    this.pos += this.tok.len;
  }

  private peek(i: number, caretHere: boolean): Token {
    const ere = this.opts.extended;
    if (i >= this.pat.length) return { type: 'end', c: '', len: 0 };
    const c = this.at(i);
    if (c === '\\') {
      if (i + 1 >= this.pat.length) throw new PosixError(REG_ERRORS.EESCAPE);
      const c2 = this.pat[i + 1]!;
      const t = (type: TokType): Token => ({ type, c: c2, len: 2 });
      switch (c2) {
        case '|': return t(ere ? 'char' : 'alt');
        case '<': case '>': case 'b': case 'B': case '`': case "'": return t('anchor');
        case 'w': case 'W': case 's': case 'S': return t('class');
        case '(': return t(ere ? 'char' : 'open');
        case ')': return t(ere ? 'char' : 'close');
        case '+': return t(ere ? 'char' : 'plus');
        case '?': return t(ere ? 'char' : 'qmark');
        case '{': return t(ere ? 'char' : 'opendup');
        case '}': return t(ere ? 'char' : 'closedup');
        default:
          return t(c2 >= '1' && c2 <= '9' ? 'backref' : 'char');
      }
    }
    const t = (type: TokType): Token => ({ type, c, len: 1 });
    switch (c) {
      case '|': return t(ere ? 'alt' : 'char');
      case '*': return t('star');
      case '+': return t(ere ? 'plus' : 'char');
      case '?': return t(ere ? 'qmark' : 'char');
      case '{': return t(ere ? 'opendup' : 'char');
      case '}': return t(ere ? 'closedup' : 'char');
      case '(': return t(ere ? 'open' : 'char');
      case ')': return t(ere ? 'close' : 'char');
      case '[': return t('bracket');
      case '.': return t('period');
      case '^':
        if (!ere && !caretHere && i !== 0) return t('char');
        return t('anchor');
      case '$':
        if (!ere && i + 1 !== this.pat.length) {
          const next = this.peek(i + 1, false);
          if (next.type !== 'alt' && next.type !== 'close') return t('char');
        }
        return t('anchor');
      default:
        return t('char');
    }
  }

  private regExp(nest: number): string {
    let out = this.branch(nest);
    while (this.tok.type === 'alt') {
      this.fetch(true);
      out += '|' + this.branch(nest);
    }
    return out;
  }

  private branchEnds(nest: number): boolean {
    const t = this.tok.type;
    return t === 'alt' || t === 'end' || (nest > 0 && t === 'close');
  }

  private branch(nest: number): string {
    let out = '';
    while (!this.branchEnds(nest)) out += this.expression(nest);
    return out;
  }

  /** One atom with its repetition operators. */
  private expression(nest: number): string {
    const ere = this.opts.extended;
    const tok = this.tok;
    let atom: string;
    switch (tok.type) {
      case 'char':
        atom = byteSource(tok.c.charCodeAt(0));
        break;
      case 'period':
        atom = this.opts.newline ? '[^\\n]' : '[\\s\\S]';
        break;
      case 'bracket':
        atom = this.bracket();
        break;
      case 'backref': {
        const n = tok.c.charCodeAt(0) - 48;
        if (!(this.completed & (1 << (n - 1)))) throw new PosixError(REG_ERRORS.ESUBREG);
        atom = `(?:\\${n})`;
        break;
      }
      case 'class':
        atom = { w: '\\w', W: '\\W', s: '[\\t\\n\\v\\f\\r ]', S: '[^\\t\\n\\v\\f\\r ]' }[tok.c]!;
        break;
      case 'open':
        atom = this.subExpression(nest);
        break;
      case 'anchor': {
        const src = this.anchor(tok.c);
        this.fetch(true);
        return src;
      }
      case 'opendup':
        throw new PosixError(REG_ERRORS.BADRPT);
      case 'star':
      case 'plus':
      case 'qmark':
        if (ere) throw new PosixError(REG_ERRORS.BADRPT);
        atom = byteSource(tok.c.charCodeAt(0));
        break;
      case 'close':
        if (!ere) throw new PosixError(REG_ERRORS.EPAREN);
        atom = byteSource(tok.c.charCodeAt(0));
        break;
      case 'closedup':
        atom = byteSource(tok.c.charCodeAt(0));
        break;
      default:
        throw new PosixError(REG_ERRORS.EPAREN);
    }
    this.fetch();
    let quantified = false;
    for (;;) {
      const t = this.tok.type;
      if (t !== 'star' && t !== 'plus' && t !== 'qmark' && t !== 'opendup') break;
      const q = this.duplication();
      atom = quantified ? `(?:${atom})${q}` : `${atom}${q}`;
      quantified = true;
      if (!ere && (this.tok.type === 'star' || this.tok.type === 'opendup')) throw new PosixError(REG_ERRORS.BADRPT);
    }
    return atom;
  }

  private anchor(c: string): string {
    const nl = this.opts.newline;
    switch (c) {
      case '^': return nl ? '(?<![^\\n])' : '(?<![\\s\\S])';
      case '$': return nl ? '(?![^\\n])' : '(?![\\s\\S])';
      case '`': return '(?<![\\s\\S])';
      case "'": return '(?![\\s\\S])';
      case '<': return '\\b(?=\\w)';
      case '>': return '\\b(?<=\\w)';
      case 'b': return '\\b';
      default: return '\\B';
    }
  }

  private subExpression(nest: number): string {
    const index = ++this.nsub;
    this.fetch(true);
    let inner = '';
    if (this.tokType() !== 'close') {
      inner = this.regExp(nest + 1);
      if (this.tokType() !== 'close') throw new PosixError(REG_ERRORS.EPAREN);
    }
    if (index <= 31) this.completed |= 1 << (index - 1);
    return `(${inner})`;
  }

  /** The repetition operator at the current token, as JS source; leaves the next token current. */
  private duplication(): string {
    const t = this.tok.type;
    if (t === 'star' || t === 'plus' || t === 'qmark') {
      this.fetch();
      return t === 'star' ? '*' : t === 'plus' ? '+' : '?';
    }
    let start = this.number();
    let end: number;
    if (start === -1) {
      if (this.tok.type === 'char' && this.tok.c === ',') start = 0;
      else throw new PosixError(REG_ERRORS.BADBR);
    }
    if (start !== -2) {
      end = this.tok.type === 'closedup' ? start : this.tok.c === ',' ? this.number() : -2;
    } else {
      end = -2;
    }
    if (start === -2 || end === -2) {
      throw new PosixError(this.tok.type === 'end' ? REG_ERRORS.EBRACE : REG_ERRORS.BADBR);
    }
    if ((end !== -1 && start > end) || this.tok.type !== 'closedup') throw new PosixError(REG_ERRORS.BADBR);
    if ((end === -1 ? start : end) > RE_DUP_MAX) throw new PosixError(REG_ERRORS.ESIZE);
    this.fetch();
    return end === -1 ? `{${start},}` : start === end ? `{${start}}` : `{${start},${end}}`;
  }

  /** glibc's fetch_number(): -1 no digits, -2 malformed or end of pattern. */
  private number(): number {
    let num = -1;
    for (;;) {
      this.fetch();
      const tok = this.tok;
      if (tok.type === 'end') return -2;
      if (tok.type === 'closedup' || tok.c === ',') return num;
      const digit = tok.type === 'char' && tok.c >= '0' && tok.c <= '9';
      num = !digit || num === -2 ? -2 : num === -1 ? tok.c.charCodeAt(0) - 48 : Math.min(RE_DUP_MAX + 1, num * 10 + tok.c.charCodeAt(0) - 48);
    }
  }

  // -- bracket expressions ---------------------------------------------

  private bracket(): string {
    const set: boolean[] = new Array(256).fill(false);
    let nonMatch = false;
    if (this.at(this.pos) === '^') {
      nonMatch = true;
      this.pos++;
    }
    let first = true;
    for (;;) {
      if (this.pos >= this.pat.length) throw new PosixError(REG_ERRORS.EBRACK);
      const start = this.bracketElement(first);
      first = false;
      if (this.pos >= this.pat.length) throw new PosixError(REG_ERRORS.EBRACK);
      let isRange = false;
      if (start.kind !== 'class' && start.kind !== 'equiv' && this.at(this.pos) === '-') {
        if (this.pos + 1 >= this.pat.length) throw new PosixError(REG_ERRORS.EBRACK);
        if (this.at(this.pos + 1) !== ']') {
          this.pos++;
          isRange = true;
        }
      }
      if (isRange) {
        const end = this.bracketElement(true);
        this.range(set, start, end);
      } else {
        this.addElement(set, start);
      }
      if (this.pos >= this.pat.length) throw new PosixError(REG_ERRORS.EBRACK);
      if (this.at(this.pos) === ']') {
        this.pos++;
        break;
      }
    }
    if (nonMatch) {
      for (let c = 0; c < 256; c++) set[c] = !set[c];
      if (this.opts.newline) set[10] = false;
    }
    return classSource(set);
  }

  private bracketElement(first: boolean): { kind: 'char' | 'coll' | 'equiv' | 'class'; name: string } {
    const c = this.at(this.pos);
    if (c === '[' && this.pos + 1 < this.pat.length) {
      const c2 = this.at(this.pos + 1);
      if (c2 === '.' || c2 === '=' || c2 === ':') {
        this.pos += 2;
        return this.bracketSymbol(c2);
      }
    }
    if (c === '-' && !first) {
      // A '-' that does not start a range may only come just before the ']'.
      if (this.at(this.pos + 1) !== ']') throw new PosixError(REG_ERRORS.ERANGE);
    }
    this.pos++;
    return { kind: 'char', name: c };
  }

  private bracketSymbol(delim: string): { kind: 'coll' | 'equiv' | 'class'; name: string } {
    if (this.pos >= this.pat.length) throw new PosixError(REG_ERRORS.EBRACK);
    let name = '';
    for (let i = 0; ; i++) {
      if (i >= 32) throw new PosixError(REG_ERRORS.EBRACK);
      const ch = delim === ':' ? this.pat[this.pos]! : this.at(this.pos);
      this.pos++;
      if (this.pos >= this.pat.length) throw new PosixError(REG_ERRORS.EBRACK);
      if (ch === delim && this.at(this.pos) === ']') break;
      name += ch;
    }
    this.pos++;
    return { kind: delim === '.' ? 'coll' : delim === '=' ? 'equiv' : 'class', name };
  }

  private addElement(set: boolean[], el: { kind: string; name: string }): void {
    if (el.kind === 'char') {
      set[el.name.charCodeAt(0)] = true;
    } else if (el.kind === 'class') {
      let name = el.name;
      if (this.opts.icase && (name === 'upper' || name === 'lower')) name = 'alpha';
      const test = Object.prototype.hasOwnProperty.call(CLASS_TESTS, name) ? CLASS_TESTS[name] : undefined;
      if (!test) throw new PosixError(REG_ERRORS.ECTYPE);
      for (let c = 0; c < 256; c++) if (test(c)) set[c] = true;
    } else {
      if (el.name.length !== 1) throw new PosixError(REG_ERRORS.ECOLLATE);
      set[el.name.charCodeAt(0)] = true;
    }
  }

  private range(set: boolean[], a: { kind: string; name: string }, b: { kind: string; name: string }): void {
    if (a.kind === 'equiv' || a.kind === 'class' || b.kind === 'equiv' || b.kind === 'class') throw new PosixError(REG_ERRORS.ERANGE);
    if ((a.kind === 'coll' && a.name.length !== 1) || (b.kind === 'coll' && b.name.length !== 1)) throw new PosixError(REG_ERRORS.ECOLLATE);
    const lo = a.name.charCodeAt(0);
    const hi = b.name.charCodeAt(0);
    if (lo > hi) throw new PosixError(REG_ERRORS.ERANGE);
    for (let c = lo; c <= hi; c++) set[c] = true;
  }
}

/** Translates one POSIX pattern (bytes) to JS RegExp source, or gives glibc's error text. */
export function translatePosix(pattern: string, opts: PosixOptions): PosixCompiled {
  return new PosixParser(pattern, opts).run();
}
