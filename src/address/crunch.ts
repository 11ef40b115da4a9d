// Mirrors Postfix's global/mail_addr_crunch.c and mail_addr_form.c: a header
// or envelope address list becomes a list of single addresses, each made
// canonical (through a caller-supplied rewrite, trivial-rewrite's job in
// Postfix), optionally given an address extension before its '@', and put in
// internal (unquoted) or external (quoted) form.
import { TOK822_ADDR, tok822Grep, tok822Parse } from './tok822.js';
import { tok822Externalize, TOK822_STR_DEFL } from './tok822-format.js';
import { quote822Local, unquote822Local } from './quote.js';

export const MA_FORM_INTERNAL = 1;
export const MA_FORM_EXTERNAL = 2;
export const MA_FORM_EXTERNAL_FIRST = 3;
export const MA_FORM_INTERNAL_FIRST = 4;

const ADDR_FORM_NAMES: ReadonlyArray<[string, number]> = [
  ['external', MA_FORM_EXTERNAL],
  ['internal', MA_FORM_INTERNAL],
  ['external-first', MA_FORM_EXTERNAL_FIRST],
  ['internal-first', MA_FORM_INTERNAL_FIRST],
];

/** mail_addr_form_from_string: the form's code, or -1 for an unknown name (any ASCII case). */
export function mailAddrFormFromString(name: string): number {
  const lower = name.replace(/[A-Z]/g, (c) => c.toLowerCase());
  return ADDR_FORM_NAMES.find(([n]) => n === lower)?.[1] ?? -1;
}

/** mail_addr_form_to_string: the form's name, or undefined for an unknown code. */
export function mailAddrFormToString(form: number): string | undefined {
  return ADDR_FORM_NAMES.find(([, c]) => c === form)?.[0];
}

/** canon_addr_external: external-form address in, canonical external-form address out. */
export type CanonAddrExternal = (externalAddr: string) => string;

/** Without trivial-rewrite (as in Postfix's test program), addresses stay as they are. */
export const noCanonicalization: CanonAddrExternal = (addr) => addr;

/** Puts the extension in front of the last '@', or at the end when there is none. */
function addExtension(internalAddr: string, extension: string): string {
  const at = internalAddr.lastIndexOf('@');
  return at < 0 ? internalAddr + extension : internalAddr.slice(0, at) + extension + internalAddr.slice(at);
}

/**
 * mail_addr_crunch_opt: splits an address list into its addresses. Input in
 * internal form is quoted first; the empty string and "<>" stand for the null
 * address (one empty result). An extension (null for none) is added to every
 * address.
 */
export function mailAddrCrunch(
  text: string,
  extension: string | null,
  inForm: number,
  outForm: number,
  canonicalize: CanonAddrExternal = noCanonicalization,
): string[] {
  const nul = text.indexOf('\0');
  const input = nul < 0 ? text : text.slice(0, nul);
  let string = inForm === MA_FORM_INTERNAL ? quote822Local(input) : input;
  // The null address works for envelopes; in headers the result is ugly, as in Postfix.
  if (string === '' || string === '<>') string = '""';
  const tree = tok822Parse(string);
  const result: string[] = [];
  for (const addr of tok822Grep(tree, TOK822_ADDR)) {
    const external = tok822Externalize(addr.head, TOK822_STR_DEFL);
    let internal = unquote822Local(canonicalize(external));
    if (extension !== null) internal = addExtension(internal, extension);
    result.push(outForm === MA_FORM_EXTERNAL ? quote822Local(internal) : internal);
  }
  return result;
}

/** mail_addr_crunch_ext_to_int: the usual case, header text to internal addresses. */
export function mailAddrCrunchExtToInt(text: string, extension: string | null): string[] {
  return mailAddrCrunch(text, extension, MA_FORM_EXTERNAL, MA_FORM_INTERNAL);
}
