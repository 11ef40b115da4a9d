// Mirrors the parameters Postfix's qmgr/qmgr.c reads at start-up and the
// per-transport settings of qmgr/qmgr_transport.c and qmgr_feedback.c:
// limits on what is in core, retry and lifetime times, and for each
// transport its concurrency, recipient limit, rate delay and feedback.
// Reads the configuration only; changes nothing.
import type { Config } from '../config/config.js';
import { transportInt, transportStr, transportTime } from '../config/transport-params.js';
import type { MailLogger } from '../log/logger.js';
import { type Feedback, parseFeedback } from './feedback.js';
import type { RecipientSlotSettings, SlotSettings } from './job.js';

/** The global settings the queue manager runs with. */
export interface QmgrParams {
  activeLimit: number;
  recipientLimit: number;
  /** Recipients a message may always bring into core, whatever the global limit. */
  recipientMinimum: number;
  queueRunDelay: number;
  minBackoff: number;
  maxBackoff: number;
  maxQueueLifetime: number;
  bounceQueueLifetime: number;
  transportRetryTime: number;
  deferTransports: string[];
  doubleBounceSender: string;
  recipientDelimiter: string;
  softBounce: boolean;
  delayMaxRes: number;
  oldlogCompat: boolean;
  infoLogAddressFormat: string;
  helpfulWarnings: boolean;
  clogWarnTime: number;
  /** smtputf8_enable: a delivery request with a UTF-8 recipient gets SMTPUTF8_FLAG_RECIPIENT. */
  smtputf8Enable: boolean;
}

/** The settings, with qmgr's start-up adjustments (warned about when a logger is given). */
export function qmgrParams(config: Config, log?: MailLogger): QmgrParams {
  const p = readParams(config);
  if (p.recipientLimit < p.activeLimit) {
    log?.warning('qmgr_message_recipient_limit is smaller than qmgr_message_active_limit - adjusting qmgr_message_recipient_limit');
    p.recipientLimit = p.activeLimit;
  }
  if (p.bounceQueueLifetime > p.maxQueueLifetime) {
    log?.warning('bounce_queue_lifetime is larger than maximal_queue_lifetime - adjusting bounce_queue_lifetime');
    p.bounceQueueLifetime = p.maxQueueLifetime;
  }
  return p;
}

function readParams(config: Config): QmgrParams {
  return {
    activeLimit: config.getInt('qmgr_message_active_limit'),
    recipientLimit: config.getInt('qmgr_message_recipient_limit'),
    recipientMinimum: config.getInt('qmgr_message_recipient_minimum'),
    queueRunDelay: config.getTime('queue_run_delay'),
    minBackoff: config.getTime('minimal_backoff_time'),
    maxBackoff: config.getTime('maximal_backoff_time'),
    maxQueueLifetime: config.getTime('maximal_queue_lifetime'),
    bounceQueueLifetime: config.getTime('bounce_queue_lifetime'),
    transportRetryTime: config.getTime('transport_retry_time'),
    deferTransports: config.getList('defer_transports'),
    doubleBounceSender: config.get('double_bounce_sender'),
    recipientDelimiter: config.get('recipient_delimiter'),
    softBounce: config.getBool('soft_bounce'),
    delayMaxRes: config.getInt('delay_logging_resolution_limit'),
    oldlogCompat: config.getBool('backwards_bounce_logfile_compatibility'),
    infoLogAddressFormat: config.get('info_log_address_format'),
    helpfulWarnings: config.getBool('helpful_warnings'),
    clogWarnTime: config.getTime('qmgr_clog_warn_time'),
    smtputf8Enable: config.getBool('smtputf8_enable'),
  };
}

/** What one transport is allowed (qmgr_transport_create). */
export interface TransportLimits {
  /** 0: no limit. */
  concurrencyLimit: number;
  /** 0: no limit. */
  recipientLimit: number;
  initConcurrency: number;
  /** Seconds from the end of a delivery to one destination to the start of the next; 0: none. */
  rateDelay: number;
  /** Seconds from the end of a delivery by this transport to the start of its next; 0: none. */
  xportRateDelay: number;
  positive: Feedback;
  negative: Feedback;
  failCohortLimit: number;
  /** Delivery slot preemption (qmgr_job.c). */
  slots: SlotSettings;
  /** Recipient slots (qmgr_job.c). */
  rcpt: RecipientSlotSettings;
}

/** The limits of one transport; bad feedback values are warned about and replaced, as Postfix does. */
export function transportLimits(config: Config, name: string, log: MailLogger): TransportLimits {
  const fb = (suffix: string, def: string) => {
    const { name: from, value } = transportStr(config, name, suffix);
    return parseFeedback(value, from === def ? def : from, log);
  };
  const rateDelay = transportTime(config, name, '_destination_rate_delay');
  let concurrencyLimit = transportInt(config, name, '_destination_concurrency_limit');
  let recipientLimit = transportInt(config, name, '_destination_recipient_limit');
  // With a rate delay, one delivery at a time (qmgr_transport_create).
  if (rateDelay > 0) concurrencyLimit = 1;
  if (recipientLimit < 0) recipientLimit = 0;
  return {
    concurrencyLimit,
    recipientLimit,
    initConcurrency: Math.max(1, transportInt(config, name, '_initial_destination_concurrency')),
    rateDelay,
    xportRateDelay: transportTime(config, name, '_transport_rate_delay'),
    positive: fb('_destination_concurrency_positive_feedback', 'default_destination_concurrency_positive_feedback'),
    negative: fb('_destination_concurrency_negative_feedback', 'default_destination_concurrency_negative_feedback'),
    failCohortLimit: transportInt(config, name, '_destination_concurrency_failed_cohort_limit'),
    slots: {
      cost: transportInt(config, name, '_delivery_slot_cost'),
      loan: transportInt(config, name, '_delivery_slot_loan'),
      loanFactor: 100 - transportInt(config, name, '_delivery_slot_discount'),
      minSlots: transportInt(config, name, '_minimum_delivery_slots'),
    },
    rcpt: {
      limit: transportInt(config, name, '_recipient_limit'),
      extra: transportInt(config, name, '_extra_recipient_limit'),
      refillLimit: transportInt(config, name, '_recipient_refill_limit'),
      refillDelay: transportTime(config, name, '_recipient_refill_delay'),
    },
  };
}
