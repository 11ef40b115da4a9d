// Mirrors Postfix's global/header_opts.c and global/is_header.c: which
// message headers Postfix knows (the sender and recipient headers cleanup
// and smtp_generic_maps may rewrite, Resent- headers, MIME headers,
// Received: for the hop count), the
// message_drop_headers list that removes some of them (Bcc, Content-Length,
// Resent-Bcc, Return-Path by default), and the test whether a line starts a
// header. Pure functions over byte strings; no I/O.

export const HDR_OTHER = 0;
export const HDR_APPARENTLY_TO = 1;
export const HDR_BCC = 2;
export const HDR_CC = 3;
export const HDR_CONTENT_LENGTH = 4;
export const HDR_CONTENT_TRANSFER_ENCODING = 5;
export const HDR_CONTENT_TYPE = 6;
export const HDR_DATE = 7;
export const HDR_DELIVERED_TO = 8;
export const HDR_ERRORS_TO = 9;
export const HDR_FROM = 10;
export const HDR_MESSAGE_ID = 11;
export const HDR_RECEIVED = 12;
export const HDR_REPLY_TO = 13;
export const HDR_RESENT_BCC = 14;
export const HDR_RESENT_CC = 15;
export const HDR_RESENT_DATE = 16;
export const HDR_RESENT_FROM = 17;
export const HDR_RESENT_MESSAGE_ID = 18;
export const HDR_RESENT_REPLY_TO = 19;
export const HDR_RESENT_SENDER = 20;
export const HDR_RESENT_TO = 21;
export const HDR_RETURN_PATH = 22;
export const HDR_RETURN_RECEIPT_TO = 23;
export const HDR_SENDER = 24;
export const HDR_TO = 25;
export const HDR_MAIL_FOLLOWUP_TO = 26;
export const HDR_CONTENT_DESCRIPTION = 27;
export const HDR_CONTENT_DISPOSITION = 28;
export const HDR_CONTENT_ID = 29;
export const HDR_MIME_VERSION = 30;
export const HDR_DISP_NOTIFICATION = 31;

export const HDR_OPT_DROP = 1 << 0; // delete from input
export const HDR_OPT_SENDER = 1 << 1; // sender address
export const HDR_OPT_RECIP = 1 << 2; // recipient address
export const HDR_OPT_RR = 1 << 3; // Resent- header
export const HDR_OPT_EXTRACT = 1 << 4; // extract flag
export const HDR_OPT_MIME = 1 << 5; // MIME header
export const HDR_OPT_XRECIP = HDR_OPT_RECIP | HDR_OPT_EXTRACT;

export interface HeaderOpts {
  /** The preferred spelling (for entries added by message_drop_headers: the lower-case name). */
  readonly name: string;
  readonly type: number;
  readonly flags: number;
}

