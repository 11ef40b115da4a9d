// Mirrors Postfix's local/token.c: one destination of an alias value,
// .forward or :include: line, by its form: "/file", "~/file" (home
// relative), "|command" (if allow_mail_to_commands permits the source),
// ":include:/path", or an address to resolve. Lines of a file starting
// with '#' are comments.
import { TOK822_ADDR, tok822Parse, type Tok822 } from '../../address/tok822.js';
import { TOK822_STR_DEFL, tok822Internalize } from '../../address/tok822-format.js';
import type { DeliverAttr, UserAttr } from './attr.js';
import type { LocalRequest, Status } from './request.js';
import { deliverFile, deliverCommandLeaf } from './leaf.js';
import { deliverInclude } from './include.js';
import { deliverResolveTree } from './resolve.js';

const INCLUDE = ':include:';

async function deliverTokenHome(lr: LocalRequest, attr: DeliverAttr, usr: UserAttr, addr: string): Promise<Status> {
  if (addr[1] !== '/') {
    lr.log.warning(`bad home directory syntax for: ${addr}`);
    return lr.bounce(attr, { status: '5.3.5', reason: 'mail system configuration error' });
  }
  if (usr.home === undefined) {
    lr.log.warning(`unknown home directory for: ${addr}`);
    return lr.bounce(attr, { status: '5.3.5', reason: 'mail system configuration error' });
  }
  if (usr.home === '/') return deliverFile(lr, attr, usr, addr.slice(1));
  return deliverFile(lr, attr, usr, usr.home + addr.slice(1));
}

/** deliver_token. */
export async function deliverToken(lr: LocalRequest, attr: DeliverAttr, usr: UserAttr, addr: Tok822): Promise<Status> {
  const text = tok822Internalize(addr.head, TOK822_STR_DEFL);
  if (text[0] === '/') return deliverFile(lr, attr, usr, text);
  if (text[0] === '~') return deliverTokenHome(lr, attr, usr, text);
  if (text[0] === '|') {
    if ((lr.settings.cmdDeliverMask & attr.expType) === 0) {
      return lr.bounce(attr, { status: '5.7.1', reason: 'mail to command is restricted' });
    }
    return deliverCommandLeaf(lr, attr, usr, text.slice(1));
  }
  if (text.slice(0, INCLUDE.length).toLowerCase() === INCLUDE) return deliverInclude(lr, attr, usr, text.slice(INCLUDE.length));
  return deliverResolveTree(lr, attr, usr, addr);
}

/** deliver_token_string: every address of a comma-separated list; count gets the number of addresses. */
export async function deliverTokenString(lr: LocalRequest, attr: DeliverAttr, usr: UserAttr, text: string, count?: { n: number }): Promise<Status> {
  let status = 0;
  for (let tp = tok822Parse(text); tp !== null; tp = tp.next) {
    if (tp.type !== TOK822_ADDR) continue;
    if (count) count.n++;
    status |= await deliverToken(lr, attr, usr, tp);
  }
  return status;
}

/** deliver_token_stream: a file's lines (no '#' comments); stops at the first line that did not go well. */
export async function deliverTokenLines(lr: LocalRequest, attr: DeliverAttr, usr: UserAttr, content: string, count?: { n: number }): Promise<Status> {
  let status = 0;
  const lineLimit = lr.env.config.getInt('line_length_limit');
  const lines = content.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  for (const whole of lines) {
    // vstring_fgets_bound: an overlong line is read in pieces.
    for (let i = 0; i < Math.max(whole.length, 1); i += lineLimit) {
      const line = whole.slice(i, i + lineLimit);
      if (line[0] === '#') continue;
      status = await deliverTokenString(lr, attr, usr, line, count);
      if (status !== 0) return status;
    }
  }
  return status;
}
