// Mirrors Postfix's cleanup/cleanup_addr.c and cleanup_out_recipient.c:
// the envelope sender and recipients on their way into the queue file.
// Addresses are rewritten in the local context and made canonical
// (canonical maps, masquerading, per the *_classes parameters) by the
// address layer; sender_bcc_maps and recipient_bcc_maps add recipients;
// virtual_alias_maps expands each recipient; duplicates (same address, DSN
// original recipient, NOTIFY and original recipient) are written once.
// Table failures become CLEANUP_STAT_* bits, as in Postfix.
import { envelopeRecipient, envelopeSender } from '../address/canonical.js';
import { mailAddrFindToInternal } from '../address/addr-find.js';
import type { Maps } from '../address/maps.js';
import { CLEANUP_FLAG_AUTOUTF8, CLEANUP_FLAG_BCC_OK, CLEANUP_FLAG_MAP_OK, CLEANUP_STAT_WRITE } from './api.js';
import { DSN_NOTIFY_NEVER, DSN_NOTIFY_SUCCESS } from '../mail/dsn.js';
import { cleanupOut } from './out.js';
import { cleanupTraceAppend } from './trace.js';
import { SMTPUTF8_FLAG_REQUESTED, SMTPUTF8_FLAG_SENDER, type CleanupState } from './state.js';
import { allAscii, toBytes, toText, validUtf8 } from './text.js';


/** Fix 20140711: a non-ASCII address asks for SMTPUTF8 when autodetection is on. */
function detectUtf8(state: CleanupState, addr: string, senderFlag: number): void {
  if (!state.ctx.params.smtputf8Enable || addr === '' || allAscii(addr) || !validUtf8(addr)) return;
  state.smtputf8 |= senderFlag;
  if (state.flags & CLEANUP_FLAG_AUTOUTF8) state.smtputf8 |= SMTPUTF8_FLAG_REQUESTED;
}

/** sender_bcc_maps / recipient_bcc_maps: one lookup, the result becomes a BCC recipient. */
async function autoBcc(state: CleanupState, maps: Maps | undefined, addr: string): Promise<void> {
  if (!(state.flags & CLEANUP_FLAG_BCC_OK) || addr === '' || !maps) return;
  const r = await mailAddrFindToInternal(maps, toText(addr), state.ctx.resolver.addrFindEnv());
  if (r.status === 'found') {
    await cleanupAddrBcc(state, toBytes(r.value));
  } else if (r.status === 'error') {
    state.ctx.log.warning(`${state.queueId}: ${maps.title} map lookup problem -- message not accepted, try again later`);
    state.errs |= CLEANUP_STAT_WRITE;
  }
}

/** cleanup_addr_sender(): the S record. */
export async function cleanupAddrSender(state: CleanupState, buf: string): Promise<void> {
  const r = await envelopeSender(state.ctx.rules, toText(buf), (state.flags & CLEANUP_FLAG_MAP_OK) !== 0, state.queueId);
  state.errs |= r.errs;
  const clean = toBytes(r.address);
  detectUtf8(state, clean, SMTPUTF8_FLAG_SENDER);
  cleanupOut(state, 'S', clean);
  state.sender = clean;
  await autoBcc(state, state.ctx.senderBcc, clean);
}

/** cleanup_addr_recipient(): an R record, with the pending O/o/n state. */
export async function cleanupAddrRecipient(state: CleanupState, buf: string): Promise<void> {
  const r = await envelopeRecipient(state.ctx.rules, toText(buf), (state.flags & CLEANUP_FLAG_MAP_OK) !== 0, state.queueId);
  state.errs |= r.errs;
  const clean = toBytes(r.address);
  detectUtf8(state, clean, 0);
  // Fix 20141024: no made-up "bare" DSN original recipient for the null address.
  if (state.dsnOrcpt === null && clean !== '') {
    const utf8 = !allAscii(clean) && (state.smtputf8 & SMTPUTF8_FLAG_REQUESTED) !== 0;
    state.dsnOrcpt = `${utf8 ? 'utf-8' : 'rfc822'};${clean}`;
  }
  await cleanupOutRecipient(state, state.dsnOrcpt, state.dsnNotify, state.origRcpt ?? '', clean);
  state.recip = clean;
  await autoBcc(state, state.ctx.recipientBcc, clean);
}

/** cleanup_addr_bcc_dsn() with no DSN original recipient and NOTIFY=NEVER (cleanup_addr_bcc). */
export async function cleanupAddrBcc(state: CleanupState, bcc: string): Promise<void> {
  const r = await envelopeRecipient(state.ctx.rules, toText(bcc), (state.flags & CLEANUP_FLAG_MAP_OK) !== 0, state.queueId);
  state.errs |= r.errs;
  const clean = toBytes(r.address);
  detectUtf8(state, clean, 0);
  await cleanupOutRecipient(state, null, DSN_NOTIFY_NEVER, clean, clean);
}

/** Writes one recipient unless the duplicate filter has seen it. */
function writeRecipient(state: CleanupState, dsnOrcpt: string, dsnNotify: number, orcpt: string, recip: string): void {
  const key = state.ctx.params.enableOrcpt ? `${dsnOrcpt}\n${dsnNotify}\n${orcpt}\n${recip}` : recip;
  if (state.dups.check(toText(key))) return;
  if (dsnNotify) cleanupOut(state, 'A', `notify_flags=${dsnNotify}`);
  if (dsnOrcpt !== '') cleanupOut(state, 'A', `dsn_orig_rcpt=${dsnOrcpt}`);
  cleanupOut(state, 'O', orcpt);
  cleanupOut(state, 'R', recip);
  state.rcptCount++;
}

/**
 * cleanup_out_recipient(): without virtual aliasing the recipient goes out
 * as is; otherwise each address of its expansion does. NOTIFY=SUCCESS on an
 * expanded alias is dropped from the expansion (RFC 3461 "expanded").
 */
export async function cleanupOutRecipient(state: CleanupState, dsnOrcptIn: string | null, dsnNotifyIn: number,
  orcpt: string, recip: string): Promise<void> {
  const dsnOrcpt = dsnOrcptIn ?? '';
  let dsnNotify = dsnNotifyIn;
  const virtual = state.ctx.virtual;
  if (!(state.flags & CLEANUP_FLAG_MAP_OK) || !virtual.enabled) {
    writeRecipient(state, dsnOrcpt, dsnNotify, orcpt, recip);
    return;
  }
  const x = await virtual.expand(toText(recip), state.queueId);
  if (x.errs) {
    state.errs |= x.errs;
    if (x.reason) state.reason = x.reason;
  }
  const addrs = x.addresses.map(toBytes);
  if (dsnNotify & DSN_NOTIFY_SUCCESS && (addrs.length > 1 || addrs[0] !== recip)) {
    cleanupTraceAppend(state, { address: recip, origAddr: orcpt, dsnOrcpt, dsnNotify });
    dsnNotify = dsnNotify === DSN_NOTIFY_SUCCESS ? DSN_NOTIFY_NEVER : dsnNotify & ~DSN_NOTIFY_SUCCESS;
  }
  for (const a of addrs) writeRecipient(state, dsnOrcpt, dsnNotify, orcpt, a);
}
