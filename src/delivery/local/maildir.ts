// Mirrors Postfix's local/maildir.c and virtual/maildir.c: one message
// becomes one file, written in tmp/ as TIME.P<pid>....HOST, fsynced, then
// linked into new/ as TIME.V<dev hex>I<ino hex>M<usec>.HOST and removed
// from tmp/. Missing tmp/, new/ and cur/ directories are made (0700), the
// file is 0600, and every name operation runs as the recipient (privs.ts).
// The size limit applies to the one file. Touches only the maildir.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { getTimeOfDay } from '../../queue/queue-file.js';
import { appendWithLimit, buildMessageCopy, corruptOutcome, type CopySource } from './mail-copy.js';
import { withPrivs, type RunAs } from './privs.js';
import { delivered, errCode, errText, failed, mboxDsn, type LocalOutcome } from './outcome.js';

export interface MaildirOptions {
  source: CopySource;
  /** MAIL_COPY_TOFILE | MAIL_COPY_RETURN | MAIL_COPY_ORIG_RCPT [| MAIL_COPY_DELIVERED]. */
  copyFlags: number;
  /** mailbox_size_limit / virtual_mailbox_limit for the file; 0 = none. */
  sizeLimit: number;
  /** mailbox or file (local(8): default DSN 5.2.0) or virtual (virtual(8): 4.2.0, the administrator's maildir). */
  kind: 'mailbox' | 'file' | 'virtual';
  warn?: (text: string) => void;
  /** gethostname() for the file names (tests). */
  hostname?: string;
}

const FILE_FLAGS = fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL;

function openTmp(tmpdir: string, tmpfile: string): { fd: number; st: fs.BigIntStats } | { err: NodeJS.ErrnoException } {
  const attempt = (): number => fs.openSync(tmpfile, FILE_FLAGS, 0o600);
  try {
    let fd: number;
    try {
      fd = attempt();
    } catch (e) {
      if (errCode(e) !== 'ENOENT') throw e;
      fs.mkdirSync(tmpdir, { recursive: true, mode: 0o700 });
      fd = attempt();
    }
    return { fd, st: fs.fstatSync(fd, { bigint: true }) };
  } catch (e) {
    return { err: e as NodeJS.ErrnoException };
  }
}

function linkNew(tmpfile: string, newfile: string, newdir: string, curdir: string): NodeJS.ErrnoException | null {
  try {
    try {
      fs.linkSync(tmpfile, newfile);
    } catch (e) {
      if (errCode(e) !== 'ENOENT') throw e;
      fs.mkdirSync(curdir, { recursive: true, mode: 0o700 });
      fs.mkdirSync(newdir, { recursive: true, mode: 0o700 });
      fs.linkSync(tmpfile, newfile);
    }
    return null;
  } catch (e) {
    return e as NodeJS.ErrnoException;
  }
}

/** Delivers into the maildir dir (which ends in "/"). */
export async function deliverMaildir(dir: string, user: RunAs, opts: MaildirOptions): Promise<LocalOutcome> {
  const warn = opts.warn ?? (() => undefined);
  const defDsn = opts.kind === 'virtual' ? '4.2.0' : '5.2.0';
  const host = opts.hostname ?? os.hostname();
  const start = getTimeOfDay();
  const tmpdir = `${dir}tmp/`;
  const newdir = `${dir}new/`;
  const curdir = `${dir}cur/`;
  // Postfix uses the pid alone; this process writes many messages at once.
  const tmpfile = `${tmpdir}${start.sec}.P${process.pid}R${randomBytes(4).toString('hex')}.${host}`;

  const fail = (code: string, dsn: string, why: string): LocalOutcome => {
    if (code === 'EACCES') {
      warn(`maildir access problem for UID/GID=${user.uid}/${user.gid}: ${why}`);
      warn('perhaps you need to create the maildirs in advance');
    }
    return failed(dsn, `maildir delivery failed: ${why}`);
  };

  const opened = withPrivs(user, () => openTmp(tmpdir, tmpfile));
  if ('err' in opened) {
    const code = errCode(opened.err);
    return fail(code, mboxDsn(code, defDsn), `create maildir file ${tmpfile}: ${errText(opened.err)}`);
  }
  const newfile = `${newdir}${start.sec}.V${opened.st.dev.toString(16)}I${opened.st.ino.toString(16)}M${start.usec}.${host}`;
  let outcome: LocalOutcome | null = null;
  try {
    const copy = buildMessageCopy(opts.source, opts.copyFlags, '\n');
    if (!copy.ok && copy.corrupt) {
      outcome = corruptOutcome(opts.source, copy.warning, warn);
    } else if (!copy.ok) {
      const code = errCode(copy.readError);
      outcome = fail(code, code === 'EAGAIN' || code === 'ESTALE' ? '4.3.0' : '5.3.0', `error reading message: ${errText(copy.readError)}`);
    } else {
      const err = await appendWithLimit(opened.fd, copy.data, { sizeLimit: opts.sizeLimit, toFile: true });
      if (err) outcome = fail(errCode(err), mboxDsn(errCode(err), '5.3.0'), `error writing message: ${errText(err)}`);
    }
  } finally {
    fs.closeSync(opened.fd);
  }
  const linkErr = withPrivs(user, () => {
    const e = outcome === null ? linkNew(tmpfile, newfile, newdir, curdir) : null;
    try {
      fs.unlinkSync(tmpfile);
    } catch (u) {
      warn(`remove ${tmpfile}: ${errText(u as NodeJS.ErrnoException)}`);
    }
    return e;
  });
  if (outcome !== null) return outcome;
  if (linkErr) {
    const code = errCode(linkErr);
    return fail(code, mboxDsn(code, defDsn), `create maildir file ${newfile}: ${errText(linkErr)}`);
  }
  return delivered('delivered to maildir');
}
