// Postfix's set_eugid() as the local and virtual agents use it: a file is
// created or opened with the recipient's privileges so that ownership and
// quotas come out right. Node offers only process-wide credentials, so
// the switch is a short synchronous window around the open/mkdir/link
// calls only (no await inside; restored in finally); the data is written
// on the already-open descriptor afterwards. Not root: nothing switches,
// everything runs as the current user. On Linux the switch is made for the
// main thread only (util/thread-creds.ts), so that file operations of other
// deliveries running on libuv's pool threads keep the agent's identity.
// Touches only credentials.
import * as os from 'node:os';
import { threadCreds } from '../../util/thread-creds.js';

/** Who a delivery runs as. */
export interface RunAs {
  uid: number;
  gid: number;
  name: string;
  home?: string;
  /** The login shell, for $SHELL in a command's environment. */
  shell?: string;
}

/** Whether credential switching is possible (the process runs as root). */
export function privileged(): boolean {
  return typeof process.geteuid === 'function' && process.geteuid() === 0;
}

/** The uid that a file created for `user` really gets: the user's as root, else ours. */
export function effectiveUid(user: RunAs): number {
  return privileged() ? user.uid : (process.geteuid?.() ?? user.uid);
}

/**
 * Runs fn synchronously with effective uid/gid switched to uid/gid (when
 * root), then switches back to root, also when fn throws. fn must not
 * start asynchronous work that depends on the credentials.
 */
export function asUser<T>(uid: number, gid: number, fn: () => T): T {
  if (!privileged() || (uid === 0 && gid === 0)) return fn();
  const savedGid = process.getegid!();
  const savedGroups = process.getgroups!();
  const sw = switcher();
  // As set_eugid(): the supplementary groups shrink to the one group, so
  // that root's groups grant nothing to the user's delivery.
  sw.groups([gid]);
  sw.egid(gid);
  try {
    sw.euid(uid);
    try {
      return fn();
    } finally {
      sw.euid(0);
    }
  } finally {
    sw.egid(savedGid);
    sw.groups(savedGroups);
  }
}

interface Switcher {
  groups(gids: number[]): void;
  egid(gid: number): void;
  euid(uid: number): void;
}

/** An errno value from the addon as the Error Node's own calls throw. */
function check(errno: number, syscall: string): void {
  if (errno === 0) return;
  const code = os.constants.errno ? Object.entries(os.constants.errno).find(([, n]) => n === errno)?.[0] : undefined;
  const err: NodeJS.ErrnoException = new Error(`${syscall}: ${code ?? `errno ${errno}`}`);
  err.code = code ?? 'EUNKNOWN';
  err.errno = -errno;
  err.syscall = syscall;
  throw err;
}

let switcherCache: Switcher | undefined;

/**
 * The main thread's own credentials when the native addon is built (the
 * libuv pool threads keep root's, so another delivery's asynchronous file
 * operation never runs as this user); else the process-wide calls.
 */
function switcher(): Switcher {
  if (switcherCache) return switcherCache;
  const tc = threadCreds();
  switcherCache = tc
    ? {
        groups: (g) => check(tc.setGroups(g), 'setgroups'),
        egid: (g) => check(tc.setEgid(g), 'setresgid'),
        euid: (u) => check(tc.setEuid(u), 'setresuid'),
      }
    : {
        groups: (g) => process.setgroups!(g),
        egid: (g) => process.setegid!(g),
        euid: (u) => process.seteuid!(u),
      };
  return switcherCache;
}

/** Whether credential switches touch this thread only (the addon is loaded). */
export function perThreadCredentials(): boolean {
  return threadCreds() !== null;
}

/** asUser() for a RunAs. */
export function withPrivs<T>(user: RunAs, fn: () => T): T {
  return asUser(user.uid, user.gid, fn);
}
