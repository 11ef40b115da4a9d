// Mirrors the Received: header that
// smtpd.c (common_pre_message_handling) puts above the message:
//   Received: from HELO (NAME [ADDR])
//           by MYHOSTNAME (MAIL_NAME) with PROTO id QID
//           for <RCPT>; DATE            (exactly one recipient)
// or "... id QID;" and "\tDATE" otherwise. PREPEND lines from access
// tables go above it. Pure formatting; the caller writes the records.
import { quote822Local } from '../address/quote.js';
import type { SmtpdState } from './state.js';
import { SMTPD_FLAG_SMTPUTF8 } from './state.js';
import { mailDate } from '../mail/mail-date.js';

/** The lines of smtpd's Received: header (byte strings), without PREPEND lines. */
export function receivedHeader(state: SmtpdState, myhostname: string, mailName: string, authHeader: boolean): string[] {
  const withProto = state.flags & SMTPD_FLAG_SMTPUTF8 ? 'UTF8SMTP' : state.protocol;
  const rfc3848Sess = state.stream.tlsSocket !== null && state.protocol === 'ESMTP' ? 'S' : '';
  const rfc3848Auth = state.saslUsername && state.protocol === 'ESMTP' ? 'A' : '';
  const lines = [`Received: from ${state.heloName ?? state.name} (${state.name} [${state.rfcAddr}])`];
  if (authHeader && state.saslUsername) lines.push(`\t(Authenticated sender: ${sanitizeComment(state.saslUsername)})`);
  const id = state.cleanup ? ` id ${state.queueId}` : '';
  const date = mailDate(Math.floor(state.arrivalMs / 1000));
  if (state.rcptCount === 1 && state.recipient !== null) {
    lines.push(`\tby ${myhostname} (${mailName}) with ${withProto}${rfc3848Sess}${rfc3848Auth}${id}`);
    lines.push(`\tfor <${quote822Local(state.recipient)}>; ${date}`);
  } else {
    lines.push(`\tby ${myhostname} (${mailName}) with ${withProto}${rfc3848Sess}${rfc3848Auth}${id};`);
    lines.push(`\t${date}`);
  }
  return lines;
}

/** comment_sanitize(): text that is safe inside an RFC 822 comment. */
function sanitizeComment(text: string): string {
  let out = '';
  let depth = 0;
  for (const ch of text) {
    if (ch === '(') depth++;
    else if (ch === ')') {
      if (depth === 0) continue;
      depth--;
    }
    out += ch === '\\' ? '\\\\' : ch;
  }
  return out + ')'.repeat(depth);
}
