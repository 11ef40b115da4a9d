// Mirrors the message-building half of Postfix's
// bounce/bounce_notify_util.c (bounce_header, bounce_boilerplate,
// bounce_diagnostic_log, bounce_header_dsn, bounce_diagnostic_dsn,
// bounce_original) and bounce_template_headers(): the lines of one RFC 3464
// multipart/report notice, gathered in memory as content records before
// anything is sent to cleanup. Pure apart from the content it is handed.
import type { BounceTemplate } from '../mail/bounce-templates.js';
import { DSN_RET_HDRS } from '../mail/dsn.js';
import { mailDate } from '../mail/mail-date.js';
import type { StatusEntry } from '../queue/status-log.js';
import { quote822Local } from '../address/quote.js';
import { lineWrap } from './line-wrap.js';
import { type ContentRecord, type OriginalMessage, contentRecords } from './original.js';

export const SMTPUTF8_FLAG_REQUESTED = 1;

/** Everything one notice is made from (Postfix's BOUNCE_INFO). */
export interface NoticeInfo {
  queueId: string;
  template: BounceTemplate;
  /** The template text with $name expanded (done when used: expansion can log warnings). */
  expandText(): string[];
  /** "7bit", "8bit", or null when the message's encoding is unknown. */
  mimeEncoding: string | null;
  smtputf8: number;
  dsnEnvid: string;
  boundary: string;
  /** $mail_name as an RFC 822 atom. */
  mailName: string;
  myhostname: string;
  standardFrom: boolean;
  original: OriginalMessage;
  /** The log's entries; null when there is no log. */
  entries: StatusEntry[] | null;
  /** bounce_size_limit. */
  bounceLimit: number;
  /** maximal_queue_lifetime in seconds, for Will-Retry-Until. */
  maxQueueTime: number;
}

const isFailure = (info: NoticeInfo) => info.template.class === 'failure';
const isDelay = (info: NoticeInfo) => info.template.class === 'delay';
const not7bit = (info: NoticeInfo) => info.mimeEncoding !== null && info.mimeEncoding.toLowerCase() !== '7bit';
const isAscii = (s: string) => /^[\x00-\x7f]*$/.test(s);

function validUtf8(s: string): boolean {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(s, 'latin1'));
    return true;
  } catch {
    return false;
  }
}

/** IS_UTF8_ADDRESS(): non-empty, not ASCII, valid UTF-8. */
const isUtf8Address = (s: string) => s !== '' && !isAscii(s) && validUtf8(s);
const addrType = (info: NoticeInfo, addr: string) => (info.smtputf8 && isUtf8Address(addr) ? 'utf-8' : 'rfc822');

/** The notice's content as it grows: one N record per line, original records as they were. */
export class NoticeBody {
  readonly records: ContentRecord[] = [];

  line(text: string): void {
    this.records.push({ type: 'N', data: Buffer.from(text, 'latin1') });
  }

  /** bounce_print_wrap(): long lines broken at 79 columns, continuations indented by 4. */
  wrapped(text: string): void {
    for (const piece of lineWrap(text, 79, 4)) this.line(piece);
  }
}

/** Entries the notify filter selects (entries without NOTIFY information always qualify). */
export function selectEntries(info: NoticeInfo, notifyFilter: number): StatusEntry[] {
  return (info.entries ?? []).filter((e) => e.notify === 0 || (e.notify & notifyFilter) !== 0);
}

/** bounce_header(): the message headers and the start of the text part. */
export function writeHeader(body: NoticeBody, info: NoticeInfo, dest: string, postmasterCopy: boolean): void {
  const tp = info.template;
  body.line(`From: ${info.standardFrom ? tp.standardFrom : tp.obsoleteFrom}`);
  body.line(`Subject: ${postmasterCopy && tp.postmasterSubject !== undefined ? tp.postmasterSubject : tp.subject}`);
  body.line(`To: ${quote822Local(dest)}`);
  if (info.original.messageId !== '') {
    body.line(`References: ${info.original.messageId}`);
    body.line(`In-Reply-To: ${info.original.messageId}`);
  }
  body.line(`Auto-Submitted: ${postmasterCopy ? 'auto-generated' : 'auto-replied'}`);
  body.line('MIME-Version: 1.0');
  body.line('Content-Type: multipart/report; report-type=delivery-status;');
  body.line(`\tboundary="${info.boundary}"`);
  if (info.mimeEncoding !== null) {
    body.line(`Content-Transfer-Encoding: ${info.mimeEncoding.toLowerCase() === '7bit' ? tp.encoding : info.mimeEncoding}`);
  }
  body.line('');
  body.line('This is a MIME-encapsulated message.');
  body.line('');
  body.line(`--${info.boundary}`);
  body.line('Content-Description: Notification');
  const charset = tp.charset.toLowerCase() !== 'us-ascii' ? tp.charset : not7bit(info) ? 'utf-8' : 'us-ascii';
  body.line(`Content-Type: text/plain; charset=${charset}`);
  if (not7bit(info)) body.line(`Content-Transfer-Encoding: ${info.mimeEncoding}`);
  body.line('');
}

