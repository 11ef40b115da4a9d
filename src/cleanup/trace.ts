// Mirrors cleanup_trace_append() of Postfix's cleanup/cleanup_out_recipient.c
// with the record format of bounce/bounce_append_service.c: when a
// recipient who asked for NOTIFY=SUCCESS is expanded by virtual_alias_maps,
// cleanup notes "alias expanded" (2.0.0, action "expanded") in the
// message's trace log (trace/QUEUEID); the queue manager turns that into the
// success notice later. The log is flushed to disk before the message is
// committed, and removed with the message when it is not accepted.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { quote822Local } from '../address/quote.js';
import { mailQueuePath, MAIL_QUEUE_TRACE } from '../queue/layout.js';
import { CLEANUP_STAT_WRITE } from './api.js';
import type { CleanupState } from './state.js';
import { toBytes, toText } from './text.js';

/** The recipient and delivery status of one trace record. */
export interface TraceRecord {
  address: string;
  origAddr: string;
  dsnOrcpt: string;
  dsnNotify: number;
  status: string;
  action: string;
  reason: string;
}

const quote = (addr: string): string => toBytes(quote822Local(toText(addr)));

/** One entry as the bounce service appends it (with backwards_bounce_logfile_compatibility). */
export function formatTraceRecord(r: TraceRecord): string {
  let out = '\n';
  out += `<${r.address === '' ? '' : quote(r.address)}>: ${r.reason}\n`;
  out += `recipient=${r.address === '' ? '<>' : quote(r.address)}\n`;
  if (r.origAddr !== '' && toText(r.address).toLowerCase() !== toText(r.origAddr).toLowerCase()) {
    out += `original_recipient=${quote(r.origAddr)}\n`;
  }
  if (r.dsnOrcpt !== '') out += `dsn_orig_rcpt=${r.dsnOrcpt}\n`;
  if (r.dsnNotify !== 0) out += `notify_flags=${r.dsnNotify}\n`;
  out += `status=${r.status}\naction=${r.action}\nreason=${r.reason}\n\n`;
  return out;
}

/** The trace log's path for this message. */
export function tracePath(state: CleanupState): string {
  return path.resolve(state.ctx.queueDir, mailQueuePath(state.ctx.layout, MAIL_QUEUE_TRACE, state.queueId));
}

/** cleanup_trace_append(): an "alias expanded" record for a recipient. */
export function cleanupTraceAppend(state: CleanupState, rcpt: Omit<TraceRecord, 'status' | 'action' | 'reason'>): void {
  const text = formatTraceRecord({ ...rcpt, status: '2.0.0', action: 'expanded', reason: 'alias expanded' });
  try {
    fs.appendFileSync(tracePath(state), Buffer.from(text, 'latin1'), { mode: 0o600 });
    state.traceWritten = true;
  } catch {
    state.ctx.log.warning(`${state.queueId}: trace logfile update error`);
    state.errs |= CLEANUP_STAT_WRITE;
  }
}

/** Makes the trace log durable (the bounce service fsyncs each append). */
export async function syncTrace(state: CleanupState): Promise<boolean> {
  if (!state.traceWritten) return true;
  try {
    const fh = await fs.promises.open(tracePath(state), 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
    return true;
  } catch {
    return false;
  }
}

/** Removes the trace log of a message that was not accepted. */
export function removeTrace(state: CleanupState): void {
  if (!state.traceWritten) return;
  fs.rmSync(tracePath(state), { force: true });
}
