// Mirrors the attribute records of Postfix's local(8) (local/local.h,
// deliver_attr.c): what one step of a local delivery knows about the
// message and the recipient being expanded (DELIVER_ATTR), and whose rights
// a file or command delivery uses (USER_ATTR). Postfix passes both by value
// so that a deeper step never changes what a shallower one sees; here each
// step works on a shallow copy (withAttr). Types and small helpers only.
import type { DeliveryRecipient } from '../api.js';

/** Where an address came from; the allow_mail_to_commands / allow_mail_to_files masks use the same bits. */
export const EXPAND_TYPE_ALIAS = 1 << 0;
export const EXPAND_TYPE_FWD = 1 << 1;
export const EXPAND_TYPE_INCL = 1 << 2;

/** prepend_delivered_header bits. */
export const DELIVER_HDR_CMD = 1 << 0;
export const DELIVER_HDR_FILE = 1 << 1;
export const DELIVER_HDR_FWD = 1 << 2;

/** The rights and login facts of a delivery to a file or command (USER_ATTR). uid 0: none chosen yet. */
export interface UserAttr {
  uid: number;
  gid: number;
  home?: string;
  logname?: string;
  shell?: string;
}

export const NO_USER: UserAttr = { uid: 0, gid: 0 };

/** The per-step message and recipient attributes (DELIVER_ATTR). Strings are byte strings. */
export interface DeliverAttr {
  /** Nesting depth, for the alias loop limit. */
  level: number;
  /** Envelope sender: the message's, or an owner- alias's. */
  sender: string;
  dsnEnvid: string;
  dsnRet: number;
  /** The recipient as it stands at this step (address changes as aliases expand). */
  rcpt: DeliveryRecipient;
  /** The recipient's domain (after the last '@'), '' when none. */
  domain: string;
  /** The folded localpart with its extension. */
  local: string;
  /** The folded localpart without its extension. */
  user: string;
  /** The extension without its delimiter, null when none. */
  extension: string | null;
  /** An extension that no table matched: propagated to the expansion's addresses. */
  unmatched: string | null;
  /** The mailing list owner (owner- alias), null when none. */
  owner: string | null;
  /** The address for Delivered-To: and for the loop check, null until set. */
  delivered: string | null;
  /** EXPAND_TYPE_* of the step that produced this address, 0 at the top. */
  expType: number;
  /** The name last looked up as an alias or .forward owner (stops self-expansion). */
  expFrom: string | null;
}

/** A copy of attr with the given changes (Postfix's pass by value). */
export function withAttr(attr: DeliverAttr, changes: Partial<DeliverAttr>): DeliverAttr {
  return { ...attr, rcpt: { ...attr.rcpt }, ...changes };
}

/** A copy one level deeper. */
export function deeper(attr: DeliverAttr): DeliverAttr {
  return withAttr(attr, { level: attr.level + 1 });
}
