// Mirrors Postfix's cleanup/cleanup_envelope.c: the envelope segment. The
// SIZE record goes first (zeros, fixed width, rewritten at the end); then
// the time stamp with cleanup's own create_time after it, the sender (made
// canonical), the named attributes (DSN ones become state, not records),
// the W record before the first recipient when delay_warning_time is set,
// and each recipient through the address pipeline. Malformed input sets
// CLEANUP_STAT_BAD with Postfix's warning. Writes through out.ts only.
import { CLEANUP_FLAG_DISCARD, CLEANUP_FLAG_HOLD, CLEANUP_STAT_BAD } from './api.js';
import { cleanupAddrRecipient, cleanupAddrSender } from './addr.js';
import { cleanupOut } from './out.js';
import { CLEANUP_FLAG_INRCPT, CLEANUP_FLAG_WARN_SEEN, SMTPUTF8_FLAG_REQUESTED, type CleanupState } from './state.js';
import { splitNameValue } from '../queue/rec-type.js';
import { cstr, trunc } from './text.js';
import { dsnNotifyOk, dsnRetOk } from '../mail/dsn.js';

export const REC_TYPE_ENVELOPE = 'MCTcFILSDRO/WVA>K<ion';
const REC_TYPE_ENV_RECIPIENT = 'MDRO/Kon';
const CLEANUP_FLAG_MASK_EXTRA = CLEANUP_FLAG_HOLD | CLEANUP_FLAG_DISCARD;

export const allDigits = (s: string): boolean => /^[0-9]+$/.test(s);
const allPrint = (s: string): boolean => /^[\x20-\x7e]*$/.test(s);

/** "%15ld" fields, six of them: the SIZE record. */
export function sizeRecord(fields: readonly number[]): string {
  return fields.map((f) => String(f).padStart(15, ' ')).join(' ');
}

/** atoi(): leading blanks, sign, digits; 0 when none. */
export function atoi(s: string): number {
  const m = /^[ \t\n\v\f\r]*([-+]?[0-9]+)/.exec(s);
  return m ? Number.parseInt(m[1]!, 10) | 0 : 0;
}

/** atol(): as atoi() with a 64-bit result. */
export function atol(s: string): number {
  const m = /^[ \t\n\v\f\r]*([-+]?[0-9]+)/.exec(s);
  return m ? Number.parseInt(m[1]!, 10) : 0;
}

/** rec_attr_map(): attributes that stand for record types of their own. */
export function recAttrMap(name: string): string | null {
  switch (name) {
    case 'dsn_orig_rcpt': return 'o';
    case 'notify_flags': return 'n';
    case 'envelope_id': return 'i';
    case 'ret_flags': return '<';
    case 'create_time': return 'c';
    default: return null;
  }
}

function bad(state: CleanupState, text: string): void {
  state.ctx.log.warning(`${state.queueId}: ${text}`);
  state.errs |= CLEANUP_STAT_BAD;
}

/** An A record's name and value, or null after a complaint (malformed or empty value). */
export function parseAttr(state: CleanupState, buf: string): { name: string; value: string } | null {
  const nv = splitNameValue(cstr(buf));
  if ('error' in nv) {
    bad(state, `message rejected: malformed attribute: ${nv.error}: ${trunc(buf, 100)}`);
    return null;
  }
  if (nv.value === '') {
    state.ctx.log.warning(`${state.queueId}: spurious null attribute value for "${nv.name}" -- ignored`);
    return null;
  }
  return nv;
}

/** The 'f' record (not part of the queue file format): extra flags from the client. */
export function extraFlags(state: CleanupState, buf: string): void {
  const extra = atoi(buf);
  if (extra & ~CLEANUP_FLAG_MASK_EXTRA) state.ctx.log.warning(`${state.queueId}: ignoring bad extra flags: 0x${(extra >>> 0).toString(16)}`);
  else state.flags |= extra;
}

/** cleanup_envelope(): the first record; writes the preliminary SIZE record. */
export async function cleanupEnvelope(state: CleanupState, type: string, buf: string): Promise<void> {
  cleanupOut(state, 'C', sizeRecord([0, 0, 0, 0, 0, 0]));
  state.action = 'envelope_process';
  await cleanupEnvelopeProcess(state, type, buf);
}

