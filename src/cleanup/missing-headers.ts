// Mirrors cleanup_header_done_callback() of Postfix's
// cleanup/cleanup_message.c: at the end of the primary headers, a message
// that has no (Resent-)Message-Id, (Resent-)Date or (Resent-)From gets one,
// when headers may be rewritten (local clients, or remote ones with
// remote_header_rewrite_domain) or always_add_missing_headers is set; and
// undisclosed_recipients_header when there is no visible recipient. The
// Message-Id is <YYYYmmddHHMMSS.QUEUEID@myhostname> (GMT time of the queue
// file's creation) with short queue IDs, <QUEUEID@myhostname> with long ones.
import { quote822Local } from '../address/quote.js';
import { tok822Alloc, tok822Parse, tok822Scan, TOK822_QSTRING } from '../address/tok822.js';
import { tok822Externalize, TOK822_STR_NONE } from '../address/tok822-format.js';
import { CLEANUP_STAT_BAD } from './api.js';
import { logInfo, logWarning } from './act.js';
import {
  HDR_CC, HDR_DATE, HDR_FROM, HDR_MESSAGE_ID, HDR_RESENT_CC, HDR_RESENT_DATE, HDR_RESENT_FROM,
  HDR_RESENT_MESSAGE_ID, HDR_RESENT_TO, HDR_TO,
} from '../mail/header-opts.js';
import { isHeader } from '../mail/header.js';
import { gmtStamp, mailDate } from '../mail/mail-date.js';
import { cleanupOut } from './out.js';
import type { CleanupState } from './state.js';
import { toBytes, toText } from './text.js';

const VISIBLE_RCPT = (1 << HDR_TO) | (1 << HDR_RESENT_TO) | (1 << HDR_CC) | (1 << HDR_RESENT_CC);
const LEX_822_SPECIALS = '()<>@,;:\\".[]';

/** "From: ..." for the envelope sender, with the full name when there is one. */
function fromHeader(state: CleanupState): string {
  const sender = state.sender ?? '';
  const addr = toBytes(quote822Local(toText(sender !== '' ? sender : 'MAILER-DAEMON')));
  const head = `${state.resent}From: `;
  if (sender === '' || state.fullname === null || state.fullname === '') return `${head}${addr}`;
  const fullname = state.fullname.replace(/[\r\n]/g, ' ');
  const warn = (t: string): void => logWarning(state, t);
  if (state.ctx.params.hfromStandard) {
    // "From: phrase <route-addr>": quote the phrase when it has specials or the "%!" operators.
    const plain = ![...'%!' + LEX_822_SPECIALS].some((c) => fullname.includes(c));
    const text = toText(fullname);
    const token = plain ? tok822Scan(text, state.ctx.params.tokenLimit).head : tok822Alloc(TOK822_QSTRING, text);
    const phrase = token ? `${toBytes(tok822Externalize(token, TOK822_STR_NONE, warn))} ` : '';
    return `${head}${phrase}<${addr}>`;
  }
  // "From: addr-spec (ctext)", the obsolete form.
  const comment = tok822Parse(toText(`(${fullname})`));
  return `${head}${addr} ${toBytes(tok822Externalize(comment, TOK822_STR_NONE, warn))}`;
}

/** cleanup_header_done_callback(). */
export function addMissingHeaders(state: CleanupState): void {
  if (!state.outOk()) return;
  const p = state.ctx.params;
  if (state.hopCount < 1) {
    logWarning(state, `${state.queueId}: message rejected: no Received: header`);
    state.errs |= CLEANUP_STAT_BAD;
    return;
  }
  const add = state.hdrRewriteContext !== null || p.alwaysAddHeaders;
  const resent = state.resent !== '';
  const seen = (type: number): boolean => (state.headersSeen & (1 << type)) !== 0;
  const idType = resent ? HDR_RESENT_MESSAGE_ID : HDR_MESSAGE_ID;
  if (add && !seen(idType)) {
    const id = p.longQueueIds ? `${state.queueId}@${p.myhostname}` : `${gmtStamp(state.file.time.sec)}.${state.queueId}@${p.myhostname}`;
    cleanupOut(state, 'N', `${state.resent}Message-Id: <${id}>`);
    logInfo(state, `${state.queueId}: ${resent ? 'resent-' : ''}message-id=<${id}>`);
    state.headersSeen |= 1 << idType;
  }
  if (!seen(HDR_MESSAGE_ID)) logInfo(state, `${state.queueId}: message-id=<>`);
  if (add && !seen(resent ? HDR_RESENT_DATE : HDR_DATE)) {
    cleanupOut(state, 'N', `${state.resent}Date: ${mailDate(state.arrivalSec)}`);
  }
  if (add && !seen(resent ? HDR_RESENT_FROM : HDR_FROM)) cleanupOut(state, 'N', fromHeader(state));
  if (add && (state.headersSeen & VISIBLE_RCPT) === 0 && p.recipientsWithheld !== '') {
    if (!isHeader(p.recipientsWithheld)) {
      logWarning(state, `bad undisclosed_recipients_header header text "${p.recipientsWithheld}" -- need "headername: headervalue"`);
    } else {
      cleanupOut(state, 'N', toBytes(p.recipientsWithheld));
    }
  }
}
