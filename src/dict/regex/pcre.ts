// Translates a PCRE2 pattern, as Postfix 3.7's pcre: tables compile it
// (util/dict_pcre.c, 8-bit library, no UTF mode, C-locale character tables),
// into JavaScript RegExp source. Input is one JS character per byte; the
// result is compiled without the "u" flag.
//
// How PCRE constructs come out:
//   literal byte        \xNN; under caseless matching an ASCII letter becomes
//                       [aA] (JS's own "i" flag would also fold Latin-1 bytes,
//                       which PCRE's C tables do not)
//   .                   [\s\S] with dotall (Postfix's default), else [^\n]
//   ^ $ \A \Z \z \G     lookarounds with PCRE's meaning: $ also matches before
//                       a final newline unless "E" (dollar_endonly) is set;
//                       in multiline mode they work at LF only, never CR
//   \d \w \b            the same (ASCII); \s \h \v \R \N and their negations
//                       become explicit byte classes
//   [...]               computed byte by byte: escapes, ranges, POSIX classes
//                       ([:alpha:], [:^digit:], [:word:]), case closure
//   (...) (?:...) (?<name>...) (?'name'...) (?P<name>...)   plain groups;
//                       names are resolved here, group numbers are mapped
//   (?=) (?!) (?<=) (?<!)   the same; a lookbehind must have fixed-length
//                       branches, as PCRE2 demands
//   (?>...) and possessive quantifiers (a*+)   emulated with (?=(...))\N
//   lazy quantifiers, flag "U" (ungreedy)      by flipping the "?"
//   (?imsxU-imsxU) (?i:...)                    scoped as in PCRE
//   \1 \g{1} \g-1 \k<name> (?P=name)           back references
//   \Q...\E, (?#...), "x" flag whitespace and comments
// Not supported, and reported as such instead of matching differently:
// recursion and subroutine calls ((?R), (?1), (?&name)), conditionals
// ((?(1)...)), branch reset (?|...), \K, \X, \C, \p{..}, backtracking verbs
// ((*SKIP) ...), callouts, and a case-insensitive back reference in a pattern
// that also has bytes above 127 or switches case sensitivity inline.
// Errors found here carry PCRE2's message texts and offsets.

export interface PcreOptions {
  caseless: boolean;
  multiline: boolean;
  dotall: boolean;
  extended: boolean;
  anchored: boolean;
  dollarEndonly: boolean;
  ungreedy: boolean;
}

export type PcreCompiled =
  | { ok: true; source: string; flags: string; captureCount: number; groupMap: number[] }
  | { ok: false; error: string; offset: number }
  | { ok: false; unsupported: string };

import { byteSource, classSource } from './posix.js';

class PcreError extends Error {
  constructor(message: string, readonly offset: number) {
    super(message);
  }
}

class Unsupported extends Error {}

interface Flags {
  i: boolean;
  m: boolean;
  s: boolean;
  x: boolean;
  U: boolean;
}

/** Translated piece: JS source, fixed length in bytes (null when variable), repeatable. */
interface Piece {
  src: string;
  len: number | null;
  repeatable: boolean;
}

const BR = '\u0000';
const POSIX_CLASSES: Record<string, (c: number) => boolean> = {
  alpha: (c) => (c >= 65 && c <= 90) || (c >= 97 && c <= 122),
  lower: (c) => c >= 97 && c <= 122,
  upper: (c) => c >= 65 && c <= 90,
  digit: (c) => c >= 48 && c <= 57,
  alnum: (c) => POSIX_CLASSES.alpha!(c) || POSIX_CLASSES.digit!(c),
  ascii: (c) => c < 128,
  blank: (c) => c === 32 || c === 9,
  cntrl: (c) => c < 32 || c === 127,
  graph: (c) => c >= 33 && c <= 126,
  print: (c) => c >= 32 && c <= 126,
  punct: (c) => c >= 33 && c <= 126 && !POSIX_CLASSES.alnum!(c),
  space: (c) => c === 32 || (c >= 9 && c <= 13),
  word: (c) => POSIX_CLASSES.alnum!(c) || c === 95,
  xdigit: (c) => (c >= 48 && c <= 57) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102),
};
const ESCAPE_CLASSES: Record<string, (c: number) => boolean> = {
  d: POSIX_CLASSES.digit!,
  w: POSIX_CLASSES.word!,
  s: POSIX_CLASSES.space!,
  h: (c) => c === 9 || c === 32 || c === 0xa0,
  v: (c) => (c >= 10 && c <= 13) || c === 0x85,
};
const SIMPLE_ESCAPES: Record<string, number> = { a: 7, e: 27, f: 12, n: 10, r: 13, t: 9 };

