// Postfix's set_eugid() as the local and virtual agents use it: a file is
// created or opened with the recipient's privileges so that ownership and
// quotas come out right. Node has one set of credentials per process, so
// the switch is a short synchronous window around the open/mkdir/link
// calls only (no await inside; restored in finally); the data is written
// on the already-open descriptor afterwards. Not root: nothing switches,
// everything runs as the current user. Touches only process credentials.

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
  // As set_eugid(): the supplementary groups shrink to the one group, so
  // that root's groups grant nothing to the user's delivery.
  process.setgroups!([gid]);
  process.setegid!(gid);
  try {
    process.seteuid!(uid);
    try {
      return fn();
    } finally {
      process.seteuid!(0);
    }
  } finally {
    process.setegid!(savedGid);
    process.setgroups!(savedGroups);
  }
}

/** asUser() for a RunAs. */
export function withPrivs<T>(user: RunAs, fn: () => T): T {
  return asUser(user.uid, user.gid, fn);
}
