// Mirrors data_cmd(), bdat_cmd(), skip_bdat(), common_pre_message_handling(),
// receive_data_message() and common_post_message_handling() of Postfix's
// smtpd/smtpd.c: DATA with dot-unstuffing and the end-of-data dot, BDAT
// chunks (RFC 3030), message_size_limit during transfer, bare-LF handling
// (smtpd_forbid_bare_newline), the Received: header, content records split
// at line_length_limit (L records, then N), smtpd_end_of_data_restrictions,
// the access-table actions delegated to cleanup (FILTER, REDIRECT, BCC,
// HOLD/DISCARD flags), and the final reply from cleanup's status.
import {
  CLEANUP_STAT_BAD, CLEANUP_STAT_BARE_LF, CLEANUP_STAT_CONT, CLEANUP_STAT_DEFER, CLEANUP_STAT_HOPS,
  CLEANUP_STAT_OK, CLEANUP_STAT_PROXY, CLEANUP_STAT_SIZE, CLEANUP_STAT_WRITE, cleanupStatDetail,
} from '../cleanup/api.js';
import type { SmtpdToken } from '../address/smtp-token.js';
import { smtpdChatReply } from './chat.js';
import { smtpdCheckData, smtpdCheckEod } from './check/drivers.js';
import { logWhatsup } from './check/reject.js';
import { BARE_LF_FLAG_REPLY_REJECT, BARE_LF_FLAG_WANT_STD_EOD, type SmtpdContext } from './context.js';
import { EHLO_MASK_CHUNKING } from './ehlo.js';
import { receivedHeader } from './received.js';
import { rec } from './records.js';
import { chatReset, mailReset, rcptReset } from './reset.js';
import {
  AFTER_BDAT, AFTER_DATA, AFTER_EOM, MAIL_ERROR_BOUNCE, MAIL_ERROR_POLICY, MAIL_ERROR_PROTOCOL, MAIL_ERROR_RESOURCE,
  MAIL_ERROR_SOFTWARE, SMTPD_BDAT_STAT_ERROR, SMTPD_BDAT_STAT_OK, type SmtpdState,
} from './state.js';
import { VSTREAM_BUFSIZE } from './stream.js';
import { allDigits, offCvtString, printable, printableExcept, toText } from './text.js';

const isSpaceTab = (ch: string | undefined): boolean => ch === ' ' || ch === '\t';

/** Appends a content record unless an earlier error stopped output; enforces message_size_limit. */
function outContent(ctx: SmtpdContext, state: SmtpdState, type: string, data: string): void {
  if (state.err !== CLEANUP_STAT_OK) return;
  const limit = ctx.params.messageSizeLimit;
  if (limit > 0 && limit - state.actSize < data.length + 2) {
    state.err = CLEANUP_STAT_SIZE;
    ctx.log.warning(`${state.queueId ?? 'NOQUEUE'}: queue file size limit exceeded`);
    return;
  }
  state.actSize += data.length + 2;
  rec(state, type, data);
}

export async function dataCmd(ctx: SmtpdContext, state: SmtpdState, argv: SmtpdToken[]): Promise<number> {
  if (state.processingBdat) {
    state.errorMask |= MAIL_ERROR_PROTOCOL;
    await smtpdChatReply(ctx, state, '503 5.5.1 Error: DATA after BDAT');
    return -1;
  }
  if (state.rcptCount === 0) {
    if (!state.inMailTransaction) {
      state.errorMask |= MAIL_ERROR_PROTOCOL;
      await smtpdChatReply(ctx, state, '503 5.5.1 Error: need RCPT command');
    } else {
      await smtpdChatReply(ctx, state, '554 5.5.1 Error: no valid recipients');
    }
    return -1;
  }
  if (argv.length !== 1) {
    state.errorMask |= MAIL_ERROR_PROTOCOL;
    await smtpdChatReply(ctx, state, '501 5.5.4 Syntax: DATA');
    return -1;
  }
  const err = ctx.standAlone ? null : await smtpdCheckData(ctx, state);
  if (err !== null) {
    await smtpdChatReply(ctx, state, err);
    return -1;
  }
  preMessage(ctx, state);
  await smtpdChatReply(ctx, state, '354 End data with <CR><LF>.<CR><LF>');
  state.where = AFTER_DATA;
  await receiveDataMessage(ctx, state);
  return postMessage(ctx, state);
}

