// Mirrors what `post-install create-missing` does for `postfix start` and
// `postfix check` (conf/postfix-files, the directory lines with the "c"
// flag): every missing queue directory and the data directory are made
// with Postfix's owner, group and mode. Existing directories are left as
// they are (that is `postfix set-permissions`' job). Touches only
// queue_directory and data_directory.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Ownership } from './users.js';
import { errnoText } from '../util/errno.js';

type OwnerRole = 'root' | 'mail_owner';

interface DirSpec {
  /** Relative to queue_directory, or the data directory itself ("$data_directory"). */
  name: string;
  owner: OwnerRole;
  setgid: boolean;
  mode: number;
}

/** The directory lines of postfix-files with the "c" flag, in that file's order. */
export const QUEUE_DIRECTORIES: readonly DirSpec[] = [
  { name: '$data_directory', owner: 'mail_owner', setgid: false, mode: 0o700 },
  { name: 'active', owner: 'mail_owner', setgid: false, mode: 0o700 },
  { name: 'bounce', owner: 'mail_owner', setgid: false, mode: 0o700 },
  { name: 'corrupt', owner: 'mail_owner', setgid: false, mode: 0o700 },
  { name: 'defer', owner: 'mail_owner', setgid: false, mode: 0o700 },
  { name: 'deferred', owner: 'mail_owner', setgid: false, mode: 0o700 },
  { name: 'flush', owner: 'mail_owner', setgid: false, mode: 0o700 },
  { name: 'hold', owner: 'mail_owner', setgid: false, mode: 0o700 },
  { name: 'incoming', owner: 'mail_owner', setgid: false, mode: 0o700 },
  { name: 'private', owner: 'mail_owner', setgid: false, mode: 0o700 },
  // Postfix's are 0730 and 0710, group setgid_group, written through its
  // set-gid postdrop. A Node script cannot be set-gid, so the submission
  // directories are those of Postfix run by one ordinary user
  // (src/pickup/api.ts submissionDirModes): maildrop world-writable with
  // the sticky bit, public searchable by all. pickup checks each file's
  // owner as Postfix's does.
  { name: 'maildrop', owner: 'mail_owner', setgid: true, mode: 0o1733 },
  { name: 'public', owner: 'mail_owner', setgid: true, mode: 0o711 },
  { name: 'pid', owner: 'root', setgid: false, mode: 0o755 },
  { name: 'saved', owner: 'mail_owner', setgid: false, mode: 0o700 },
  { name: 'trace', owner: 'mail_owner', setgid: false, mode: 0o700 },
];

/** The full path of a spec. */
function specPath(spec: DirSpec, queueDir: string, dataDir: string): string {
  return spec.name === '$data_directory' ? dataDir : path.join(queueDir, spec.name);
}

/**
 * Creates the missing directories. Returns null, or a text saying what
 * failed (the caller logs it and then "unable to create missing queue
 * directories", as postfix-script does).
 */
export function createMissingDirectories(queueDir: string, dataDir: string, owners: Ownership): string | null {
  for (const spec of QUEUE_DIRECTORIES) {
    const dir = specPath(spec, queueDir, dataDir);
    if (isDirectory(dir)) continue;
    const owner = spec.owner === 'root' ? owners.root : owners.mailOwner;
    try {
      fs.mkdirSync(dir);
      if (owners.privileged) fs.chownSync(dir, owner.uid, fs.statSync(dir).gid);
      if (spec.setgid && owners.setgidGroup) fs.chownSync(dir, owner.uid, owners.setgidGroup.gid);
      fs.chmodSync(dir, spec.mode);
    } catch (e) {
      return `cannot create directory '${dir}': ${errnoText(e as NodeJS.ErrnoException)}`;
    }
  }
  return null;
}

function isDirectory(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}
