// The interface between the queue manager and the delivery agents, in the
// place of Postfix's deliver_request protocol (global/deliver_request.h,
// deliver_pass.c, qmgr/qmgr_deliver.c). qmgr connects to the agent's
// master.cf service (a unix socket, private/<service>), writes one request
// per line as JSON, and reads one reply line per request; a connection may
// carry many requests in turn. The agent does the per-recipient work itself,
// as Postfix's agents do: a delivered or bounced recipient is logged, its
// bounce or trace record appended, and its queue-file record marked done; a
// deferred one is logged and appended to the defer log. The reply says only
// whether anything was deferred, and whether the destination failed as a
// whole (qmgr then treats it as dead until the next retry).
// Types and the line codec only; the agents live in ./<agent>/.
import type { TimeVal } from '../queue/queue-file.js';

/** DEL_REQ_FLAG_*: what to do with the recipients (global/deliver_request.h). */
export const DEL_REQ_FLAG_SUCCESS = 1 << 0;
export const DEL_REQ_FLAG_BOUNCE = 1 << 1;
export const DEL_REQ_FLAG_DEFLT = DEL_REQ_FLAG_SUCCESS | DEL_REQ_FLAG_BOUNCE;
export const DEL_REQ_FLAG_MTA_VRFY = 1 << 8;
export const DEL_REQ_FLAG_USR_VRFY = 1 << 9;
export const DEL_REQ_FLAG_RECORD = 1 << 10;
export const DEL_REQ_FLAG_CONN_LOAD = 1 << 11;
export const DEL_REQ_FLAG_CONN_STORE = 1 << 12;
export const DEL_REQ_FLAG_REC_DLY_SENT = 1 << 13;
export const DEL_REQ_TRACE_FLAGS_MASK = DEL_REQ_FLAG_MTA_VRFY | DEL_REQ_FLAG_USR_VRFY | DEL_REQ_FLAG_RECORD | DEL_REQ_FLAG_REC_DLY_SENT;
export const DEL_REQ_TRACE_ONLY_MASK = DEL_REQ_FLAG_MTA_VRFY | DEL_REQ_FLAG_USR_VRFY;

/** DEL_STAT_*: the status of a whole request. */
export const DEL_STAT_FINAL = 0;
export const DEL_STAT_DEFER = 1;

/**
 * The time profile of a message (global/msg_stats.h), for the delay=
 * and delays=a/b/c/d fields of the delivery log line. A zero sec means
 * "not time stamped".
 */
export interface MsgStats {
  incomingArrival: TimeVal;
  activeArrival: TimeVal;
  agentHandoff: TimeVal;
  connSetupDone: TimeVal;
  deliverDone: TimeVal;
  reuseCount: number;
}

export const NO_TIME: TimeVal = { sec: 0, usec: 0 };

/** One recipient of a request (global/recipient_list.h). Strings are byte strings (latin1). */
export interface DeliveryRecipient {
  /** The address as resolved (the R record, after the done mark's check). */
  address: string;
  /** The original recipient (O record), '' when none. */
  orcpt: string;
  /** The DSN original recipient (ORCPT parameter, "rfc822;..."), '' when none. */
  dsnOrcpt: string;
  /** DSN_NOTIFY_* bits, 0 when the client gave none. */
  notify: number;
  /** The queue-file offset of the recipient record: where the done mark goes. */
  offset: number;
}

/** A delivery request (DELIVER_REQUEST). Strings are byte strings (latin1). */
export interface DeliveryRequest {
  flags: number;
  /** The queue the file is in ("active"). */
  queueName: string;
  queueId: string;
  /** The offset of the first content record, and the message size, from the size record. */
  dataOffset: number;
  dataSize: number;
  /** The next hop from the transport lookup ("host.example.com", "[127.0.0.1]:25", a user for local). */
  nexthop: string;
  /** The content encoding ("7bit", "8bitmime", ""), and the SMTPUTF8 level. */
  encoding: string;
  smtputf8: number;
  sender: string;
  stats: MsgStats;
  recipients: DeliveryRecipient[];
  clientName: string;
  clientAddr: string;
  clientPort: string;
  clientProto: string;
  clientHelo: string;
  saslMethod: string;
  saslUsername: string;
  saslSender: string;
  /** The original queue ID (log_ident). */
  logIdent: string;
  /** "local" or "remote" (the rewrite context of the message). */
  rewriteContext: string;
  dsnEnvid: string;
  /** DSN_RET_FULL or DSN_RET_HDRS, 0 when none. */
  dsnRet: number;
}

/** A DSN for a request as a whole (the destination failed: "4.4.1", "connect to ...: refused"). */
export interface HopStatus {
  status: string;
  reason: string;
}

/** The agent's reply to one request. */
export interface DeliveryReply {
  /** DEL_STAT_FINAL: every recipient is done (delivered or bounced); DEL_STAT_DEFER: some were deferred. */
  status: number;
  /** Present when the destination failed as a whole: qmgr marks it dead. */
  hopStatus?: HopStatus;
}

/** One request as a line (without the newline). */
export function encodeRequest(req: DeliveryRequest): string {
  return JSON.stringify(req);
}

/** One reply as a line (without the newline). */
export function encodeReply(reply: DeliveryReply): string {
  return JSON.stringify(reply);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A request line read back; null when it is not one. */
export function decodeRequest(line: string): DeliveryRequest | null {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return null;
  }
  if (!isRecord(v) || typeof v.queueId !== 'string' || typeof v.queueName !== 'string' || !Array.isArray(v.recipients) || !isRecord(v.stats)) return null;
  return v as unknown as DeliveryRequest;
}

/** A reply line read back; null when it is not one. */
export function decodeReply(line: string): DeliveryReply | null {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return null;
  }
  if (!isRecord(v) || typeof v.status !== 'number') return null;
  return v as unknown as DeliveryReply;
}

/** The longest request or reply line an agent or qmgr reads before it gives up on the peer. */
export const MAX_LINE_BYTES = 16 * 1024 * 1024;
