// What the queue manager needs of the per-recipient status library
// (Postfix's global/defer.c, sent.c as qmgr/qmgr_defer.c and
// qmgr_message.c call them): defer a recipient with a reason and relay
// "none", or log one as sent (the discarded postmaster notification).
// The program wrapper hands in src/queue/delivery-status.ts; tests hand in
// a fake. Also the bounce service as qmgr sees it (bounce/api.ts has the
// same shape). Types only.
import type { FileHandle } from 'node:fs/promises';
import type { DeliveryRecipient, MsgStats } from '../delivery/api.js';
import type { MailLogger } from '../log/logger.js';
import type { QueueLayout } from '../queue/layout.js';
import type { TimeVal } from '../queue/queue-file.js';

/** The context of one message's status updates (delivery-status.ts's StatusContext). */
export interface QmgrStatusContext {
  queueDir: string;
  layout: QueueLayout;
  log: MailLogger;
  queueName: string;
  queueId: string;
  stats: MsgStats;
  flags: number;
  fh?: FileHandle;
  softBounce: boolean;
  oldlogCompat: boolean;
  delayMaxRes: number;
  infoLogAddressFormat?: string;
  now?: () => TimeVal;
}

export interface QmgrRcptDsn {
  status: string;
  reason: string;
  action?: string;
}

/** The status library's functions qmgr calls; each returns DEL_STAT_FINAL or DEL_STAT_DEFER. */
export interface StatusOps {
  deferRecipient(ctx: QmgrStatusContext, rcpt: DeliveryRecipient, relay: string, dsn: QmgrRcptDsn): Promise<number>;
  sentRecipient(ctx: QmgrStatusContext, rcpt: DeliveryRecipient, relay: string, dsn: QmgrRcptDsn): Promise<number>;
}

/** What the bounce service is asked to do for a message (bounce/api.ts NoticeRequest). */
export interface NoticeRequest {
  queueName: string;
  queueId: string;
  encoding: string;
  smtputf8: number;
  sender: string;
  dsnEnvid: string;
  dsnRet: number;
  /** flushTrace: the message's DEL_REQ_FLAG_* trace flags. */
  flags?: number;
}

/** The bounce service (bounce/api.ts BounceService): 0 done, -1 failed (keep the message, retry later). */
export interface BounceService {
  flushBounces(req: NoticeRequest): Promise<number>;
  flushDefers(req: NoticeRequest): Promise<number>;
  warnDelayed(req: NoticeRequest): Promise<number>;
  flushTrace(req: NoticeRequest): Promise<number>;
}
