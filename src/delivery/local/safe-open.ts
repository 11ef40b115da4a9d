// Mirrors Postfix's util/safe_open.c: open an existing file or create a new
// one without being fooled by a symbolic link, a hard link or a file that
// changes under us. An existing file must have exactly one link, must not
// be a directory, and must be the file that lstat() sees, unless it is a
// symlink owned by root in a root-owned directory that only root can write
// (the /dev/null case). A new file is created with O_EXCL and optionally
// given to another owner. Synchronous on purpose: callers run it inside a
// privilege window (privs.ts). Failures carry Postfix's "why" texts.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { errText, errCode } from './outcome.js';

export type SafeOpenMode = 'exist' | 'create' | 'excl';

export interface SafeOpenOptions {
  /** O_WRONLY, O_APPEND, O_NONBLOCK...: everything but O_CREAT and O_EXCL. */
  flags: number;
  /** exist: open only; excl: create only; create: open, or create when missing. */
  mode: SafeOpenMode;
  /** Permissions of a created file. */
  perms: number;
  /** Owner of a created file; -1 leaves it alone. */
  chownUid?: number;
  chownGid?: number;
  /** Where msg_warn() goes (a failed chown). */
  warn?: (text: string) => void;
}

export type SafeOpenResult =
  | { ok: true; fd: number; st: fs.BigIntStats; created: boolean }
  | { ok: false; code: string; why: string };

const { O_CREAT, O_EXCL } = fs.constants;

function closeQuietly(fd: number): void {
  try {
    fs.closeSync(fd);
  } catch {
    // nothing to do
  }
}

function fail(code: string, why: string): SafeOpenResult {
  return { ok: false, code, why };
}

/** A root-owned symlink is trusted only in a root-owned directory nobody else can write. */
function trustedParent(file: string): boolean {
  try {
    const st = fs.statSync(path.dirname(file));
    return st.uid === 0 && (st.mode & 0o022) === 0;
  } catch {
    return false;
  }
}

function openExisting(file: string, flags: number): SafeOpenResult {
  let fd: number;
  try {
    fd = fs.openSync(file, flags & ~(O_CREAT | O_EXCL));
  } catch (e) {
    return fail(errCode(e), `cannot open file: ${errText(e as NodeJS.ErrnoException)}`);
  }
  const fst = fs.fstatSync(fd, { bigint: true });
  let bad: SafeOpenResult | null = null;
  if (fst.nlink !== 1n) {
    bad = fail('EPERM', `file has ${fst.nlink} hard links`);
  } else if (fst.isDirectory()) {
    bad = fail('EISDIR', 'file is a directory');
  } else {
    let lst: fs.BigIntStats | null = null;
    try {
      lst = fs.lstatSync(file, { bigint: true });
    } catch (e) {
      bad = fail('EPERM', `file status changed unexpectedly: ${errText(e as NodeJS.ErrnoException)}`);
    }
    if (lst !== null) {
      if (lst.isSymbolicLink()) {
        if (!(lst.uid === 0n && trustedParent(file))) bad = fail('EPERM', 'file is a symbolic link');
      } else if (fst.dev !== lst.dev || fst.ino !== lst.ino || fst.nlink !== lst.nlink || fst.mode !== lst.mode) {
        bad = fail('EPERM', 'file status changed unexpectedly');
      }
    }
  }
  if (bad) {
    closeQuietly(fd);
    return bad;
  }
  return { ok: true, fd, st: fst, created: false };
}

function createExclusive(file: string, opts: SafeOpenOptions): SafeOpenResult {
  let fd: number;
  try {
    fd = fs.openSync(file, opts.flags | O_CREAT | O_EXCL, opts.perms);
  } catch (e) {
    return fail(errCode(e), `cannot create file exclusively: ${errText(e as NodeJS.ErrnoException)}`);
  }
  const uid = opts.chownUid ?? -1;
  const gid = opts.chownGid ?? -1;
  if (uid !== -1 || gid !== -1) {
    try {
      fs.fchownSync(fd, uid, gid);
    } catch (e) {
      const text = errText(e as NodeJS.ErrnoException);
      opts.warn?.(`${file}: cannot change file ownership: ${text}`);
      closeQuietly(fd);
      return fail(errCode(e), `cannot change file ownership: ${text}`);
    }
  }
  return { ok: true, fd, st: fs.fstatSync(fd, { bigint: true }), created: true };
}

/** safe_open(): the descriptor and its status, or the reason it was refused. */
export function safeOpen(file: string, opts: SafeOpenOptions): SafeOpenResult {
  switch (opts.mode) {
    case 'exist':
      return openExisting(file, opts.flags);
    case 'excl':
      return createExclusive(file, opts);
    case 'create': {
      const r = openExisting(file, opts.flags);
      if (r.ok || r.code !== 'ENOENT') return r;
      const c = createExclusive(file, opts);
      if (c.ok || c.code !== 'EEXIST') return c;
      return openExisting(file, opts.flags);
    }
  }
}
