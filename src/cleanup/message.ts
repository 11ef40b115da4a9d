// Mirrors Postfix's cleanup/cleanup_message.c: the message content. Text
// records go through the MIME parser; each complete header meets
// header_checks (or mime_header_checks, nested_header_checks), is counted
// (Received: hops, Message-Id logging, Resent- headers), has its addresses
// rewritten in the header rewriting context, or is dropped
// (message_drop_headers); at the end of the primary headers the missing
// Message-Id, Date, From (and To) headers are added; body lines meet
// body_checks. The X record ends the content and starts the extracted
// segment. Writes through out.ts and header-out.ts only.
import { headerAddress } from '../address/canonical.js';
import { TOK822_ADDR, tok822Grep, tok822Parse } from '../address/tok822.js';
import { tok822Externalize, TOK822_STR_HEAD } from '../address/tok822-format.js';
import type { Maps } from '../address/maps.js';
import { CLEANUP_FLAG_FILTER, CLEANUP_FLAG_MAP_OK, CLEANUP_STAT_BAD, CLEANUP_STAT_CONT, CLEANUP_STAT_HOPS, CLEANUP_STAT_WRITE } from './api.js';
import { cleanupAct, logInfo, logWarning, logAddr } from './act.js';
import { dsnPrepend } from '../mail/dsn.js';
import { addMissingHeaders } from './missing-headers.js';
import {
  HDR_CONTENT_TRANSFER_ENCODING, HDR_MESSAGE_ID, HDR_OPT_DROP, HDR_OPT_MIME, HDR_OPT_RECIP, HDR_OPT_RR, HDR_OPT_SENDER,
  HDR_RECEIVED, HDR_RESENT_MESSAGE_ID, type HeaderOpts,
} from '../mail/header-opts.js';
import { cleanupFoldHeader, cleanupOutHeader } from './header-out.js';
import {
  MIME_ERR_TRUNC_HEADER, MIME_HDR_MULTIPART, MIME_HDR_NESTED, MIME_HDR_PRIMARY, MIME_OPT_DISABLE_MIME,
  MIME_OPT_REPORT_8BIT_IN_7BIT_BODY, MIME_OPT_REPORT_8BIT_IN_HEADER, MIME_OPT_REPORT_ENCODING_DOMAIN,
  MIME_OPT_REPORT_NESTING, MimeState, mimeStateDetail, mimeStateError,
} from '../mail/mime-state.js';
import { cleanupOut } from './out.js';
import type { CleanupState } from './state.js';
import { isCSpace, toBytes, toText, trunc } from './text.js';

/** The table a header of this class meets, with its parameter name. */
function checksFor(state: CleanupState, headerClass: number): [Maps, string] | null {
  const c = state.ctx;
  if (headerClass === MIME_HDR_PRIMARY && c.headerChecks) return [c.headerChecks, 'header_checks'];
  if (headerClass === MIME_HDR_MULTIPART && c.mimeHeaderChecks) return [c.mimeHeaderChecks, 'mime_header_checks'];
  if (headerClass === MIME_HDR_NESTED && c.nestedHeaderChecks) return [c.nestedHeaderChecks, 'nested_header_checks'];
  return null;
}

/** A lookup in a content table: the action (bytes), null when nothing matched, after noting a failure. */
async function contentLookup(state: CleanupState, maps: Maps, key: string): Promise<string | null> {
  const r = await maps.find(toText(key));
  if (r.status === 'found') return toBytes(r.value);
  if (r.status === 'error') {
    logWarning(state, `${state.queueId}: ${maps.title} map lookup problem -- message not accepted, try again later`);
    state.errs |= CLEANUP_STAT_WRITE;
  }
  return null;
}

/** cleanup_rewrite_sender() / cleanup_rewrite_recip(): the addresses of one header. */
async function rewriteHeader(state: CleanupState, opts: HeaderOpts, header: string, side: 'sender' | 'recipient'): Promise<void> {
  const nameLen = opts.name.length;
  const tree = tok822Parse(toText(header.slice(nameLen + 1)), state.ctx.params.tokenLimit);
  let did = false;
  const mapOk = (state.flags & CLEANUP_FLAG_MAP_OK) !== 0;
  for (const node of tok822Grep(tree, TOK822_ADDR)) {
    const r = await headerAddress(state.ctx.rules, side, node, state.hdrRewriteContext!, mapOk, state.queueId);
    did ||= r.changed;
    state.errs |= r.errs;
  }
  let text = header;
  if (did) {
    const warn = (t: string): void => logWarning(state, t);
    text = `${header.slice(0, nameLen)}: ${toBytes(tok822Externalize(tree, TOK822_STR_HEAD, warn))}`;
  }
  if (opts.flags & HDR_OPT_DROP) return;
  if (did) cleanupFoldHeader(state, text);
  else cleanupOutHeader(state, text);
}

