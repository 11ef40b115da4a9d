// Mirrors the "check-warn" part of Postfix's conf/postfix-script (Debian's
// 3.7.11 copy), which `postfix check` and `postfix start` run: owners and
// write permissions of the queue, data and configuration directories, the
// set-gid group of public/ and maildrop/, chroot remnants, damaged
// messages in corrupt/, and two sendmail binaries that differ. Each test
// walks its tree in the order find(1) does (directory order, parents
// first) and yields the warning texts in postfix-script's order. Reads only.
//
// Differences, on purpose: the owner expected of "root" parts and of
// mail_owner's parts is the current user when the daemon runs as an
// ordinary user; the command_directory set-gid checks (postqueue,
// postdrop) are skipped because this project's commands live in its
// checkout; daemon_directory and meta_directory are checked only as root
// and only when they exist.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Ownership } from './users.js';

export interface CheckPaths {
  queueDir: string;
  dataDir: string;
  configDir: string;
  daemonDir: string;
  metaDir: string;
}

/** One file seen by the walk: the path as find prints it and its lstat (stat when following links). */
interface Seen {
  path: string;
  st: fs.Stats;
  lst: fs.Stats;
}

function tryStat(p: string, follow: boolean): fs.Stats | null {
  try {
    return follow ? fs.statSync(p) : fs.lstatSync(p);
  } catch {
    return null;
  }
}

/** Entry names of a directory in the order readdir() returns them (find's order). */
function rawEntries(dir: string): string[] {
  const names: string[] = [];
  let d: fs.Dir | undefined;
  try {
    d = fs.opendirSync(dir);
    for (let e = d.readSync(); e !== null; e = d.readSync()) names.push(e.name);
  } catch {
    // unreadable: find complains on stderr and goes on
  } finally {
    d?.closeSync();
  }
  return names;
}

/** start + "/" + name exactly as find builds it ("dir/." + "/x" = "dir/./x"). */
function findPath(dir: string, name: string): string {
  return dir.endsWith('/') ? `${dir}${name}` : `${dir}/${name}`;
}

/** find(1)'s pre-order walk from start, paths spelled as find prints them; follow = find -L, prune = -prune. */
function* findWalk(start: string, follow = false, prune = false): Generator<Seen> {
  const lst = tryStat(start, false);
  if (!lst) return;
  const st = follow ? tryStat(start, true) ?? lst : lst;
  yield { path: start, st, lst };
  if (prune || !st.isDirectory()) return;
  for (const name of rawEntries(start)) yield* findWalk(findPath(start, name), follow);
}

const groupOrOtherWritable = (st: fs.Stats): boolean => (st.mode & 0o022) !== 0;

function isDir(p: string): boolean {
  return tryStat(p, true)?.isDirectory() ?? false;
}

function sameContent(a: string, b: string): boolean {
  try {
    return fs.readFileSync(a).equals(fs.readFileSync(b));
  } catch {
    return false;
  }
}

/** The queue subdirectories whose trees belong to mail_owner (ls -d order). */
const MAIL_OWNER_QUEUES = /\/(saved|incoming|active|defer|deferred|bounce|hold|trace|corrupt|public|private|flush)$/;