/** common_pre_message_handling(): flags, M, PREPEND lines, then our Received: header. */
function preMessage(ctx: SmtpdContext, state: SmtpdState): void {
  if (state.cleanup !== null) {
    if (state.savedFlags && !ctx.standAlone) rec(state, 'f', String(state.savedFlags));
    rec(state, 'M', '');
  }
  for (const line of state.prepend ?? []) rec(state, 'N', line);
  for (const line of receivedHeader(state, ctx.params.myhostname, ctx.params.mailName, ctx.params.sasl_authenticated_header)) {
    rec(state, 'N', line);
  }
}

/** receive_data_message(): content lines up to the lone dot. */
async function receiveDataMessage(ctx: SmtpdContext, state: SmtpdState): Promise<void> {
  const stream = state.stream;
  let first = true;
  let prevType = '';
  let prevBareLf = 0;
  for (;;) {
    const r = await stream.getLine(ctx.params.lineLengthLimit, false);
    const type = r.complete ? 'N' : 'L';
    const bareLf = r.gotBareLf;
    const done = (): void => {
      prevType = type;
      prevBareLf = bareLf;
    };
    if (bareLf & BARE_LF_FLAG_REPLY_REJECT) state.err |= CLEANUP_STAT_BARE_LF;
    let line = r.line;
    if (first) {
      if (line.replace(/^>*/, '').startsWith('From ')) {
        outContent(ctx, state, type, `X-Mailbox-Line: ${line}`);
        done();
        continue;
      }
      first = false;
      if (line.length > 0 && isSpaceTab(line[0])) rec(state, 'N', '');
    }
    if (prevType !== 'L' && line[0] === '.') {
      if (line.length === 1 && stream.detectBareLf & BARE_LF_FLAG_WANT_STD_EOD && (bareLf || prevBareLf)) {
        done();
        continue;
      }
      line = line.slice(1);
      if (line.length === 0) break;
    }
    outContent(ctx, state, type, line);
    done();
  }
  state.where = AFTER_EOM;
}

/** common_post_message_handling(): end-of-data checks, the trailing records, and the reply. */
async function postMessage(ctx: SmtpdContext, state: SmtpdState): Promise<number> {
  if (state.err === CLEANUP_STAT_OK && !ctx.standAlone) {
    const err = await smtpdCheckEod(ctx, state);
    if (err !== null) {
      await smtpdChatReply(ctx, state, err);
      abandon(state);
      return -1;
    }
  }
  let why = '';
  if (state.err === CLEANUP_STAT_OK) {
    rec(state, 'X', '');
    if (state.savedFilter !== null) rec(state, 'L', state.savedFilter);
    if (state.savedRedirect !== null) rec(state, '>', state.savedRedirect);
    for (const bcc of state.savedBcc ?? []) {
      rec(state, 'R', bcc);
      rec(state, 'A', 'notify_flags=1');
    }
    if (state.savedFlags) rec(state, 'f', String(state.savedFlags));
    rec(state, 'E', '');
    const session = state.cleanup;
    state.cleanup = null;
    if (session === null) {
      state.err = CLEANUP_STAT_WRITE;
    } else {
      try {
        const res = await session.finish();
        state.err = res.status;
        why = res.reason;
      } catch (e) {
        ctx.log.warning(`${state.queueId ?? 'NOQUEUE'}: cleanup: ${(e as Error).message}`);
        state.err = CLEANUP_STAT_WRITE;
      }
    }
    why = isSmtpReject(why) ? printableExcept(why, ' ', '\r\n', ctx.params.smtputf8Enable) : printable(why, ' ', ctx.params.smtputf8Enable);
  } else {
    abandon(state);
  }
  await replyToStatus(ctx, state, why);
  const saved = state.err;
  chatReset(state, ctx.params.historyFlushThreshold);
  mailReset(state);
  rcptReset(state);
  return saved === CLEANUP_STAT_OK ? 0 : -1;
}

/** Drops the unfinished queue file. */
function abandon(state: SmtpdState): void {
  const c = state.cleanup;
  state.cleanup = null;
  c?.abort().catch(() => undefined);
}

/** IS_SMTP_REJECT(): "4xx" or "5xx" followed by end, space or hyphen. */
function isSmtpReject(s: string): boolean {
  return /^[45][0-9][0-9]([ -]|$)/.test(s);
}

