// Mirrors cleanup_out_header() of Postfix's cleanup/cleanup_out.c and
// cleanup_fold_header() of cleanup_message.c: a header (folded lines joined
// by newlines) goes into the queue file one record per line, continuation
// lines that lost their leading white space get a tab, and a header longer
// than header_size_limit is cut (at a line boundary when that keeps 90% of
// it). A header whose addresses were rewritten has one address per line;
// folding joins lines while they fit in 70 columns. Non-ASCII header text
// marks the message as needing SMTPUTF8.
import { CLEANUP_FLAG_AUTOUTF8 } from './api.js';
import { cleanupOut } from './out.js';
import { SMTPUTF8_FLAG_HEADER, SMTPUTF8_FLAG_REQUESTED, type CleanupState } from './state.js';
import { allAscii } from './text.js';

/** cleanup_out_header(). */
export function cleanupOutHeader(state: CleanupState, header: string): void {
  const p = state.ctx.params;
  if (p.smtputf8Enable && header !== '' && !allAscii(header)) {
    state.smtputf8 |= SMTPUTF8_FLAG_HEADER;
    if (state.flags & CLEANUP_FLAG_AUTOUTF8) state.smtputf8 |= SMTPUTF8_FLAG_REQUESTED;
  }
  const limit = p.headerLimit;
  let text = header;
  let start = 0;
  while (start >= 0) {
    const nl = text.indexOf('\n', start);
    let line = nl < 0 ? text.slice(start) : text.slice(start, nl);
    let next = nl < 0 ? -1 : nl + 1;
    if (start + line.length > limit) {
      if (start > 0.9 * limit) break; // nice cut
      text = text.slice(0, limit); // unkind cut
      line = text.slice(start);
      next = -1;
    }
    if (start === 0 || line[0] === ' ' || line[0] === '\t') cleanupOut(state, 'N', line);
    else cleanupOut(state, 'N', `\t${line}`);
    start = next;
  }
}

/** cleanup_fold_header(): one address per line becomes lines of up to 70 columns. */
export function cleanupFoldHeader(state: CleanupState, header: string): void {
  const chars = header.split('');
  let startLine = 0;
  let line = 0;
  for (;;) {
    let end = chars.indexOf('\n', line);
    if (end < 0) end = chars.length;
    if (line > startLine) {
      if (end - startLine < 70) chars[line - 1] = ' ';
      else startLine = line;
    }
    if (end >= chars.length) break;
    line = end + 1;
  }
  cleanupOutHeader(state, chars.join(''));
}
