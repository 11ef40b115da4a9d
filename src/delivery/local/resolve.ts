// Mirrors Postfix's local/resolve.c: an address found in an expansion is
// canonicalised and resolved as trivial-rewrite would; an unmatched
// extension is put back on (propagate_unmatched_extensions); if it still
// resolves to this delivery service it is delivered here recursively,
// otherwise it joins a forwarded copy.
import { tok822ScanAddr, type Tok822 } from '../../address/tok822.js';
import { TOK822_STR_DEFL, tok822Externalize, tok822Internalize } from '../../address/tok822-format.js';
import { RESOLVE_FLAG_ERROR, RESOLVE_FLAG_FAIL } from '../../address/resolve.js';
import { type DeliverAttr, type UserAttr, deeper } from './attr.js';
import type { LocalRequest, Status } from './request.js';
import { deliverRecipient } from './recipient.js';
import { deliverIndirect } from './indirect.js';

/** deliver_resolve_addr. */
export function deliverResolveAddr(lr: LocalRequest, attr: DeliverAttr, usr: UserAttr, addr: string): Promise<Status> {
  return deliverResolveTree(lr, attr, usr, tok822ScanAddr(addr));
}

/** deliver_resolve_tree. */
export async function deliverResolveTree(lr: LocalRequest, attr0: DeliverAttr, usr: UserAttr, addr: Tok822): Promise<Status> {
  const attr = deeper(attr0);
  const resolver = lr.env.resolver;
  const external = resolver.rewriteExternal('local', tok822Externalize(addr.head, TOK822_STR_DEFL, (t) => lr.log.warning(t)));
  const internal = tok822Internalize(tok822ScanAddr(external).head, TOK822_STR_DEFL);
  const reply = await resolver.resolve(internal, '');
  if (reply.flags & RESOLVE_FLAG_FAIL) return lr.defer(attr, { status: '4.3.0', reason: 'address resolver failure' });
  if (reply.flags & RESOLVE_FLAG_ERROR) {
    return lr.bounce(attr, { status: '5.1.3', reason: `bad recipient address syntax: ${reply.recipient}` });
  }
  let recipient = reply.recipient;
  if (attr.unmatched !== null) {
    const delim = attr.local[attr.user.length] ?? '';
    const at = recipient.lastIndexOf('@');
    recipient = at < 0 ? `${recipient}${delim}${attr.unmatched}` : `${recipient.slice(0, at)}${delim}${attr.unmatched}${recipient.slice(at)}`;
  }
  attr.rcpt.address = recipient;
  if (reply.transport === lr.env.service) return deliverRecipient(lr, attr, usr);
  return deliverIndirect(lr, attr);
}
