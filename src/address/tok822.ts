// Mirrors Postfix's global/tok822_parse.c (scanner and parser), tok822_node.c,
// tok822_tree.c and tok822_find.c: RFC 822 header addresses as a token tree.
// The parser is permissive and loses nothing it does not understand, so any
// tree converts back to text (tok822-format.ts). Pure data: no I/O.
//
// Strings are handled one UTF-16 unit at a time, the way Postfix handles one
// byte at a time; callers that need byte-exact limits pass latin1 text. As in
// C, text ends at the first NUL.

/** Token types for multi-character objects; operators are their own char code. */
export const TOK822_MINTOK = 256;
export const TOK822_ATOM = 256;
export const TOK822_QSTRING = 257;
export const TOK822_COMMENT = 258;
export const TOK822_DOMLIT = 259;
export const TOK822_ADDR = 260;
export const TOK822_STARTGRP = 261;
export const TOK822_MAXTOK = 261;

/** RFC 822 specials (lex_822.h). */
export const LEX_822_SPECIALS = '()<>@,;:\\".[]';

/** Single-character operators: the specials plus % ! and | (aliases), as Postfix has them. */
export const TOK822_OPCHARS = '|%!' + LEX_822_SPECIALS;

/** The token type of a one-character operator. */
export function tokOp(ch: string): number {
  return ch.charCodeAt(0);
}

/**
 * One node of the token tree. Peers are linked through prev/next; an ADDR
 * (or STARTGRP) node holds its members in head..tail, whose owner points back.
 * Only atoms, quoted strings, comments and domain literals carry text.
 */
export class Tok822 {
  prev: Tok822 | null = null;
  next: Tok822 | null = null;
  head: Tok822 | null = null;
  tail: Tok822 | null = null;
  owner: Tok822 | null = null;

  constructor(
    public type: number,
    public text = '',
  ) {}
}

/** tok822_alloc */
export function tok822Alloc(type: number, text = ''): Tok822 {
  return new Tok822(type, text);
}

// ---------------------------------------------------------------- tree edits

/** tok822_append: inserts list t2 after t1; returns the last inserted token. */
export function tok822Append(t1: Tok822, t2: Tok822): Tok822 {
  const next = t1.next;
  t1.next = t2;
  t2.prev = t1;
  t2.owner = t1.owner;
  while (t2.next) {
    t2 = t2.next;
    t2.owner = t1.owner;
  }
  t2.next = next;
  if (next) next.prev = t2;
  return t2;
}

/** tok822_prepend: inserts list t2 before t1; returns the last inserted token. */
export function tok822Prepend(t1: Tok822, t2: Tok822): Tok822 {
  const prev = t1.prev;
  if (prev) prev.next = t2;
  t2.prev = prev;
  t2.owner = t1.owner;
  while (t2.next) {
    t2 = t2.next;
    t2.owner = t1.owner;
  }
  t2.next = t1;
  t1.prev = t2;
  return t2;
}

/** tok822_cut_before: splits the list before tp; returns the predecessor. */
export function tok822CutBefore(tp: Tok822): Tok822 | null {
  const prev = tp.prev;
  if (prev) {
    prev.next = null;
    tp.prev = null;
  }
  return prev;
}

/** tok822_cut_after: splits the list after tp; returns the successor. */
export function tok822CutAfter(tp: Tok822): Tok822 | null {
  const next = tp.next;
  if (next) {
    next.prev = null;
    tp.next = null;
  }
  return next;
}

/** tok822_unlink: takes tp out of its list; returns its predecessor. */
export function tok822Unlink(tp: Tok822): Tok822 | null {
  const { prev, next } = tp;
  if (prev) prev.next = next;
  if (next) next.prev = prev;
  tp.prev = tp.next = null;
  return prev;
}

function adoptList(owner: Tok822, first: Tok822): Tok822 {
  owner.head = first;
  let t = first;
  t.owner = owner;
  while (t.next) {
    t = t.next;
    t.owner = owner;
  }
  return (owner.tail = t);
}

/** tok822_sub_append: appends list t2 to t1's members; returns the new tail. */
export function tok822SubAppend(t1: Tok822, t2: Tok822): Tok822 {
  if (t1.head && t1.tail) return (t1.tail = tok822Append(t1.tail, t2));
  return adoptList(t1, t2);
}

/** tok822_sub_prepend: prepends list t2 to t1's members; returns the end of the inserted list. */
export function tok822SubPrepend(t1: Tok822, t2: Tok822): Tok822 {
  if (t1.head) {
    const tp = tok822Prepend(t1.head, t2);
    t1.head = t2;
    return tp;
  }
  return adoptList(t1, t2);
}

/** tok822_sub_keep_before: keeps t1's members before t2; returns the tail of the cut-off part. */
export function tok822SubKeepBefore(t1: Tok822, t2: Tok822): Tok822 | null {
  const tail = t1.tail;
  if ((t1.tail = tok822CutBefore(t2)) === null) t1.head = null;
  return tail;
}

