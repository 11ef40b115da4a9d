// Mirrors Postfix's local/recipient.c: one local recipient, at the top of
// a request or reached again through an alias, .forward or :include:
// expansion. It drops duplicates, detects Delivered-To: loops, splits the
// address into user, extension and domain, and then tries in order: a
// "\user" mailbox, the alias tables (with and without the extension),
// indirect delivery for list members with an owner, the home directory
// check (require_home_directory), the user's .forward,
// the mailbox, and the unknown-user handling.
import { splitAddr } from '../../address/split.js';
import { casefold, lowercaseAscii, validUtf8 } from '../../dict/utf8.js';
import { EXPAND_TYPE_INCL, type DeliverAttr, type UserAttr, deeper, withAttr } from './attr.js';
import type { LocalRequest, Status } from './request.js';
import { deliverAlias } from './alias.js';
import { deliverDotforward } from './dotforward.js';
import { deliverMailbox } from './mailbox.js';
import { deliverUnknown } from './unknown.js';
import { deliverIndirect } from './indirect.js';
import { EXT_PROP_ALIAS } from '../../address/canonical.js';
import { statAs } from './as-user.js';

/** casefold() of a byte string: Unicode folding of its UTF-8 with smtputf8_enable, else ASCII only. */
function foldAddress(addr: string, utf8: boolean): string {
  const bytes = Buffer.from(addr, 'latin1');
  if (!utf8 || !validUtf8(bytes)) return lowercaseAscii(addr);
  return Buffer.from(casefold(bytes.toString('utf8')), 'utf8').toString('latin1');
}

async function deliverSwitch(lr: LocalRequest, attr0: DeliverAttr, usr: UserAttr): Promise<Status> {
  let attr = deeper(attr0);
  if (attr.rcpt.address[0] === '\\') {
    attr = withAttr(attr, { local: attr.local.slice(1), user: attr.user.slice(1) });
    attr.rcpt.address = attr.rcpt.address.slice(1);
    const mb = await deliverMailbox(lr, attr, usr);
    return mb.found ? mb.status : deliverUnknown(lr, attr, usr);
  }
  attr.unmatched = null;
  const a1 = await deliverAlias(lr, attr, usr, attr.local);
  if (a1.found) return a1.status;
  if (attr.extension !== null) {
    if (lr.settings.extPropMask & EXT_PROP_ALIAS) attr.unmatched = attr.extension;
    const a2 = await deliverAlias(lr, attr, usr, attr.user);
    if (a2.found) return a2.status;
    attr.unmatched = attr.extension;
  }
  // A list member whose mail must go out with the list owner's sender.
  if (attr.owner !== null && lowercaseAscii(attr.owner) !== lowercaseAscii(attr.user)) return deliverIndirect(lr, attr);
  if (attr.expType === EXPAND_TYPE_INCL) return deliverIndirect(lr, attr);
  if (lr.settings.requireHomeDirectory) {
    const pwr = lr.env.passwd.byNameLookup(attr.user);
    if (!pwr.ok) {
      lr.log.warning(`error looking up passwd info for ${attr.user}: ${pwr.error}`);
      return lr.defer(attr, { status: '4.0.0', reason: 'user lookup error' });
    }
    if (pwr.pw !== null) {
      const st = await statAs(pwr.pw.dir, pwr.pw.uid, pwr.pw.gid);
      if ('error' in st) return lr.defer(attr, { status: '4.3.0', reason: `cannot access home directory ${pwr.pw.dir}: ${st.error}` });
    }
  }
  const fwd = await deliverDotforward(lr, attr, usr);
  if (fwd.found) return fwd.status;
  const mb = await deliverMailbox(lr, attr, usr);
  if (mb.found) return mb.status;
  return deliverUnknown(lr, attr, usr);
}

/** deliver_recipient. */
export async function deliverRecipient(lr: LocalRequest, attr0: DeliverAttr, usr: UserAttr): Promise<Status> {
  const attr = deeper(attr0);
  if (lr.dup.check(`recipient ${attr.level} ${attr.rcpt.address}`)) return 0;
  if (lr.loopInfo.has(attr.rcpt.address)) {
    return lr.bounceWorkaround(attr, { status: '5.4.6', reason: `mail forwarding loop for ${attr.rcpt.address}` });
  }
  if (attr.delivered === null) attr.delivered = attr.rcpt.address;
  let local = foldAddress(attr.rcpt.address, lr.settings.utf8);
  const at = local.lastIndexOf('@');
  let domain = '';
  if (at < 0) lr.log.warning(`no @ in recipient address: ${local}`);
  else {
    domain = local.slice(at + 1);
    local = local.slice(0, at);
  }
  let user = local;
  let extension: string | null = null;
  const delim = lr.settings.recipientDelimiter;
  if (delim !== '') {
    const split = splitAddr(local, delim, { ownerRequestSpecial: lr.settings.ownerRequestSpecial, utf8: lr.settings.utf8 });
    if (split !== null) {
      user = split.localpart;
      extension = split.extension;
      if (extension.includes('/')) {
        lr.log.warning(`${lr.req.queueId}: address with illegal extension: ${local}`);
        extension = null;
        local = user;
      }
    }
  }
  const next = withAttr(attr, { local, domain, user, extension, unmatched: extension });
  if (user === '') return lr.bounce(next, { status: '5.1.3', reason: `null username in "${attr.rcpt.address}"` });
  return deliverSwitch(lr, next, usr);
}
