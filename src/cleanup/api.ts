// The interface between the programs that receive mail (smtpd, pickup) and
// cleanup, mirroring Postfix's cleanup service protocol
// (global/cleanup_user.h, cleanup/cleanup_api.c): the client opens a
// session with CLEANUP_FLAG_* bits, learns the queue ID, streams records of
// the same types that go into queue files (REC_TYPE_* letters: A attributes,
// S sender, O/R recipients, M, N/L content lines, X, E), and gets a status.
// cleanup does the rest: rewriting, virtual alias expansion, headers,
// header/body checks, the queue file in Postfix's record order, fsync, and
// the rename into incoming/ (or hold/) before the status is returned.
// In this project cleanup runs in the daemon's own process: a session is an
// object, not a socket, but the record stream is the same.

export const CLEANUP_FLAG_NONE = 0;
export const CLEANUP_FLAG_BOUNCE = 1 << 0; // bounce bad messages
export const CLEANUP_FLAG_FILTER = 1 << 1; // enable header/body checks
export const CLEANUP_FLAG_HOLD = 1 << 2; // place message on hold
export const CLEANUP_FLAG_DISCARD = 1 << 3; // discard message silently
export const CLEANUP_FLAG_BCC_OK = 1 << 4; // ok to add auto-BCC addresses
export const CLEANUP_FLAG_MAP_OK = 1 << 5; // ok to map addresses
export const CLEANUP_FLAG_MILTER = 1 << 6; // enable Milter applications
export const CLEANUP_FLAG_SMTP_REPLY = 1 << 7; // enable SMTP reply
export const CLEANUP_FLAG_SMTPUTF8 = 1 << 8; // SMTPUTF8 requested
export const CLEANUP_FLAG_AUTOUTF8 = 1 << 9; // autodetect SMTPUTF8

export const CLEANUP_STAT_OK = 0;
export const CLEANUP_STAT_BAD = 1 << 0; // internal protocol error
export const CLEANUP_STAT_WRITE = 1 << 1; // error writing message file
export const CLEANUP_STAT_SIZE = 1 << 2; // message file too big
export const CLEANUP_STAT_CONT = 1 << 3; // message content rejected
export const CLEANUP_STAT_HOPS = 1 << 4; // too many hops
export const CLEANUP_STAT_RCPT = 1 << 6; // no recipients found
export const CLEANUP_STAT_PROXY = 1 << 7; // proxy reject
export const CLEANUP_STAT_DEFER = 1 << 8; // temporary reject
export const CLEANUP_STAT_NOPERM = 1 << 9; // denied by non-content policy
export const CLEANUP_STAT_BARE_LF = 1 << 16; // bare <LF> received

export interface CleanupStatDetail {
  status: number;
  smtp: number;
  dsn: string;
  text: string;
}

// Order matters: the first entry whose bit is set in a status describes it.
const STAT_MAP: readonly CleanupStatDetail[] = [
  { status: CLEANUP_STAT_DEFER, smtp: 451, dsn: '4.7.1', text: 'service unavailable' },
  { status: CLEANUP_STAT_PROXY, smtp: 451, dsn: '4.3.0', text: 'queue file write error' },
  { status: CLEANUP_STAT_BAD, smtp: 451, dsn: '4.3.0', text: 'internal protocol error' },
  { status: CLEANUP_STAT_RCPT, smtp: 550, dsn: '5.1.0', text: 'no recipients specified' },
  { status: CLEANUP_STAT_HOPS, smtp: 554, dsn: '5.4.0', text: 'too many hops' },
  { status: CLEANUP_STAT_SIZE, smtp: 552, dsn: '5.3.4', text: 'message file too big' },
  { status: CLEANUP_STAT_CONT, smtp: 550, dsn: '5.7.1', text: 'message content rejected' },
  { status: CLEANUP_STAT_WRITE, smtp: 451, dsn: '4.3.0', text: 'queue file write error' },
  { status: CLEANUP_STAT_NOPERM, smtp: 550, dsn: '5.7.1', text: 'service denied' },
  { status: CLEANUP_STAT_BARE_LF, smtp: 521, dsn: '5.5.2', text: 'bare <LF> received' },
];

const SUCCESS: CleanupStatDetail = { status: CLEANUP_STAT_OK, smtp: 250, dsn: '2.0.0', text: 'Success' };

/** What a cleanup status means (cleanup_stat_detail); undefined for an unknown bit. */
export function cleanupStatDetail(status: number): CleanupStatDetail | undefined {
  if (status === CLEANUP_STAT_OK) return SUCCESS;
  return STAT_MAP.find((d) => d.status & status);
}

/** The outcome of a session, sent after the E record. */
export interface CleanupResult {
  /** CLEANUP_STAT_* bits; 0 when the message is safely queued. */
  status: number;
  /** Text for the client (e.g. a header_checks REJECT text); empty when there is none. */
  reason: string;
}

/** One message in progress. Records are written in the order a queue file has them. */
export interface CleanupSession {
  /** The queue ID, known as soon as the session is open (the file exists in incoming/). */
  readonly queueId: string;
  /** One record: a REC_TYPE_* letter and its data (bytes as latin1 or a Buffer). */
  record(type: string, data: string | Buffer): void;
  /** Content size written so far, for message_size_limit checks by the client. */
  readonly contentSize: number;
  /** Ends the message (after the E record): resolves once the file is durable or removed. */
  finish(): Promise<CleanupResult>;
  /** Gives up (client went away, RSET): removes the file, releases the ID. */
  abort(): Promise<void>;
  /**
   * Processes every record received so far, then gives up as abort() does:
   * what Postfix's cleanup does when its client closes the stream without
   * an end record (a notice the bounce service dropped).
   */
  abandon(): Promise<void>;
}

/** Opens sessions; one per daemon process, built from the configuration in force. */
export interface CleanupService {
  open(flags: number): Promise<CleanupSession>;
}
