// Mirrors the output half of Postfix's global/tok822_parse.c: a token tree
// back to text, in internal (unquoted) form with tok822_internalize or in
// external (quoted, header-ready) form with tok822_externalize, including the
// CERT CA-2003-07 guard that strips comments and phrases longer than 250
// characters. Also the tree dump of Postfix's tok822_parse test program.
import {
  type Tok822, TOK822_ADDR, TOK822_ATOM, TOK822_COMMENT, TOK822_DOMLIT, TOK822_MINTOK,
  TOK822_QSTRING, TOK822_STARTGRP, tokOp,
} from './tok822.js';
import { QUOTE_FLAG_8BITCLEAN, quote822LocalFlags } from './quote.js';
import { stderrLog } from '../util/msg.js';

// Flags as Postfix spells them. WIPE and TERM concern C buffers; the
// functions here always return a fresh string, so the caller concatenates.
export const TOK822_STR_NONE = 0;
export const TOK822_STR_WIPE = 1 << 0;
export const TOK822_STR_TERM = 1 << 1;
/** A line break after each comma instead of a space. */
export const TOK822_STR_LINE = 1 << 2;
/** Externalize only: shorten non-address text above 250 characters per address. */
export const TOK822_STR_TRNC = 1 << 3;
export const TOK822_STR_DEFL = TOK822_STR_WIPE | TOK822_STR_TERM;
export const TOK822_STR_HEAD = TOK822_STR_TERM | TOK822_STR_LINE | TOK822_STR_TRNC;

const COMMA = tokOp(',');
const LT = tokOp('<');
const GT = tokOp('>');

/** Sendmail kept such text in a 256-byte buffer; Postfix keeps at most this much. */
const MAX_NONADDR_LENGTH = 250;

function isNonOperator(tp: Tok822): boolean {
  return (
    tp.type === TOK822_ATOM || tp.type === TOK822_QSTRING || tp.type === TOK822_COMMENT ||
    tp.type === TOK822_DOMLIT || tp.type === TOK822_ADDR
  );
}

/** tok822_append_space: a space separates words, follows commas and group colons, and precedes '<'; never inside an address. */
function needsSpaceAfter(tp: Tok822): boolean {
  const next = tp.next;
  if (next === null || tp.owner !== null) return false;
  if (tp.type === COMMA || tp.type === TOK822_STARTGRP || next.type === LT) return true;
  return isNonOperator(tp) && isNonOperator(next);
}

function operatorText(tp: Tok822, where: string): string {
  if (tp.type >= TOK822_MINTOK) throw new Error(`${where}: unknown operator ${tp.type}`);
  return String.fromCharCode(tp.type);
}

/** tok822_internalize: the tree as unquoted text, white space where Postfix puts it. */
export function tok822Internalize(tree: Tok822 | null, flags = TOK822_STR_NONE): string {
  let out = '';
  for (let tp = tree; tp; tp = tp.next) {
    switch (tp.type) {
      case COMMA:
        out += ',';
        if (flags & TOK822_STR_LINE) {
          out += '\n';
          continue;
        }
        break;
      case TOK822_ADDR:
        out += tok822Internalize(tp.head, TOK822_STR_NONE);
        break;
      case TOK822_COMMENT:
      case TOK822_ATOM:
      case TOK822_QSTRING:
        out += tp.text;
        break;
      case TOK822_DOMLIT:
        out += `[${tp.text}]`;
        break;
      case TOK822_STARTGRP:
        out += ':';
        break;
      default:
        out += operatorText(tp, 'tok822_internalize');
    }
    if (needsSpaceAfter(tp)) out += ' ';
  }
  return out;
}

/** tok822_copy_quoted: a backslash before each character of quoteSet. */
function copyQuoted(text: string, quoteSet: string): string {
  let out = '';
  for (const c of text) out += quoteSet.includes(c) ? '\\' + c : c;
  return out;
}

