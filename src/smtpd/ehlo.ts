// Mirrors Postfix's global/ehlo_mask.c: the EHLO keywords that
// smtpd_discard_ehlo_keywords (or the per-client
// smtpd_discard_ehlo_keyword_address_maps) hide, as a bit mask. Names are
// case-insensitive and unknown names are ignored, so configurations move
// between Postfix versions without trouble.
export const EHLO_MASK_8BITMIME = 1 << 0;
export const EHLO_MASK_PIPELINING = 1 << 1;
export const EHLO_MASK_SIZE = 1 << 2;
export const EHLO_MASK_VRFY = 1 << 3;
export const EHLO_MASK_ETRN = 1 << 4;
export const EHLO_MASK_AUTH = 1 << 5;
export const EHLO_MASK_VERP = 1 << 6;
export const EHLO_MASK_STARTTLS = 1 << 7;
export const EHLO_MASK_XCLIENT = 1 << 8;
export const EHLO_MASK_XFORWARD = 1 << 9;
export const EHLO_MASK_ENHANCEDSTATUSCODES = 1 << 10;
export const EHLO_MASK_DSN = 1 << 11;
export const EHLO_MASK_SMTPUTF8 = 1 << 12;
export const EHLO_MASK_CHUNKING = 1 << 13;
export const EHLO_MASK_SILENT = 1 << 15;

const TABLE: ReadonlyArray<[string, number]> = [
  ['8BITMIME', EHLO_MASK_8BITMIME],
  ['AUTH', EHLO_MASK_AUTH],
  ['ETRN', EHLO_MASK_ETRN],
  ['PIPELINING', EHLO_MASK_PIPELINING],
  ['SIZE', EHLO_MASK_SIZE],
  ['VERP', EHLO_MASK_VERP],
  ['VRFY', EHLO_MASK_VRFY],
  ['XCLIENT', EHLO_MASK_XCLIENT],
  ['XFORWARD', EHLO_MASK_XFORWARD],
  ['STARTTLS', EHLO_MASK_STARTTLS],
  ['ENHANCEDSTATUSCODES', EHLO_MASK_ENHANCEDSTATUSCODES],
  ['DSN', EHLO_MASK_DSN],
  ['EHLO_MASK_SMTPUTF8', EHLO_MASK_SMTPUTF8],
  ['SMTPUTF8', EHLO_MASK_SMTPUTF8],
  ['CHUNKING', EHLO_MASK_CHUNKING],
  ['SILENT-DISCARD', EHLO_MASK_SILENT],
];

/** ehlo_mask(): names separated by commas and white space. */
export function ehloMask(text: string): number {
  let mask = 0;
  for (const word of text.split(/[\s,]+/)) {
    if (word === '') continue;
    const hit = TABLE.find(([name]) => name.toUpperCase() === word.toUpperCase());
    if (hit) mask |= hit[1];
  }
  return mask;
}

/** str_ehlo_mask(): the names of the bits set, space-separated, for logging. */
export function strEhloMask(mask: number): string {
  const names: string[] = [];
  for (const [name, bit] of TABLE) {
    if (name === 'EHLO_MASK_SMTPUTF8') continue;
    if (mask & bit) names.push(name);
  }
  return names.join(' ');
}
