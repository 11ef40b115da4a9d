// Mirrors Postfix's local/indirect.c: an address that is not delivered
// here (another domain, or a list member whose copy carries the list
// owner's sender) joins a forwarded copy of the message (./forward.ts).
import type { DeliverAttr } from './attr.js';
import type { LocalRequest, Status } from './request.js';
import { DEL_REQ_TRACE_ONLY_MASK } from '../api.js';
import { Forwarder } from './forward.js';

export async function deliverIndirect(lr: LocalRequest, attr: DeliverAttr): Promise<Status> {
  if (lr.dup.check(`indirect ${attr.rcpt.address}`)) return 0;
  if (lr.req.flags & DEL_REQ_TRACE_ONLY_MASK) {
    return lr.sent(attr, { status: '2.0.0', reason: `forwards to ${attr.rcpt.address}` });
  }
  lr.forwarder ??= new Forwarder(lr);
  if ((await lr.forwarder.append(attr)) !== 0) {
    return lr.defer(attr, { status: '4.3.0', reason: 'unable to forward message' });
  }
  return 0;
}
