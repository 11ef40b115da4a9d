// Mirrors expand_argv(), parse_callback() and morph_recipient() of
// Postfix's pipe/pipe.c: the argv= words of a pipe service with their
// macros replaced. A word that names a recipient-dependent macro
// (${recipient}, ${original_recipient}, ${user}, ${extension}, ${mailbox},
// ${domain}) becomes one word per recipient; a word with ${user} is left
// out for a recipient whose user part is empty. An unknown macro name is a
// warning and a failed expansion (the caller defers the request). Strings
// are byte strings (latin1). No I/O here.
import { quote822Local } from '../../address/quote.js';
import { splitAddr, type SplitAddrOptions } from '../../address/split.js';
import { MAC_PARSE_ERROR, macExpand, macParse } from '../../config/expand.js';
import { casefold, lowercaseAscii, validUtf8 } from '../../dict/utf8.js';
import { PIPE_OPT_FOLD_ALL, PIPE_OPT_FOLD_HOST, PIPE_OPT_FOLD_USER, PIPE_OPT_QUOTE_LOCAL } from './attr.js';

const FLAG_RCPT = 1 << 0;
const FLAG_USER = 1 << 1;
const FLAG_EXTENSION = 1 << 2;
const FLAG_MAILBOX = 1 << 3;
const FLAG_DOMAIN = 1 << 4;
const FLAG_ORIG_RCPT = 1 << 5;

/** The macro names pipe(8) knows, with the recipient-dependent ones flagged. */
const MACROS = new Map<string, number>([
  ['nexthop', 0],
  ['recipient', FLAG_RCPT],
  ['original_recipient', FLAG_ORIG_RCPT],
  ['sender', 0],
  ['user', FLAG_USER],
  ['extension', FLAG_EXTENSION],
  ['mailbox', FLAG_MAILBOX],
  ['domain', FLAG_DOMAIN],
  ['size', 0],
  ['client_address', 0],
  ['client_hostname', 0],
  ['client_port', 0],
  ['client_protocol', 0],
  ['client_helo', 0],
  ['sasl_method', 0],
  ['sasl_username', 0],
  ['sasl_sender', 0],
  ['queue_id', 0],
]);

/** One recipient as the expansion sees it. */
export interface ArgvRecipient {
  address: string;
  /** The original recipient ('' when none). */
  orcpt: string;
}

export interface ArgvContext {
  /** The master.cf service name and file, for the warning about an unknown macro. */
  service: string;
  masterCf: string;
  /** The values that do not depend on the recipient (sender, nexthop, size, client_*, sasl_*, queue_id). */
  values: Record<string, string>;
  /** PIPE_OPT_* flags of the service. */
  flags: number;
  /** recipient_delimiter. */
  delimiter: string;
  split: SplitAddrOptions;
  /** smtputf8_enable: Unicode case folding. */
  utf8: boolean;
  warn: (text: string) => void;
}

/** casefold() of a byte string. */
export function foldBytes(text: string, utf8: boolean): string {
  const bytes = Buffer.from(text, 'latin1');
  if (!utf8 || !validUtf8(bytes)) return lowercaseAscii(text);
  return Buffer.from(casefold(bytes.toString('utf8')), 'utf8').toString('latin1');
}

/** fold_addr(): the localpart, the domain, both or neither folded. */
export function foldAddr(addr: string, flags: number, utf8: boolean): string {
  const at = addr.lastIndexOf('@');
  const user = (flags & PIPE_OPT_FOLD_USER) !== 0;
  const host = (flags & PIPE_OPT_FOLD_HOST) !== 0;
  if (at < 0) return user ? foldBytes(addr, utf8) : addr;
  return (user ? foldBytes(addr.slice(0, at), utf8) : addr.slice(0, at)) + '@' + (host ? foldBytes(addr.slice(at + 1), utf8) : addr.slice(at + 1));
}

/** morph_recipient(): quoted with the q flag, folded with h and u. */
export function morphRecipient(address: string, flags: number, utf8: boolean): string {
  const quoted = flags & PIPE_OPT_QUOTE_LOCAL ? quote822Local(address) : address;
  return foldAddr(quoted, flags, utf8);
}

/** The macros one word refers to, or null when a name is unknown (after the warning). */
function scanWord(word: string, ctx: ArgvContext): number | null {
  let found = 0;
  const status = macParse(word, (type, text) => {
    if (type !== 'expr') return 0;
    const bit = MACROS.get(text);
    if (bit === undefined) {
      ctx.warn(`file ${ctx.masterCf}: service ${ctx.service}: unknown macro name: "${text}"`);
      return MAC_PARSE_ERROR;
    }
    found |= bit;
    return 0;
  }, ctx.warn);
  return status & MAC_PARSE_ERROR ? null : found;
}

/** The address split at its rightmost '@': localpart and domain (null without '@', after the warning). */
function splitAtRight(address: string, morphed: string, ctx: ArgvContext): { local: string; domain: string | null } {
  const at = morphed.lastIndexOf('@');
  if (at < 0) {
    ctx.warn(`no @ in recipient address: ${address}`);
    return { local: morphed, domain: null };
  }
  return { local: morphed.slice(0, at), domain: morphed.slice(at + 1) };
}

/**
 * The recipient values a word needs, into table; false when the word is
 * left out for this recipient (an empty ${user}).
 */
function recipientValues(rcpt: ArgvRecipient, need: number, table: Map<string, string>, ctx: ArgvContext): boolean {
  const { flags, utf8 } = ctx;
  if (need & FLAG_RCPT) table.set('recipient', morphRecipient(rcpt.address, flags, utf8));
  if (need & FLAG_ORIG_RCPT) table.set('original_recipient', morphRecipient(rcpt.orcpt, flags, utf8));
  const folded = (): { local: string; domain: string | null } =>
    splitAtRight(rcpt.address, morphRecipient(rcpt.address, flags & PIPE_OPT_FOLD_ALL, utf8), ctx);
  if (need & FLAG_USER) {
    let { local } = folded();
    if (ctx.delimiter !== '') local = splitAddr(local, ctx.delimiter, ctx.split)?.localpart ?? local;
    if (local === '') return false;
    table.set('user', local);
  }
  if (need & FLAG_EXTENSION) {
    const { local } = folded();
    table.set('extension', ctx.delimiter === '' ? '' : (splitAddr(local, ctx.delimiter, ctx.split)?.extension ?? ''));
  }
  if (need & FLAG_MAILBOX) table.set('mailbox', folded().local);
  if (need & FLAG_DOMAIN) table.set('domain', folded().domain ?? '');
  return true;
}

/** The expanded argument vector; null when a word names an unknown macro. */
export function expandArgv(words: readonly string[], recipients: readonly ArgvRecipient[], ctx: ArgvContext): string[] | null {
  const table = new Map<string, string>(Object.entries(ctx.values));
  const evaluate = (word: string): string => macExpand(word, (name) => table.get(name), 0, ctx.warn).result;
  const out: string[] = [];
  for (const word of words) {
    const need = scanWord(word, ctx);
    if (need === null) return null;
    if (need === 0) {
      out.push(evaluate(word));
      continue;
    }
    for (const rcpt of recipients) {
      if (recipientValues(rcpt, need, table, ctx)) out.push(evaluate(word));
    }
  }
  return out;
}
