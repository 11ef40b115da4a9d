// The per-transport parameter suffixes of Postfix 3.7 (global/mail_params.h,
// as qmgr/qmgr_transport.c, qmgr_feedback.c, pipe/pipe.c and spawn/spawn.c
// look them up): each with the global parameter that applies when
// TRANSPORT+suffix is not set, its kind, and the bounds of the per-transport
// lookup. Data only, no imports: postconf loads it at start.
import type { Bounds } from './conf-values.js';

export type TransportParamKind = 'int' | 'time' | 'str';

export interface TransportParam {
  /** Appended to the transport (master.cf service) name: "_destination_concurrency_limit". */
  suffix: string;
  /** The global parameter used when TRANSPORT+suffix is not set. */
  global: string;
  kind: TransportParamKind;
  /** Bounds of the per-transport lookup (0: none); for str, on the length. */
  bounds: Bounds;
}

const row = (suffix: string, global: string, kind: TransportParamKind, min = 0, max = 0): TransportParam =>
  ({ suffix, global, kind, bounds: { min, max } });

/** pipe(8) and spawn(8): the command time limit. */
export const TIME_LIMIT_PARAMS: readonly TransportParam[] = [row('_time_limit', 'command_time_limit', 'time', 1)];

/** The scheduler's per-transport parameters, in Postfix's order (postconf lists them so). */
export const DELIVERY_PARAMS: readonly TransportParam[] = [
  row('_recipient_limit', 'default_recipient_limit', 'int'),
  row('_extra_recipient_limit', 'default_extra_recipient_limit', 'int'),
  row('_recipient_refill_limit', 'default_recipient_refill_limit', 'int', 1),
  row('_recipient_refill_delay', 'default_recipient_refill_delay', 'time', 1),
  row('_delivery_slot_cost', 'default_delivery_slot_cost', 'int'),
  row('_delivery_slot_loan', 'default_delivery_slot_loan', 'int'),
  row('_delivery_slot_discount', 'default_delivery_slot_discount', 'int', 0, 100),
  row('_minimum_delivery_slots', 'default_minimum_delivery_slots', 'int'),
  row('_initial_destination_concurrency', 'initial_destination_concurrency', 'int', 1),
  row('_destination_concurrency_limit', 'default_destination_concurrency_limit', 'int'),
  row('_destination_recipient_limit', 'default_destination_recipient_limit', 'int'),
  row('_destination_concurrency_positive_feedback', 'default_destination_concurrency_positive_feedback', 'str', 1),
  row('_destination_concurrency_negative_feedback', 'default_destination_concurrency_negative_feedback', 'str', 1),
  row('_destination_concurrency_failed_cohort_limit', 'default_destination_concurrency_failed_cohort_limit', 'int'),
  row('_destination_rate_delay', 'default_destination_rate_delay', 'time'),
  row('_transport_rate_delay', 'default_transport_rate_delay', 'time'),
];

