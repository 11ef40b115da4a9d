// What the queue manager needs of the per-recipient status library
// (Postfix's global/defer.c, sent.c as qmgr/qmgr_defer.c and
// qmgr_message.c call them): defer a recipient with a reason and relay
// "none", or log one as sent (the discarded postmaster notification).
// The program wrapper hands in src/queue/delivery-status.ts; tests hand in
// a fake. The bounce service is bounce/api.ts's. Types only.
import type { DeliveryRecipient } from '../delivery/api.js';
import type { RcptDsn, StatusContext } from '../queue/delivery-status.js';

export type { BounceService, NoticeRequest } from '../bounce/api.js';

/** The context of one message's status updates. */
export type QmgrStatusContext = StatusContext;
export type QmgrRcptDsn = RcptDsn;

/** The status library's functions qmgr calls; each returns DEL_STAT_FINAL or DEL_STAT_DEFER. */
export interface StatusOps {
  deferRecipient(ctx: QmgrStatusContext, rcpt: DeliveryRecipient, relay: string, dsn: QmgrRcptDsn): Promise<number>;
  sentRecipient(ctx: QmgrStatusContext, rcpt: DeliveryRecipient, relay: string, dsn: QmgrRcptDsn): Promise<number>;
}