const KNOWN: readonly HeaderOpts[] = [
  { name: 'Apparently-To', type: HDR_APPARENTLY_TO, flags: HDR_OPT_RECIP },
  { name: 'Bcc', type: HDR_BCC, flags: HDR_OPT_XRECIP },
  { name: 'Cc', type: HDR_CC, flags: HDR_OPT_XRECIP },
  { name: 'Content-Description', type: HDR_CONTENT_DESCRIPTION, flags: HDR_OPT_MIME },
  { name: 'Content-Disposition', type: HDR_CONTENT_DISPOSITION, flags: HDR_OPT_MIME },
  { name: 'Content-ID', type: HDR_CONTENT_ID, flags: HDR_OPT_MIME },
  { name: 'Content-Length', type: HDR_CONTENT_LENGTH, flags: 0 },
  { name: 'Content-Transfer-Encoding', type: HDR_CONTENT_TRANSFER_ENCODING, flags: HDR_OPT_MIME },
  { name: 'Content-Type', type: HDR_CONTENT_TYPE, flags: HDR_OPT_MIME },
  { name: 'Delivered-To', type: HDR_DELIVERED_TO, flags: 0 },
  { name: 'Disposition-Notification-To', type: HDR_DISP_NOTIFICATION, flags: HDR_OPT_SENDER },
  { name: 'Date', type: HDR_DATE, flags: 0 },
  { name: 'Errors-To', type: HDR_ERRORS_TO, flags: HDR_OPT_SENDER },
  { name: 'From', type: HDR_FROM, flags: HDR_OPT_SENDER },
  { name: 'Mail-Followup-To', type: HDR_MAIL_FOLLOWUP_TO, flags: HDR_OPT_SENDER },
  { name: 'Message-Id', type: HDR_MESSAGE_ID, flags: 0 },
  { name: 'MIME-Version', type: HDR_MIME_VERSION, flags: HDR_OPT_MIME },
  { name: 'Received', type: HDR_RECEIVED, flags: 0 },
  { name: 'Reply-To', type: HDR_REPLY_TO, flags: HDR_OPT_SENDER },
  { name: 'Resent-Bcc', type: HDR_RESENT_BCC, flags: HDR_OPT_XRECIP | HDR_OPT_RR },
  { name: 'Resent-Cc', type: HDR_RESENT_CC, flags: HDR_OPT_XRECIP | HDR_OPT_RR },
  { name: 'Resent-Date', type: HDR_RESENT_DATE, flags: HDR_OPT_RR },
  { name: 'Resent-From', type: HDR_RESENT_FROM, flags: HDR_OPT_SENDER | HDR_OPT_RR },
  { name: 'Resent-Message-Id', type: HDR_RESENT_MESSAGE_ID, flags: HDR_OPT_RR },
  { name: 'Resent-Reply-To', type: HDR_RESENT_REPLY_TO, flags: HDR_OPT_RECIP | HDR_OPT_RR },
  { name: 'Resent-Sender', type: HDR_RESENT_SENDER, flags: HDR_OPT_SENDER | HDR_OPT_RR },
  { name: 'Resent-To', type: HDR_RESENT_TO, flags: HDR_OPT_XRECIP | HDR_OPT_RR },
  { name: 'Return-Path', type: HDR_RETURN_PATH, flags: HDR_OPT_SENDER },
  { name: 'Return-Receipt-To', type: HDR_RETURN_RECEIPT_TO, flags: HDR_OPT_SENDER },
  { name: 'Sender', type: HDR_SENDER, flags: HDR_OPT_SENDER },
  { name: 'To', type: HDR_TO, flags: HDR_OPT_XRECIP },
];

/** ASCII-only lower case, as TOLOWER() does on the header name bytes. */
function lowerAscii(s: string): string {
  return s.replace(/[A-Z]+/g, (m) => m.toLowerCase());
}

/**
 * The header table of one configuration: the known headers, with the
 * DROP flag added for each message_drop_headers name (unknown names become
 * entries of their own, type HDR_OTHER).
 */
export class HeaderOptsTable {
  private readonly byName = new Map<string, HeaderOpts>();

  constructor(dropHeaders: string) {
    for (const h of KNOWN) this.byName.set(lowerAscii(h.name), h);
    for (const word of dropHeaders.split(/[, \t\r\n]+/)) {
      if (word === '') continue;
      const key = lowerAscii(word);
      const hit = this.byName.get(key);
      this.byName.set(key, hit ? { ...hit, flags: hit.flags | HDR_OPT_DROP } : { name: key, type: HDR_OTHER, flags: HDR_OPT_DROP });
    }
  }

  /** header_opts_find(): the entry for the name before the colon (trailing blanks ignored), or null. */
  find(header: string): HeaderOpts | null {
    const colon = header.indexOf(':');
    if (colon < 0) return null;
    const key = lowerAscii(header.slice(0, colon).replace(/[ \t]+$/, ''));
    return this.byName.get(key) ?? null;
  }
}