/** tok822_sub_keep_after: keeps t1's members after t2; returns the head of the cut-off part. */
export function tok822SubKeepAfter(t1: Tok822, t2: Tok822): Tok822 | null {
  const head = t1.head;
  if ((t1.head = tok822CutAfter(t2)) === null) t1.tail = null;
  return head;
}

/** tok822_grep: the peers from tree onward of the given type (0: all). */
export function tok822Grep(tree: Tok822 | null, type: number): Tok822[] {
  const list: Tok822[] = [];
  for (let tp = tree; tp; tp = tp.next) if (type === 0 || tp.type === type) list.push(tp);
  return list;
}

/** tok822_apply: calls action on matching peers until one returns non-zero. */
export function tok822Apply(tree: Tok822 | null, type: number, action: (tp: Tok822) => number): number {
  let result = 0;
  for (let tp = tree; tp; tp = tp.next) {
    if ((type === 0 || tp.type === type) && (result = action(tp)) !== 0) break;
  }
  return result;
}

/** tok822_find_type: forward search. */
export function tok822FindType(head: Tok822 | null, type: number): Tok822 | null {
  let tp = head;
  while (tp && tp.type !== type) tp = tp.next;
  return tp;
}

/** tok822_rfind_type: backward search. */
export function tok822RfindType(tail: Tok822 | null, type: number): Tok822 | null {
  let tp = tail;
  while (tp && tp.type !== type) tp = tp.prev;
  return tp;
}

/** The last peer of a list. */
export function tok822Last(tp: Tok822): Tok822 {
  while (tp.next) tp = tp.next;
  return tp;
}

// ---------------------------------------------------------------- scanner

const isSpaceTabCrLf = (c: string): boolean => c === ' ' || c === '\t' || c === '\r' || c === '\n';
const isCntrl = (c: string): boolean => c.charCodeAt(0) < 0x20 || c === '\x7f';

/**
 * Postfix's COLLECT: copies characters while cond holds; a backslash takes
 * the next character whatever it is. White space inside becomes one space.
 * Returns the index where collection stopped.
 */
function collect(tp: Tok822, s: string, i: number, cond: (c: string) => boolean): number {
  let text = '';
  while (i < s.length) {
    let c = s[i]!;
    if (c === '\\') {
      if (++i >= s.length) break;
      c = s[i]!;
    } else if (!cond(c)) {
      break;
    }
    text += isSpaceTabCrLf(c) ? ' ' : c;
    i++;
  }
  tp.text += text;
  return i;
}

/** A comment keeps its external form, parentheses and backslashes included; comments nest. */
function scanComment(tp: Tok822, s: string, i: number): number {
  let level = 1;
  let text = '(';
  while (i < s.length) {
    const c = s[i++]!;
    text += c;
    if (c === '(') {
      level++;
    } else if (c === ')') {
      if (--level === 0) break;
    } else if (c === '\\') {
      if (i >= s.length) break;
      text += s[i++]!;
    }
  }
  tp.text = text;
  return i;
}

/** An atom that holds a space, a control or an operator (all escaped) must be quoted. */
function quoteAtomIfNeeded(tp: Tok822): void {
  for (const c of tp.text) {
    if (c === ' ' || isCntrl(c) || TOK822_OPCHARS.includes(c)) {
      tp.type = TOK822_QSTRING;
      return;
    }
  }
}

function scanOne(s: string, i: number): { tp: Tok822; i: number } {
  const ch = s[i++]!;
  let tp: Tok822;
  if (ch === '(') {
    tp = tok822Alloc(TOK822_COMMENT);
    i = scanComment(tp, s, i);
  } else if (ch === '[' || ch === '"') {
    const close = ch === '[' ? ']' : '"';
    tp = tok822Alloc(ch === '[' ? TOK822_DOMLIT : TOK822_QSTRING);
    i = collect(tp, s, i, (c) => c !== close);
    if (i < s.length) i++; // the closing bracket or quote
  } else if (ch !== '\\' && TOK822_OPCHARS.includes(ch)) {
    tp = tok822Alloc(tokOp(ch));
  } else {
    tp = tok822Alloc(TOK822_ATOM);
    i = collect(tp, s, i - 1, (c) => !isSpaceTabCrLf(c) && !TOK822_OPCHARS.includes(c));
    quoteAtomIfNeeded(tp);
  }
  return { tp, i };
}

/** C strings end at the first NUL. */
function cString(s: string): string {
  const nul = s.indexOf('\0');
  return nul < 0 ? s : s.slice(0, nul);
}

export interface TokenList {
  head: Tok822 | null;
  tail: Tok822 | null;
}

/**
 * tok822_scan_limit: external-form text to a flat token list. With limit > 0,
 * scanning stops after that many tokens (the rest of the text is dropped).
 */