function isDigit(ch: string | undefined): boolean {
  return ch !== undefined && ch >= '0' && ch <= '9';
}

function isHex(ch: string | undefined): boolean {
  return ch !== undefined && /^[0-9A-Fa-f]$/.test(ch);
}

function setSource(test: (c: number) => boolean, negate: boolean): string {
  const set: boolean[] = [];
  for (let c = 0; c < 256; c++) set.push(test(c) !== negate);
  return classSource(set);
}

class PcreParser {
  private pos = 0;
  private flags: Flags;
  private captureCount = 0;
  private jsCount = 0;
  private readonly groupMap: number[] = [0];
  private readonly names = new Map<string, number>();
  /** Back references to check once all groups are known: [group or name, offset]. */
  private readonly refs: Array<[number | string, number]> = [];
  private caselessRef = false;
  private caseToggled = false;
  private highBytes = false;

  constructor(private readonly pat: string, private readonly opts: PcreOptions, private readonly jsIgnoreCase: boolean) {
    this.flags = { i: opts.caseless, m: opts.multiline, s: opts.dotall, x: opts.extended, U: opts.ungreedy };
  }

  run(): PcreCompiled {
    try {
      let src = this.alternation(0);
      if (this.pos < this.pat.length) throw new PcreError('unmatched closing parenthesis', this.pos);
      src = this.resolveRefs(src);
      if (this.opts.anchored) src = `(?<![\\s\\S])(?:${src})`;
      if (this.caselessRef && !this.jsIgnoreCase) {
        if (this.caseToggled || this.highBytes) {
          throw new Unsupported('case-insensitive back reference together with bytes above 127 or inline case changes');
        }
        return new PcreParser(this.pat, this.opts, true).run();
      }
      return { ok: true, source: src, flags: this.jsIgnoreCase ? 'i' : '', captureCount: this.captureCount, groupMap: this.groupMap };
    } catch (e) {
      if (e instanceof PcreError) return { ok: false, error: e.message, offset: e.offset };
      if (e instanceof Unsupported) return { ok: false, unsupported: e.message };
      throw e;
    }
  }

  private resolveRefs(src: string): string {
    for (const [ref, offset] of this.refs) {
      const n = typeof ref === 'number' ? ref : this.names.get(ref);
      if (n === undefined || n > this.captureCount) throw new PcreError('reference to non-existent subpattern', offset);
    }
    return src.replace(/\u0000(\d+|[^\u0000]+)\u0000/g, (_m, ref: string) => {
      const n = /^\d+$/.test(ref) ? Number(ref) : this.names.get(ref)!;
      return `(?:\\${this.groupMap[n]})`;
    });
  }

  // -- structure ---------------------------------------------------------

  private alternation(depth: number): string {
    const saved = { ...this.flags };
    const branches: string[] = [this.sequence(depth).src];
    while (this.pat[this.pos] === '|') {
      this.pos++;
      branches.push(this.sequence(depth).src);
    }
    this.flags = saved;
    return branches.join('|');
  }

  /** Alternatives with their lengths, for lookbehind checks. */
  private alternationWithLengths(depth: number): { src: string; lens: Array<number | null> } {
    const saved = { ...this.flags };
    const first = this.sequence(depth);
    const parts = [first.src];
    const lens = [first.len];
    while (this.pat[this.pos] === '|') {
      this.pos++;
      const next = this.sequence(depth);
      parts.push(next.src);
      lens.push(next.len);
    }
    this.flags = saved;
    return { src: parts.join('|'), lens };
  }