/** The records that describe a recipient (o, n, O, D, / and R); false for any other record. */
async function recipientRecord(state: CleanupState, type: string, mappedType: string, mappedBuf: string, buf: string): Promise<boolean> {
  if (type === 'R') {
    if (state.sender === null) {
      bad(state, 'message rejected: envelope recipient precedes sender');
      return true;
    }
    state.origRcpt ??= buf;
    await cleanupAddrRecipient(state, buf);
    state.origRcpt = null;
    state.dsnOrcpt = null;
    state.dsnNotify = 0;
    return true;
  }
  if (type === 'D' || type === '/') {
    state.origRcpt = null;
    state.dsnOrcpt = null;
    state.dsnNotify = 0;
    return true;
  }
  if (mappedType === 'o') {
    if (state.dsnOrcpt !== null) {
      state.ctx.log.warning(`${state.queueId}: ignoring out-of-order DSN original recipient record <${trunc(state.dsnOrcpt, 200)}>`);
    }
    state.dsnOrcpt = mappedBuf;
    return true;
  }
  if (mappedType === 'n') {
    noteDsnNotify(state, mappedBuf, buf, 'DSN');
    return true;
  }
  if (type === 'O') {
    if (state.origRcpt !== null) {
      state.ctx.log.warning(`${state.queueId}: ignoring out-of-order original recipient record <${trunc(state.origRcpt, 200)}>`);
    }
    state.origRcpt = buf;
    return true;
  }
  return false;
}

/** A notify_flags attribute; label is "DSN" in the envelope and "dsn" in the extracted segment. */
export function noteDsnNotify(state: CleanupState, value: string, buf: string, label: string): void {
  if (state.dsnNotify) {
    state.ctx.log.warning(`${state.queueId}: ignoring out-of-order DSN notify record <${state.dsnNotify}>`);
    state.dsnNotify = 0;
  }
  const v = allDigits(value) ? atoi(value) : 0;
  if (v === 0 || !dsnNotifyOk(v)) {
    state.ctx.log.warning(`${state.queueId}: ignoring malformed ${label} notify record <${trunc(buf, 200)}>`);
  } else {
    state.dsnNotify = v;
    state.qmgrOpts |= v << 1;
  }
}

/** cleanup_envelope_process(): one envelope record. */
export async function cleanupEnvelopeProcess(state: CleanupState, type: string, buf: string): Promise<void> {
  if (type === 'f') return extraFlags(state, buf);
  // 'd' (delayed delivery) is compiled out of Postfix: it is refused below as an unknown type.
  if (type === 'm') return; // Milter count: there are no Milters here.
  let mappedType = type;
  let mappedBuf = buf;
  let attr: { name: string; value: string } | null = null;
  if (type === 'A') {
    attr = parseAttr(state, buf);
    if (attr === null) return;
    const m = recAttrMap(attr.name);
    if (m !== null) {
      mappedType = m;
      mappedBuf = attr.value;
    }
  }
  if (!REC_TYPE_ENVELOPE.includes(type)) {
    bad(state, `message rejected: unexpected record type ${type.charCodeAt(0)} in envelope`);
    return;
  }
  if (!(state.flags & CLEANUP_FLAG_INRCPT) && REC_TYPE_ENV_RECIPIENT.includes(type)) {
    if (state.sender === null) return bad(state, 'message rejected: missing sender envelope record');
    if (state.arrivalSec === 0) return bad(state, 'message rejected: missing time envelope record');
    const p = state.ctx.params;
    if (!(state.flags & CLEANUP_FLAG_WARN_SEEN) && state.sender !== '' && p.delayWarnTime > 0) {
      cleanupOut(state, 'W', String(state.arrivalSec + p.delayWarnTime).padStart(15, ' '));
    }
    state.flags |= CLEANUP_FLAG_INRCPT;
  }
  if (await recipientRecord(state, type, mappedType, mappedBuf, buf)) return;
  if (type === 'M') {
    state.action = 'message';
    state.flags &= ~CLEANUP_FLAG_INRCPT;
    return;
  }
  if (state.flags & CLEANUP_FLAG_INRCPT) state.qmgrOpts |= 1; // QMGR_READ_FLAG_MIXED_RCPT_OTHER
  return envelopeOther(state, type, mappedType, mappedBuf, buf, attr);
}

