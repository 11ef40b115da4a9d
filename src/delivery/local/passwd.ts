// The getpwnam()/getpwuid() answers local(8) needs (Postfix's
// global/mypwd.c): a recipient's uid, gid, home and shell, an alias
// table's or :include: file's owner, default_privs. Node has no getpwnam(),
// so /etc/passwd is read (re-read when it changes); accounts that only NSS
// modules such as LDAP know are not seen. Reads /etc/passwd only.
import { readFileSync, statSync } from 'node:fs';

export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  dir: string;
  shell: string;
}

export type PwResult = { ok: true; pw: PasswdEntry | null } | { ok: false; error: string };

/** One passwd file, parsed when its identity changes. Shared by the deliveries of a process. */
export class PasswdFile {
  private stamp = '';
  private byName = new Map<string, PasswdEntry>();
  private byUid = new Map<number, PasswdEntry>();

  constructor(readonly path = '/etc/passwd') {}

  private refresh(): string | null {
    let stamp: string;
    try {
      const st = statSync(this.path);
      stamp = `${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
      if (stamp === this.stamp) return null;
      const text = readFileSync(this.path, 'latin1');
      const byName = new Map<string, PasswdEntry>();
      const byUid = new Map<number, PasswdEntry>();
      for (const line of text.split('\n')) {
        const f = line.split(':');
        if (f.length < 7 || !/^[0-9]+$/.test(f[2]!) || !/^[0-9]+$/.test(f[3]!)) continue;
        const pw: PasswdEntry = { name: f[0]!, uid: Number(f[2]), gid: Number(f[3]), dir: f[5]!, shell: f[6]! };
        if (!byName.has(pw.name)) byName.set(pw.name, pw);
        if (!byUid.has(pw.uid)) byUid.set(pw.uid, pw);
      }
      this.byName = byName;
      this.byUid = byUid;
      this.stamp = stamp;
      return null;
    } catch (e) {
      return (e as Error).message;
    }
  }

  /** mypwnam_err: the entry, null when there is none, or the error. */
  byNameLookup(name: string): PwResult {
    const err = this.refresh();
    if (err !== null) return { ok: false, error: err };
    return { ok: true, pw: this.byName.get(name) ?? null };
  }

  /** mypwuid_err. */
  byUidLookup(uid: number): PwResult {
    const err = this.refresh();
    if (err !== null) return { ok: false, error: err };
    return { ok: true, pw: this.byUid.get(uid) ?? null };
  }
}
