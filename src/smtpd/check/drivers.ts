// Mirrors the smtpd_check_* entry points of Postfix's
// smtpd/smtpd_check.c, which smtpd.c calls at each protocol stage: client
// (connect), helo, mail, rcpt (with smtpd_delay_reject re-running the
// earlier stages, relay then recipient restrictions, the deferred
// defer_if_permit verdict and the implicit reject_unlisted_*), etrn, data,
// end-of-data, size, queue space, the address sanity check behind "Bad
// address syntax", and the local/remote header rewriting choice. Each
// returns the reply text to send, or null to go on.
import { statfsSync } from 'node:fs';
import { RESOLVE_FLAG_ERROR } from '../../address/resolve.js';
import { MAIL_ERROR_POLICY, MAIL_ERROR_RESOURCE, MAIL_ERROR_SOFTWARE, type SmtpdState } from '../state.js';
import type { SmtpdContext } from '../context.js';
import { toText } from '../text.js';
import { checkRecipientRcptMaps, checkSenderRcptMaps } from './addresses.js';
import { genericChecks } from './generic.js';
import { permitInetInterfaces, permitMynetworks } from './hosts.js';
import {
  CheckJump, logWhatsup, NAME_CLIENT, NAME_DATA, NAME_EOD, NAME_ETRN, NAME_HELO, NAME_RECIPIENT, NAME_SENDER,
  smtpdCheckReject, SMTPD_CHECK_OK, SMTPD_CHECK_REJECT,
} from './reject.js';

/** SMTPD_CHECK_RESET(). */
function checkReset(state: SmtpdState): void {
  state.recursion = 0;
  state.warnIfReject = 0;
  state.deferIfReject.active = false;
}

/** Runs one restriction list, turning a CheckJump (Postfix's longjmp) back into a status. */
async function run(ctx: SmtpdContext, state: SmtpdState, list: string[], replyName: string, replyClass: string, defAcl: string | null): Promise<number> {
  if (list.length === 0) return 0;
  try {
    return await genericChecks(ctx, state, list, replyName, replyClass, defAcl);
  } catch (e) {
    if (e instanceof CheckJump) return e.status;
    throw e;
  }
}

const verdict = (state: SmtpdState, status: number): string | null => (status === SMTPD_CHECK_REJECT ? state.errorText : null);

/** A pending defer_if_permit becomes the verdict when nothing rejected. */
function applyDeferIfPermit(ctx: SmtpdContext, state: SmtpdState, status: number): number {
  if (status !== SMTPD_CHECK_REJECT && state.deferIfPermit.active) {
    const d = state.deferIfPermit;
    return smtpdCheckReject(ctx, state, d.errorClass, d.code, d.dsn, d.reason);
  }
  return status;
}

/** smtpd_check_client(). */
export async function smtpdCheckClient(ctx: SmtpdContext, state: SmtpdState): Promise<string | null> {
  state.deferIfPermit.active = false;
  checkReset(state);
  const status = await run(ctx, state, ctx.restrictions.client, state.namaddr, NAME_CLIENT, 'check_client_access');
  state.deferIfPermitClient = state.deferIfPermit.active;
  return verdict(state, status);
}

/** smtpd_check_helo(): the name is checked as if it were the session's HELO name. */
export async function smtpdCheckHelo(ctx: SmtpdContext, state: SmtpdState, helo: string | null): Promise<string | null> {
  if (helo === null) return null;
  const saved = state.heloName;
  state.heloName = helo;
  try {
    state.deferIfPermit.active = state.deferIfPermitClient;
    checkReset(state);
    const status = await run(ctx, state, ctx.restrictions.helo, helo, NAME_HELO, 'check_helo_access');
    state.deferIfPermitHelo = state.deferIfPermit.active;
    return verdict(state, status);
  } finally {
    state.heloName = saved;
  }
}

/** smtpd_check_mail(). */
export async function smtpdCheckMail(ctx: SmtpdContext, state: SmtpdState, sender: string | null): Promise<string | null> {
  if (sender === null) return null;
  const saved = state.sender;
  state.sender = sender;
  try {
    state.deferIfPermit.active = state.deferIfPermitClient || state.deferIfPermitHelo;
    state.senderRcptmapChecked = false;
    checkReset(state);
    let status = await run(ctx, state, ctx.restrictions.sender, sender, NAME_SENDER, 'check_sender_access');
    state.deferIfPermitSender = state.deferIfPermit.active;
    if (ctx.params.rejectUnlistedSender && status !== SMTPD_CHECK_REJECT && !state.senderRcptmapChecked && !state.discard && sender !== '') {
      status = await runThunk(() => checkSenderRcptMaps(ctx, state, sender));
    }
    return verdict(state, status);
  } finally {
    state.sender = saved;
  }
}

