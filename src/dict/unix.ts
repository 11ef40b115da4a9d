// Mirrors Postfix's util/dict_unix.c: unix:passwd.byname and
// unix:group.byname. Node has no getpwnam()/getgrnam(), so the files
// /etc/passwd and /etc/group are read directly. Each lookup checks the
// file's identity (inode, size, change times) and re-reads it only when
// that changed, so edits show at once without a read per lookup; accounts that only NSS modules such as LDAP know are
// not seen. Results are formatted as Postfix prints them:
//   name:passwd:uid:gid:gecos:dir:shell      and      name:passwd:gid:member,member
import { readFileSync, statSync } from 'node:fs';
import type { MsgLog } from '../util/msg.js';
import { errnoText } from '../util/errno.js';
import {
  type Dict, type DictOpener, type LookupResult, NOT_FOUND, found, lookupError, surrogateDict,
  O_RDONLY, DICT_FLAG_FIXED, DICT_FLAG_FOLD_FIX, STDERR_DICT_ENV,
} from './dict.js';
import { asciiLower } from './pattern-common.js';

interface Database {
  file: string;
  what: string;
  /** Formats a matching entry's fields, or null when the line is unusable. */
  format(fields: string[]): string | null;
}

/** Numeric field as %ld prints what getpwnam() parsed. */
function num(text: string | undefined): string | null {
  return text !== undefined && /^[0-9]+$/.test(text) ? String(Number(text)) : null;
}

const DATABASES: Record<string, Database> = {
  'passwd.byname': {
    file: '/etc/passwd',
    what: 'password',
    format: (f) => {
      const uid = num(f[2]);
      const gid = num(f[3]);
      if (f.length < 7 || uid === null || gid === null) return null;
      return `${f[0]}:${f[1]}:${uid}:${gid}:${f[4]}:${f[5]}:${f[6]}`;
    },
  },
  'group.byname': {
    file: '/etc/group',
    what: 'group',
    format: (f) => {
      const gid = num(f[2]);
      if (f.length < 4 || gid === null) return null;
      const members = f[3]!.split(',').filter((m) => m.length > 0);
      return `${f[0]}:${f[1]}:${gid}:${members.join(',')}`;
    },
  },
};

/** The entries of one file by name (the first usable line of a name wins), and what identified the file. */
interface Snapshot {
  stamp: string;
  entries: Map<string, string>;
}

function parse(text: string, db: Database): Map<string, string> {
  const entries = new Map<string, string>();
  for (const line of text.split('\n')) {
    const fields = line.split(':');
    const name = fields[0]!;
    if (name.length === 0 || entries.has(name)) continue;
    const value = db.format(fields);
    if (value !== null) entries.set(name, value);
  }
  return entries;
}

class UnixDict implements Dict {
  readonly type = 'unix';
  private sanityChecked = false;
  private snapshot: Snapshot | null = null;
  constructor(readonly name: string, public flags: number, private readonly db: Database, private readonly log: MsgLog) {}

  /** The file's current entries, read again only when the file changed. */
  private entries(): Map<string, string> | NodeJS.ErrnoException {
    try {
      const st = statSync(this.db.file);
      const stamp = `${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
      if (this.snapshot?.stamp !== stamp) this.snapshot = { stamp, entries: parse(readFileSync(this.db.file, 'utf8'), this.db) };
      return this.snapshot.entries;
    } catch (e) {
      this.snapshot = null;
      return e as NodeJS.ErrnoException;
    }
  }

  lookup(key: string): LookupResult {
    const k = this.flags & DICT_FLAG_FOLD_FIX ? asciiLower(key) : key;
    const entries = this.entries();
    if (!(entries instanceof Map)) {
      if (this.sanityChecked) return NOT_FOUND;
      this.sanityChecked = true;
      this.log.warning(`cannot access UNIX ${this.db.what} database: ${errnoText(entries)}`);
      return lookupError('retry');
    }
    this.sanityChecked = true;
    if (k.length === 0) return NOT_FOUND;
    const value = entries.get(k);
    return value === undefined ? NOT_FOUND : found(value);
  }

  close(): void {}
}

export const open: DictOpener = (name, openFlags, dictFlags, env = STDERR_DICT_ENV) => {
  if (openFlags !== O_RDONLY) return surrogateDict('unix', name, dictFlags, `unix:${name} map requires O_RDONLY access mode`);
  const db = Object.prototype.hasOwnProperty.call(DATABASES, name) ? DATABASES[name] : undefined;
  if (!db) return surrogateDict('unix', name, dictFlags, `unknown table: unix:${name}`);
  return new UnixDict(name, dictFlags | DICT_FLAG_FIXED, db, env.log);
};
