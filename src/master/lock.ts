// Mirrors master(8)'s lock files (master/master.c, util/open_lock.c,
// util/myflock.c): $queue_directory/pid/master.pid and
// $data_directory/master.lock are opened, locked exclusively with flock()
// (Postfix's INTERNAL_LOCK on Linux) and hold the master's PID written as
// "%32lu\n". The lock lives as long as the master keeps the file open, so a
// master killed with SIGKILL leaves no stale lock. `master -t` (what
// `postfix status` and friends ask) tries the same lock and lets go.
// Node has no flock(): util-linux flock(1) is run on the open descriptor
// (handed over as its fd 3). flock() locks belong to the open file
// description, which this process keeps, so the lock outlives flock(1).
// Because the same call is used, this lock and real Postfix's exclude each
// other. Touches only the lock file it is given.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { errnoText } from '../util/errno.js';

/** sizeof(unsigned long) * 4 on LP64: the width of the PID in master.pid. */
export const PID_FIELD_WIDTH = 32;

export function formatPidLine(pid: number): string {
  return `${String(pid).padStart(PID_FIELD_WIDTH)}\n`;
}

/** flock(fd, LOCK_EX | LOCK_NB): null when locked, else errno text. */
function flockNoWait(fd: number): string | null {
  const r = spawnSync('flock', ['-n', '-x', '3'], { stdio: ['ignore', 'ignore', 'pipe', fd] });
  if (r.error) return `flock: ${(r.error as NodeJS.ErrnoException).code === 'ENOENT' ? 'the flock(1) command is not installed' : r.error.message}`;
  if (r.status === 0) return null;
  if (r.status === 1) return 'Resource temporarily unavailable';
  return r.stderr.toString('utf8').trim() || `flock exit status ${r.status}`;
}

/** safe_open(path, O_RDWR | O_CREAT, mode): the descriptor, or safe_open's complaint. */
function openLockFile(path: string, mode: number): { fd: number } | { error: string } {
  let existed = true;
  try {
    const st = fs.lstatSync(path);
    if (st.isSymbolicLink()) return { error: 'file is a symbolic link' };
    if (!st.isFile()) return { error: 'file is not a regular file' };
  } catch {
    existed = false;
  }
  try {
    const flags = fs.constants.O_RDWR | (existed ? 0 : fs.constants.O_CREAT | fs.constants.O_EXCL) | fs.constants.O_NOFOLLOW;
    return { fd: fs.openSync(path, flags, mode) };
  } catch (e) {
    const why = errnoText(e as NodeJS.ErrnoException);
    return { error: existed ? `cannot open file: ${why}` : `cannot create file exclusively: ${why}` };
  }
}

export type LockResult = { fd: number } | { error: string };

/** open_lock(): opens (creating with mode) and locks; error text as master prints it after "open lock file PATH: ". */
export function openLock(path: string, mode = 0o600): LockResult {
  const opened = openLockFile(path, mode);
  if ('error' in opened) return opened;
  const why = flockNoWait(opened.fd);
  if (why !== null) {
    fs.closeSync(opened.fd);
    return { error: `unable to set exclusive lock: ${why}` };
  }
  return opened;
}

/** Writes the PID line at the start of a locked file, as the master does after locking. */
export function writePid(fd: number, pid: number = process.pid): void {
  const line = Buffer.from(formatPidLine(pid));
  fs.writeSync(fd, line, 0, line.length, 0);
}

/**
 * `master -t`: true when a master holds the lock on pidPath. A missing file
 * means no master; a file that can be locked means none either.
 */
export function masterRunning(pidPath: string): boolean {
  if (!fs.existsSync(pidPath)) return false;
  const r = openLock(pidPath, 0o644);
  if ('error' in r) return true;
  fs.closeSync(r.fd);
  return false;
}

/** The first line of master.pid as `sed 1q` shows it, trimmed to the number; null when unreadable. */
export function readMasterPid(pidPath: string): number | null {
  try {
    const first = fs.readFileSync(pidPath, 'latin1').split('\n')[0]!.trim();
    return /^\d+$/.test(first) ? Number(first) : null;
  } catch {
    return null;
  }
}

/** The first line of master.pid exactly as `sed 1q` prints it (leading blanks kept). */
export function readMasterPidLine(pidPath: string): string {
  try {
    return fs.readFileSync(pidPath, 'latin1').split('\n')[0]!;
  } catch {
    return '';
  }
}
