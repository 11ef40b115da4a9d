// Mirrors Postfix's local/mailbox.c: a user's own mailbox, in the order
// local(8) tries them: mailbox_transport_maps, mailbox_transport (the
// recipient is handed to that service), then, for a user with an account,
// mailbox_command_maps, mailbox_command, a Maildir (home_mailbox or
// mail_spool_directory ending in '/'), or an mbox file in home_mailbox or
// mail_spool_directory. The file work is in ./mailbox-file.ts,
// ./maildir.ts and ./command.ts; ./biff.ts tells comsat about new mbox mail.
import { DEL_REQ_TRACE_ONLY_MASK } from '../api.js';
import { DELIVER_HDR_FILE, type DeliverAttr, type UserAttr, deeper } from './attr.js';
import type { LocalRequest, Status } from './request.js';
import type { Found } from './alias.js';
import { MAIL_COPY_DELIVERED, MAIL_COPY_MBOX } from './mail-copy.js';
import { deliverMboxFile } from './mailbox-file.js';
import { deliverCommandLeaf, deliverMaildirLeaf, reportOutcome } from './leaf.js';
import { deliverPass } from './pass.js';
import { biffNotify } from './biff.js';
import * as fsp from 'node:fs/promises';

async function deliverMailboxFile(lr: LocalRequest, attr0: DeliverAttr, usr: UserAttr): Promise<Status> {
  const attr = deeper(attr0);
  const s = lr.settings;
  if (lr.req.flags & DEL_REQ_TRACE_ONLY_MASK) return lr.sent(attr, { status: '2.0.0', reason: 'delivers to mailbox' });
  if (!s.frozenDeliveredTo) attr.delivered = attr.rcpt.address;
  const path = s.homeMailbox !== '' ? `${usr.home ?? ''}/${s.homeMailbox}` : `${s.mailSpoolDirectory}/${attr.user}`;
  let copyFlags = MAIL_COPY_MBOX;
  if ((s.deliverHdrMask & DELIVER_HDR_FILE) === 0) copyFlags &= ~MAIL_COPY_DELIVERED;
  // Where the new message will start, for biff (Postfix takes it under the lock).
  const end = s.biff ? await fsp.stat(path).then((st) => st.size, () => 0) : 0;
  const outcome = await deliverMboxFile(path, { uid: usr.uid, gid: usr.gid, name: attr.user, home: usr.home }, {
    source: lr.copySource(attr), copyFlags, locks: s.mailboxLocks, sizeLimit: s.mailboxSizeLimit, kind: 'mailbox',
    spoolDir: s.homeMailbox === '', strictOwner: s.strictMailboxOwnership, timing: s.lockTiming, warn: lr.warn,
  });
  const status = await reportOutcome(lr, attr, outcome, false);
  if (outcome.ok && s.biff) biffNotify(usr.logname ?? attr.user, end, lr.warn);
  return status;
}

/** deliver_mailbox: found is false when the user has no account (the caller tries the unknown-user handling). */
export async function deliverMailbox(lr: LocalRequest, attr0: DeliverAttr, _usr0: UserAttr): Promise<Found> {
  const attr = deeper(attr0);
  const env = lr.env;
  const s = lr.settings;
  const yes = (status: Status): Found => ({ found: true, status });
  if (lr.dup.check(`mailbox ${attr.local}`)) return yes(0);
  if (env.mailboxTransportMaps) {
    const r = await env.mailboxTransportMaps.find(attr.user);
    if (r.status === 'found') return yes(await deliverPass(lr, attr, r.value));
    if (r.status === 'error') return yes(await lr.defer(attr, { status: '4.3.0', reason: 'table lookup failure' }));
  }
  if (s.mailboxTransport !== '') return yes(await deliverPass(lr, attr, s.mailboxTransport));
  const pwr = env.passwd.byNameLookup(attr.user);
  if (!pwr.ok) {
    lr.log.warning(`error looking up passwd info for ${attr.user}: ${pwr.error}`);
    return yes(await lr.defer(attr, { status: '4.0.0', reason: 'user lookup error' }));
  }
  const pw = pwr.pw;
  if (pw === null) return { found: false, status: 0 };
  const usr: UserAttr = { uid: pw.uid, gid: pw.gid, home: pw.dir, logname: pw.name, shell: pw.shell };
  if (env.mailboxCommandMaps) {
    const r = await env.mailboxCommandMaps.find(attr.user);
    if (r.status === 'found') return yes(await deliverCommandLeaf(lr, attr, usr, r.value));
    if (r.status === 'error') return yes(await lr.defer(attr, { status: '4.3.0', reason: 'table lookup failure' }));
  }
  if (s.mailboxCommand !== '') return yes(await deliverCommandLeaf(lr, attr, usr, s.mailboxCommand));
  if (s.homeMailbox.endsWith('/')) return yes(await deliverMaildirLeaf(lr, attr, usr, `${usr.home ?? ''}/${s.homeMailbox}`, 'mailbox'));
  if (s.mailSpoolDirectory.endsWith('/')) return yes(await deliverMaildirLeaf(lr, attr, usr, `${s.mailSpoolDirectory}${attr.user}/`, 'mailbox'));
  return yes(await deliverMailboxFile(lr, attr, usr));
}
