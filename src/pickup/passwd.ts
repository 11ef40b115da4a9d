// What the local submission programs learn about the user who runs them,
// as Postfix's util/username.c, util/fullname.c and mypwd.c do: the login
// name and the full name (the NAME environment variable, else the GECOS
// field up to the first ',', ';' or '%', with '&' standing for the login
// name capitalized). Node has no getpwuid(), so /etc/passwd is read (NSS
// sources such as LDAP are not consulted). Reads only.
import * as fs from 'node:fs';

export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  gecos: string;
}

/** getpwuid() from the passwd file; null when the uid has no entry. Byte strings (latin1). */
export function getpwuid(uid: number, passwd = '/etc/passwd'): PasswdEntry | null {
  let text: string;
  try {
    text = fs.readFileSync(passwd, 'latin1');
  } catch {
    return null;
  }
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length >= 5 && f[2] !== '' && Number(f[2]) === uid) return { name: f[0]!, uid, gid: Number(f[3]), gecos: f[4]! };
  }
  return null;
}

/** fullname(): from NAME (a byte string) or the passwd entry; null without an entry. */
export function fullName(entry: PasswdEntry | null, env: NodeJS.ProcessEnv = process.env): string | null {
  const fromEnv = env.NAME;
  if (fromEnv !== undefined) return Buffer.from(fromEnv, 'utf8').toString('latin1');
  if (!entry) return null;
  let out = '';
  for (const ch of entry.gecos) {
    if (ch === ',' || ch === ';' || ch === '%') break;
    if (ch === '&') {
      if (entry.name !== '') out += entry.name[0]!.toUpperCase() + entry.name.slice(1);
    } else {
      out += ch;
    }
  }
  return out;
}
