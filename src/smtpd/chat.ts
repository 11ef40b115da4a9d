// Mirrors Postfix's smtpd/smtpd_chat.c and global/smtp_reply_footer.c:
// every reply smtpd sends goes through smtpdChatReply, which sleeps
// smtpd_error_sleep_time once the session has made smtpd_soft_error_limit
// errors, appends smtpd_reject_footer to 4xx/5xx replies, applies
// soft_bounce, writes the reply (possibly several lines) to the output
// buffer, and marks the session for hang-up after a 421 or 521. The
// session transcript for postmaster notices is kept here too.
import { macExpand } from '../config/expand.js';
import { SMTPD_FLAG_HANGUP, type SmtpdState } from './state.js';
import type { SmtpdContext } from './context.js';
import { toBytes } from './text.js';
import { dsnValid } from '../mail/dsn.js';
import { expandLookup } from './expand.js';

/** smtpd_chat_query(): reads one command line (the rest of an over-long line is skipped). */
export async function smtpdChatQuery(ctx: SmtpdContext, state: SmtpdState): Promise<{ line: string; gotBareLf: number }> {
  const r = await state.stream.getLine(ctx.params.lineLengthLimit, true);
  if (!r.complete) {
    ctx.log.warning(`${state.namaddr}: request longer than ${ctx.params.lineLengthLimit}: ${r.line.slice(0, 30).replace(/[^\x20-\x7e]/g, '?')}...`);
  }
  if (state.history.length < 1000) state.history.push(`In:  ${r.line}`);
  return { line: r.line, gotBareLf: r.gotBareLf };
}

/** smtp_reply_footer(): footer lines appended with the reply's own codes. */
function addFooter(ctx: SmtpdContext, state: SmtpdState, reply: string, template: string): string {
  const lines = reply.split('\r\n');
  if (!lines.every((l) => /^[0-9]{3}[ -]/.test(l))) return reply;
  const last = lines[lines.length - 1]!;
  const code = last.slice(0, 3);
  const dsnLen = dsnValid(last.slice(4));
  const dsn = dsnLen > 0 ? last.slice(4, 4 + dsnLen) + ' ' : '';
  const parts = template.split('\\n');
  let out = reply;
  for (let i = 0; i < parts.length; i++) {
    let piece = parts[i]!;
    if (i === 0 && piece.startsWith('\\c')) {
      piece = piece.slice(2);
    } else {
      out += `\r\n${code}${i + 1 < parts.length ? '-' : ' '}${dsn}`;
    }
    let bad = false;
    const r = macExpand(piece, (name) => expandLookup(ctx, state, name), 0, () => { bad = true; });
    if (bad || r.status & 1) return reply;
    out += toBytes(r.result);
  }
  return out;
}

/** smtpd_chat_reply(): formats, records and (buffered) sends one reply. */
export async function smtpdChatReply(ctx: SmtpdContext, state: SmtpdState, text: string): Promise<void> {
  let delay = 0;
  if (state.errorCount >= ctx.params.softErrorLimit) {
    delay = ctx.params.errorSleepSec;
    state.stream.flush();
    await ctx.sleep(delay);
  }
  let reply = text;
  if ((reply[0] === '4' || reply[0] === '5') && ctx.rejectFooter !== '') reply = addFooter(ctx, state, reply, ctx.rejectFooter);
  const lines = reply.split('\r\n');
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i]!;
    if (ctx.params.softBounce && line[0] === '5') {
      line = '4' + line.slice(1, 4) + (line[4] === '5' ? '4' : line[4] ?? '') + line.slice(5);
    }
    if (i + 1 < lines.length && line.length >= 4) line = line.slice(0, 3) + '-' + line.slice(4);
    if (state.history.length < 1000) state.history.push(`Out: ${line}`);
    state.stream.putLine(line);
  }
  if (delay > 0 || Date.now() - state.stream.lastIo > 10000) state.stream.flush();
  if (reply.startsWith('421') || reply.startsWith('521')) state.flags |= SMTPD_FLAG_HANGUP;
}
