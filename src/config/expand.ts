// Mirrors Postfix's util/mac_parse.c, util/mac_expand.c and the "level"
// operators of global/compat_level.c: $name, ${name}, $(name), ${name?text},
// ${name:text}, ${name?{a}:{b}}, ${{a} OP {b}...} and recursion. Syntax
// problems are reported through the caller's warn function with Postfix's
// wording, and flagged in the returned status, never thrown.

export const MAC_PARSE_ERROR = 1;
export const MAC_PARSE_UNDEF = 2;

export const MAC_EXP_FLAG_RECURSE = 1;
export const MAC_EXP_FLAG_SCAN = 4;

/** Lookup mode: TEST for ${name?x}/${name:x}, USE for plain $name. */
export const MAC_EXP_MODE_TEST = 0;
export const MAC_EXP_MODE_USE = 1;

export type MacLookup = (name: string, mode: number) => string | undefined;
export type MacWarn = (text: string) => void;

export interface ExpandResult {
  result: string;
  status: number;
}

const WHITESPACE = ' \t\r\n';
const OPERATOR_CHARS = '<>!=?+-*/~&|%';
const OPERATORS = ['==', '!=', '<', '<=', '>=', '>'] as const;
type Op = (typeof OPERATORS)[number];
const ANY_OPERATOR = '"==" or "!="" or "<"" or "<="" or ">="" or ">"';

export type Relop = (left: string, op: Op, right: string, warn: MacWarn) => boolean | undefined;

function isWs(ch: string): boolean {
  return ch !== '' && WHITESPACE.includes(ch);
}

function isNameChar(ch: string): boolean {
  return /^[A-Za-z0-9_]$/.test(ch);
}

function spanWs(s: string, i: number): number {
  while (i < s.length && isWs(s[i]!)) i++;
  return i;
}

/** Splits text into literal runs and macro expressions (mac_parse). */
export function macParse(value: string, action: (type: 'literal' | 'expr', text: string) => number, warn: MacWarn): number {
  let buf = '';
  let status = 0;
  let i = 0;
  while (i < value.length) {
    const ch = value[i]!;
    if (ch !== '$') {
      buf += ch;
      i += 1;
      continue;
    }
    if (value[i + 1] === '$') {
      buf += '$';
      i += 2;
      continue;
    }
    if (buf.length > 0) {
      status |= action('literal', buf);
      buf = '';
    }
    i += 1;
    const open = value[i];
    if (open === '(' || open === '{') {
      const close = open === '(' ? ')' : '}';
      let level = 1;
      let ep = i + 1;
      let truncated = false;
      while (level > 0) {
        if (ep >= value.length) {
          warn(`truncated macro reference: "${value}"`);
          status |= MAC_PARSE_ERROR;
          truncated = true;
          break;
        }
        if (value[ep] === open) level++;
        if (value[ep] === close) level--;
        ep++;
      }
      if (truncated) break;
      buf = value.slice(i + 1, ep - 1);
      i = ep;
    } else {
      let ep = i;
      while (ep < value.length && isNameChar(value[ep]!)) ep++;
      buf = value.slice(i, ep);
      i = ep;
    }
    if (buf.length === 0) {
      status |= MAC_PARSE_ERROR;
      warn(`empty macro name: "${value}"`);
      break;
    }
    status |= action('expr', buf);
    buf = '';
  }
  if (buf.length > 0 && (status & MAC_PARSE_ERROR) === 0) status |= action('literal', buf);
  return status;
}

function plainRelop(left: string, op: Op, right: string): boolean {
  const numeric = /^[0-9]+$/.test(left) && /^[0-9]+$/.test(right);
  const delta = numeric ? Number(left) - Number(right) : left < right ? -1 : left > right ? 1 : 0;
  return compareDelta(delta, op);
}

function compareDelta(delta: number, op: Op): boolean {
  switch (op) {
    case '==': return delta === 0;
    case '!=': return delta !== 0;
    case '<': return delta < 0;
    case '<=': return delta <= 0;
    case '>=': return delta >= 0;
    case '>': return delta > 0;
  }
}

