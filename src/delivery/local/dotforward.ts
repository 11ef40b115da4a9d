// Mirrors Postfix's local/dotforward.c: a user's .forward file, found by
// trying each forward_path entry ($home/.forward${recipient_delimiter}
// ${extension}, $home/.forward, ...) with the user's rights. The file must
// be regular, owned by the user or root and not world writable; its
// destinations are delivered as the user. A .forward that names its own
// user again ends in the user's mailbox (the duplicate filter stops the
// recursion).
import { MAC_PARSE_ERROR, MAC_PARSE_UNDEF } from '../../config/expand.js';
import { DSN_NOTIFY_NEVER, DSN_NOTIFY_SUCCESS } from '../../mail/dsn.js';
import { EXT_PROP_FORWARD } from '../../address/canonical.js';
import { DEL_REQ_FLAG_MTA_VRFY } from '../api.js';
import { EXPAND_TYPE_FWD, type DeliverAttr, type UserAttr, deeper } from './attr.js';
import type { LocalRequest } from './request.js';
import type { Found } from './alias.js';
import { LOCAL_EXP_EXTENSION_MATCHED, localExpand } from './expand.js';
import { lstatAs, readAs } from './as-user.js';
import { deliverTokenLines } from './token.js';

export async function deliverDotforward(lr: LocalRequest, attr0: DeliverAttr, usr0: UserAttr): Promise<Found> {
  const attr = deeper(attr0);
  const s = lr.settings;
  if (s.forwardPath === '') return { found: false, status: 0 };
  const pwr = lr.env.passwd.byNameLookup(attr.user);
  if (!pwr.ok) {
    lr.log.warning(`error looking up passwd info for ${attr.user}: ${pwr.error}`);
    return { found: true, status: await lr.defer(attr, { status: '4.0.0', reason: 'user lookup error' }) };
  }
  const pw = pwr.pw;
  if (pw === null) return { found: false, status: 0 };
  void usr0;
  if (!s.frozenDeliveredTo) attr.delivered = attr.rcpt.address;
  const usr: UserAttr = { uid: pw.uid, gid: pw.gid, home: pw.dir, logname: pw.name, shell: pw.shell };
  attr.expType = EXPAND_TYPE_FWD;
  attr.owner = attr.user;
  let path = '';
  let st: Awaited<ReturnType<typeof lstatAs>> | null = null;
  for (const lhs of s.forwardPath.split(/[\s,]+/).filter((x) => x !== '')) {
    const e = localExpand(lhs, attr, usr, s.recipientDelimiter, s.forwardExpansionFilter, (t) => lr.log.warning(t));
    if (e.status & (MAC_PARSE_ERROR | MAC_PARSE_UNDEF)) continue;
    const r = await lstatAs(e.result, usr.uid, usr.gid);
    if ('error' in r) continue;
    path = e.result;
    st = r;
    if ((e.status & LOCAL_EXP_EXTENSION_MATCHED) !== 0 || (s.extPropMask & EXT_PROP_FORWARD) === 0) attr.unmatched = null;
    break;
  }
  if (st === null || 'error' in st) return { found: false, status: 0 };
  if (lr.req.flags & DEL_REQ_FLAG_MTA_VRFY) {
    return { found: true, status: await lr.sent(attr, { status: '2.0.0', reason: `forward via file: ${path}` }) };
  }
  if (lr.dup.check(`forward ${path}`)) {
    // Seen before: found when an earlier visit delivered through it, else this is recursion.
    return { found: lr.dup.peek(`forward-done ${path}`), status: 0 };
  }
  attr.expFrom = attr.local;
  if (!st.isFile()) {
    lr.log.warning(`file ${path} is not a regular file`);
  } else if (st.uid !== 0 && st.uid !== usr.uid) {
    lr.log.warning(`file ${path} has bad owner uid ${st.uid}`);
  } else if (st.mode & 0o002) {
    lr.log.warning(`file ${path} is world writable`);
  } else {
    const content = await readAs(path, usr.uid, usr.gid);
    if ('error' in content) {
      lr.log.warning(`cannot open file ${path}: ${content.error}`);
    } else {
      const count = { n: 0 };
      const notify = attr.rcpt.notify;
      attr.rcpt.notify = notify === DSN_NOTIFY_SUCCESS ? DSN_NOTIFY_NEVER : notify & ~DSN_NOTIFY_SUCCESS;
      const status = await deliverTokenLines(lr, attr, usr, content.text, count);
      if (count.n > 0) {
        lr.dup.check(`forward-done ${path}`);
        if (status === 0 && (notify & DSN_NOTIFY_SUCCESS)) {
          attr.rcpt.notify = notify;
          await lr.traceExpanded(attr, 'expanded');
        }
        return { found: true, status };
      }
      return { found: false, status };
    }
  }
  return { found: false, status: 0 };
}
