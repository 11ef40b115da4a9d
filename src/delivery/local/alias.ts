// Mirrors Postfix's local/alias.c: a local name looked up in alias_maps.
// The value's addresses, files, commands and :include: lists are delivered
// with the rights of the table's owner (default_privs for a table owned by
// root or mail_owner), with an owner-NAME alias, when there is one, as the
// envelope sender of what the list sends on (expand_owner_alias: its
// expansion instead of its name). A recursion deeper than 100 levels is an
// alias database loop.
import { DSN_NOTIFY_NEVER, DSN_NOTIFY_SUCCESS } from '../../mail/dsn.js';
import { DEL_REQ_FLAG_MTA_VRFY } from '../api.js';
import { lowercaseAscii } from '../../dict/utf8.js';
import { EXPAND_TYPE_ALIAS, NO_USER, type DeliverAttr, type UserAttr, deeper } from './attr.js';
import type { LocalRequest, Status } from './request.js';
import { deliverTokenString } from './token.js';

export interface Found {
  found: boolean;
  status: Status;
}

const NO: Found = { found: false, status: 0 };

/** deliver_alias: whether name is an alias, and the status of delivering its expansion. */
export async function deliverAlias(lr: LocalRequest, attr0: DeliverAttr, _usr0: UserAttr, name: string): Promise<Found> {
  const attr = deeper(attr0);
  if (attr.expFrom !== null && lowercaseAscii(attr.expFrom) === lowercaseAscii(name)) return NO;
  if (attr.level > 100) {
    lr.log.warning(`alias database loop for ${name}`);
    return { found: true, status: await lr.bounce(attr, { status: '5.4.6', reason: `alias database loop for ${name}` }) };
  }
  attr.expFrom = name;
  for (const table of lr.env.aliasTables) {
    const r = await table.maps.find(name);
    if (r.status === 'error') {
      const dict = table.maps.tables[0];
      lr.log.warning(`${dict?.type ?? ''}:${dict?.name ?? table.spec}: lookup of '${name}' failed`);
      return { found: true, status: await lr.defer(attr, { status: '4.3.0', reason: 'alias database unavailable' }) };
    }
    if (r.status !== 'found') continue;
    if (lr.req.flags & DEL_REQ_FLAG_MTA_VRFY) {
      return { found: true, status: await lr.sent(attr, { status: '2.0.0', reason: `aliased to ${r.value}` }) };
    }
    attr.expType = EXPAND_TYPE_ALIAS;
    let usr: UserAttr;
    if (table.owner.status === 'trusted') {
      usr = { ...NO_USER };
    } else if (table.owner.status === 'unknown') {
      lr.log.warning(`deliver_alias: no owner UID for alias database ${table.spec}`);
      return { found: true, status: await lr.defer(attr, { status: '4.3.0', reason: 'mail system configuration error' }) };
    } else {
      const pw = lr.env.passwd.byUidLookup(table.owner.uid);
      if (!pw.ok || pw.pw === null) {
        lr.log.warning(pw.ok ? `cannot find alias database owner for ${table.spec}` : `cannot find alias database owner for ${table.spec}: ${pw.error}`);
        return { found: true, status: await lr.defer(attr, { status: '4.3.0', reason: 'cannot find alias database owner' }) };
      }
      usr = { uid: pw.pw.uid, gid: pw.pw.gid, home: pw.pw.dir, logname: pw.pw.name, shell: pw.pw.shell };
    }
    return { found: true, status: await expandAlias(lr, attr, usr, name, r.value) };
  }
  return NO;
}

/** The owner- handling and the expansion of one alias value. */
async function expandAlias(lr: LocalRequest, attr: DeliverAttr, usr: UserAttr, name: string, value: string): Promise<Status> {
  let canonOwner: string | null = null;
  let ownerError = false;
  if (lr.settings.ownerRequestSpecial) {
    const owner = `owner-${name}`;
    const o = await lr.findAlias(owner);
    if (o.status === 'found') {
      canonOwner = await lr.env.resolver.rewrite('local', lr.settings.expandOwnerAlias ? o.value : owner);
      attr.sender = canonOwner;
      attr.owner = canonOwner;
    } else {
      ownerError = o.status === 'error';
      if (lr.settings.resetOwnerAlias) attr.owner = null;
    }
  } else if (lr.settings.resetOwnerAlias) {
    attr.owner = null;
  }
  if (!lr.settings.frozenDeliveredTo) attr.delivered = attr.rcpt.address;
  if (ownerError) return lr.defer(attr, { status: '4.3.0', reason: 'alias database unavailable' });
  const saved = { dsnEnvid: attr.dsnEnvid, dsnRet: attr.dsnRet, dsnOrcpt: attr.rcpt.dsnOrcpt };
  const notify = attr.rcpt.notify;
  attr.rcpt.notify = notify === DSN_NOTIFY_SUCCESS ? DSN_NOTIFY_NEVER : notify & ~DSN_NOTIFY_SUCCESS;
  if (canonOwner !== null) {
    attr.dsnEnvid = '';
    attr.dsnRet = 0;
    attr.rcpt.dsnOrcpt = '';
    attr.rcpt.orcpt = '';
  }
  const count = { n: 0 };
  let status = await deliverTokenString(lr, attr, usr, value, count);
  if (count.n < 1) {
    lr.log.warning(`no recipient in alias lookup result for ${name}`);
    status = await lr.defer(attr, { status: '4.3.0', reason: 'alias database unavailable' });
  } else if (notify & DSN_NOTIFY_SUCCESS) {
    attr.rcpt.notify = notify;
    if (canonOwner !== null) {
      attr.dsnEnvid = saved.dsnEnvid;
      attr.dsnRet = saved.dsnRet;
      attr.rcpt.dsnOrcpt = saved.dsnOrcpt;
    }
    await lr.traceExpanded(attr, canonOwner !== null ? 'delivered' : 'expanded');
  }
  return status;
}
