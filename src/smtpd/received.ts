// Mirrors Postfix's global/mail_date.c and the Received: header that
// smtpd.c (common_pre_message_handling) puts above the message:
//   Received: from HELO (NAME [ADDR])
//           by MYHOSTNAME (MAIL_NAME) with PROTO id QID
//           for <RCPT>; DATE            (exactly one recipient)
// or "... id QID;" and "\tDATE" otherwise. PREPEND lines from access
// tables go above it. Pure formatting; the caller writes the records.
import { quote822Local } from '../address/quote.js';
import type { SmtpdState } from './state.js';
import { SMTPD_FLAG_SMTPUTF8 } from './state.js';

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

let zoneFormat: Intl.DateTimeFormat | null = null;
/** The last zone name worked out, by UTC offset (it only changes with daylight saving time). */
let zoneCache: { offset: number; name: string } | null = null;

/** The local time zone's abbreviation, as strftime's %Z prints it where Intl knows it. */
function zoneName(d: Date): string {
  const offset = d.getTimezoneOffset();
  if (zoneCache?.offset === offset) return zoneCache.name;
  zoneFormat ??= new Intl.DateTimeFormat('en-US', { timeZoneName: 'short' });
  const part = zoneFormat.formatToParts(d).find((p) => p.type === 'timeZoneName');
  let name = part?.value ?? 'UTC';
  if (name === 'GMT' && offset === 0 && (process.env.TZ ?? 'UTC').toUpperCase().startsWith('UTC')) name = 'UTC';
  zoneCache = { offset, name };
  return name;
}

/** mail_date(): "Sat, 21 Nov 2026 23:32:47 +0000 (UTC)", day of month space-padded. */
export function mailDate(whenMs: number): string {
  const d = new Date(whenMs);
  const p2 = (n: number): string => String(n).padStart(2, '0');
  const off = -d.getTimezoneOffset();
  const sign = off < 0 ? '-' : '+';
  const abs = Math.abs(off);
  return `${DAYS[d.getDay()]}, ${String(d.getDate()).padStart(2, ' ')} ${MONTHS[d.getMonth()]} ${d.getFullYear()} `
    + `${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())} `
    + `${sign}${p2(Math.floor(abs / 60))}${p2(abs % 60)} (${zoneName(d)})`;
}

/** The lines of smtpd's Received: header (byte strings), without PREPEND lines. */
export function receivedHeader(state: SmtpdState, myhostname: string, mailName: string, authHeader: boolean): string[] {
  const withProto = state.flags & SMTPD_FLAG_SMTPUTF8 ? 'UTF8SMTP' : state.protocol;
  const rfc3848Sess = state.stream.tlsSocket !== null && state.protocol === 'ESMTP' ? 'S' : '';
  const rfc3848Auth = state.saslUsername && state.protocol === 'ESMTP' ? 'A' : '';
  const lines = [`Received: from ${state.heloName ?? state.name} (${state.name} [${state.rfcAddr}])`];
  if (authHeader && state.saslUsername) lines.push(`\t(Authenticated sender: ${sanitizeComment(state.saslUsername)})`);
  const id = state.cleanup ? ` id ${state.queueId}` : '';
  const date = mailDate(state.arrivalMs);
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
