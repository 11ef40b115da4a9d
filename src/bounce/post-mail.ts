// Mirrors Postfix's global/post_mail.c as the bounce service uses it
// (post_mail_fopen_nowait, post_mail_fclose): a notice becomes a new
// message through cleanup, with the minimal envelope Postfix sends (arrival
// time, log_message_origin=local, trace_flags=0, sender, one recipient) and
// the Received: and Date: headers post_mail writes itself. Touches only the
// cleanup session it opens.
import {
  CLEANUP_FLAG_AUTOUTF8, CLEANUP_FLAG_FILTER, CLEANUP_FLAG_MAP_OK, CLEANUP_FLAG_MILTER, CLEANUP_FLAG_SMTPUTF8,
  type CleanupService, type CleanupSession,
} from '../cleanup/api.js';
import { mailDate } from '../mail/mail-date.js';
import type { ContentRecord } from './original.js';
import { SMTPUTF8_FLAG_REQUESTED } from './notice.js';

/** What the submission depends on in main.cf. */
export interface PostMailParams {
  myhostname: string;
  mailName: string;
  /** internal_mail_filter_classes names "bounce". */
  filterBounce: boolean;
  /** smtputf8_enable and smtputf8_autodetect_classes names "bounce". */
  autodetectUtf8: boolean;
}

/** The new message's queue ID, or the cleanup status bits that refused it (never 0). */
export type PostResult = { ok: true; queueId: string } | { ok: false; status: number };

/** The cleanup flags of a notice (post_mail_fopen_nowait's). */
function postFlags(params: PostMailParams, smtputf8: number): number {
  let flags = CLEANUP_FLAG_MAP_OK;
  if (params.filterBounce) flags |= CLEANUP_FLAG_FILTER | CLEANUP_FLAG_MILTER;
  if (params.autodetectUtf8) flags |= CLEANUP_FLAG_AUTOUTF8;
  if (smtputf8 & SMTPUTF8_FLAG_REQUESTED) flags |= CLEANUP_FLAG_SMTPUTF8;
  return flags;
}

/** Opens a cleanup session and sends the envelope and the headers post_mail writes itself; null when cleanup is not there. */
async function postOpen(
  cleanup: CleanupService, params: PostMailParams, now: Date, sender: string, recipient: string, smtputf8: number,
): Promise<CleanupSession | null> {
  let session: CleanupSession;
  try {
    session = await cleanup.open(postFlags(params, smtputf8));
  } catch {
    return null;
  }
  const ms = now.getTime();
  const sec = Math.floor(ms / 1000);
  const usec = (ms - sec * 1000) * 1000;
  const date = mailDate(sec);
  session.record('T', `${sec} ${usec}`);
  session.record('A', 'log_message_origin=local');
  session.record('A', 'trace_flags=0');
  session.record('S', sender);
  session.record('R', recipient);
  session.record('M', '');
  session.record('N', `Received: by ${params.myhostname} (${params.mailName})`);
  session.record('N', `\tid ${session.queueId}; ${date}`);
  session.record('N', `Date: ${date}`);
  return session;
}

/** Queues one notice: sender, one recipient, and the content records. */
export async function postMail(
  cleanup: CleanupService, params: PostMailParams, now: Date,
  sender: string, recipient: string, smtputf8: number, body: readonly ContentRecord[],
): Promise<PostResult> {
  const session = await postOpen(cleanup, params, now, sender, recipient, smtputf8);
  if (session === null) return { ok: false, status: 1 << 1 /* CLEANUP_STAT_WRITE */ };
  for (const r of body) session.record(r.type, r.data);
  session.record('X', '');
  session.record('E', '');
  const result = await session.finish();
  return result.status === 0 ? { ok: true, queueId: session.queueId } : { ok: false, status: result.status };
}

/**
 * A notice begun and then dropped (no recipient qualified for it): the
 * records written so far reach cleanup, which sees the headers end and
 * logs the message-id it made up, and then the stream closes without an
 * end record, as Postfix's bounce service closes a notice it cancels.
 */
export async function postMailAbandon(
  cleanup: CleanupService, params: PostMailParams, now: Date,
  sender: string, recipient: string, smtputf8: number, body: readonly ContentRecord[],
): Promise<void> {
  const session = await postOpen(cleanup, params, now, sender, recipient, smtputf8);
  if (session === null) return;
  for (const r of body) session.record(r.type, r.data);
  await session.abandon();
}