/** The RFC 2045 encodings that say the message has 8-bit content ("binary" is a violation Postfix tolerates). */
const EIGHT_BIT = new Set(['8bit', 'binary']);

/** cleanup_header_callback(): one complete header. */
async function headerCallback(state: CleanupState, headerClassIn: number, optsIn: HeaderOpts | null, headerIn: string): Promise<void> {
  // Postfix handles a header as a C string: a NUL byte ends it, for the checks and in the queue file.
  const nul = headerIn.indexOf('\0');
  let header = nul < 0 ? headerIn : headerIn.slice(0, nul);
  let opts = optsIn;
  const headerClass = opts && opts.flags & HDR_OPT_MIME ? MIME_HDR_MULTIPART : headerClassIn;
  if (opts && opts.type === HDR_RECEIVED) state.hopCount += 1;
  const checks = state.flags & CLEANUP_FLAG_FILTER ? checksFor(state, headerClass) : null;
  if (checks) {
    const value = await contentLookup(state, checks[0], header);
    if (value !== null) {
      const result = cleanupAct(state, 'header', header, value, checks[1]);
      if (result === null) return;
      if (result !== header) {
        header = result;
        opts = state.ctx.headerOpts.find(result);
      }
    }
  }
  if (opts === null) {
    cleanupOutHeader(state, header);
    return;
  }
  let v = opts.name.length + 1;
  while (v < header.length && isCSpace(header[v])) v++;
  const hdrval = header.slice(v);
  if (state.ctx.params.auto8bitEncHeader && opts.type === HDR_CONTENT_TRANSFER_ENCODING) {
    if (EIGHT_BIT.has(hdrval.replace(/[A-Z]+/g, (m) => m.toLowerCase()))) state.attr.set('encoding', '8bit');
  }
  if (headerClass !== MIME_HDR_PRIMARY) {
    cleanupOutHeader(state, header);
    return;
  }
  state.headersSeen |= 1 << opts.type;
  if (opts.type === HDR_MESSAGE_ID) logInfo(state, `${state.queueId}: message-id=${hdrval}`);
  if (opts.type === HDR_RESENT_MESSAGE_ID) logInfo(state, `${state.queueId}: resent-message-id=${hdrval}`);
  if (opts.type === HDR_RECEIVED && state.hopCount >= state.ctx.params.hopcountLimit) {
    logWarning(state, `${state.queueId}: message rejected: hopcount exceeded`);
    state.errs |= CLEANUP_STAT_HOPS;
  }
  if (!state.outOk()) return;
  if (opts.flags & HDR_OPT_RR) state.resent = 'Resent-';
  if (opts.flags & HDR_OPT_SENDER && state.hdrRewriteContext) await rewriteHeader(state, opts, header, 'sender');
  else if (opts.flags & HDR_OPT_RECIP && state.hdrRewriteContext) await rewriteHeader(state, opts, header, 'recipient');
  else if (!(opts.flags & HDR_OPT_DROP)) cleanupOutHeader(state, header);
}

/** cleanup_body_callback(): one body record. */
async function bodyCallback(state: CleanupState, type: string, buf: string, offset: number): Promise<void> {
  if (!state.outOk()) return;
  const checks = state.ctx.bodyChecks;
  const limit = state.ctx.params.bodyCheckLen;
  if (state.flags & CLEANUP_FLAG_FILTER && checks && (limit === 0 || offset < limit)) {
    const value = await contentLookup(state, checks, buf);
    if (value !== null) {
      const result = cleanupAct(state, 'body', buf, value, 'body_checks');
      if (result === null) return;
      if (result !== buf) {
        cleanupOut(state, type, result);
        return;
      }
    }
  }
  cleanupOut(state, type, buf);
}

