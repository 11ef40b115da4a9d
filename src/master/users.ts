// The account facts the daemon needs, as Postfix gets them from getpwnam()
// and getgrnam() (global/mail_params.c checks mail_owner and setgid_group):
// who runs the daemon, and, when that is root, the uid and gid of
// mail_owner and the gid of setgid_group. Node has no getpwnam(), so the
// local files /etc/passwd and /etc/group are read (NSS sources such as LDAP
// are not consulted). Reads only.
import * as fs from 'node:fs';
import * as os from 'node:os';

export interface Account {
  name: string;
  uid: number;
  gid: number;
}

function readLines(path: string): string[] {
  try {
    return fs.readFileSync(path, 'utf8').split('\n');
  } catch {
    return [];
  }
}

/** getpwnam() from /etc/passwd. */
export function lookupUser(name: string, passwd = '/etc/passwd'): Account | null {
  for (const line of readLines(passwd)) {
    const f = line.split(':');
    if (f[0] === name && f.length >= 4) return { name, uid: Number(f[2]), gid: Number(f[3]) };
  }
  return null;
}

/** getpwuid() from /etc/passwd. */
export function lookupUid(uid: number, passwd = '/etc/passwd'): Account | null {
  for (const line of readLines(passwd)) {
    const f = line.split(':');
    if (f.length >= 4 && Number(f[2]) === uid && f[2] !== '') return { name: f[0]!, uid, gid: Number(f[3]) };
  }
  return null;
}

/** getgrnam() from /etc/group: the gid, or null. */
export function lookupGroup(name: string, group = '/etc/group'): number | null {
  for (const line of readLines(group)) {
    const f = line.split(':');
    if (f[0] === name && f.length >= 3) return Number(f[2]);
  }
  return null;
}

/** getgrgid() from /etc/group: the name, or the number as text. */
export function groupName(gid: number, group = '/etc/group'): string {
  for (const line of readLines(group)) {
    const f = line.split(':');
    if (f.length >= 3 && Number(f[2]) === gid && f[2] !== '') return f[0]!;
  }
  return String(gid);
}

/** The user this process runs as. */
export function currentAccount(): Account {
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  const known = lookupUid(uid);
  if (known) return { ...known, gid };
  let name = String(uid);
  try {
    name = os.userInfo().username;
  } catch {
    // no name for this uid
  }
  return { name, uid, gid };
}

export function runningAsRoot(): boolean {
  return (process.getuid?.() ?? 0) === 0;
}

/**
 * Who owns what while the daemon runs. As root: root-owned parts belong to
 * root, mail parts to mail_owner, the set-gid parts to setgid_group. As an
 * ordinary user everything belongs to that user; setgid_group is used
 * only when the user is a member of it.
 */
export interface Ownership {
  root: Account;
  mailOwner: Account;
  /** null: leave the group alone. */
  setgidGroup: { name: string; gid: number } | null;
  privileged: boolean;
}

export type OwnershipResult = { ok: true; owners: Ownership } | { ok: false; error: string };

export function resolveOwnership(configDir: string, mailOwner: string, setgidGroup: string): OwnershipResult {
  const where = `file ${configDir}/main.cf: parameter`;
  if (!runningAsRoot()) {
    const me = currentAccount();
    const gid = lookupGroup(setgidGroup);
    const member = gid !== null && (gid === me.gid || (process.getgroups?.() ?? []).includes(gid));
    return { ok: true, owners: { root: me, mailOwner: me, setgidGroup: member ? { name: setgidGroup, gid: gid! } : null, privileged: false } };
  }
  const owner = lookupUser(mailOwner);
  if (!owner) return { ok: false, error: `${where} mail_owner: unknown user name value: ${mailOwner}` };
  if (owner.uid === 0) return { ok: false, error: `${where} mail_owner: user ${mailOwner} has privileged user ID` };
  if (owner.gid === 0) return { ok: false, error: `${where} mail_owner: user ${mailOwner} has privileged group ID` };
  const gid = lookupGroup(setgidGroup);
  if (gid === null) return { ok: false, error: `${where} setgid_group: unknown group name: ${setgidGroup}` };
  if (gid === 0) return { ok: false, error: `${where} setgid_group: group ${setgidGroup} has privileged group ID` };
  return {
    ok: true,
    owners: { root: { name: 'root', uid: 0, gid: 0 }, mailOwner: owner, setgidGroup: { name: setgidGroup, gid }, privileged: true },
  };
}
