// Mirrors Postfix's global/deliver_pass.c as local(8) uses it for
// mailbox_transport(_maps) and fallback_transport(_maps): the recipient is
// handed, in a copy of the request with that one recipient, to the named
// master.cf service ("transport" or "transport:nexthop"), which delivers
// and logs it. Here the service is reached on its unix socket
// private/<transport> with the request line of ../api.ts. An unreachable
// service defers the recipient ("mail transport unavailable").
import * as net from 'node:net';
import * as path from 'node:path';
import { type DeliveryReply, type DeliveryRequest, decodeReply, encodeRequest, MAX_LINE_BYTES } from '../api.js';
import type { DeliverAttr } from './attr.js';
import type { LocalRequest, Status } from './request.js';

/** The default PassFunction: one request over the service's socket. */
export function socketPass(queueDir: string): (transport: string, nexthop: string, req: DeliveryRequest) => Promise<DeliveryReply | null> {
  return (transport, _nexthop, req) => new Promise((resolve) => {
    const sock = net.createConnection(path.join(queueDir, 'private', transport));
    let buf = '';
    let done = false;
    const finish = (reply: DeliveryReply | null) => {
      if (done) return;
      done = true;
      sock.destroy();
      resolve(reply);
    };
    sock.setEncoding('utf8');
    sock.on('connect', () => sock.write(`${encodeRequest(req)}\n`, 'utf8'));
    sock.on('data', (chunk: string) => {
      buf += chunk;
      const nl = buf.indexOf('\n');
      if (nl >= 0) finish(decodeReply(buf.slice(0, nl)));
      else if (buf.length > MAX_LINE_BYTES) finish(null);
    });
    sock.on('error', () => finish(null));
    sock.on('close', () => finish(null));
  });
}

/** deliver_pass: the recipient (offset -1: the done mark is this agent's business) to another service. */
export async function deliverPass(lr: LocalRequest, attr: DeliverAttr, service: string): Promise<Status> {
  const colon = service.indexOf(':');
  const transport = colon < 0 ? service : service.slice(0, colon);
  const hop = colon < 0 ? '' : service.slice(colon + 1);
  const nexthop = hop !== '' ? hop : lr.req.nexthop;
  const req: DeliveryRequest = { ...lr.req, nexthop, recipients: [{ ...attr.rcpt, offset: -1 }] };
  const reply = await lr.env.pass(transport, nexthop, req);
  if (reply === null) return lr.defer(attr, { status: '4.3.0', reason: 'mail transport unavailable' });
  return reply.status;
}