  private sequence(depth: number): Piece {
    let src = '';
    let len: number | null = 0;
    for (;;) {
      this.skipExtended();
      const ch = this.pat[this.pos];
      if (ch === undefined || ch === '|') break;
      if (ch === ')') {
        if (depth === 0) throw new PcreError('unmatched closing parenthesis', this.pos);
        break;
      }
      const atomStart = this.pos;
      const atom = this.atom(depth);
      if (atom === null) continue;
      const q = this.quantified(atom, atomStart);
      src += q.src;
      len = len === null || q.len === null ? null : len + q.len;
    }
    return { src, len, repeatable: false };
  }

  private skipExtended(): void {
    if (!this.flags.x) return;
    for (;;) {
      const ch = this.pat[this.pos];
      if (ch === ' ' || ch === '\t' || ch === '\n' || ch === '\v' || ch === '\f' || ch === '\r') {
        this.pos++;
      } else if (ch === '#') {
        while (this.pos < this.pat.length && this.pat[this.pos] !== '\n') this.pos++;
      } else {
        return;
      }
    }
  }

  private literal(code: number): Piece {
    if (code >= 128) this.highBytes = true;
    const ch = String.fromCharCode(code);
    if (this.flags.i && !this.jsIgnoreCase && /[A-Za-z]/.test(ch)) {
      return { src: `[${ch.toUpperCase()}${ch.toLowerCase()}]`, len: 1, repeatable: true };
    }
    return { src: byteSource(code), len: 1, repeatable: true };
  }

  private assertion(src: string): Piece {
    return { src, len: 0, repeatable: false };
  }

  /** One item; null for things that produce nothing (comments, option settings). */
  private atom(depth: number): Piece | null {
    const ch = this.pat[this.pos]!;
    const f = this.flags;
    switch (ch) {
      case '.':
        this.pos++;
        return { src: f.s ? '[\\s\\S]' : '[^\\n]', len: 1, repeatable: true };
      case '^':
        this.pos++;
        return this.assertion(f.m ? '(?:(?<![\\s\\S])|(?<=\\n)(?=[\\s\\S]))' : '(?<![\\s\\S])');
      case '$':
        this.pos++;
        return this.assertion(f.m ? '(?=\\n|(?![\\s\\S]))' : this.opts.dollarEndonly ? '(?![\\s\\S])' : '(?=\\n?(?![\\s\\S]))');
      case '[':
        return this.charClass();
      case '(':
        return this.group(depth);
      case '\\':
        return this.escape();
      case '*':
      case '+':
      case '?':
        throw new PcreError('quantifier does not follow a repeatable item', this.pos);
      case '{':
        if (this.quantifierAt(this.pos)) throw new PcreError('quantifier does not follow a repeatable item', this.pos);
        this.pos++;
        return this.literal(ch.charCodeAt(0));
      default:
        this.pos++;
        return this.literal(ch.charCodeAt(0));
    }
  }

  // -- quantifiers -------------------------------------------------------

  /** Whether a {n}, {n,} or {n,m} quantifier starts at i (PCRE2 10.42 rules). */
  private quantifierAt(i: number): boolean {
    return /^\{\d+(,\d*)?\}/.test(this.pat.slice(i, i + 24));
  }

