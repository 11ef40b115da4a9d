// Mirrors Postfix's smtpd/smtpd.h (SMTPD_STATE) and smtpd/smtpd_state.c:
// everything one SMTP session knows — the client endpoint, the HELO name,
// the mail transaction in progress, the restriction evaluator's scratch
// state and the error counters — plus the resets that smtpd.c applies at
// HELO, MAIL, RSET and end of message (helo_reset, mail_reset,
// rcpt_reset). Holds data only; the protocol lives in session.ts.
import type { CleanupSession } from '../cleanup/api.js';
import type { SmtpStream } from './stream.js';

export const SMTPD_FLAG_HANGUP = 1 << 0;
export const SMTPD_FLAG_ILL_PIPELINING = 1 << 1;
export const SMTPD_FLAG_SMTPUTF8 = 1 << 3;

export const SMTPD_BDAT_STAT_NONE = 0;
export const SMTPD_BDAT_STAT_OK = 1;
export const SMTPD_BDAT_STAT_ERROR = 2;

/** Client name lookup status (SMTPD_PEER_CODE_*). */
export const PEER_CODE_OK = 2;
export const PEER_CODE_TEMP = 4;
export const PEER_CODE_PERM = 5;
export const PEER_CODE_FORGED = 6;

/** Protocol stages, used in "lost connection after X" and reject logging. */
export const AFTER_CONNECT = 'CONNECT';
export const AFTER_DATA = 'DATA content';
export const AFTER_BDAT = 'BDAT content';
export const AFTER_EOM = 'END-OF-MESSAGE';
export const CMD_UNKNOWN = 'UNKNOWN';

/** MAIL_ERROR_* classes (global/mail_error.h), for notify_classes and warn_if_reject. */
export const MAIL_ERROR_POLICY = 1 << 0;
export const MAIL_ERROR_PROTOCOL = 1 << 1;
export const MAIL_ERROR_BOUNCE = 1 << 2;
export const MAIL_ERROR_SOFTWARE = 1 << 3;
export const MAIL_ERROR_RESOURCE = 1 << 4;
export const MAIL_ERROR_2BOUNCE = 1 << 5;
export const MAIL_ERROR_DELAY = 1 << 6;
export const MAIL_ERROR_DATA = 1 << 7;

/** A postponed verdict (defer_if_permit / defer_if_reject). */
export interface Defer {
  active: boolean;
  errorClass: number;
  code: number;
  dsn: string;
  reason: string;
}

const noDefer = (): Defer => ({ active: false, errorClass: 0, code: 0, dsn: '', reason: '' });

/** Attributes received with XFORWARD (smtpd_xforward.c). */
export interface Xforward {
  flags: number;
  name: string | null;
  addr: string | null;
  rfcAddr: string | null;
  port: string | null;
  namaddr: string | null;
  protocol: string | null;
  heloName: string | null;
  ident: string | null;
  domain: string | null;
}

export const XF_NAME = 1 << 1;
export const XF_ADDR = 1 << 2;
export const XF_PROTO = 1 << 3;
export const XF_HELO = 1 << 4;
export const XF_IDENT = 1 << 5;
export const XF_DOMAIN = 1 << 6;
export const XF_PORT = 1 << 7;
export const XF_CLIENT_MASK = XF_NAME | XF_ADDR | XF_PROTO | XF_HELO | XF_PORT;

export const noXforward = (): Xforward => ({
  flags: 0, name: null, addr: null, rfcAddr: null, port: null, namaddr: null,
  protocol: null, heloName: null, ident: null, domain: null,
});

export class SmtpdState {
  // The client and server endpoints (smtpd_peer.c).
  name = 'unknown';
  reverseName = 'unknown';
  addr = 'unknown';
  rfcAddr = 'unknown';
  port = 'unknown';
  destAddr = 'unknown';
  destPort = 'unknown';
  addrFamily = 0;
  nameStatus = PEER_CODE_PERM;
  reverseNameStatus = PEER_CODE_PERM;
  namaddr = 'unknown[unknown]';

  flags = 0;
  /** CLEANUP_STAT_* bits for the message in progress. */
  err = 0;
  errorCount = 0;
  errorMask = 0;
  junkCmds = 0;
  heloName: string | null = null;
  protocol = 'SMTP';
  where = AFTER_CONNECT;
  reason: string | null = null;
  accessDenied: string | null = null;
  ehloDiscardMask = 0;
  /** The client may use XCLIENT / XFORWARD (smtpd_authorized_x*_hosts). */
  xclientAllowed = false;
  xforwardAllowed = false;
  /** This client's concurrent connections to the service, as counted at connect (0: not counted). */
  connCount = 0;
  /** This client's connection rate, as counted at connect. */
  connRate = 0;
  /**
   * anvil is not told about this client: it may use XCLIENT, or it is in
   * smtpd_client_event_limit_exceptions, or no limit is set.
   */
  anvilExempt = true;
  /** anvil counted this session's connection; the disconnect is owed. */
  anvilConnected = false;
  /**
   * How many policy default actions of this session are being evaluated
   * (smtpd_check.c's nesting count): a default action that itself needs a
   * failing policy server gets the built-in action instead. Per session,
   * as Postfix's is per process, because the evaluation awaits.
   */
  policyNesting = 0;

