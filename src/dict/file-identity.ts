// The files behind an open table and their identity, for a long-running
// daemon that must notice a table removed or rebuilt under it. Postfix's
// smtpd meets such a table when a fresh process opens it (after max_idle
// or max_use); util/dict.c's dict_changed_name() does the same check for
// the daemons that restart themselves. Reads file metadata only.
import { statSync } from 'node:fs';
import { STORE_SUFFIX } from './lmdb-store.js';

/** Table types read from one file at open time, named as is. */
const SOURCE_TYPES = new Set(['texthash', 'regexp', 'pcre', 'cidr']);

/** The file a table of this type and name reads, or null (network tables, inline tables, tables of no file). */
export function tableFile(type: string, name: string): string | null {
  if (type === 'hash' || type === 'btree' || type === 'lmdb') return name + STORE_SUFFIX[type];
  if (SOURCE_TYPES.has(type) && !name.startsWith('{')) return name;
  if (type === 'proxy') {
    const colon = name.indexOf(':');
    return colon > 0 ? tableFile(name.slice(0, colon), name.slice(colon + 1)) : null;
  }
  return null;
}

/** Device, inode, size and modification time of a file, or "missing". */
export function fileIdentity(path: string): string {
  try {
    const st = statSync(path);
    return `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}`;
  } catch {
    return 'missing';
  }
}

/** What a set of open tables looked like on disk, to tell later whether any changed. */
export class TableFileWatch {
  private readonly files = new Map<string, string>();

  /** Remembers the file behind the table "type:name" as it is now. */
  add(spec: string): void {
    const colon = spec.indexOf(':');
    const file = colon > 0 ? tableFile(spec.slice(0, colon), spec.slice(colon + 1)) : null;
    if (file !== null && !this.files.has(file)) this.files.set(file, fileIdentity(file));
  }

  /** The first file that was removed, replaced or rewritten since add(); null when none was. */
  changed(): string | null {
    for (const [file, id] of this.files) if (fileIdentity(file) !== id) return file;
    return null;
  }
}
