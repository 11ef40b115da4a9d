// The interface qmgr uses to ask for notices, standing in for Postfix's
// bounce(8), defer(8) and trace(8) services (bounce/bounce.c and the
// client side in global/bounce.c, defer.c, trace.c): each call builds one
// notice from a message's bounce/, defer/ or trace/ log and its queue file,
// queues it through cleanup, and answers 0 (done, or nothing to send) or
// -1 (try again later). Nothing here throws for an expected failure.
import type { CleanupService } from '../cleanup/api.js';
import type { Config } from '../config/config.js';
import type { MailLogger } from '../log/logger.js';
import type { QueueLayout } from '../queue/layout.js';
import { createNoticeService } from './service.js';

/** What qmgr knows about the message a notice is about. */
export interface NoticeRequest {
  /** Queue the message file is in (normally "active"). */
  queueName: string;
  queueId: string;
  /** The message's encoding attribute: "7bit", "8bit" or "". */
  encoding: string;
  /** SMTPUTF8 flags of the message (1: requested). */
  smtputf8: number;
  /** The envelope sender: who the notice goes to ("" for a bounce message). */
  sender: string;
  /** DSN ENVID, "" when none. */
  dsnEnvid: string;
  /** DSN RET (1 FULL, 2 HDRS), 0 when none. */
  dsnRet: number;
  /** flushTrace only: the message's DEL_REQ_FLAG_* trace flags (src/delivery/api.ts); USR_VRFY or RECORD select the "verify" template. */
  flags?: number;
}

export interface BounceService {
  /** Non-delivery notice from bounce/QID; the log is removed when done. 0 ok, -1 failed. */
  flushBounces(req: NoticeRequest): Promise<number>;
  /** Notice for an expired message from defer/QID (failure template); the log is removed when done. */
  flushDefers(req: NoticeRequest): Promise<number>;
  /** Delay warning from defer/QID; the log is kept. */
  warnDelayed(req: NoticeRequest): Promise<number>;
  /** Success / delivery report notice from trace/QID; the log is removed when done. */
  flushTrace(req: NoticeRequest): Promise<number>;
}

export interface BounceServiceOptions {
  config: Config;
  cleanup: CleanupService;
  /** Tagged postfix/bounce. */
  log: MailLogger;
  queueDir: string;
  layout: QueueLayout;
  /** The clock (tests). */
  now?: () => Date;
}

export function createBounceService(opts: BounceServiceOptions): BounceService {
  return createNoticeService(opts);
}