  // The mail transaction.
  queueId: string | null = null;
  cleanup: CleanupSession | null = null;
  sender: string | null = null;
  recipient: string | null = null;
  rcptCount = 0;
  rcptOvershoot = 0;
  msgSize = 0;
  actSize = 0;
  encoding: string | null = null;
  dsnRet = 0;
  dsnEnvid: string | null = null;
  verpDelims: string | null = null;
  arrivalMs = 0;
  arrivalUsec = 0;
  instance = '';
  seqno = 0;
  rewriteContext: string | null = null;
  saslMethod: string | null = null;
  saslUsername: string | null = null;
  saslSender: string | null = null;
  etrnName: string | null = null;
  xforward: Xforward = noXforward();

  // Access table side effects, carried to cleanup.
  prepend: string[] | null = null;
  savedFilter: string | null = null;
  savedRedirect: string | null = null;
  savedBcc: string[] | null = null;
  savedFlags = 0;
  discard = false;

  // The restriction evaluator's state (smtpd_check.c).
  recursion = 0;
  warnIfReject = 0;
  deferIfPermit: Defer = noDefer();
  deferIfReject: Defer = noDefer();
  deferIfPermitClient = false;
  deferIfPermitHelo = false;
  deferIfPermitSender = false;
  senderRcptmapChecked = false;
  recipientRcptmapChecked = false;
  /** The last reject text (smtpd_check.c's error_text buffer). */
  errorText = '';

  // BDAT.
  bdatState = SMTPD_BDAT_STAT_NONE;
  bdatPartial = '';
  bdatPrevRecType = '';

  /** The command line being executed (for diagnostics). */
  lastCommand = '';

  /** Session transcript lines for the postmaster notice (notify_classes). */
  history: string[] = [];

  /** Per-command counts for the disconnect line: name -> [success, total]. */
  readonly cmdStats = new Map<string, [number, number]>();

  constructor(
    readonly stream: SmtpStream,
    readonly service: string,
  ) {}

  /** SMTPD_IN_MAIL_TRANSACTION. */
  get inMailTransaction(): boolean {
    return this.sender !== null;
  }

  /** SMTPD_PROCESSING_BDAT. */
  get processingBdat(): boolean {
    return this.bdatState !== SMTPD_BDAT_STAT_NONE;
  }

  resetDefers(): void {
    this.deferIfPermit = noDefer();
    this.deferIfReject = noDefer();
  }
}

/** Postfix's FORWARD_* macros: forwarded client attributes win once any was received. */
export function forwarded(state: SmtpdState): boolean {
  return (state.xforward.flags & XF_CLIENT_MASK) !== 0;
}

export const forwardName = (s: SmtpdState): string => (forwarded(s) ? s.xforward.name ?? '' : s.name);
export const forwardAddr = (s: SmtpdState): string => (forwarded(s) ? s.xforward.rfcAddr ?? s.xforward.addr ?? '' : s.rfcAddr);
export const forwardNamaddr = (s: SmtpdState): string => (forwarded(s) ? s.xforward.namaddr ?? '' : s.namaddr);
export const forwardProto = (s: SmtpdState): string => (forwarded(s) ? s.xforward.protocol ?? '' : s.protocol);
export const forwardHelo = (s: SmtpdState): string | null => (forwarded(s) ? s.xforward.heloName : s.heloName);
export const forwardPort = (s: SmtpdState): string => (forwarded(s) ? s.xforward.port ?? '' : s.port);
export const forwardIdent = (s: SmtpdState): string | null => s.xforward.ident ?? s.queueId;
export const forwardDomain = (s: SmtpdState): string | null =>
  s.xforward.flags & XF_DOMAIN ? s.xforward.domain : s.rewriteContext;

/**
 * RESOLVE_CLASS_FINAL of global/resolve_clnt.h: local, virtual alias and
 * virtual mailbox destinations are all final (the address layer's constant
 * leaves out the alias class).
 */
export const RESOLVE_CLASS_FINAL = (1 << 8) | (1 << 9) | (1 << 10);