/** The reply for the message's cleanup status, most severe problem first. */
async function replyToStatus(ctx: SmtpdContext, state: SmtpdState, why: string): Promise<void> {
  const err = state.err;
  const detail = (bit: number) => cleanupStatDetail(bit)!;
  const say = (text: string) => smtpdChatReply(ctx, state, text);
  if (err === CLEANUP_STAT_OK) {
    state.errorCount = 0;
    state.errorMask = 0;
    state.junkCmds = 0;
    if (state.processingBdat) await say(`250 2.0.0 Ok: ${state.actSize} bytes queued as ${state.queueId}`);
    else await say(`250 2.0.0 Ok: queued as ${state.queueId}`);
  } else if (err & CLEANUP_STAT_BARE_LF) {
    state.errorMask |= MAIL_ERROR_PROTOCOL;
    logWhatsup(ctx, state, 'reject', 'bare <LF> received');
    await say(`${ctx.params.forbidBareNewlineCode} 5.5.2 ${ctx.params.myhostname} Error: bare <LF> received`);
  } else if (why !== '' && isSmtpReject(why)) {
    state.errorMask |= MAIL_ERROR_POLICY;
    await say(why);
  } else if (err & CLEANUP_STAT_DEFER) {
    state.errorMask |= MAIL_ERROR_POLICY;
    const d = detail(CLEANUP_STAT_DEFER);
    await say(why !== '' ? `${d.smtp} ${why}` : `${d.smtp} ${d.dsn} Error: ${d.text}`);
  } else if (err & CLEANUP_STAT_BAD) {
    state.errorMask |= MAIL_ERROR_SOFTWARE;
    const d = detail(CLEANUP_STAT_BAD);
    await say(`${d.smtp} ${d.dsn} Error: internal error ${err}`);
  } else if (err & CLEANUP_STAT_SIZE) {
    state.errorMask |= MAIL_ERROR_BOUNCE;
    const d = detail(CLEANUP_STAT_SIZE);
    await say(`${d.smtp} ${d.dsn} Error: ${d.text}`);
  } else if (err & CLEANUP_STAT_HOPS) {
    state.errorMask |= MAIL_ERROR_BOUNCE;
    const d = detail(CLEANUP_STAT_HOPS);
    await say(`${d.smtp} ${d.dsn} Error: ${d.text}`);
  } else if (err & CLEANUP_STAT_CONT) {
    state.errorMask |= MAIL_ERROR_POLICY;
    const d = detail(CLEANUP_STAT_CONT);
    await say(why !== '' ? `${d.smtp} ${why}` : `${d.smtp} ${d.dsn} Error: ${d.text}`);
  } else if (err & CLEANUP_STAT_WRITE) {
    state.errorMask |= MAIL_ERROR_RESOURCE;
    const d = detail(CLEANUP_STAT_WRITE);
    await say(`${d.smtp} ${d.dsn} Error: ${d.text}`);
  } else {
    state.errorMask |= MAIL_ERROR_SOFTWARE;
    const d = detail(CLEANUP_STAT_BAD);
    await say(`${d.smtp} ${d.dsn} Error: internal error ${err}`);
  }
  void CLEANUP_STAT_PROXY;
}

/** skip_bdat(): reads and drops the chunk, replies, and either ends the transaction or skips later chunks. */
async function skipBdat(ctx: SmtpdContext, state: SmtpdState, size: number, last: boolean, text: string): Promise<number> {
  await state.stream.skipBytes(size);
  await smtpdChatReply(ctx, state, text);
  if (last) mailReset(state);
  else state.bdatState = SMTPD_BDAT_STAT_ERROR;
  return -1;
}