  private quantified(atom: Piece, atomStart: number): Piece {
    let current = atom;
    let quantifiedOnce = false;
    for (;;) {
      this.skipExtended();
      const ch = this.pat[this.pos];
      let min: number;
      let max: number;
      let qsrc: string;
      if (ch === '*' || ch === '+' || ch === '?') {
        qsrc = ch;
        min = ch === '+' ? 1 : 0;
        max = ch === '?' ? 1 : Infinity;
        this.pos++;
      } else if (ch === '{' && this.quantifierAt(this.pos)) {
        const m = /^\{(\d+)(,(\d*))?\}/.exec(this.pat.slice(this.pos))!;
        const numEnd = this.pos + 1 + m[1]!.length;
        min = Number(m[1]);
        if (min > 65535) throw new PcreError('number too big in {} quantifier', numEnd);
        max = m[2] === undefined ? min : m[3] === '' ? Infinity : Number(m[3]);
        if (max !== Infinity && max > 65535) throw new PcreError('number too big in {} quantifier', numEnd + 1 + m[3]!.length);
        if (max < min) throw new PcreError('numbers out of order in {} quantifier', this.pos + m[0].length - 1);
        qsrc = m[2] === undefined ? `{${min}}` : max === Infinity ? `{${min},}` : `{${min},${max}}`;
        this.pos += m[0].length;
      } else {
        return current;
      }
      if (quantifiedOnce) throw new PcreError('quantifier does not follow a repeatable item', this.pos - qsrc.length);
      quantifiedOnce = true;
      if (!current.repeatable) {
        if (current.src.startsWith('(?=') || current.src.startsWith('(?!')) {
          current = { src: `(?:${current.src})`, len: 0, repeatable: true };
        } else {
          throw new PcreError('quantifier does not follow a repeatable item', this.pos - qsrc.length);
        }
      }
      let lazy = this.flags.U;
      let possessive = false;
      if (this.pat[this.pos] === '?') {
        lazy = !lazy;
        this.pos++;
      } else if (this.pat[this.pos] === '+') {
        possessive = true;
        this.pos++;
      }
      const base = `${current.src}${qsrc}${lazy && !possessive && min !== max ? '?' : ''}`;
      const len = current.len !== null && min === max ? current.len * min : null;
      const src = possessive ? this.atomic(base) : base;
      current = { src: `(?:${src})`, len, repeatable: true };
      void atomStart;
    }
  }

  /** An atomic group: match once, never backtrack into it. */
  private atomic(inner: string, groupNumber?: number): string {
    const n = groupNumber ?? ++this.jsCount;
    return `(?=(${inner}))(?:\\${n})`;
  }

  // -- groups ------------------------------------------------------------

  private group(depth: number): Piece | null {
    const open = this.pos;
    const p = this.pat;
    if (p[open + 1] === '*') throw new Unsupported('backtracking control verb');
    if (p[open + 1] !== '?') {
      this.pos++;
      return this.capture(depth, open);
    }
    const c2 = p[open + 2];
    switch (c2) {
      case '#': {
        const close = p.indexOf(')', open);
        if (close < 0) throw new PcreError('missing ) after (?# comment', p.length);
        this.pos = close + 1;
        return null;
      }
      case ':':
        this.pos = open + 3;
        return this.wrapped('(?:', depth, open);
      case '>': {
        this.pos = open + 3;
        const n = ++this.jsCount;
        const inner = this.groupBody(depth, open);
        return { src: this.atomic(inner.src, n), len: inner.len, repeatable: true };
      }
      case '=':
      case '!':
        this.pos = open + 3;
        return { ...this.wrapped(`(?${c2}`, depth, open), len: 0, repeatable: false };
      case '<':
        if (p[open + 3] === '=' || p[open + 3] === '!') {
          this.pos = open + 4;
          return this.lookbehind(`(?<${p[open + 3]}`, depth, open);
        }
        this.pos = open + 3;
        return this.named('>', depth, open);
      case "'":
        this.pos = open + 3;
        return this.named("'", depth, open);
      case 'P':
        return this.pythonGroup(depth, open);
      case '|':
        throw new Unsupported('branch reset group (?|...)');
      case '(':
        throw new Unsupported('conditional group (?(...)...)');
      case 'R': case '&': case '+': case '0': case '1': case '2': case '3': case '4':
      case '5': case '6': case '7': case '8': case '9':
        throw new Unsupported('recursion or subroutine call');
      case 'C':
        throw new Unsupported('callout');
      default:
        return this.options(depth, open);
    }
  }