/** bounce_boilerplate(): the template's text. */
export function writeBoilerplate(body: NoticeBody, info: NoticeInfo): void {
  for (const line of info.expandText()) body.line(line);
}

/** bounce_diagnostic_log(): one readable paragraph per selected recipient; returns how many. */
export function writeDiagnosticLog(body: NoticeBody, info: NoticeInfo, notifyFilter: number): number {
  if (info.entries === null) {
    if (!isFailure(info)) return 0;
    body.line('');
    body.line('\t--- Delivery report unavailable ---');
    return 1;
  }
  const selected = selectEntries(info, notifyFilter);
  for (const e of selected) {
    body.line('');
    body.wrapped(e.orcpt !== '' ? `<${e.address}> (expanded from <${e.orcpt}>): ${e.reason}` : `<${e.address}>: ${e.reason}`);
  }
  return selected.length;
}

/** bounce_header_dsn(): the message/delivery-status part and its per-message fields. */
export function writeHeaderDsn(body: NoticeBody, info: NoticeInfo): void {
  const global = (info.smtputf8 & SMTPUTF8_FLAG_REQUESTED) !== 0;
  body.line('');
  body.line(`--${info.boundary}`);
  body.line('Content-Description: Delivery report');
  body.line(`Content-Type: message/${global ? 'global-' : ''}delivery-status`);
  if (not7bit(info) && global) body.line(`Content-Transfer-Encoding: ${info.mimeEncoding}`);
  body.line('');
  body.line(`Reporting-MTA: dns; ${info.myhostname}`);
  if (info.dsnEnvid !== '') body.line(`Original-Envelope-Id: ${info.dsnEnvid}`);
  body.line(`X-${info.mailName}-Queue-ID: ${info.queueId}`);
  const sender = info.original.sender;
  if (sender !== '') body.line(`X-${info.mailName}-Sender: ${addrType(info, sender)}; ${sender}`);
  if (info.original.arrival > 0) body.line(`Arrival-Date: ${mailDate(info.original.arrival)}`);
}

/** bounce_recipient_dsn(): the per-recipient fields. */
function writeRecipientDsn(body: NoticeBody, info: NoticeInfo, e: StatusEntry): void {
  body.line('');
  body.line(`Final-Recipient: ${addrType(info, e.address)}; ${e.address}`);
  if (e.dsnOrcpt !== '') body.line(`Original-Recipient: ${e.dsnOrcpt}`);
  else if (e.orcpt !== '') body.line(`Original-Recipient: ${addrType(info, e.orcpt)}; ${e.orcpt}`);
  body.line(`Action: ${isFailure(info) ? 'failed' : e.action}`);
  body.line(`Status: ${e.status}`);
  if (e.mtype !== '' && e.mname !== '') body.wrapped(`Remote-MTA: ${e.mtype}; ${e.mname}`);
  if (e.dtype !== '' && e.dtext !== '') body.wrapped(`Diagnostic-Code: ${e.dtype}; ${e.dtext}`);
  else body.wrapped(`Diagnostic-Code: X-${info.mailName}; ${e.reason}`);
  if (isDelay(info)) body.line(`Will-Retry-Until: ${mailDate(info.original.arrival + info.maxQueueTime)}`);
}

/** bounce_diagnostic_dsn(): the fields of every selected recipient; returns how many. */
export function writeDiagnosticDsn(body: NoticeBody, info: NoticeInfo, notifyFilter: number): number {
  if (info.entries === null) return isFailure(info) ? 1 : 0;
  const selected = selectEntries(info, notifyFilter);
  for (const e of selected) writeRecipientDsn(body, info, e);
  return selected.length;
}

/** bounce_original(): the returned message (or its headers) and the closing boundary. */
export function writeOriginal(body: NoticeBody, info: NoticeInfo, dsnRet: number): void {
  const orig = info.original;
  let headersOnly = dsnRet === DSN_RET_HDRS;
  // A truncated message would break its MIME structure: send headers only.
  if (info.bounceLimit > 0 && orig.data !== null && (orig.messageSize <= 0 || orig.messageSize > info.bounceLimit)) headersOnly = true;
  const undelivered = isFailure(info) || isDelay(info) ? 'Undelivered ' : '';
  body.line('');
  body.line(`--${info.boundary}`);
  body.line(`Content-Description: ${undelivered}${headersOnly ? 'Message Headers' : 'Message'}`);
  if (info.smtputf8 & SMTPUTF8_FLAG_REQUESTED) body.line(`Content-Type: message/${headersOnly ? 'global-headers' : 'global'}`);
  else body.line(`Content-Type: ${headersOnly ? 'text/rfc822-headers' : 'message/rfc822'}`);
  if (not7bit(info)) body.line(`Content-Transfer-Encoding: ${info.mimeEncoding}`);
  body.line('');
  if (orig.contentOffset === 0 || orig.data === null) {
    // Postfix ends here without the closing boundary.
    body.line('\t--- Undelivered message unavailable ---');
    return;
  }
  // cleanup removed the Return-Path: header; the notice shows one again.
  body.line(`Return-Path: <${orig.sender}>`);
  body.records.push(...contentRecords(orig, headersOnly));
  body.line('');
  body.line(`--${info.boundary}--`);
}