/** Parses "major[.minor[.patch]]" like compat_level_from_string; undefined when malformed. */
export function parseCompatLevel(text: string, warn: MacWarn): [number, number, number] | undefined {
  const m = /^[ \t\n\r\f\v]*\+?([0-9]+)(?:\.([0-9]+)(?:\.([0-9]+))?)?$/.exec(text);
  if (m) {
    const major = Number(m[1]);
    const minor = m[2] === undefined ? 0 : Number(m[2]);
    const patch = m[3] === undefined ? 0 : Number(m[3]);
    if (Number.isSafeInteger(major) && minor <= 1023 && patch <= 1023) return [major, minor, patch];
  }
  warn(`malformed compatibility level syntax: "${text}"`);
  return undefined;
}

const levelRelop: Relop = (left, op, right, warn) => {
  const a = parseCompatLevel(left, warn);
  if (!a) return undefined;
  const b = parseCompatLevel(right, warn);
  if (!b) return undefined;
  const delta = a[0] !== b[0] ? a[0] - b[0] : a[1] !== b[1] ? a[1] - b[1] : a[2] - b[2];
  return compareDelta(delta, op);
};

/** Operator suffixes registered as in compat_level_relop_register(). */
export const SUFFIX_RELOPS: Record<string, Relop> = { level: levelRelop };

interface Ctx {
  flags: number;
  lookup: MacLookup;
  warn: MacWarn;
  status: number;
  level: number;
  out: string[];
  relops: Record<string, Relop>;
}

function parseError(mc: Ctx, text: string): number {
  mc.warn(text);
  return (mc.status |= MAC_PARSE_ERROR);
}

/** Extracts a {payload} starting at s[i] === '{'; returns the payload and the index after trailing whitespace. */
function curlyPayload(mc: Ctx, s: string, i: number): { payload: string; next: number } | undefined {
  let level = 1;
  let cp = i + 1;
  for (;; cp++) {
    if (cp >= s.length) {
      parseError(mc, `unbalanced {} in attribute expression: "${s.slice(i)}"`);
      return undefined;
    }
    const ch = s[cp];
    if (ch === '{') level++;
    else if (ch === '}' && --level <= 0) break;
  }
  return { payload: s.slice(i + 1, cp), next: spanWs(s, cp + 1) };
}

function subExpand(mc: Ctx, text: string): string {
  const sub: Ctx = { ...mc, status: 0, level: 0, out: [] };
  mc.status |= macParse(text, (type, t) => callback(sub, type, t), mc.warn);
  mc.status |= sub.status;
  return sub.out.join('');
}

/** Parses "{left} OP {right}" at s[i]; returns the boolean result text and the index after it. */
function parseRelational(mc: Ctx, s: string, i: number): { value: string | undefined; next: number } | undefined {
  const left = curlyPayload(mc, s, i);
  if (!left) return undefined;
  let cp = left.next;
  const opStart = cp;
  while (cp < s.length && OPERATOR_CHARS.includes(s[cp]!)) cp++;
  const opText = s.slice(opStart, cp);
  if (!(OPERATORS as readonly string[]).includes(opText)) {
    parseError(mc, `${ANY_OPERATOR} expected at: "...${left.payload}}>>>${s.slice(opStart, opStart + 20)}"`);
    return undefined;
  }
  const op = opText as Op;
  let relop: Relop = plainRelop;
  if (/[A-Za-z0-9]/.test(s[cp] ?? '')) {
    const typeStart = cp;
    while (cp < s.length && /[A-Za-z0-9]/.test(s[cp]!)) cp++;
    const suffix = s.slice(typeStart, cp);
    const found = mc.relops[suffix];
    if (!found) {
      parseError(mc, `bad operator suffix at: "...${opText}>>>${suffix}"`);
      return undefined;
    }
    relop = found;
  }
  const rightStart = spanWs(s, cp);
  if (s[rightStart] !== '{') {
    parseError(mc, `"{expression}" expected at: "...{${left.payload}} ${opText}>>>${s.slice(cp, cp + 20)}"`);
    return undefined;
  }
  const right = curlyPayload(mc, s, rightStart);
  if (!right) return undefined;
  const l = subExpand(mc, left.payload);
  const r = subExpand(mc, right.payload);
  if (mc.flags & MAC_EXP_FLAG_SCAN) {
    if (mc.status & MAC_PARSE_ERROR) return undefined;
    return { value: undefined, next: right.next };
  }
  const res = relop(l, op, r, mc.warn);
  if (res === undefined) mc.status |= MAC_PARSE_ERROR;
  if (mc.status & MAC_PARSE_ERROR) return undefined;
  return { value: res ? 'true' : '', next: right.next };
}

