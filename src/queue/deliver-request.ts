// The facts of a delivery request that the queue layer shares with the
// delivery agents and the queue manager (global/deliver_request.h,
// msg_stats.h, recipient_list.h): the request flags, the request statuses,
// the time profile of a message and one recipient as a request carries it.
// src/delivery/api.ts re-exports these with the rest of the request.
// Types and constants only.
import type { TimeVal } from './queue-file.js';

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
