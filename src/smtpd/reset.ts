// Mirrors mail_reset(), rcpt_reset() and chat_reset() of Postfix's
// smtpd/smtpd.c: what RSET, HELO/EHLO, a finished message and the end of a
// session clear. A queue file that was opened for the transaction is
// abandoned (cleanup removes it), as when Postfix closes the stream to the
// cleanup server without an end record.
import { noXforward, SMTPD_BDAT_STAT_NONE, SMTPD_FLAG_SMTPUTF8, type SmtpdState } from './state.js';

/** mail_reset(): forgets the transaction and everything access tables attached to it. */
export function mailReset(state: SmtpdState): void {
  state.msgSize = 0;
  state.actSize = 0;
  state.flags &= ~SMTPD_FLAG_SMTPUTF8;
  if (state.cleanup !== null) {
    const c = state.cleanup;
    state.cleanup = null;
    c.abort().catch(() => undefined);
  }
  state.err = 0;
  state.queueId = null;
  state.sender = null;
  state.verpDelims = null;
  state.savedFilter = null;
  state.savedRedirect = null;
  state.savedBcc = null;
  state.savedFlags = 0;
  state.saslSender = null;
  state.discard = false;
  state.instance = '';
  if (state.xforward.flags) state.xforward = noXforward();
  state.prepend = null;
  state.dsnEnvid = null;
  state.bdatState = SMTPD_BDAT_STAT_NONE;
  state.bdatPartial = '';
}

/** rcpt_reset(). */
export function rcptReset(state: SmtpdState): void {
  state.recipient = null;
  state.rcptCount = 0;
  state.rcptOvershoot = 0;
}

/**
 * chat_reset(): the transcript is dropped once it is longer than the
 * threshold (Postfix would first mail it to the postmaster when
 * notify_classes asks for it; this project sends no such notices).
 */
export function chatReset(state: SmtpdState, threshold: number): void {
  if (state.history.length > threshold) {
    state.errorMask = 0;
    state.history = [];
  }
}