export async function bdatCmd(ctx: SmtpdContext, state: SmtpdState, argv: SmtpdToken[]): Promise<number> {
  if (state.ehloDiscardMask & EHLO_MASK_CHUNKING) {
    state.errorMask |= MAIL_ERROR_PROTOCOL;
    await smtpdChatReply(ctx, state, '521 5.5.1 Error: command not implemented');
    return -1;
  }
  const size = argv.length >= 2 && allDigits(argv[1]!.strval) ? offCvtString(argv[1]!.strval) : -1;
  const last = argv.length === 3;
  if (argv.length < 2 || argv.length > 3 || size < 0 || (last && argv[2]!.strval.toUpperCase() !== 'LAST')) {
    state.errorMask |= MAIL_ERROR_PROTOCOL;
    ctx.log.warning(toText(`${state.queueId ?? 'NOQUEUE'}: malformed BDAT command syntax from ${state.namaddr}: ${printable(state.lastCommand.slice(0, 100), '?', ctx.params.smtputf8Enable)}`));
    await smtpdChatReply(ctx, state, '521 5.5.4 Syntax: BDAT count [LAST]');
    return -1;
  }
  if (size === 0 && !last) {
    ctx.log.warning(`${state.queueId ?? 'NOQUEUE'}: null BDAT request from ${state.namaddr}`);
    return skipBdat(ctx, state, size, last, '551 5.7.1 Null BDAT request');
  }
  if (state.bdatState === SMTPD_BDAT_STAT_ERROR) {
    return skipBdat(ctx, state, size, last, `551 5.0.0 Discarded ${size} bytes after earlier error`);
  }
  if (!state.processingBdat) {
    if (state.rcptCount === 0) {
      if (!state.inMailTransaction) {
        state.errorMask |= MAIL_ERROR_PROTOCOL;
        return skipBdat(ctx, state, size, last, '503 5.5.1 Error: need RCPT command');
      }
      return skipBdat(ctx, state, size, last, '554 5.5.1 Error: no valid recipients');
    }
    const err = ctx.standAlone ? null : await smtpdCheckData(ctx, state);
    if (err !== null) return skipBdat(ctx, state, size, last, err);
  }
  const limit = ctx.params.messageSizeLimit;
  if (limit > 0 && state.actSize > limit - size) {
    state.errorMask |= MAIL_ERROR_POLICY;
    ctx.log.warning(`${state.queueId ?? 'NOQUEUE'}: BDAT request from ${state.namaddr} exceeds message size limit`);
    return skipBdat(ctx, state, size, last, '552 5.3.4 Chunk exceeds message size limit');
  }
  if (!state.processingBdat) {
    preMessage(ctx, state);
    state.bdatPartial = '';
    state.bdatPrevRecType = '';
  }
  state.bdatState = SMTPD_BDAT_STAT_OK;
  state.where = AFTER_BDAT;
  // A piece at a time, as Postfix reads it: memory stays bounded whatever size the client declared.
  let done = 0;
  do {
    const piece = Math.min(size - done, VSTREAM_BUFSIZE);
    const fragment = await state.stream.readBytes(piece);
    done += piece;
    receiveBdatChunk(ctx, state, fragment, last && done === size);
  } while (done < size);
  if (last) {
    state.where = AFTER_EOM;
    return postMessage(ctx, state);
  }
  if (state.err !== CLEANUP_STAT_OK) {
    await postMessage(ctx, state);
    state.bdatState = SMTPD_BDAT_STAT_ERROR;
    return -1;
  }
  await smtpdChatReply(ctx, state, `250 2.0.0 Ok: ${size} bytes`);
  return 0;
}

/**
 * The line splitting of bdat_cmd(): lines may span chunks; a line longer
 * than line_length_limit becomes L records; a final chunk may end without
 * a line break. No dot-unstuffing: BDAT content is transparent.
 */
function receiveBdatChunk(ctx: SmtpdContext, state: SmtpdState, chunk: string, last: boolean): void {
  const limit = ctx.params.lineLengthLimit;
  const detect = state.stream.detectBareLf;
  const buf = state.bdatPartial + chunk;
  let pos = 0;
  for (;;) {
    const nl = buf.indexOf('\n', pos);
    let line: string;
    let type: string;
    let bareLf = 0;
    if (nl >= 0 && (nl - pos + 1 <= limit || (nl - pos === limit && buf[nl - 1] === '\r'))) {
      line = buf.slice(pos, nl);
      pos = nl + 1;
      type = 'N';
      if (detect) {
        if (line.endsWith('\r')) line = line.slice(0, -1);
        else bareLf = detect;
      } else {
        line = line.replace(/\r+$/, '');
      }
    } else if (buf.length - pos > limit || (buf.length - pos === limit && !(buf[buf.length - 1] === '\r'))) {
      // Postfix stops reading at line_length_limit: the piece becomes an L record.
      line = buf.slice(pos, pos + limit);
      pos += limit;
      type = 'L';
    } else if (buf.length - pos > 0 && last) {
      line = buf.slice(pos);
      pos = buf.length;
      type = 'N';
    } else {
      break;
    }
    if (bareLf & BARE_LF_FLAG_REPLY_REJECT) state.err |= CLEANUP_STAT_BARE_LF;
    outContent(ctx, state, type, line);
    state.bdatPrevRecType = type;
  }
  state.bdatPartial = buf.slice(pos);
}