/** cleanup_mime_error_callback(): MIME errors are logged as they are found (header length later). */
function mimeError(state: CleanupState, code: number, text: string): void {
  if ((code & ~MIME_ERR_TRUNC_HEADER) === 0) return;
  const origin = state.attr.get('log_message_origin') ?? 'unknown';
  logInfo(state, `${state.queueId}: reject: mime-error ${mimeStateError(code)}: ${trunc(text, 100)} from ${origin};`
    + ` from=<${logAddr(state, state.sender ?? '')}> to=<${logAddr(state, state.recip ?? 'unknown')}>`);
}

/** The MIME options cleanup asks for. */
function mimeOptions(state: CleanupState): number {
  const p = state.ctx.params;
  if (p.disableMime) return MIME_OPT_DISABLE_MIME;
  let opts = 0;
  if (state.flags & CLEANUP_FLAG_FILTER) {
    if (p.strict8bitmime || p.strict7bitHeaders) opts |= MIME_OPT_REPORT_8BIT_IN_HEADER;
    if (p.strict8bitmime || p.strict8bitBody) opts |= MIME_OPT_REPORT_8BIT_IN_7BIT_BODY;
    if (p.strictEncoding) opts |= MIME_OPT_REPORT_ENCODING_DOMAIN;
    if (p.strict8bitmime || p.strict7bitHeaders || p.strict8bitBody || p.strictEncoding
      || p.headerChecks !== '' || p.mimeHeaderChecks !== '' || p.nestedHeaderChecks !== '') {
      opts |= MIME_OPT_REPORT_NESTING;
    }
  }
  return opts;
}

/** cleanup_message(): the first content record; writes M and starts the MIME parser. */
export async function cleanupMessage(state: CleanupState, type: string, buf: string): Promise<void> {
  cleanupOut(state, 'M', '');
  state.dataOffset = state.out.offset;
  const p = state.ctx.params;
  state.mime = new MimeState(mimeOptions(state), state.ctx.headerOpts,
    { headerLimit: p.headerLimit, boundLimit: p.mimeBoundLimit, maxDepth: p.mimeMaxDepth }, {
      headOut: (cls, info, header) => headerCallback(state, cls, info, header),
      headEnd: async () => addMissingHeaders(state),
      bodyOut: (t, text, offset) => bodyCallback(state, t, text, offset),
      error: (code, text) => mimeError(state, code, text),
    });
  state.action = 'headerbody';
  await cleanupMessageHeaderBody(state, type, buf);
}

/** message_reject_characters and message_strip_characters. */
function characterFilters(state: CleanupState, buf: string): string | null {
  const p = state.ctx.params;
  if (!(state.flags & CLEANUP_FLAG_FILTER)) return buf;
  if (p.rejectChars !== '') {
    for (const ch of buf) {
      if (p.rejectChars.includes(ch)) {
        cleanupAct(state, 'content', buf, 'REJECT disallowed character', 'character reject');
        return null;
      }
    }
  }
  if (p.stripChars === '') return buf;
  let out = '';
  for (const ch of buf) if (!p.stripChars.includes(ch)) out += ch;
  return out;
}

/** cleanup_message_headerbody(): one content record. */
export async function cleanupMessageHeaderBody(state: CleanupState, type: string, bufIn: string): Promise<void> {
  let buf = bufIn;
  // Stray CR and LF would allow SMTP smuggling downstream: they become spaces.
  if (state.ctx.params.maskStrayCrLf && /[\r\n]/.test(buf)) buf = buf.replace(/[\r\n]/g, ' ');
  const filtered = characterFilters(state, buf);
  if (filtered === null) return;
  buf = filtered;
  const mime = state.mime!;
  if (type === 'N' || type === 'L') {
    state.mimeErrs = await mime.update(type, buf);
  } else if (type === 'X') {
    state.mimeErrs = await mime.update(type, buf);
    state.mimeErrs &= ~MIME_ERR_TRUNC_HEADER;
    if (state.mimeErrs && state.reason === null) {
      state.errs |= CLEANUP_STAT_CONT;
      const d = mimeStateDetail(state.mimeErrs);
      state.reason = dsnPrepend(d.dsn, d.text);
    }
    state.mime = null;
    state.xtraOffset = state.out.offset;
    state.contLength = state.xtraOffset - state.dataOffset;
    state.action = 'extracted';
  } else {
    logWarning(state, `cleanup_message_headerbody: message rejected: unexpected record type ${type.charCodeAt(0)} in message content`);
    state.errs |= CLEANUP_STAT_BAD;
  }
}
