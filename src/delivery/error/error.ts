// Mirrors Postfix's error(8) (error/error.c), which master.cf also runs as
// the "retry" service: it delivers nothing. Every recipient of a request is
// bounced (service "error") or deferred (service "retry") with the request's
// next hop as the reason; a next hop that starts with a status code
// ("5.1.2 no such domain", "4.4.1 down for now") supplies the status, else
// it is 5.0.0 or 4.0.0. The relay is "none". A bounced recipient is marked
// done; the done mark is written whether or not the request asks for it,
// as Postfix's error agent does. Touches the queue file and status logs
// through queue/delivery-status.ts only.
import { DEL_REQ_FLAG_SUCCESS, DEL_REQ_TRACE_FLAGS_MASK, DEL_STAT_DEFER, type DeliveryReply } from '../api.js';
import { type AgentDelivery, type AgentHandler, checkTrivialRequest, deliverEach } from '../agent.js';
import { NO_RELAY_AGENT, bounceRecipient, deferRecipient } from '../../queue/delivery-status.js';
import { dsnSplit } from '../../mail/dsn.js';

/** The master.cf service names error(8) answers to (MAIL_SERVICE_ERROR, MAIL_SERVICE_RETRY). */
export const ERROR_SERVICE = 'error';
export const RETRY_SERVICE = 'retry';

/**
 * The handler for a service: bounce (service "error") or defer (service
 * "retry"). Any other service name is refused, with Postfix's text.
 */
export function errorAgent(service: string): AgentHandler | { error: string } {
  let retry: boolean;
  if (service === ERROR_SERVICE) retry = false;
  else if (service === RETRY_SERVICE) retry = true;
  else return { error: `bad error service name: ${service}` };
  return async (delivery: AgentDelivery): Promise<DeliveryReply> => {
    const refused = checkTrivialRequest(delivery);
    if (refused !== null) {
      delivery.log.warning(`${delivery.request.queueId}: ${refused}`);
      return { status: DEL_STAT_DEFER };
    }
    const { dsn, text } = dsnSplit(retry ? '4.0.0' : '5.0.0', delivery.request.nexthop);
    const ctx = { ...delivery.status, flags: (delivery.request.flags & DEL_REQ_TRACE_FLAGS_MASK) | DEL_REQ_FLAG_SUCCESS };
    const append = retry ? deferRecipient : bounceRecipient;
    return deliverEach(delivery, (rcpt) => append(ctx, rcpt, NO_RELAY_AGENT, { status: dsn, reason: text }));
  };
}
