// What Postfix gets from cleanup(8) being a process of its own: when the
// client of a cleanup goes away mid-message, cleanup removes the file it
// was writing, so qmgr never finds a half-written message. Here cleanup
// runs inside the process that receives the mail, so when such a process
// dies the master removes what it left: files in incoming/ and hold/
// without the "complete" mode (0700, set just before the fsync) that no
// live process holds open any more. Touches those queue files and reads
// /proc.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MAIL_QUEUE_HOLD, MAIL_QUEUE_INCOMING, isReadyMode } from '../queue/layout.js';

/** The queues a message is written into before it is complete. */
const WRITE_QUEUES = [MAIL_QUEUE_INCOMING, MAIL_QUEUE_HOLD];

/** Every regular file under dir (hashed queues have one-character subdirectories). */
function filesUnder(dir: string, depth = 0): string[] {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isFile()) out.push(p);
    else if (e.isDirectory() && depth < 16) out.push(...filesUnder(p, depth + 1));
  }
  return out;
}

/** The files some process has open, by the path the kernel reports. */
function openPaths(): Set<string> {
  const open = new Set<string>();
  for (const pid of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    let fds: string[];
    try {
      fds = fs.readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        open.add(fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
      } catch {
        // closed meanwhile
      }
    }
  }
  return open;
}

/**
 * Removes incomplete queue files nobody writes any more, under queueDir.
 * Returns the paths removed (relative to queueDir).
 */
export function removeOrphanQueueFiles(queueDir: string): string[] {
  let root: string;
  try {
    root = fs.realpathSync(queueDir);
  } catch {
    return [];
  }
  // Listed first, then the open files: a file created after the listing is
  // not looked at, and one closed before the snapshot was either completed
  // (its mode says so) or is being removed by its writer.
  const candidates = WRITE_QUEUES.flatMap((q) => filesUnder(path.join(root, q)));
  if (!candidates.length) return [];
  const open = openPaths();
  const removed: string[] = [];
  for (const file of candidates) {
    if (open.has(file)) continue;
    try {
      if (isReadyMode(fs.lstatSync(file).mode)) continue;
      fs.unlinkSync(file);
      removed.push(path.relative(root, file));
    } catch {
      // gone already
    }
  }
  return removed;
}
