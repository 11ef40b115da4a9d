// Mirrors Postfix's discard(8) (discard/discard.c): it delivers nothing and
// reports every recipient of a request as sent, with the request's next
// hop as the reason ("discard:remote.example is discarded" logs "status=sent
// (remote.example is discarded)"), status 2.0.0 unless the next hop starts
// with a 2.X.X code, relay "none". Recipients are marked done when the
// request asks for it. Touches the queue file and status logs through
// queue/delivery-status.ts only.
import { DEL_REQ_FLAG_SUCCESS, DEL_REQ_TRACE_FLAGS_MASK, DEL_STAT_DEFER, type DeliveryReply } from '../api.js';
import { type AgentDelivery, checkTrivialRequest, deliverEach } from '../agent.js';
import { NO_RELAY_AGENT, sentRecipient } from '../../queue/delivery-status.js';
import { dsnSplit } from '../../mail/dsn.js';

export async function discardAgent(delivery: AgentDelivery): Promise<DeliveryReply> {
  const refused = checkTrivialRequest(delivery);
  if (refused !== null) {
    delivery.log.warning(`${delivery.request.queueId}: ${refused}`);
    return { status: DEL_STAT_DEFER };
  }
  const { dsn, text } = dsnSplit('2.0.0', delivery.request.nexthop);
  const flags = delivery.request.flags & (DEL_REQ_TRACE_FLAGS_MASK | DEL_REQ_FLAG_SUCCESS);
  const ctx = { ...delivery.status, flags };
  return deliverEach(delivery, (rcpt) => sentRecipient(ctx, rcpt, NO_RELAY_AGENT, { status: dsn, reason: text }));
}