  private groupBody(depth: number, open: number): { src: string; len: number | null } {
    const { src, lens } = this.alternationWithLengths(depth + 1);
    if (this.pat[this.pos] !== ')') throw new PcreError('missing closing parenthesis', this.pat.length);
    this.pos++;
    void open;
    const len = lens.every((l) => l !== null && l === lens[0]) ? lens[0]! : null;
    return { src, len };
  }

  private wrapped(prefix: string, depth: number, open: number): Piece {
    const inner = this.groupBody(depth, open);
    return { src: `${prefix}${inner.src})`, len: inner.len, repeatable: true };
  }

  private capture(depth: number, open: number, name?: string): Piece {
    const n = ++this.captureCount;
    this.groupMap[n] = ++this.jsCount;
    if (name !== undefined) this.names.set(name, n);
    const inner = this.groupBody(depth, open);
    return { src: `(${inner.src})`, len: inner.len, repeatable: true };
  }

  private lookbehind(prefix: string, depth: number, open: number): Piece {
    const { src, lens } = this.alternationWithLengths(depth + 1);
    if (this.pat[this.pos] !== ')') throw new PcreError('missing closing parenthesis', this.pat.length);
    this.pos++;
    if (lens.some((l) => l === null)) throw new PcreError('lookbehind assertion is not fixed length', open);
    return { src: `${prefix}${src})`, len: 0, repeatable: false };
  }

  private named(term: string, depth: number, open: number): Piece {
    const start = this.pos;
    if (isDigit(this.pat[start])) throw new PcreError('subpattern name must start with a non-digit', start);
    let end = start;
    while (end < this.pat.length && /[A-Za-z0-9_]/.test(this.pat[end]!)) end++;
    if (end === start || this.pat[end] !== term) throw new PcreError('syntax error in subpattern name (missing terminator?)', end);
    const name = this.pat.slice(start, end);
    if (this.names.has(name)) throw new PcreError('two named subpatterns have the same name (PCRE2_DUPNAMES not set)', end + 1);
    this.pos = end + 1;
    return this.capture(depth, open, name);
  }

  private pythonGroup(depth: number, open: number): Piece | null {
    const c3 = this.pat[open + 3];
    if (c3 === '<') {
      this.pos = open + 4;
      return this.named('>', depth, open);
    }
    if (c3 === '=') {
      const close = this.pat.indexOf(')', open);
      if (close < 0) throw new PcreError('missing closing parenthesis', this.pat.length);
      const name = this.pat.slice(open + 4, close);
      this.refs.push([name, open + 4]);
      this.pos = close + 1;
      return this.backref(name);
    }
    throw new Unsupported('recursion or subroutine call');
  }

  /** (?imsxU-imsxU) for the rest of the group, or (?imsx-imsx:...) for its body. */
  private options(depth: number, open: number): Piece | null {
    let i = open + 2;
    let on = true;
    const next = { ...this.flags };
    for (;; i++) {
      const ch = this.pat[i];
      if (ch === ')' || ch === ':') break;
      if (ch === '-' && on) {
        on = false;
        continue;
      }
      if (ch === 'i' || ch === 'm' || ch === 's' || ch === 'x' || ch === 'U') {
        next[ch] = on;
        if (ch === 'i') this.caseToggled = true;
        continue;
      }
      if (ch === 'n' || ch === 'J') throw new Unsupported(`inline option (?${ch})`);
      if (ch === undefined) throw new PcreError('missing closing parenthesis', this.pat.length);
      throw new PcreError('unrecognized character after (? or (?-', i);
    }
    this.pos = i + 1;
    if (this.pat[i] === ')') {
      this.flags = next;
      return null;
    }
    const saved = this.flags;
    this.flags = next;
    const piece = this.wrapped('(?:', depth, open);
    this.flags = saved;
    return piece;
  }

  // -- escapes -----------------------------------------------------------

  private backref(ref: number | string): Piece {
    if (this.flags.i) this.caselessRef = true;
    return { src: `${BR}${ref}${BR}`, len: null, repeatable: true };
  }