/** The envelope records that are not about recipients. */
async function envelopeOther(state: CleanupState, type: string, mappedType: string, mappedBuf: string, buf: string,
  attr: { name: string; value: string } | null): Promise<void> {
  switch (mappedType) {
    case 'C':
      // Postfix means to keep the client's SMTPUTF8_REQUESTED flag ("postsuper -r"), but its
      // scan pattern never matches: in effect only the bits other than REQUESTED are cleared.
      state.smtputf8 &= SMTPUTF8_FLAG_REQUESTED;
      return;
    case 'c':
      return; // cleanup writes its own create_time
    case 'T':
      if (state.arrivalSec === 0) {
        // REC_TYPE_TIME_SCAN: seconds, then microseconds after the digits and one space.
        state.arrivalSec = atol(buf);
        const rest = buf.replace(/^[0-9]*/, '');
        state.arrivalUsec = atol(rest.startsWith(' ') ? rest.slice(1) : rest);
        cleanupOut(state, type, buf);
      }
      cleanupOut(state, 'A', `create_time=${Math.floor(Date.now() / 1000)}`);
      return;
    case 'F':
      if (state.fullname === null) {
        state.fullname = buf;
        cleanupOut(state, type, buf);
      }
      return;
    case 'S':
      if (state.sender !== null) return bad(state, 'message rejected: multiple envelope sender records');
      return cleanupAddrSender(state, buf);
    case 'i':
      if (!allPrint(mappedBuf)) return bad(state, 'message rejected: bad DSN envelope ID record');
      state.dsnEnvid = mappedBuf;
      cleanupOut(state, type, buf);
      return;
    case '<': {
      const v = allDigits(mappedBuf) ? atoi(mappedBuf) : 0;
      if (v === 0 || !dsnRetOk(v)) return bad(state, `message rejected: bad DSN RET record <${trunc(buf, 200)}>`);
      state.dsnRet = v;
      cleanupOut(state, type, buf);
      return;
    }
    case 'W':
      if (!(state.flags & CLEANUP_FLAG_WARN_SEEN)) {
        state.flags |= CLEANUP_FLAG_WARN_SEEN;
        cleanupOut(state, type, buf);
      }
      return;
    case 'V':
      return verpRecord(state, buf);
    case 'A':
      return namedAttribute(state, buf, attr!);
    default:
      cleanupOut(state, type, buf);
  }
}

function verpRecord(state: CleanupState, buf: string): void {
  if (state.verpDelims !== null) return;
  const filter = state.ctx.params.verpFilter;
  if (state.sender === null || state.sender === '') {
    state.ctx.log.warning(`${state.queueId}: ignoring VERP request for null sender`);
  } else if (buf.length !== 2 || !filter.includes(buf[0]!) || !filter.includes(buf[1]!)) {
    state.ctx.log.warning(`${state.queueId}: ignoring bad VERP request: "${trunc(buf, 100)}"`);
  } else {
    state.verpDelims = buf;
    cleanupOut(state, 'V', buf);
  }
}

function namedAttribute(state: CleanupState, buf: string, attr: { name: string; value: string }): void {
  if (state.attr.size >= state.ctx.params.attrCountLimit) {
    return bad(state, `message rejected: attribute count exceeds limit ${state.ctx.params.attrCountLimit}`);
  }
  if (attr.name === 'rewrite_context') {
    if (attr.value === 'local') {
      state.hdrRewriteContext = 'local';
    } else if (attr.value === 'remote') {
      state.hdrRewriteContext = state.ctx.params.remoteRewriteDomain !== '' ? 'remote' : null;
    } else {
      return bad(state, `message rejected: bad rewriting context: ${trunc(attr.value, 100)}`);
    }
  }
  if (attr.name === 'trace_flags' && !allDigits(attr.value)) {
    return bad(state, `message rejected: bad TFLAG record <${trunc(buf, 200)}>`);
  }
  state.attr.set(attr.name, attr.value);
  cleanupOut(state, 'A', buf);
}