export function tok822Scan(str: string, limit = 0): TokenList {
  const s = cString(str);
  let head: Tok822 | null = null;
  let tail: Tok822 | null = null;
  let count = 0;
  let i = 0;
  while (i < s.length) {
    if (isSpaceTabCrLf(s[i]!)) {
      i++;
      continue;
    }
    const r = scanOne(s, i);
    i = r.i;
    if (head === null || tail === null) head = tail = r.tp;
    else tail = tok822Append(tail, r.tp);
    if (limit > 0 && ++count >= limit) break;
  }
  return { head, tail };
}

/** tok822_scan_addr: text to one ADDR node holding the flat token list (no parsing). */
export function tok822ScanAddr(addr: string): Tok822 {
  const tree = tok822Alloc(TOK822_ADDR);
  const { head, tail } = tok822Scan(addr);
  tree.head = head;
  tree.tail = tail;
  return tree;
}

// ---------------------------------------------------------------- parser

const DO_WORD = 1 << 0; // a word may start an address here
const DO_GROUP = 1 << 1; // inside "name: members;"
const ADD_COMMA = tokOp(',');
const NO_MISSING_COMMA = 0;

/**
 * tok822_group: clusters the tokens strictly between left and right under a
 * new node of the given type, optionally preceded by a resync token (the
 * comma Postfix adds between addresses that lack one). Returns left.
 */
function groupBetween(type: number, left: Tok822, right: Tok822, syncType: number): Tok822 {
  const first = left.next;
  if (left !== right && first && first !== right) {
    tok822CutBefore(right);
    tok822CutBefore(first);
    const group = tok822Alloc(type);
    tok822SubAppend(group, first);
    tok822Append(left, group);
    tok822Append(group, right);
    if (syncType) tok822Append(left, tok822Alloc(syncType));
  }
  return left;
}

/** Moves a comment to the right-hand side of the address being built; returns its predecessor. */
function moveCommentRight(tp: Tok822, right: Tok822): { tp: Tok822; right: Tok822 } {
  const prev = tok822Unlink(tp)!;
  return { tp: prev, right: tok822Prepend(right, tp) };
}

/**
 * tok822_parse_limit: external-form address list to a token tree. Works from
 * right to left between two sentinel tokens, grouping each address into an
 * ADDR node, moving comments out of addresses, recognising <route> and
 * "group: members;" forms, and adding commas where addresses lack one.
 * Returns null for text without tokens.
 */
export function tok822Parse(str: string, limit = 0): Tok822 | null {
  const list = tok822Scan(str, limit);
  if (list.head === null || list.tail === null) return null;

  const head = tok822Alloc(0);
  const tail = tok822Alloc(0);
  head.next = list.head;
  list.head.prev = head;
  list.tail.next = tail;
  tail.prev = list.tail;

  let state = DO_WORD;
  let right: Tok822 = tail;
  let tp: Tok822 = tail.prev!;
  while (tp.type) {
    if (tp.type === TOK822_COMMENT) {
      ({ tp, right } = moveCommentRight(tp, right));
      continue;
    } else if (tp.type === tokOp(';')) {
      right = groupBetween(TOK822_ADDR, tp, right, ADD_COMMA);
      state = DO_GROUP | DO_WORD;
    } else if (tp.type === tokOp(':') && state & DO_GROUP) {
      tp.type = TOK822_STARTGRP;
      groupBetween(TOK822_ADDR, tp, right, NO_MISSING_COMMA);
      while (tp.type && tp.type !== tokOp(',')) tp = tp.prev!;
      right = tp;
      continue;
    } else if (tp.type === tokOp('>')) {
      right = groupBetween(TOK822_ADDR, tp, right, ADD_COMMA);
      while (tp.type && tp.type !== tokOp('<')) {
        if (tp.type === TOK822_COMMENT) ({ tp, right } = moveCommentRight(tp, right));
        else tp = tp.prev!;
      }
      groupBetween(TOK822_ADDR, tp, right, NO_MISSING_COMMA);
      while (tp.type && (tp.type > 0xff || !'>;,:'.includes(String.fromCharCode(tp.type)))) tp = tp.prev!;
      right = tp;
      state |= DO_WORD;
      continue;
    } else if (tp.type === TOK822_ATOM || tp.type === TOK822_QSTRING || tp.type === TOK822_DOMLIT) {
      if ((state & DO_WORD) === 0) right = groupBetween(TOK822_ADDR, tp, right, ADD_COMMA).next!;
      state &= ~DO_WORD;
    } else if (tp.type === tokOp(',')) {
      right = groupBetween(TOK822_ADDR, tp, right, NO_MISSING_COMMA);
      state |= DO_WORD;
    } else {
      state |= DO_WORD;
    }
    tp = tp.prev!;
  }
  groupBetween(TOK822_ADDR, tp, right, NO_MISSING_COMMA);

  const result = head.next !== tail ? head.next : null;
  if (head.next) tok822CutBefore(head.next);
  tok822CutBefore(tail);
  return result;
}
