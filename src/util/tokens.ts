// Mirrors Postfix's util/mystrtok.c (mystrtokq), util/balpar.c and
// util/extpar.c: splitting text on separators while keeping {grouped text}
// together, and taking the braces off a group. Postfix uses these for
// master.cf fields, table specs such as inline:{...}, and parameter lists.

export const CHARS_COMMA_SP = ', \t\r\n';
export const CHARS_SPACE = ' \t\r\n';
export const CHARS_BRACE = '{}';

/** Splits text into tokens on sep, except inside balanced parens (mystrtokq). */
export function tokenizeQuoted(text: string, sep: string, parens = CHARS_BRACE): string[] {
  const tokens: string[] = [];
  let i = 0;
  for (;;) {
    while (i < text.length && sep.includes(text[i]!)) i++;
    if (i >= text.length) return tokens;
    const start = i;
    let level = 0;
    for (; i < text.length; i++) {
      const ch = text[i]!;
      if (ch === parens[0]) level++;
      else if (level > 0 && ch === parens[1]) level--;
      else if (level === 0 && sep.includes(ch)) break;
    }
    tokens.push(text.slice(start, i));
    if (i < text.length) i++;
  }
}

/** Length of the balanced group at the start of text, or 0 when unbalanced (balpar). */
export function balancedLength(text: string, parens = CHARS_BRACE): number {
  if (text[0] !== parens[0]) return 0;
  let level = 0;
  for (let i = 0; i < text.length; i++) {
    if (text[i] === parens[0]) level++;
    else if (text[i] === parens[1] && --level === 0) return i + 1;
  }
  return 0;
}

export interface Extracted {
  text: string;
  error?: string;
}

/**
 * Takes the braces off "{text}" (extpar). With strip, whitespace inside the
 * braces is trimmed too. Errors are worded as Postfix words them; the text
 * returned is what Postfix would go on with.
 */
export function extractGroup(text: string, strip: boolean, parens = CHARS_BRACE): Extracted {
  let inner: string;
  let error: string | undefined;
  if (text[0] !== parens[0]) {
    error = `no '${parens[0]}' at start of text in "${text}"`;
    inner = text;
  } else {
    const len = balancedLength(text, parens);
    if (len === 0) {
      error = `missing '${parens[1]}' in "${text}"`;
      inner = text.slice(1);
    } else {
      if (len !== text.length) error = `syntax error after '${parens[1]}' in "${text}"`;
      inner = text.slice(1, len - 1);
    }
  }
  if (strip) inner = inner.replace(/^[ \t\r\n\v\f]+|[ \t\r\n\v\f]+$/g, '');
  return error === undefined ? { text: inner } : { text: inner, error };
}
