// Postfix's stat_as(), lstat_as() and open_as() (util/stat_as.c,
// open_as.c) as local(8) uses them on .forward and :include: files: the
// check is made with the recipient's or owner's rights, so that a user
// cannot make the mail system read a file the user could not read. The
// calls are synchronous inside ./privs.ts's asUser(), so nothing else of
// this process runs while the credentials are switched. Reads files only.
import * as fs from 'node:fs';
import { errnoText } from '../../util/errno.js';
import { asUser } from './privs.js';

function errText(e: unknown): string {
  return errnoText(e as NodeJS.ErrnoException);
}

export function statAs(path: string, uid: number, gid: number): Promise<fs.Stats | { error: string }> {
  try {
    return Promise.resolve(asUser(uid, gid, () => fs.statSync(path)));
  } catch (e) {
    return Promise.resolve({ error: errText(e) });
  }
}

export function lstatAs(path: string, uid: number, gid: number): Promise<fs.Stats | { error: string }> {
  try {
    return Promise.resolve(asUser(uid, gid, () => fs.lstatSync(path)));
  } catch (e) {
    return Promise.resolve({ error: errText(e) });
  }
}

/** open_as + read to the end: the file's bytes as a byte string. */
export function readAs(path: string, uid: number, gid: number): Promise<{ text: string } | { error: string }> {
  try {
    return Promise.resolve({ text: asUser(uid, gid, () => fs.readFileSync(path, 'latin1')) });
  } catch (e) {
    return Promise.resolve({ error: errText(e) });
  }
}
