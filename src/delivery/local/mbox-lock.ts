// Mirrors Postfix's global/mbox_conf.c, global/dot_lockfile.c,
// global/deliver_flock.c and global/mbox_open.c: the mailbox locking
// methods (fcntl, flock, dotlock), each tried without blocking and retried
// deliver_lock_attempts times deliver_lock_delay apart (a timer, never a
// blocked event loop), and mboxOpen(), which dot-locks, safe-opens and
// kernel-locks a mailbox in that order. Node has no flock()/fcntl() locks:
// they come from the native fs-ext package, loaded on first use (fcntl
// through its asynchronous call, which passes a struct flock). Because
// fcntl locks belong to a process and this process runs many deliveries,
// deliveries of this process to one path are also serialized in memory.
// Touches the mailbox, its .lock file and the descriptors it opens.
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import { asUser } from './privs.js';
import { safeOpen } from './safe-open.js';
import { errCode, errText, mboxDsn } from './outcome.js';

export const MBOX_FLOCK_LOCK = 1 << 0;
export const MBOX_FCNTL_LOCK = 1 << 1;
export const MBOX_DOT_LOCK = 1 << 2;
/** A dotlock that cannot be created only warns (deliveries to files in unwritable directories). */
export const MBOX_DOT_LOCK_MAY_FAIL = 1 << 3;

const LOCK_NAMES: ReadonlyArray<[string, number]> = [
  ['flock', MBOX_FLOCK_LOCK],
  ['fcntl', MBOX_FCNTL_LOCK],
  ['dotlock', MBOX_DOT_LOCK],
];

/** mbox_lock_mask(): "fcntl, dotlock" (or a list) as bits; an unknown name is an error value with name_mask()'s fatal text. */
export function mboxLockMask(names: string | readonly string[]): { ok: true; mask: number } | { ok: false; error: string } {
  const list = typeof names === 'string' ? names.split(/[\s,]+/) : names;
  let mask = 0;
  for (const raw of list) {
    const name = raw.trim();
    if (name === '') continue;
    const hit = LOCK_NAMES.find(([n]) => n === name.toLowerCase());
    if (!hit) {
      const whole = typeof names === 'string' ? names : names.join(', ');
      return { ok: false, error: `unknown mailbox_delivery_lock value "${name}" in "${whole}"` };
    }
    mask |= hit[1];
  }
  return { ok: true, mask };
}

/** deliver_lock_attempts, deliver_lock_delay, stale_lock_time. */
export interface LockTiming {
  attempts: number;
  /** Milliseconds between attempts (deliver_lock_delay, 1s by default). */
  delayMs: number;
  /** Seconds after which a dotlock file is broken (stale_lock_time, 500s by default). */
  staleSec: number;
  /** Told each time a lock is found taken, before the pause (tests wait for this event). */
  onWait?: (what: 'flock' | 'fcntl' | 'dotlock') => void;
  /** Where a missing lock binding is reported. */
  warn?: (text: string) => void;
}

export const DEFAULT_LOCK_TIMING: LockTiming = { attempts: 20, delayMs: 1000, staleSec: 500 };