async function runThunk(f: () => Promise<number>): Promise<number> {
  try {
    return await f();
  } catch (e) {
    if (e instanceof CheckJump) return e.status;
    throw e;
  }
}

/** smtpd_check_rcpt(): also used for VRFY. */
export async function smtpdCheckRcpt(ctx: SmtpdContext, state: SmtpdState, recipient: string): Promise<string | null> {
  if (recipient.toLowerCase() === 'postmaster') return null;
  const saved = state.recipient;
  state.recipient = recipient;
  try {
    state.recipientRcptmapChecked = false;
    if (ctx.params.delayReject) {
      const err = (await smtpdCheckClient(ctx, state)) ?? (await smtpdCheckHelo(ctx, state, state.heloName)) ?? (await smtpdCheckMail(ctx, state, state.sender));
      if (err !== null) return err;
    }
    state.deferIfPermit.active = state.deferIfPermitSender;
    checkReset(state);
    const relayFirst = ctx.params.relayBeforeRcptChecks;
    const lists = relayFirst ? [ctx.restrictions.relay, ctx.restrictions.recipient] : [ctx.restrictions.recipient, ctx.restrictions.relay];
    let status = 0;
    for (const list of lists) {
      status = await run(ctx, state, list, recipient, NAME_RECIPIENT, 'check_recipient_access');
      if (status === SMTPD_CHECK_REJECT) break;
    }
    status = applyDeferIfPermit(ctx, state, status);
    if (ctx.params.rejectUnlistedRecipient && status !== SMTPD_CHECK_REJECT && !state.recipientRcptmapChecked && !state.discard) {
      status = await runThunk(() => checkRecipientRcptMaps(ctx, state, recipient));
    }
    return verdict(state, status);
  } finally {
    state.recipient = saved;
  }
}

/** smtpd_check_etrn(). */
export async function smtpdCheckEtrn(ctx: SmtpdContext, state: SmtpdState, domain: string): Promise<string | null> {
  const saved = state.etrnName;
  state.etrnName = domain;
  try {
    if (ctx.params.delayReject) {
      const err = (await smtpdCheckClient(ctx, state)) ?? (await smtpdCheckHelo(ctx, state, state.heloName));
      if (err !== null) return err;
    }
    state.deferIfPermit.active = state.deferIfPermitClient || state.deferIfPermitHelo;
    checkReset(state);
    let status = await run(ctx, state, ctx.restrictions.etrn, domain, NAME_ETRN, 'check_etrn_access');
    status = applyDeferIfPermit(ctx, state, status);
    return verdict(state, status);
  } finally {
    state.etrnName = saved;
  }
}

/** smtpd_check_data() and smtpd_check_eod(): no single recipient is shown when there are several. */
async function checkMessageStage(ctx: SmtpdContext, state: SmtpdState, list: string[], name: string, replyClass: string): Promise<string | null> {
  const saved = state.recipient;
  if (state.rcptCount > 1) state.recipient = null;
  try {
    state.deferIfPermit.active = false;
    checkReset(state);
    let status = await run(ctx, state, list, name, replyClass, null);
    status = applyDeferIfPermit(ctx, state, status);
    return verdict(state, status);
  } finally {
    if (state.rcptCount > 1) state.recipient = saved;
  }
}

export function smtpdCheckData(ctx: SmtpdContext, state: SmtpdState): Promise<string | null> {
  return checkMessageStage(ctx, state, ctx.restrictions.data, 'DATA', NAME_DATA);
}

export function smtpdCheckEod(ctx: SmtpdContext, state: SmtpdState): Promise<string | null> {
  return checkMessageStage(ctx, state, ctx.restrictions.eod, 'END-OF-MESSAGE', NAME_EOD);
}

/** smtpd_check_size(): SIZE= above message_size_limit. */
export function smtpdCheckSize(ctx: SmtpdContext, state: SmtpdState, size: number): string | null {
  checkReset(state);
  const limit = ctx.params.messageSizeLimit;
  if (limit > 0 && size > limit) {
    smtpdCheckReject(ctx, state, MAIL_ERROR_POLICY, 552, '5.3.4', 'Message size exceeds fixed limit');
    return state.errorText;
  }
  return null;
}

