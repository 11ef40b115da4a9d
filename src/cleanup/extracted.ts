// Mirrors Postfix's cleanup/cleanup_extracted.c: the segment after the
// message content. It starts with the X record; before its first recipient
// (or the end) come the content_filter (L), redirect (>) and encoding (A)
// that header/body checks or the MIME headers asked for; recipients added
// by the client (smtpd's BCC action) go through the same pipeline as
// envelope recipients; at the end always_bcc and the header/body_checks BCC
// addresses are added, then the E record.
import { CLEANUP_FLAG_BCC_OK, CLEANUP_STAT_BAD } from './api.js';
import { cleanupAddrBcc, cleanupAddrRecipient } from './addr.js';
import { extraFlags, noteDsnNotify, parseAttr, recAttrMap } from './envelope.js';
import { cleanupOut } from './out.js';
import { CLEANUP_FLAG_END_SEEN, CLEANUP_FLAG_INRCPT, type CleanupState } from './state.js';
import { toBytes, trunc } from './text.js';

const REC_TYPE_EXTRACT = 'EDRO/PreAFIL>Kon';
const REC_TYPE_EXT_RECIPIENT = 'EDRO/Kon';

/** cleanup_extracted(): the first record after the content; writes X. */
export async function cleanupExtracted(state: CleanupState, type: string, buf: string): Promise<void> {
  cleanupOut(state, 'X', '');
  state.action = 'extracted_process';
  await cleanupExtractedProcess(state, type, buf);
}

function bad(state: CleanupState, text: string): void {
  state.ctx.log.warning(`${state.queueId}: ${text}`);
  state.errs |= CLEANUP_STAT_BAD;
}

/** The optional records from header/body content, on the way to the first recipient. */
function beforeRecipients(state: CleanupState): void {
  if (state.filter !== null) cleanupOut(state, 'L', state.filter);
  if (state.redirect !== null) cleanupOut(state, '>', state.redirect);
  const encoding = state.attr.get('encoding');
  if (encoding !== undefined) cleanupOut(state, 'A', `encoding=${encoding}`);
  state.flags |= CLEANUP_FLAG_INRCPT;
}

/** cleanup_extracted_process(): one record of the extracted segment. */
export async function cleanupExtractedProcess(state: CleanupState, typeIn: string, bufIn: string): Promise<void> {
  let type = typeIn;
  let buf = bufIn;
  if (type === 'f') return extraFlags(state, buf);
  if (!REC_TYPE_EXTRACT.includes(type)) {
    return bad(state, `message rejected: unexpected record type ${type.charCodeAt(0)} in extracted envelope`);
  }
  if (type === 'A') {
    const attr = parseAttr(state, buf);
    if (attr === null) return;
    const m = recAttrMap(attr.name);
    if (m !== null) {
      buf = attr.value;
      type = m;
    }
  }
  if (!(state.flags & CLEANUP_FLAG_INRCPT) && REC_TYPE_EXT_RECIPIENT.includes(type)) beforeRecipients(state);
  switch (type) {
    case 'R':
      if (state.sender === null) return bad(state, 'message rejected: envelope recipient precedes sender');
      state.origRcpt ??= buf;
      await cleanupAddrRecipient(state, buf);
      state.origRcpt = null;
      state.dsnOrcpt = null;
      state.dsnNotify = 0;
      return;
    case 'D':
    case '/':
      state.origRcpt = null;
      state.dsnOrcpt = null;
      state.dsnNotify = 0;
      return;
    case 'o':
      if (state.dsnOrcpt !== null) {
        state.ctx.log.warning(`${state.queueId}: ignoring out-of-order DSN original recipient record <${trunc(state.dsnOrcpt, 200)}>`);
      }
      state.dsnOrcpt = buf;
      return;
    case 'n':
      noteDsnNotify(state, buf, buf, 'dsn');
      return;
    case 'O':
      if (state.origRcpt !== null) {
        state.ctx.log.warning(`${state.queueId}: ignoring out-of-order original recipient record <${trunc(buf, 200)}>`);
      }
      state.origRcpt = buf;
      return;
    case 'E':
      state.flags &= ~CLEANUP_FLAG_INRCPT;
      state.flags |= CLEANUP_FLAG_END_SEEN;
      return extractedFinish(state);
    default:
      if (state.flags & CLEANUP_FLAG_INRCPT) state.qmgrOpts |= 1; // QMGR_READ_FLAG_MIXED_RCPT_OTHER
      cleanupOut(state, type, buf);
  }
}

/** cleanup_extracted_finish(): always_bcc, header/body_checks BCC, then E. */
async function extractedFinish(state: CleanupState): Promise<void> {
  const bcc = state.ctx.params.alwaysBcc;
  if (state.flags & CLEANUP_FLAG_BCC_OK && state.recip !== null && bcc !== '') await cleanupAddrBcc(state, toBytes(bcc));
  if (state.hbcRcpt !== null) {
    if (state.outOk() && state.recip !== null) {
      for (const addr of state.hbcRcpt) await cleanupAddrBcc(state, addr);
    }
    state.hbcRcpt = null;
  }
  cleanupOut(state, 'E', '');
}
