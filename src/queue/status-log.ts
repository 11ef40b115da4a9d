// Mirrors Postfix's per-message status logs: bounce/bounce_append_service.c
// (appending one recipient's status to defer/ID, bounce/ID or trace/ID) and
// global/bounce_log.c (reading them back, as showq and the bounce notices
// do). A log is plain text: per recipient an empty line, with
// backwards_bounce_logfile_compatibility an old-style "<addr>: reason" line,
// then "name=value" lines (recipient, original_recipient, offset,
// dsn_orig_rcpt, notify_flags, status, action, diag_type, diag_text,
// mta_type, mta_mname, reason), then an empty line. Strings are byte strings
// (one character per byte). Failures are values. Touches only the log files.
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { type FsFailure, type QueueLayout, MAIL_QUEUE_DEFER, mailQueuePath } from './layout.js';
import { openQueueFile, removeQueueFile } from './ops.js';
import { atol, splitNameValue } from './rec-type.js';
import { quote822Local } from '../address/quote.js';
import { casefold } from '../dict/utf8.js';
import { bytesToText } from '../util/bytes.js';

/** The recipient side of a status record (Postfix's RECIPIENT). */
export interface StatusRecipient {
  address: string;
  /** Original recipient; written only when it differs from address (ignoring case). */
  orcpt?: string;
  /** Queue-file offset of the recipient record; written when > 0. */
  offset?: number;
  dsnOrcpt?: string;
  notify?: number;
}

/** The delivery status (Postfix's DSN). */
export interface StatusDsn {
  status: string;
  action: string;
  reason: string;
  /** Diagnostic type and text ("smtp", "550 5.1.1 ..."): written only as a pair. */
  dtype?: string;
  dtext?: string;
  /** Reporting MTA type and name ("dns", "mx.example.com"): written only as a pair. */
  mtype?: string;
  mname?: string;
}

/** One entry read back, with bounce_log_read()'s placeholders for what was missing. */
export interface StatusEntry {
  address: string;
  orcpt: string;
  offset: number;
  dsnOrcpt: string;
  notify: number;
  status: string;
  action: string;
  reason: string;
  dtype: string;
  dtext: string;
  mtype: string;
  mname: string;
}

const present = (s: string | undefined): s is string => s !== undefined && s !== '';
const sameAddress = (a: string, b: string) =>
  casefold(bytesToText(Buffer.from(a, 'latin1'))) === casefold(bytesToText(Buffer.from(b, 'latin1')));

/** The text appended for one recipient. oldlogCompat: backwards_bounce_logfile_compatibility (default yes). */
export function formatStatusRecord(rcpt: StatusRecipient, dsn: StatusDsn, oldlogCompat = true): string {
  const lines = [''];
  if (oldlogCompat) lines.push(`<${rcpt.address === '' ? '' : quote822Local(rcpt.address)}>: ${dsn.reason}`);
  lines.push(`recipient=${rcpt.address === '' ? '<>' : quote822Local(rcpt.address)}`);
  if (present(rcpt.orcpt) && !sameAddress(rcpt.address, rcpt.orcpt)) lines.push(`original_recipient=${quote822Local(rcpt.orcpt)}`);
  if (rcpt.offset !== undefined && rcpt.offset > 0) lines.push(`offset=${rcpt.offset}`);
  if (present(rcpt.dsnOrcpt)) lines.push(`dsn_orig_rcpt=${rcpt.dsnOrcpt}`);
  if (rcpt.notify) lines.push(`notify_flags=${rcpt.notify}`);
  if (present(dsn.status)) lines.push(`status=${dsn.status}`);
  if (present(dsn.action)) lines.push(`action=${dsn.action}`);
  if (present(dsn.dtype) && present(dsn.dtext)) lines.push(`diag_type=${dsn.dtype}`, `diag_text=${dsn.dtext}`);
  if (present(dsn.mtype) && present(dsn.mname)) lines.push(`mta_type=${dsn.mtype}`, `mta_mname=${dsn.mname}`);
  if (present(dsn.reason)) lines.push(`reason=${dsn.reason}`);
  return lines.join('\n') + '\n\n';
}

export interface AppendOptions {
  oldlogCompat?: boolean;
}

/**
 * bounce_append_service(): appends one recipient's status to the log of
 * message id in the service's queue (defer, bounce or trace), creating it
 * (mode 0600, hash directories included), then fsyncs. A failed write is
 * undone by truncating back to the old length.
 */
export async function appendStatusRecord(
  queueDir: string, layout: QueueLayout, service: string, id: string,
  rcpt: StatusRecipient, dsn: StatusDsn, opts: AppendOptions = {},
): Promise<FsFailure | null> {
  const opened = await openQueueFile(queueDir, layout, service, id, 'a', 0o600);
  if ('code' in opened) return opened;
  const { fh } = opened;
  let origLength = 0;
  try {
    origLength = (await fh.stat()).size;
    const bytes = Buffer.from(formatStatusRecord(rcpt, dsn, opts.oldlogCompat ?? true), 'latin1');
    let done = 0;
    while (done < bytes.length) done += (await fh.write(bytes, done, bytes.length - done)).bytesWritten;
    await fh.sync();
    return null;
  } catch (e) {
    await fh.truncate(origLength).catch(() => undefined);
    const error = e as NodeJS.ErrnoException;
    return { code: error.code ?? 'EIO', error };
  } finally {
    await fh.close().catch(() => undefined);
  }
}