function callback(mc: Ctx, type: 'literal' | 'expr', text: string): number {
  if (mc.level++ > 100) parseError(mc, `unreasonable macro call nesting: "${text}"`);
  if (mc.status & MAC_PARSE_ERROR) return mc.status;
  if (type === 'literal') {
    if ((mc.flags & MAC_EXP_FLAG_SCAN) === 0) mc.out.push(text);
    mc.level--;
    return mc.status;
  }
  let cp = 0;
  let lookup: string | undefined;
  let ch: string;
  const ws = spanWs(text, 0);
  if (text[ws] === '{') {
    const rel = parseRelational(mc, text, ws);
    if (!rel) return mc.status;
    lookup = rel.value;
    cp = rel.next;
    ch = text[cp] ?? '';
    if (ch !== '') {
      if (ch !== '?' && ch !== ':') return parseError(mc, `"?" or ":" expected at: "...}>>>${text.slice(cp, cp + 20)}"`);
      cp++;
    }
  } else {
    const start = ws;
    cp = ws;
    let mode = MAC_EXP_MODE_USE;
    let nameEnd: number;
    for (;; cp++) {
      const after = spanWs(text, cp);
      ch = text[after] ?? '';
      if (ch === '') {
        nameEnd = cp;
        mode = MAC_EXP_MODE_USE;
        break;
      }
      if (ch === '?' || ch === ':') {
        nameEnd = cp;
        cp = after + 1;
        mode = MAC_EXP_MODE_TEST;
        break;
      }
      if (!isNameChar(text[cp]!)) {
        return parseError(mc, `attribute name syntax error at: "...${text.slice(0, cp)}>>>${text.slice(cp, cp + 20)}"`);
      }
    }
    lookup = mc.lookup(text.slice(start, nameEnd), mode);
  }
  const isTrue = lookup !== undefined && lookup !== '';
  const scanning = (mc.flags & MAC_EXP_FLAG_SCAN) !== 0;
  const sub = (t: string) => {
    mc.status |= macParse(t, (ty, tx) => callback(mc, ty, tx), mc.warn);
  };
  if (ch === '?' || ch === ':') {
    if (ch === '?') {
      let ifTrue: string;
      const at = spanWs(text, cp);
      if (text[at] === '{') {
        const p = curlyPayload(mc, text, at);
        if (!p) return mc.status;
        ifTrue = p.payload;
        cp = p.next;
      } else {
        ifTrue = text.slice(cp);
        cp = text.length;
      }
      if (isTrue || scanning) sub(ifTrue);
      if (cp >= text.length) {
        mc.level--;
        return mc.status;
      }
      if (text[cp] !== ':') return parseError(mc, `":" expected at: "...${ifTrue}}>>>${text.slice(cp, cp + 20)}"`);
      cp += 1;
    }
    let ifFalse: string;
    const at = spanWs(text, cp);
    if (text[at] === '{') {
      const p = curlyPayload(mc, text, at);
      if (!p) return mc.status;
      ifFalse = p.payload;
      cp = p.next;
    } else {
      ifFalse = text.slice(cp);
      cp = text.length;
    }
    if (!isTrue || scanning) sub(ifFalse);
    if (cp < text.length) return parseError(mc, `unexpected input at: "...${ifFalse}}>>>${text.slice(cp, cp + 20)}"`);
  } else if (lookup === undefined) {
    mc.status |= MAC_PARSE_UNDEF;
  } else if (lookup === '' || scanning) {
    // Nothing to add.
  } else if (mc.flags & MAC_EXP_FLAG_RECURSE) {
    sub(lookup);
  } else {
    mc.out.push(lookup);
  }
  mc.level--;
  return mc.status;
}

/**
 * Expands macros in text. With MAC_EXP_FLAG_RECURSE the values found are
 * expanded in turn; with MAC_EXP_FLAG_SCAN nothing is produced, but every
 * name is passed to lookup (postconf uses this to find user parameters).
 */
export function macExpand(text: string, lookup: MacLookup, flags: number, warn: MacWarn, relops: Record<string, Relop> = SUFFIX_RELOPS): ExpandResult {
  const mc: Ctx = { flags, lookup, warn, status: 0, level: 0, out: [], relops };
  const status = macParse(text, (type, t) => callback(mc, type, t), warn);
  return { result: mc.out.join(''), status: status | mc.status };
}