  private escape(): Piece | null {
    const start = this.pos;
    const c = this.pat[start + 1];
    if (c === undefined) throw new PcreError('\\ at end of pattern', this.pat.length);
    this.pos = start + 2;
    switch (c) {
      case 'd': return { src: '\\d', len: 1, repeatable: true };
      case 'D': return { src: '\\D', len: 1, repeatable: true };
      case 'w': return { src: '\\w', len: 1, repeatable: true };
      case 'W': return { src: '\\W', len: 1, repeatable: true };
      case 's': case 'S': case 'h': case 'H': case 'v': case 'V':
        return { src: setSource(ESCAPE_CLASSES[c.toLowerCase()]!, c !== c.toLowerCase()), len: 1, repeatable: true };
      case 'N':
        if (this.pat[this.pos] === '{') throw new PcreError('\\N{U+dddd} is supported only in Unicode (UTF) mode', start + 2);
        return { src: '[^\\n]', len: 1, repeatable: true };
      case 'R': return { src: '(?:\\r\\n|[\\n\\v\\f\\r\\x85])', len: null, repeatable: true };
      case 'b': return this.assertion('\\b');
      case 'B': return this.assertion('\\B');
      case 'A': case 'G': return this.assertion('(?<![\\s\\S])');
      case 'z': return this.assertion('(?![\\s\\S])');
      case 'Z': return this.assertion('(?=\\n?(?![\\s\\S]))');
      case 'Q': return this.quoted();
      case 'E': return null;
      case 'K': case 'X': case 'C': case 'p': case 'P':
        throw new Unsupported(`\\${c}`);
      case 'g': return this.gReference(start);
      case 'k': return this.kReference(start);
      case 'L': case 'l': case 'U': case 'u':
        throw new PcreError('PCRE2 does not support \\F, \\L, \\l, \\N{name}, \\U, or \\u', start + 2);
      default:
        if (c >= '1' && c <= '9') return this.digitEscape(start);
        return this.literal(this.charEscape(start, c));
    }
  }

  /** A backslash escape that stands for one byte (outside or inside a class). */
  private charEscape(start: number, c: string): number {
    if (c in SIMPLE_ESCAPES) return SIMPLE_ESCAPES[c]!;
    if (c === '0') {
      let v = 0;
      let k = 0;
      while (k < 2 && /[0-7]/.test(this.pat[this.pos] ?? '')) {
        v = v * 8 + Number(this.pat[this.pos++]);
        k++;
      }
      return v;
    }
    if (c === 'x') return this.hexEscape();
    if (c === 'o') return this.octalBraces();
    if (c === 'c') {
      const x = this.pat[this.pos];
      if (x === undefined) throw new PcreError('\\c at end of pattern', this.pat.length);
      this.pos++;
      return x.toUpperCase().charCodeAt(0) ^ 0x40;
    }
    if (/[A-Za-z0-9]/.test(c)) throw new PcreError('unrecognized character follows \\', start + 2);
    return c.charCodeAt(0);
  }

  private hexEscape(): number {
    if (this.pat[this.pos] === '{') {
      const close = this.pat.indexOf('}', this.pos);
      const digits = close < 0 ? '' : this.pat.slice(this.pos + 1, close);
      if (close < 0 || !/^[0-9A-Fa-f]+$/.test(digits)) throw new PcreError('non-hex character in \\x{} (closing brace missing?)', this.pos + 1);
      const v = parseInt(digits, 16);
      if (v > 255) throw new PcreError('character code point value in \\x{} or \\o{} is too large', close);
      this.pos = close + 1;
      return v;
    }
    let v = 0;
    for (let k = 0; k < 2 && isHex(this.pat[this.pos]); k++) v = v * 16 + parseInt(this.pat[this.pos++]!, 16);
    return v;
  }