/** rand_sleep(delay, delay/2): a pause of delay give or take a quarter. */
function randSleep(delayMs: number): Promise<void> {
  const ms = delayMs * 0.75 + Math.random() * delayMs * 0.5;
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// ---- the fs-ext binding --------------------------------------------------

interface FsExt {
  flock(fd: number, flags: string, cb: (err: NodeJS.ErrnoException | null) => void): void;
  fcntl(fd: number, cmd: string, arg: number, cb: (err: NodeJS.ErrnoException | null, result?: number) => void): void;
  constants: Record<string, number>;
}

let fsExtCache: FsExt | null | undefined;
let warnedNoBinding = false;

/**
 * The fs-ext module: from node_modules, or from the package directory named
 * by $POSTFIX_FS_EXT (a private build); null when neither loads.
 */
export function loadFsExt(): FsExt | null {
  if (fsExtCache !== undefined) return fsExtCache;
  const req = createRequire(import.meta.url);
  fsExtCache = null;
  for (const spec of ['fs-ext', process.env.POSTFIX_FS_EXT]) {
    if (!spec) continue;
    try {
      fsExtCache = req(spec) as FsExt;
      break;
    } catch {
      // try the next place
    }
  }
  return fsExtCache;
}

/** One non-blocking exclusive kernel lock attempt. */
function tryKernelLock(fsx: FsExt, fd: number, style: number): Promise<NodeJS.ErrnoException | null> {
  return new Promise((resolve) => {
    if (style === MBOX_FLOCK_LOCK) fsx.flock(fd, 'exnb', (err) => resolve(err ?? null));
    else fsx.fcntl(fd, 'setlk', fsx.constants.F_WRLCK!, (err) => resolve(err ?? null));
  });
}

/** deliver_flock(): an exclusive flock or fcntl lock, retried; null, or the reason it failed. */
export async function kernelLock(fd: number, style: number, timing: LockTiming): Promise<{ code: string; why: string } | null> {
  const fsx = loadFsExt();
  if (fsx === null) {
    // Without the binding only this process's own table and the dotlock
    // protect the mailbox; say so once rather than refuse all mail.
    if (!warnedNoBinding) timing.warn?.('fcntl/flock mailbox locks are unavailable (the fs-ext package is not installed); using dotlock and in-process locks only');
    warnedNoBinding = true;
    return null;
  }
  for (let i = 1; ; i++) {
    const err = await tryKernelLock(fsx, fd, style);
    if (err === null) return null;
    let code = errCode(err);
    if (code === 'EWOULDBLOCK' || code === 'EACCES') code = 'EAGAIN';
    if (i >= timing.attempts) return { code, why: `unable to lock for exclusive access: ${errText(code)}` };
    timing.onWait?.(style === MBOX_FLOCK_LOCK ? 'flock' : 'fcntl');
    await randSleep(timing.delayMs);
  }
}

// ---- dotlock ----------------------------------------------------------------

/** dot_lockfile(): creates PATH.lock as uid/gid, breaking a stale one; null, or the failure. */
export async function dotLockFile(file: string, uid: number, gid: number, timing: LockTiming): Promise<{ code: string; why: string } | null> {
  const lockFile = `${file}.lock`;
  let code = 'EEXIST';
  for (let count = 1; ; count++) {
    const err = asUser(uid, gid, () => {
      try {
        fs.closeSync(fs.openSync(lockFile, fs.constants.O_WRONLY | fs.constants.O_EXCL | fs.constants.O_CREAT, 0));
        return null;
      } catch (e) {
        return e as NodeJS.ErrnoException;
      }
    });
    if (err === null) return null;
    code = errCode(err);
    if (count >= timing.attempts || code !== 'EEXIST') break;
    const giveUp = asUser(uid, gid, () => {
      try {
        const st = fs.statSync(lockFile);
        if (Date.now() / 1000 > st.ctimeMs / 1000 + timing.staleSec) fs.unlinkSync(lockFile);
      } catch (e) {
        if (errCode(e) !== 'ENOENT') {
          code = errCode(e);
          return true;
        }
      }
      return false;
    });
    if (giveUp) break;
    timing.onWait?.('dotlock');
    await randSleep(timing.delayMs);
  }
  return { code, why: `unable to create lock file ${lockFile}: ${errText(code)}` };
}

/** dot_unlockfile(). */
export function dotUnlockFile(file: string, uid: number, gid: number): void {
  asUser(uid, gid, () => {
    try {
      fs.unlinkSync(`${file}.lock`);
    } catch {
      // gone already
    }
  });
}

// ---- in-process serialization --------------------------------------------

// The deliveries of this process to each path: kernel fcntl locks do not
// exclude each other within one process, so the process keeps its own
// table, as the kernel keeps its table of locks per process.
const holders = new Map<string, Promise<void>>();

/** Waits until no other delivery of this process holds path; returns the release function. */
export async function processLock(file: string): Promise<() => void> {
  for (;;) {
    const held = holders.get(file);
    if (held === undefined) break;
    await held;
  }
  let release!: () => void;
  const p = new Promise<void>((resolve) => {
    release = resolve;
  });
  holders.set(file, p);
  return () => {
    if (holders.get(file) === p) holders.delete(file);
    release();
  };
}

// ---- mbox_open -------------------------------------------------------------

export interface MboxOpenOptions {
  /** O_APPEND | O_WRONLY (O_CREAT is the mode's business). */
  flags: number;
  create: boolean;
  perms: number;
  /** Credentials for the dotlock and the open. */
  uid: number;
  gid: number;
  /** Owner for a newly created file (-1: leave). */
  chownUid: number;
  chownGid: number;
  lockMask: number;
  /** The DSN for failures that mbox_dsn() does not classify ("5.2.0" local, "4.2.0" virtual). */
  defDsn: string;
  timing: LockTiming;
  warn: (text: string) => void;
}

export interface OpenMbox {
  fd: number;
  st: fs.BigIntStats;
  /** Unlocks (dotlock, process table) without closing the descriptor. */
  release(): void;
  /** Closes the descriptor (kernel locks go with it) and releases. */
  close(): void;
}

export type MboxOpenResult = { ok: true; mbox: OpenMbox } | { ok: false; dsn: string; why: string; code: string };

function closeFd(fd: number): void {
  try {
    fs.closeSync(fd);
  } catch {
    // nothing to do
  }
}

/** mbox_open(): the locked, open mailbox, or the DSN and reason of the failure. */
export async function mboxOpen(file: string, opts: MboxOpenOptions): Promise<MboxOpenResult> {
  const unlockProcess = await processLock(file);
  let dotLocked = false;
  const undo = (): void => {
    if (dotLocked) dotUnlockFile(file, opts.uid, opts.gid);
    dotLocked = false;
    unlockProcess();
  };
  const failWith = (code: string, why: string): MboxOpenResult => {
    undo();
    return { ok: false, dsn: mboxDsn(code, opts.defDsn), why, code };
  };

  if (opts.lockMask & MBOX_DOT_LOCK) {
    const st = asUser(opts.uid, opts.gid, () => {
      try {
        return fs.statSync(file);
      } catch {
        return null;
      }
    });
    if (st === null || st.isFile()) {
      const err = await dotLockFile(file, opts.uid, opts.gid, opts.timing);
      if (err === null) dotLocked = true;
      else if (err.code === 'EEXIST') return failWith('EAGAIN', err.why);
      else if (opts.lockMask & MBOX_DOT_LOCK_MAY_FAIL) opts.warn(err.why);
      else return failWith(err.code, err.why);
    }
  }

  const nb = fs.constants.O_NONBLOCK;
  const opened = asUser(opts.uid, opts.gid, () => safeOpen(file, {
    flags: opts.flags | nb, mode: opts.create ? 'create' : 'exist', perms: opts.perms,
    chownUid: opts.chownUid, chownGid: opts.chownGid, warn: opts.warn,
  }));
  if (!opened.ok) return failWith(opened.code, opened.why);
  const fd = opened.fd;
  let st = opened.st;

  if (st.isFile()) {
    for (const style of [MBOX_FLOCK_LOCK, MBOX_FCNTL_LOCK]) {
      if ((opts.lockMask & style) === 0) continue;
      const err = await kernelLock(fd, style, { ...opts.timing, warn: opts.timing.warn ?? opts.warn });
      if (err !== null) {
        closeFd(fd);
        return failWith(err.code, err.why);
      }
    }
    // A mailbox replaced behind our back (the GNU pop3d way) has lost its only link.
    st = fs.fstatSync(fd, { bigint: true });
    if (st.nlink !== 1n) {
      opts.warn(`${file}: file status changed unexpectedly`);
      closeFd(fd);
      return failWith('EAGAIN', 'target file status changed unexpectedly');
    }
  }
  let closed = false;
  const mbox: OpenMbox = {
    fd,
    st,
    release: undo,
    close() {
      if (!closed) closeFd(fd);
      closed = true;
      undo();
    },
  };
  return { ok: true, mbox };
}

/** For tests and diagnostics: whether a kernel lock method is usable here. */
export function kernelLocksAvailable(): boolean {
  return loadFsExt() !== null;
}
