// Mirrors mail_open_stream() of Postfix's smtpd/smtpd.c and the envelope
// records smtpd writes to cleanup: the session is opened with the
// CLEANUP_FLAG_* bits (input_transp_cleanup of receive_override_options,
// SMTP replies, SMTPUTF8), then T (arrival time), an optional content
// filter, the A attributes (log_ident, rewrite_context, SASL, DSN envid
// and ret), S (sender), A encoding, the log_* and client_* attributes and
// an optional V (VERP). Recipients (A notify_flags, A dsn_orig_rcpt, R),
// the message and the trailing records are written by the commands.
// In stand-alone mode (sendmail -bs) the session is a postdrop stream, and
// the envelope is only S, A encoding and V, as smtpd -S writes it.
import {
  CLEANUP_FLAG_AUTOUTF8, CLEANUP_FLAG_BCC_OK, CLEANUP_FLAG_FILTER, CLEANUP_FLAG_MAP_OK, CLEANUP_FLAG_MILTER,
  CLEANUP_FLAG_SMTP_REPLY, CLEANUP_FLAG_SMTPUTF8,
} from '../cleanup/api.js';
import type { SmtpdContext } from './context.js';
import {
  forwardAddr, forwardDomain, forwardHelo, forwardIdent, forwardName, forwardNamaddr, forwardPort, forwardProto,
  forwarded, SMTPD_FLAG_SMTPUTF8, type SmtpdState,
} from './state.js';
import { toText } from './text.js';
import { SessionExit } from './stream.js';

/** CLEANUP_FLAG_MASK_EXTERNAL: what receivers of outside mail ask for by default. */
const CLEANUP_FLAG_MASK_EXTERNAL = CLEANUP_FLAG_FILTER | CLEANUP_FLAG_MILTER | CLEANUP_FLAG_BCC_OK | CLEANUP_FLAG_MAP_OK;

/** input_transp_cleanup(): receive_override_options switch off parts of cleanup's processing. */
function inputTranspCleanup(flags: number, options: string): number {
  const words = options.toLowerCase().split(/[\s,]+/);
  let f = flags;
  if (words.includes('no_header_body_checks')) f &= ~CLEANUP_FLAG_FILTER;
  if (words.includes('no_address_mappings')) f &= ~(CLEANUP_FLAG_MAP_OK | CLEANUP_FLAG_BCC_OK);
  if (words.includes('no_milters')) f &= ~CLEANUP_FLAG_MILTER;
  return f;
}

/** smtputf8_autodetect(MAIL_SRC_MASK_SMTPD): CLEANUP_FLAG_AUTOUTF8 when smtputf8_autodetect_classes lists smtpd. */
function autodetectUtf8(ctx: SmtpdContext): number {
  const classes = ctx.config.get('smtputf8_autodetect_classes').toLowerCase().split(/[\s,]+/);
  return ctx.params.smtputf8Enable && (classes.includes('smtpd') || classes.includes('all')) ? CLEANUP_FLAG_AUTOUTF8 : 0;
}

/** Writes one record to the open cleanup session. */
export function rec(state: SmtpdState, type: string, data: string): void {
  state.cleanup?.record(type, data);
}

/** mail_open_stream(): opens the cleanup session and writes the envelope up to the sender. */
export async function mailOpenStream(ctx: SmtpdContext, state: SmtpdState): Promise<void> {
  let flags = inputTranspCleanup(CLEANUP_FLAG_MASK_EXTERNAL, ctx.params.receiveOverrideOptions) | CLEANUP_FLAG_SMTP_REPLY;
  flags |= state.flags & SMTPD_FLAG_SMTPUTF8 ? CLEANUP_FLAG_SMTPUTF8 : autodetectUtf8(ctx);
  try {
    state.cleanup = await ctx.cleanup.open(flags);
  } catch {
    // Postfix's smtpd cannot go on without cleanup: it logs this and exits.
    ctx.log.fatal('unable to connect to the public cleanup service');
    throw new SessionExit('quiet');
  }
  state.queueId = state.cleanup.queueId;
  if (ctx.standAlone) standAloneEnvelope(state);
  else serverEnvelope(ctx, state);

  let line = `${state.queueId}: client=${state.namaddr}`;
  if (state.saslMethod) line += `, sasl_method=${state.saslMethod}`;
  if (state.saslUsername) line += `, sasl_username=${state.saslUsername}`;
  if (state.saslSender) line += `, sasl_sender=${state.saslSender}`;
  if (state.xforward.ident !== null) line += `, orig_queue_id=${state.xforward.ident}`;
  if (forwarded(state)) line += `, orig_client=${forwardNamaddr(state)}`;
  ctx.log.info(toText(line));
}

/** The envelope for cleanup: arrival time, filter, session attributes, sender, client attributes. */
function serverEnvelope(ctx: SmtpdContext, state: SmtpdState): void {
  rec(state, 'T', `${Math.floor(state.arrivalMs / 1000)} ${state.arrivalUsec}`);
  if (ctx.params.contentFilter !== '') rec(state, 'L', ctx.params.contentFilter);
  const ident = forwardIdent(state);
  if (ident !== null) rec(state, 'A', `log_ident=${ident}`);
  rec(state, 'A', `rewrite_context=${forwardDomain(state) ?? ''}`);
  if (state.saslMethod) rec(state, 'A', `sasl_method=${state.saslMethod}`);
  if (state.saslUsername) rec(state, 'A', `sasl_username=${state.saslUsername}`);
  if (state.saslSender) rec(state, 'A', `sasl_sender=${state.saslSender}`);
  if (state.dsnEnvid !== null) rec(state, 'A', `envelope_id=${state.dsnEnvid}`);
  if (state.dsnRet) rec(state, 'A', `ret_flags=${state.dsnRet}`);
  rec(state, 'S', state.sender ?? '');
  if (state.encoding !== null) rec(state, 'A', `encoding=${state.encoding}`);
  rec(state, 'A', `log_client_name=${forwardName(state)}`);
  rec(state, 'A', `log_client_address=${forwardAddr(state)}`);
  rec(state, 'A', `log_client_port=${forwardPort(state)}`);
  rec(state, 'A', `log_message_origin=${forwardNamaddr(state)}`);
  const helo = forwardHelo(state);
  if (helo !== null) rec(state, 'A', `log_helo_name=${helo}`);
  rec(state, 'A', `log_protocol_name=${forwardProto(state)}`);
  rec(state, 'A', `client_name=${state.name}`);
  rec(state, 'A', `reverse_client_name=${state.reverseName}`);
  rec(state, 'A', `client_address=${state.addr}`);
  rec(state, 'A', `client_port=${state.port}`);
  rec(state, 'A', `server_address=${state.destAddr}`);
  rec(state, 'A', `server_port=${state.destPort}`);
  if (state.heloName !== null) rec(state, 'A', `helo_name=${state.heloName}`);
  rec(state, 'A', `protocol_name=${state.protocol}`);
  rec(state, 'A', `client_address_type=${state.addrFamily}`);
  if (state.verpDelims !== null) rec(state, 'V', state.verpDelims);
}

/**
 * The envelope for postdrop in stand-alone mode: only what a local user's
 * submission carries (postdrop stamps its own arrival time). DSN ENVID and
 * RET are not passed on, as smtpd -S does not.
 */
function standAloneEnvelope(state: SmtpdState): void {
  rec(state, 'S', state.sender ?? '');
  if (state.encoding !== null) rec(state, 'A', `encoding=${state.encoding}`);
  if (state.verpDelims !== null) rec(state, 'V', state.verpDelims);
}