/** printable(text, '?'): control and non-ASCII bytes become '?', UTF-8 sequences too unless utf8. */
function printable(line: string, utf8: boolean): string {
  if (/^[\x20-\x7e]*$/.test(line)) return line;
  let out = '';
  for (let i = 0; i < line.length; i++) {
    const c = line.charCodeAt(i);
    if (c >= 0x20 && c < 0x7f) {
      out += line[i];
      continue;
    }
    const cont = (j: number) => line.charCodeAt(j) >= 0x80 && line.charCodeAt(j) < 0xc0;
    if (utf8 && c >= 0xc2 && c <= 0xf4 && cont(i + 1)) {
      let j = i + 1;
      while (cont(j)) j++;
      out += line.slice(i, j);
      i = j - 1;
      continue;
    }
    out += '?';
  }
  return out;
}

const notifyOk = (v: number) => v === 1 || v === (v & 14);

export interface ReadOptions {
  /** smtputf8_enable: UTF-8 survives printable(). */
  utf8?: boolean;
}

/** Parses a status log as bounce_log_read() does, entry after entry. Warnings are Postfix's texts. */
export function parseStatusLog(text: string, queue: string, logPath: string, opts: ReadOptions = {}): { entries: StatusEntry[]; warnings: string[] } {
  const [compatStatus, compatAction] = queue === MAIL_QUEUE_DEFER ? ['4.0.0', 'delayed'] : ['5.0.0', 'failed'];
  const entries: StatusEntry[] = [];
  const warnings: string[] = [];
  const blank = (): StatusEntry => ({
    address: '', orcpt: '', offset: 0, dsnOrcpt: '', notify: 0, status: '', action: '', reason: '', dtype: '', dtext: '', mtype: '', mname: '',
  });
  let cur: StatusEntry | null = null;
  const finish = () => {
    if (cur === null) return;
    if (cur.address === '') cur.address = '(recipient address unavailable)';
    if (cur.status === '') cur.status = compatStatus;
    if (cur.action === '') cur.action = compatAction;
    if (cur.reason === '') cur.reason = '(description unavailable)';
    entries.push(cur);
    cur = null;
  };
  const lines = text.split('\n');
  // A last line without its newline still counts; the split leaves '' after a final newline.
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  for (const raw of lines) {
    if (raw === '') {
      finish();
      continue;
    }
    const line = printable(raw, opts.utf8 ?? false);
    const e: StatusEntry = (cur ??= blank());
    if (/^[A-Za-z0-9]/.test(line)) {
      const nv = splitNameValue(line);
      if ('error' in nv) {
        warnings.push(`${logPath}: malformed record: ${nv.error}`);
        continue;
      }
      const v = nv.value;
      switch (nv.name) {
        case 'recipient': e.address = v === '' ? '(MAILER-DAEMON)' : v; break;
        case 'original_recipient': e.orcpt = v === '' ? '(MAILER-DAEMON)' : v; break;
        case 'dsn_orig_rcpt': e.dsnOrcpt = v; break;
        case 'notify_flags': {
          const n = Number(atol(v));
          if (n > 0 && notifyOk(n)) e.notify = n;
          break;
        }
        case 'offset': {
          const n = Number(atol(v));
          if (n > 0) e.offset = n;
          break;
        }
        case 'status': e.status = v; break;
        case 'action': e.action = v; break;
        case 'diag_type': e.dtype = v; break;
        case 'diag_text': e.dtext = v; break;
        case 'mta_type': e.mtype = v; break;
        case 'mta_mname': e.mname = v; break;
        case 'reason': e.reason = v; break;
        default: warnings.push(`${logPath}: unknown attribute name: ${nv.name}, ignored`);
      }
      continue;
    }
    const close = line.indexOf('>: ', 1);
    if (line[0] !== '<' || close < 0) {
      warnings.push(`${logPath}: malformed record: ${line.slice(0, 30)}...`);
      continue;
    }
    const addr = line.slice(1, close);
    e.address = addr === '' ? '(MAILER-DAEMON)' : addr;
    e.reason = line.slice(close + 2).replace(/^[ \t\n\v\f\r]+/, '');
  }
  // An entry needs its closing empty line, as in bounce_log_read().
  return { entries, warnings };
}

/** Reads the log of message id in a queue (defer, bounce, trace). A missing log is ENOENT. */
export async function readStatusLog(
  queueDir: string, layout: QueueLayout, queue: string, id: string, opts: ReadOptions = {},
): Promise<{ entries: StatusEntry[]; warnings: string[] } | FsFailure> {
  const rel = mailQueuePath(layout, queue, id);
  let text: string;
  try {
    text = await fsp.readFile(path.resolve(queueDir, rel), 'latin1');
  } catch (e) {
    const error = e as NodeJS.ErrnoException;
    return { code: error.code ?? 'EIO', error };
  }
  return parseStatusLog(text, queue, rel, opts);
}

/** Removes the log of message id in a queue (cleanup and qmgr do this). ENOENT comes back as a value. */
export function removeStatusLog(queueDir: string, layout: QueueLayout, queue: string, id: string): Promise<FsFailure | null> {
  return removeQueueFile(queueDir, layout, queue, id);
}
