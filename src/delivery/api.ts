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

export {
  DEL_REQ_FLAG_SUCCESS,
  DEL_REQ_FLAG_BOUNCE,
  DEL_REQ_FLAG_DEFLT,
  DEL_REQ_FLAG_MTA_VRFY,
  DEL_REQ_FLAG_USR_VRFY,
  DEL_REQ_FLAG_RECORD,
  DEL_REQ_FLAG_CONN_LOAD,
  DEL_REQ_FLAG_CONN_STORE,
  DEL_REQ_FLAG_REC_DLY_SENT,
  DEL_REQ_TRACE_FLAGS_MASK,
  DEL_REQ_TRACE_ONLY_MASK,
  DEL_STAT_FINAL,
  DEL_STAT_DEFER,
  NO_TIME,
} from '../queue/deliver-request.js';
export type { MsgStats, DeliveryRecipient } from '../queue/deliver-request.js';
import type { MsgStats, DeliveryRecipient } from '../queue/deliver-request.js';

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
