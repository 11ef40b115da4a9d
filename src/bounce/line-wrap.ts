// Mirrors Postfix's util/line_wrap.c: breaks a line at blanks so that no
// piece is longer than a limit (unless one word is), the pieces after the
// first indented. The bounce notices use it for reasons and DSN fields.
// Pure.

const isSpace = (ch: string | undefined): boolean => ch !== undefined && ' \t\n\v\f\r'.includes(ch);

function trimEnd(text: string): string {
  let n = text.length;
  while (n > 0 && isSpace(text[n - 1])) n--;
  return text.slice(0, n);
}

/** The wrapped lines, each with its indentation. A negative indent indents the first line instead. */
export function lineWrap(text: string, limit: number, indent: number): string[] {
  const out: string[] = [];
  let curIndent = indent < 0 ? -indent : 0;
  let curLen = indent < 0 ? limit + indent : limit;
  let lineStart = 0;
  let word: number | null = 0;
  while (word !== null) {
    let nextSpace: number = word;
    while (nextSpace < text.length && text[nextSpace] !== ' ' && text[nextSpace] !== '\t') nextSpace++;
    if (word > lineStart && nextSpace - lineStart > curLen) {
      out.push(' '.repeat(curIndent) + trimEnd(text.slice(lineStart, word)));
      let w = word;
      while (w < text.length && isSpace(text[w])) w++;
      if (lineStart === 0) {
        curIndent += indent;
        curLen -= indent;
      }
      lineStart = w;
    }
    word = nextSpace < text.length ? nextSpace + 1 : null;
  }
  out.push(' '.repeat(curIndent) + trimEnd(text.slice(lineStart)));
  return out;
}