  private octalBraces(): number {
    if (this.pat[this.pos] !== '{') throw new PcreError('missing opening brace after \\o', this.pos);
    const close = this.pat.indexOf('}', this.pos);
    const digits = close < 0 ? '' : this.pat.slice(this.pos + 1, close);
    if (digits === '') throw new PcreError('digits missing in \\x{} or \\o{} or \\N{U+}', this.pos + 1);
    if (!/^[0-7]+$/.test(digits)) throw new PcreError('non-octal character in \\o{} (closing brace missing?)', this.pos + 1);
    const v = parseInt(digits, 8);
    if (v > 255) throw new PcreError('character code point value in \\x{} or \\o{} is too large', close);
    this.pos = close + 1;
    return v;
  }

  private digitEscape(start: number): Piece {
    const m = /^\d+/.exec(this.pat.slice(start + 1))!;
    const digits = m[0];
    const n = Number(digits);
    if (n < 10 || n <= this.captureCount || digits[0] === '8' || digits[0] === '9') {
      this.pos = start + 1 + digits.length;
      this.refs.push([n, start + 1]);
      return this.backref(n);
    }
    // Otherwise up to three octal digits.
    let v = 0;
    let i = start + 1;
    for (let k = 0; k < 3 && /[0-7]/.test(this.pat[i] ?? ''); k++) v = v * 8 + Number(this.pat[i++]);
    this.pos = i;
    return this.literal(v & 0xff);
  }

  private gReference(start: number): Piece {
    const rest = this.pat.slice(start + 2);
    const m = /^(?:\{(-?\d+|[A-Za-z_]\w*)\}|<(-?\d+|[A-Za-z_]\w*)>|'(-?\d+|[A-Za-z_]\w*)'|(-?\d+))/.exec(rest);
    if (!m) {
      throw new PcreError('\\g is not followed by a braced, angle-bracketed, or quoted name/number or by a plain number', start + 2);
    }
    if (m[2] !== undefined || m[3] !== undefined) throw new Unsupported('subroutine call \\g<...>');
    const ref = m[1] ?? m[4]!;
    this.pos = start + 2 + m[0].length;
    if (/^[A-Za-z_]/.test(ref)) {
      this.refs.push([ref, start + 3]);
      return this.backref(ref);
    }
    let n = Number(ref);
    if (n < 0) n = this.captureCount + 1 + n;
    if (n <= 0) throw new PcreError('a relative value of zero is not allowed', start + 2);
    this.refs.push([n, start + 2]);
    return this.backref(n);
  }

  private kReference(start: number): Piece {
    const m = /^(?:<(\w+)>|'(\w+)'|\{(\w+)\})/.exec(this.pat.slice(start + 2));
    if (!m) throw new PcreError('\\k is not followed by a braced, angle-bracketed, or quoted name', start + 2);
    const name = m[1] ?? m[2] ?? m[3]!;
    this.pos = start + 2 + m[0].length;
    this.refs.push([name, start + 3]);
    return this.backref(name);
  }

  private quoted(): Piece {
    const end = this.pat.indexOf('\\E', this.pos);
    const text = end < 0 ? this.pat.slice(this.pos) : this.pat.slice(this.pos, end);
    this.pos = end < 0 ? this.pat.length : end + 2;
    if (text.length === 0) return { src: '', len: 0, repeatable: false };
    let src = '';
    for (const ch of text) src += this.literal(ch.charCodeAt(0)).src;
    // A quantifier after \Q...\E applies to the last character only.
    if (text.length === 1) return { src, len: 1, repeatable: true };
    const last = this.literal(text.charCodeAt(text.length - 1)).src;
    return { src: `${src.slice(0, src.length - last.length)}(?:${last})`, len: text.length, repeatable: true };
  }

  // -- character classes -------------------------------------------------