/** The warnings of postfix-script's check-warn, in its order. */
export function checkWarnings(p: CheckPaths, owners: Ownership): string[] {
  const out: string[] = [];
  const rootName = owners.root.name;
  const ownerName = owners.mailOwner.name;
  const queueTop = [`${p.queueDir}/.`, `${p.queueDir}/pid`];

  for (const start of queueTop) for (const s of findWalk(start, false, true)) if (s.lst.uid !== owners.root.uid) out.push(`not owned by ${rootName}: ${s.path}`);
  for (const start of queueTop) for (const s of findWalk(start, false, true)) if (groupOrOtherWritable(s.lst)) out.push(`group or other writable: ${s.path}`);

  const todo = [`${p.configDir}/.`];
  if (owners.privileged) for (const d of [p.daemonDir, p.metaDir]) if (isDir(d)) todo.push(`${d}/.`);
  const trees = [...new Set(todo)].sort();
  for (const t of trees) for (const s of findWalk(t)) if (s.lst.uid !== owners.root.uid) out.push(`not owned by ${rootName}: ${s.path}`);
  for (const t of trees) for (const s of findWalk(t, true)) if (groupOrOtherWritable(s.st)) out.push(`group or other writable: ${s.path}`);
  for (const t of trees) {
    for (const s of findWalk(t)) {
      if (!s.lst.isSymbolicLink() || s.path === '/etc/postfix/./makedefs.out') continue;
      if (readLink(s.path).includes('/')) out.push(`symlink leaves directory: ${s.path}`);
    }
  }

  for (const s of findWalk(`${p.dataDir}/.`)) if (s.lst.uid !== owners.mailOwner.uid) out.push(`not owned by ${ownerName}: ${s.path}`);
  for (const s of findWalk(`${p.dataDir}/.`)) if (groupOrOtherWritable(s.lst)) out.push(`group or other writable: ${s.path}`);

  const queues = listQueueDir(p.queueDir).filter((d) => MAIL_OWNER_QUEUES.test(d));
  for (const q of queues) {
    for (const s of findWalk(q)) {
      if (s.lst.isFIFO() || s.lst.isSocket()) continue;
      if (s.lst.uid !== owners.mailOwner.uid) out.push(`not owned by ${ownerName}: ${s.path}`);
    }
  }
  const maildrop = tryStat(`${p.queueDir}/maildrop`, false);
  if (maildrop && maildrop.uid !== owners.mailOwner.uid) out.push(`not owned by ${ownerName}: ${p.queueDir}/maildrop`);

  if (owners.setgidGroup) {
    for (const d of [`${p.queueDir}/public`, `${p.queueDir}/maildrop`]) {
      const st = tryStat(d, false);
      if (st && st.gid !== owners.setgidGroup.gid) out.push(`not owned by group ${owners.setgidGroup.name}: ${d}`);
    }
  }

  out.push(...chrootRemnants(p.queueDir, owners));
  for (const s of findWalk(`${p.queueDir}/corrupt`)) {
    if (s.lst.isFile()) out.push(`damaged message: corrupt${s.path.slice(`${p.queueDir}/corrupt`.length)}`);
  }
  if (owners.privileged && isFile('/usr/sbin/sendmail') && isFile('/usr/lib/sendmail') && !sameContent('/usr/lib/sendmail', '/usr/sbin/sendmail')) {
    out.push('/usr/lib/sendmail and /usr/sbin/sendmail differ', 'Replace one by a symbolic link to the other');
  }
  return out;
}

/** Copies of system files under the queue directory, left from a chroot setup. */
function chrootRemnants(queueDir: string, owners: Ownership): string[] {
  const out: string[] = [];
  for (const dir of ['bin', 'etc', 'lib', 'sbin', 'usr']) {
    const top = path.join(queueDir, dir);
    if (!isDir(top)) continue;
    for (const s of findWalk(top)) {
      const rel = s.path.slice(queueDir.length + 1);
      if (s.lst.uid !== owners.root.uid) out.push(`not owned by ${owners.root.name}: ${queueDir}/${rel}`);
    }
    for (const s of findWalk(top)) {
      if (!s.lst.isFile()) continue;
      const rel = s.path.slice(queueDir.length + 1);
      if (isFile(`/${rel}`) && !sameContent(s.path, `/${rel}`)) out.push(`${queueDir}/${rel} and /${rel} differ`);
    }
  }
  return out;
}

function isFile(p: string): boolean {
  return tryStat(p, true)?.isFile() ?? false;
}

function readLink(p: string): string {
  try {
    return fs.readlinkSync(p);
  } catch {
    return '';
  }
}

/** `ls -d $queue_directory/*`: the visible entries, sorted. */
function listQueueDir(queueDir: string): string[] {
  try {
    return fs.readdirSync(queueDir).filter((n) => !n.startsWith('.')).sort().map((n) => `${queueDir}/${n}`);
  } catch {
    return [];
  }
}
