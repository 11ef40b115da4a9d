// Mirrors Postfix's local/include.c: ":include:/path" in an alias or
// .forward. The file must be an absolute path to a regular file that is
// not world writable; its destinations are delivered with the rights of
// the file's owner when no other owner applies (root-owned lists keep
// default_privs), and its members go out as separate (indirect) copies.
import { EXPAND_TYPE_INCL, type DeliverAttr, type UserAttr, deeper } from './attr.js';
import type { LocalRequest, Status } from './request.js';
import { deliverTokenLines } from './token.js';
import { readAs, statAs } from './as-user.js';
import { EXT_PROP_INCLUDE } from '../../address/canonical.js';

export async function deliverInclude(lr: LocalRequest, attr0: DeliverAttr, usr0: UserAttr, path: string): Promise<Status> {
  const attr = deeper(attr0);
  let usr = { ...usr0 };
  if (lr.dup.check(`include ${usr.uid} ${path}`)) return 0;
  attr.expFrom = attr.local;
  const configError = (warning: string) => {
    lr.log.warning(warning);
    return lr.bounce(attr, { status: '5.3.5', reason: 'mail system configuration error' });
  };
  if (path[0] !== '/') return configError(`:include:${path} uses a relative path`);
  const st = await statAs(path, usr.uid, usr.gid);
  if ('error' in st) return configError(`unable to lookup :include: file ${path}: ${st.error}`);
  if (!st.isFile()) return configError(`:include: file ${path} is not a regular file`);
  if (st.mode & 0o002) return configError(`:include: file ${path} is world writable`);
  attr.expType = EXPAND_TYPE_INCL;
  if (usr.uid === 0) {
    const pw = lr.env.passwd.byUidLookup(st.uid);
    if (!pw.ok || pw.pw === null) {
      lr.log.warning(pw.ok ? `cannot find username for uid ${st.uid}` : `cannot find username for uid ${st.uid}: ${pw.error}`);
      lr.log.warning(`${path}: cannot find :include: file owner username`);
      return lr.defer(attr, { status: '4.3.5', reason: 'mail system configuration error' });
    }
    if (pw.pw.uid !== 0) usr = { uid: pw.pw.uid, gid: pw.pw.gid, home: pw.pw.dir, logname: pw.pw.name, shell: pw.pw.shell };
  }
  if (attr.owner === null) attr.owner = attr.rcpt.address;
  const content = await readAs(path, usr.uid, usr.gid);
  if ('error' in content) {
    lr.log.warning(`cannot open include file ${path}: ${content.error}`);
    return lr.bounce(attr, { status: '5.3.5', reason: 'mail system configuration error' });
  }
  if ((lr.settings.extPropMask & EXT_PROP_INCLUDE) === 0) attr.unmatched = null;
  return deliverTokenLines(lr, attr, usr, content.text);
}