  private charClass(): Piece {
    const open = this.pos;
    const p = this.pat;
    let i = open + 1;
    let negate = false;
    if (p[i] === '^') {
      negate = true;
      i++;
    }
    const set: boolean[] = new Array(256).fill(false);
    let first = true;
    let prev: number | null = null;
    for (;;) {
      if (i >= p.length) throw new PcreError('missing terminating ] for character class', p.length);
      const ch = p[i]!;
      if (ch === ']' && !first) {
        i++;
        break;
      }
      first = false;
      if (ch === '[' && /^\[[:.=]/.test(p.slice(i, i + 2))) {
        const m = /^\[([:.=])(\^?)([A-Za-z]*)\1\]/.exec(p.slice(i));
        if (m) {
          if (m[1] !== ':') throw new PcreError('POSIX collating elements are not supported', i);
          const test = Object.prototype.hasOwnProperty.call(POSIX_CLASSES, m[3]!) ? POSIX_CLASSES[m[3]!] : undefined;
          if (!test) throw new PcreError('unknown POSIX class name', i + 2 + m[2]!.length);
          for (let c = 0; c < 256; c++) if (test(c) !== (m[2] === '^')) set[c] = true;
          i += m[0].length;
          prev = null;
          continue;
        }
      }
      let code: number;
      if (ch === '\\') {
        if (i + 1 >= p.length) throw new PcreError('\\ at end of pattern', p.length);
        const c = p[i + 1]!;
        if (c in ESCAPE_CLASSES || c.toLowerCase() in ESCAPE_CLASSES) {
          const test = ESCAPE_CLASSES[c.toLowerCase()]!;
          const neg = c !== c.toLowerCase();
          for (let k = 0; k < 256; k++) if (test(k) !== neg) set[k] = true;
          i += 2;
          prev = null;
          continue;
        }
        if (c === 'Q') {
          const end = p.indexOf('\\E', i + 2);
          const text = end < 0 ? p.slice(i + 2) : p.slice(i + 2, end);
          for (const t of text) set[t.charCodeAt(0)] = true;
          prev = text.length ? text.charCodeAt(text.length - 1) : prev;
          i = end < 0 ? p.length : end + 2;
          continue;
        }
        if (c === 'E') {
          i += 2;
          continue;
        }
        if (c === 'b') {
          code = 8;
          i += 2;
        } else if (c === 'p' || c === 'P' || c === 'X') {
          throw new Unsupported(`\\${c}`);
        } else {
          this.pos = i + 2;
          code = this.charEscape(i, c);
          i = this.pos;
        }
      } else {
        code = ch.charCodeAt(0);
        i++;
      }
      if (p[i] === '-' && p[i + 1] !== ']' && i + 1 < p.length) {
        const endStart = i + 1;
        let hi: number;
        if (p[endStart] === '\\') {
          const c = p[endStart + 1];
          if (c === undefined) throw new PcreError('\\ at end of pattern', p.length);
          if (c.toLowerCase() in ESCAPE_CLASSES) throw new PcreError('invalid range in character class', endStart + 1);
          this.pos = endStart + 2;
          hi = c === 'b' ? 8 : this.charEscape(endStart, c);
          i = this.pos;
        } else if (p[endStart] === '[' && /^\[:\^?[A-Za-z]*:\]/.test(p.slice(endStart))) {
          throw new PcreError('invalid range in character class', endStart + 2);
        } else {
          hi = p.charCodeAt(endStart);
          i = endStart + 1;
        }
        if (hi < code) throw new PcreError('range out of order in character class', i - 1);
        for (let k = code; k <= hi; k++) set[k] = true;
        if (code >= 128 || hi >= 128) this.highBytes = true;
        prev = null;
        continue;
      }
      if (code >= 128) this.highBytes = true;
      set[code] = true;
      prev = code;
    }
    void prev;
    if (this.flags.i && !this.jsIgnoreCase) {
      for (let c = 65; c <= 90; c++) if (set[c] || set[c + 32]) set[c] = set[c + 32] = true;
    }
    if (negate) for (let c = 0; c < 256; c++) set[c] = !set[c];
    this.pos = i;
    return { src: classSource(set), len: 1, repeatable: true };
  }
}

/** Translates one PCRE pattern (bytes) to JS RegExp source and flags. */
export function translatePcre(pattern: string, opts: PcreOptions): PcreCompiled {
  return new PcreParser(pattern, opts, false).run();
}
