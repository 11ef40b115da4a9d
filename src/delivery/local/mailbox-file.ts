// Mirrors the mbox-writing part of Postfix's local/mailbox.c
// (deliver_mailbox_file), local/file.c (deliver_file) and
// virtual/mailbox.c: append one message to an mbox file under the
// configured locks, as the recipient, with the file grown all the way or
// not at all. The reasons are the ones each agent logs: "cannot update
// mailbox ... for user ...", "cannot append message to file ...:",
// "delivery failed to mailbox ...:". Touches the mailbox and its .lock.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MAIL_COPY_TOFILE, appendWithLimit, buildMessageCopy, corruptOutcome, type CopySource } from './mail-copy.js';
import { DEFAULT_LOCK_TIMING, MBOX_DOT_LOCK_MAY_FAIL, mboxLockMask, mboxOpen, type LockTiming } from './mbox-lock.js';
import { effectiveUid, privileged, type RunAs } from './privs.js';
import { delivered, errText, failed, mboxDsn, type LocalOutcome } from './outcome.js';
import { sysExitsDetail } from './command.js';

/** <sysexits.h> EX_IOERR: the diagnostic of a failed copy (mail_copy). */
const EX_IOERR = 74;

export interface MboxFileOptions {
  source: CopySource;
  /** MAIL_COPY_* (MAIL_COPY_MBOX, less MAIL_COPY_DELIVERED when deliver_hdr says so). */
  copyFlags: number;
  /** mailbox_delivery_lock / virtual_mailbox_lock, e.g. ['fcntl', 'dotlock']. */
  locks: string[];
  /** mailbox_size_limit / virtual_mailbox_limit in bytes; 0 = none. */
  sizeLimit: number;
  /** mailbox: the user's mailbox (local); file: a /file/name destination; virtual: virtual(8)'s mailbox. */
  kind: 'mailbox' | 'file' | 'virtual';
  /** The mailbox is in mail_spool_directory: its permissions decide whose credentials open it. */
  spoolDir?: boolean;
  /** strict_mailbox_ownership (default yes). */
  strictOwner?: boolean;
  /** deliver_lock_attempts, deliver_lock_delay, stale_lock_time. */
  timing?: LockTiming;
  /** Where msg_warn() goes. */
  warn?: (text: string) => void;
  /** The time for the From_ line (tests). */
  now?: Date;
}

/** Whose credentials open the mailbox, and who gets a new file (local/mailbox.c's spool rules). */
function openCredentials(file: string, user: RunAs, opts: MboxFileOptions): { uid: number; gid: number; chownUid: number; chownGid: number } {
  let uid = user.uid;
  let gid = user.gid;
  if (opts.kind === 'mailbox' && opts.spoolDir) {
    try {
      const st = fs.statSync(path.dirname(file));
      if ((st.mode & 0o002) === 0) {
        if (st.mode & 0o020) gid = st.gid;
        else uid = gid = 0;
      }
    } catch {
      // a missing spool directory: the recipient's credentials, as Postfix
    }
  }
  if (!privileged()) return { uid, gid, chownUid: -1, chownGid: -1 };
  const chown = uid !== user.uid;
  return { uid, gid, chownUid: chown ? user.uid : -1, chownGid: chown ? user.gid : -1 };
}

function failurePrefix(file: string, user: RunAs, kind: MboxFileOptions['kind']): string {
  if (kind === 'mailbox') return `cannot update mailbox ${file} for user ${user.name}. `;
  if (kind === 'file') return `cannot append message to file ${file}: `;
  return `delivery failed to mailbox ${file}: `;
}

/** Appends the message to an mbox file; the outcome carries local(8)'s or virtual(8)'s reason. */
export async function deliverMboxFile(file: string, user: RunAs, opts: MboxFileOptions): Promise<LocalOutcome> {
  const warn = opts.warn ?? (() => undefined);
  const defDsn = opts.kind === 'virtual' ? '4.2.0' : '5.2.0';
  const prefix = failurePrefix(file, user, opts.kind);
  const lock = mboxLockMask(opts.locks);
  if (!lock.ok) {
    warn(lock.error);
    return failed('4.3.5', 'mail system configuration error');
  }
  const cred = openCredentials(file, user, opts);
  const opened = await mboxOpen(file, {
    flags: fs.constants.O_APPEND | fs.constants.O_WRONLY, create: true, perms: 0o600,
    uid: cred.uid, gid: cred.gid, chownUid: cred.chownUid, chownGid: cred.chownGid,
    lockMask: lock.mask | (opts.kind === 'file' ? MBOX_DOT_LOCK_MAY_FAIL : 0),
    defDsn, timing: opts.timing ?? DEFAULT_LOCK_TIMING, warn,
  });
  if (!opened.ok) return failed(opened.dsn, prefix + opened.why);
  const mbox = opened.mbox;
  try {
    const st = mbox.st;
    if (opts.kind !== 'file' && !st.isFile()) {
      if (opts.kind === 'virtual') {
        warn(`recipient ${opts.source.deliveredTo}: destination ${file} is not a regular file`);
        return failed('5.3.5', prefix + 'mail system configuration error');
      }
      return failed('5.2.0', prefix + `destination ${file} is not a regular file`);
    }
    if (opts.kind !== 'file' && (opts.strictOwner ?? true) && Number(st.uid) !== effectiveUid(user)) {
      warn('specify "strict_mailbox_ownership = no" to ignore mailbox ownership mismatch');
      return failed('4.2.0', prefix + `destination ${file} is not owned by recipient`);
    }
    if (opts.kind === 'file' && st.isFile() && (Number(st.mode) & 0o111) !== 0) {
      return failed('5.7.1', prefix + 'file is executable');
    }
    const toFile = st.isFile();
    const flags = toFile ? opts.copyFlags : opts.copyFlags & ~MAIL_COPY_TOFILE;
    const copy = buildMessageCopy(opts.source, flags, '\n', opts.now);
    if (!copy.ok && copy.corrupt) return corruptOutcome(opts.source, copy.warning, warn);
    if (!copy.ok) {
      const code = copy.readError.code ?? 'EIO';
      const dsn = code === 'EAGAIN' || code === 'ESTALE' ? '4.3.0' : '5.3.0';
      return failed(dsn, prefix + `error reading message: ${errText(copy.readError)}`, sysExitsDetail(EX_IOERR).text);
    }
    const err = await appendWithLimit(mbox.fd, copy.data, { sizeLimit: toFile ? opts.sizeLimit : 0, toFile: (flags & MAIL_COPY_TOFILE) !== 0 });
    if (err) return failed(mboxDsn(err.code ?? 'EIO', '5.3.0'), prefix + `error writing message: ${errText(err)}`, sysExitsDetail(EX_IOERR).text);
  } finally {
    mbox.close();
  }
  if (opts.kind === 'file') return delivered(`delivered to file: ${file}`);
  return delivered('delivered to mailbox');
}
