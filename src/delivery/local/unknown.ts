// Mirrors Postfix's local/unknown.c: a recipient with neither alias nor
// account. In order: fallback_transport_maps, fallback_transport (the
// recipient is handed to that service), luser_relay (expanded, then
// resolved and delivered; a relay back to the same address bounces),
// postmaster and MAILER-DAEMON are discarded with a warning, anyone else
// bounces as unknown user (5.1.1).
import { lowercaseAscii } from '../../dict/utf8.js';
import { type DeliverAttr, type UserAttr, deeper } from './attr.js';
import type { LocalRequest, Status } from './request.js';
import { localExpand } from './expand.js';
import { deliverPass } from './pass.js';
import { deliverResolveAddr } from './resolve.js';

export async function deliverUnknown(lr: LocalRequest, attr0: DeliverAttr, usr: UserAttr): Promise<Status> {
  const attr = deeper(attr0);
  const env = lr.env;
  const s = lr.settings;
  if (lr.dup.check(`deliver_unknown ${attr.local}`)) return 0;
  if (env.fallbackTransportMaps) {
    const r = await env.fallbackTransportMaps.find(attr.user);
    if (r.status === 'found') return deliverPass(lr, attr, r.value);
    if (r.status === 'error') return lr.defer(attr, { status: '4.3.0', reason: 'table lookup failure' });
  }
  if (s.fallbackTransport !== '') return deliverPass(lr, attr, s.fallbackTransport);
  if (s.luserRelay !== '') {
    attr.unmatched = null;
    const relay = localExpand(s.luserRelay, attr, usr, s.recipientDelimiter, undefined, (t) => lr.log.warning(t)).result;
    const canon = env.resolver.rewriteExternal('local', relay);
    if (lowercaseAscii(canon) === lowercaseAscii(attr.rcpt.address)) {
      return lr.bounce(attr, { status: '5.1.1', reason: `unknown user: "${attr.user}"` });
    }
    return deliverResolveAddr(lr, attr, usr, relay);
  }
  const user = lowercaseAscii(attr.user);
  if (user === 'mailer-daemon' || user === 'postmaster') {
    lr.log.warning(`required alias not found: ${attr.user}`);
    return lr.sent(attr, { status: '2.0.0', reason: 'discarded' });
  }
  return lr.bounce(attr, { status: '5.1.1', reason: `unknown user: "${attr.user}"` });
}