/** An address in external form: its internal text with the localpart quoted as needed. */
function externalAddress(head: Tok822 | null): string {
  return quote822LocalFlags(tok822Internalize(head), QUOTE_FLAG_8BITCLEAN);
}

/**
 * tok822_externalize: the tree as quoted, header-ready text. With
 * TOK822_STR_TRNC, an address expression (text between commas) whose
 * non-address text exceeds 250 characters is reduced to <address>, with a
 * warning, as Postfix does to protect vulnerable Sendmail systems.
 */
export function tok822Externalize(
  tree: Tok822 | null,
  flags = TOK822_STR_NONE,
  /** Where the TOK822_STR_TRNC warning goes: the caller's logger (a daemon passes its own). */
  warn: (text: string) => void = (text) => stderrLog.warning(text),
): string {
  const truncate = (flags & TOK822_STR_TRNC) !== 0;
  let out = '';
  // The current address expression: where it starts, its address and that address's length.
  let start = 0;
  let addr: Tok822 | null = null;
  let addrLen = 0;
  const enforce = () => {
    if (addr && out.length - addrLen > start + MAX_NONADDR_LENGTH) {
      warn(`stripping too many comments from address: ${out.slice(start, start + 100)}...`);
      out = out.slice(0, start) + '<' + (addr.head ? externalAddress(addr.head) : '') + '>';
    }
  };

  for (let tp = tree; tp; tp = tp.next) {
    switch (tp.type) {
      case COMMA:
        if (truncate) enforce();
        out += (flags & TOK822_STR_LINE) ? ',\n' : ', ';
        if (truncate) {
          start = out.length;
          addr = null;
          addrLen = 0;
        }
        continue;
      case TOK822_ADDR: {
        // Higher-level quoting rules are approximated by quoting the localpart only.
        addr = tp;
        const text = externalAddress(tp.head);
        addrLen = text.length;
        out += text;
        break;
      }
      case TOK822_ATOM:
      case TOK822_COMMENT:
        out += tp.text;
        break;
      case TOK822_QSTRING:
        out += `"${copyQuoted(tp.text, '"\\\r\n')}"`;
        break;
      case TOK822_DOMLIT:
        out += `[${copyQuoted(tp.text, '\\\r\n')}]`;
        break;
      case TOK822_STARTGRP:
        out += ':';
        break;
      case LT:
        // "<>" is the null address: the expression's address, of length zero.
        if (tp.next && tp.next.type === GT) {
          addr = tp;
          addrLen = 0;
        }
        out += '<';
        break;
      default:
        out += operatorText(tp, 'tok822_externalize');
    }
    if (needsSpaceAfter(tp)) out += ' ';
  }
  if (truncate) enforce();
  return out;
}

function dumpInto(lines: string[], list: Tok822 | null, indent: number): void {
  const pad = ' '.repeat(indent);
  for (let tp = list; tp; tp = tp.next) {
    if (tp.type < TOK822_MINTOK) {
      lines.push(`${pad} OP "${String.fromCharCode(tp.type)}"`);
    } else if (tp.type === TOK822_ADDR) {
      lines.push(`${pad} address`);
      dumpInto(lines, tp.head, indent + 2);
    } else if (tp.type === TOK822_STARTGRP) {
      lines.push(`${pad} group ":"`);
    } else {
      const kind =
        tp.type === TOK822_COMMENT ? 'comment'
        : tp.type === TOK822_ATOM ? 'atom'
        : tp.type === TOK822_QSTRING ? 'quoted string'
        : tp.type === TOK822_DOMLIT ? 'domain literal'
        : 'unknown\n';
      lines.push(`${pad} ${kind} "${tp.text}"`);
    }
  }
}

/** The parse tree as Postfix's tok822_parse test program prints it, one line per token. */
export function tok822Dump(tree: Tok822 | null): string {
  const lines: string[] = [];
  dumpInto(lines, tree, 0);
  return lines.map((l) => l + '\n').join('');
}
