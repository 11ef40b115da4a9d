// postconf's output line (Postfix's postconf_print.c): whitespace between
// words collapses to one space, and with -f a line that would pass 80 columns
// continues on the next line after four spaces.
import { out } from '../../util/output.js';
import { PCF_FOLD_LINE } from './context.js';

const LINE_LIMIT = 80;
const INDENT = '    ';
const SEPARATORS = /[ \t\r\n]+/;

export function formatLine(mode: number, text: string): string {
  const words = text.split(SEPARATORS).filter((w) => w.length > 0);
  let line = '';
  let lineLen = 0;
  for (const word of words) {
    if (lineLen > 0) {
      if ((mode & PCF_FOLD_LINE) === 0 || lineLen + word.length < LINE_LIMIT) {
        line += ' ';
        lineLen += 1;
      } else {
        line += '\n' + INDENT;
        lineLen = INDENT.length;
      }
    }
    line += word;
    lineLen += word.length;
  }
  return line + '\n';
}

export function printLine(mode: number, text: string): void {
  out(formatLine(mode, text));
}