/** The last statfs() of the queue file system: asked at most once a second. */
let lastStatfs: { at: number; dir: string; fs: { bsize: number; bavail: number } | null } | null = null;

function queueSpace(dir: string): { bsize: number; bavail: number } | null {
  const now = Date.now();
  if (lastStatfs && lastStatfs.dir === dir && now - lastStatfs.at < 1000) return lastStatfs.fs;
  let fs: { bsize: number; bavail: number } | null;
  try {
    fs = statfsSync(dir);
  } catch {
    fs = null;
  }
  lastStatfs = { at: now, dir, fs };
  return fs;
}

/** smtpd_check_queue(): queue_minfree and 1.5 times message_size_limit must be free. */
export function smtpdCheckQueue(ctx: SmtpdContext, state: SmtpdState): string | null {
  checkReset(state);
  const fs = queueSpace(ctx.params.queueDirectory || '.');
  if (fs === null) return null;
  const blocks = (x: number): number => Math.floor(x / fs.bsize);
  if (blocks(ctx.params.queueMinfree) >= fs.bavail || blocks(ctx.params.messageSizeLimit) >= fs.bavail / 1.5) {
    smtpdCheckReject(ctx, state, MAIL_ERROR_RESOURCE, 452, '4.3.1', 'Insufficient system storage');
    ctx.log.warning(`not enough free space in mail queue: ${fs.bavail * fs.bsize} bytes < 1.5*message size limit`);
    return state.errorText;
  }
  return null;
}

/** smtpd_check_addr(): false when the resolver calls the address malformed, or a non-ASCII domain lacks SMTPUTF8. */
export async function smtpdCheckAddr(ctx: SmtpdContext, sender: string | null, addr: string, smtputf8: boolean): Promise<boolean> {
  if (addr === '') return true;
  const reply = await ctx.resolve(sender, addr);
  if (reply.flags & RESOLVE_FLAG_ERROR) return false;
  const at = reply.recipient.lastIndexOf('@');
  // eslint-disable-next-line no-control-regex
  if (!smtputf8 && at >= 0 && at + 1 < reply.recipient.length && !/^[\x00-\x7f]*$/.test(reply.recipient.slice(at + 1))) return false;
  return true;
}

/** smtpd_check_rewrite(): the header rewriting context for this client ("local" or "remote"). */
export async function smtpdCheckRewrite(ctx: SmtpdContext, state: SmtpdState): Promise<string | null> {
  const words = ctx.localRewriteClients;
  for (let i = 0; i < words.length; i++) {
    let name = words[i]!;
    let status = 0;
    if (name.includes(':')) {
      const maps = ctx.accessMaps.get(name);
      const r = maps ? await maps.find(toText(state.addr), 0) : null;
      if (r?.status === 'found') status = SMTPD_CHECK_OK;
      else if (r?.status === 'error') status = r.error === 'retry' ? -1 : -2;
      name = '';
    } else if (name.toLowerCase() === 'permit_inet_interfaces') {
      status = await permitInetInterfaces(ctx, state);
    } else if (name.toLowerCase() === 'permit_mynetworks') {
      status = await permitMynetworks(ctx, state);
    } else if (name.toLowerCase() === 'check_address_map') {
      const table = words[++i];
      const maps = table ? ctx.accessMaps.get(table) : undefined;
      const r = maps ? await maps.find(toText(state.addr), 0) : null;
      if (r?.status === 'found') status = SMTPD_CHECK_OK;
      else if (r?.status === 'error') status = r.error === 'retry' ? -1 : -2;
    } else if (['permit_sasl_authenticated', 'permit_tls_all_clientcerts', 'permit_tls_clientcerts'].includes(name.toLowerCase())) {
      status = 0;
    } else {
      ctx.log.warning(`parameter local_header_rewrite_clients: invalid request: ${name}`);
      continue;
    }
    if (status < 0) {
      const text = status === -1 ? '451 4.3.0 Temporary lookup error' : '451 4.3.5 Server configuration error';
      state.errorMask |= status === -1 ? MAIL_ERROR_RESOURCE : MAIL_ERROR_SOFTWARE;
      logWhatsup(ctx, state, 'reject', text);
      return text;
    }
    if (status === SMTPD_CHECK_OK) {
      state.rewriteContext = 'local';
      return null;
    }
  }
  state.rewriteContext = 'remote';
  return null;
}
