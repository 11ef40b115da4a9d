// Mirrors Postfix's virtual(8) (virtual/virtual.c, recipient.c,
// mailbox.c, maildir.c, unknown.c): for each recipient of a request, the
// case-folded address is looked up in virtual_mailbox_maps (full address,
// then without the extension at recipient_delimiter, then @domain), its
// owner in virtual_uid_maps and virtual_gid_maps; the mailbox is
// $virtual_mailbox_base/RESULT, a Maildir when RESULT ends in "/", else an
// mbox file locked by virtual_mailbox_lock. virtual_mailbox_limit bounds
// each mailbox file. Each recipient is reported as sent, bounced or
// deferred (queue/delivery-status.ts) with the master.cf service name as
// the relay. Touches the mailboxes through ../local/ and the queue file
// and status logs through the status calls.
import type { Config } from '../../config/config.js';
import { ConfigError } from '../../config/config.js';
import { mailAddrFind, type AddrFindEnv } from '../../address/addr-find.js';
import { Maps, TableCache } from '../../address/maps.js';
import { LocalDestinations } from '../../address/resolve-local.js';
import { DICT_FLAG_LOCK, DICT_FLAG_PARANOID, DICT_FLAG_UTF8_REQUEST } from '../../dict/dict.js';
import { casefold } from '../../dict/utf8.js';
import { bounceRecipient, deferRecipient, sentRecipient, type RcptDsn } from '../../queue/delivery-status.js';
import { DEL_REQ_TRACE_ONLY_MASK, DEL_STAT_DEFER, type DeliveryRecipient, type DeliveryReply } from '../api.js';
import { type AgentDelivery, type AgentHandler, deliverEach } from '../agent.js';
import { MAIL_COPY_DELIVERED, MAIL_COPY_MBOX, MAIL_COPY_ORIG_RCPT, MAIL_COPY_RETURN, MAIL_COPY_TOFILE, type CopySource } from '../local/mail-copy.js';
import { deliverMboxFile } from '../local/mailbox-file.js';
import { deliverMaildir } from '../local/maildir.js';
import { mboxLockMask, type LockTiming } from '../local/mbox-lock.js';
import { outcomeDsn, type LocalOutcome } from '../local/outcome.js';

const MAP_FLAGS = DICT_FLAG_LOCK | DICT_FLAG_PARANOID | DICT_FLAG_UTF8_REQUEST;

/** virtual(8)'s settings, its tables open. */
export interface VirtualSettings {
  mailboxBase: string;
  minimumUid: number;
  /** virtual_mailbox_limit, bytes; 0 = none. */
  mailboxLimit: number;
  locks: string[];
  strictOwner: boolean;
  enableOrcpt: boolean;
  timing: LockTiming;
  mailboxMaps: Maps;
  uidMaps: Maps;
  gidMaps: Maps;
  addrFind: AddrFindEnv;
}

/** The settings checks of virtual(8)'s pre_init, as ConfigError texts. */
function checkLimits(config: Config): number {
  const limit = config.getLong('virtual_mailbox_limit');
  if (limit > 0) {
    const msgLimit = config.getLong('message_size_limit');
    if (msgLimit <= 0) throw new ConfigError('configuration error: virtual_mailbox_limit is limited but message_size_limit is unlimited');
    if (limit < msgLimit) throw new ConfigError('configuration error: virtual_mailbox_limit is smaller than message_size_limit');
  }
  return limit;
}

/** Reads the settings and opens the tables; throws ConfigError for a configuration virtual(8) refuses. */
export async function openVirtual(config: Config, cache: TableCache = new TableCache()): Promise<VirtualSettings> {
  const mailboxLimit = checkLimits(config);
  const mailboxBase = config.get('virtual_mailbox_base');
  if (!mailboxBase.startsWith('/')) throw new ConfigError(`do not specify relative pathname: virtual_mailbox_base = ${mailboxBase}`);
  const locks = config.get('virtual_mailbox_lock');
  const mask = mboxLockMask(locks);
  if (!mask.ok) throw new ConfigError(`${mask.error}`);
  const local = await LocalDestinations.create(config, cache);
  return {
    mailboxBase,
    minimumUid: config.getInt('virtual_minimum_uid'),
    mailboxLimit,
    locks: locks.split(/[\s,]+/).filter((w) => w !== ''),
    strictOwner: config.getBool('strict_mailbox_ownership'),
    enableOrcpt: config.getBool('enable_original_recipient'),
    timing: {
      attempts: config.getInt('deliver_lock_attempts'),
      delayMs: config.getTime('deliver_lock_delay') * 1000,
      staleSec: config.getTime('stale_lock_time'),
    },
    mailboxMaps: await Maps.create('virtual_mailbox_maps', config.get('virtual_mailbox_maps'), MAP_FLAGS, cache),
    uidMaps: await Maps.create('virtual_uid_maps', config.get('virtual_uid_maps'), MAP_FLAGS, cache),
    gidMaps: await Maps.create('virtual_gid_maps', config.get('virtual_gid_maps'), MAP_FLAGS, cache),
    addrFind: {
      recipientDelimiter: config.get('recipient_delimiter'),
      myorigin: config.get('myorigin'),
      resolveLocal: (domain) => local.resolveLocal(domain),
      split: {
        doubleBounceSender: config.get('double_bounce_sender'),
        ownerRequestSpecial: config.getBool('owner_request_special'),
        utf8: cache.utf8,
      },
      utf8: cache.utf8,
    },
  };
}

/** Where one recipient's mail goes, or why it cannot go anywhere yet. */
type Mailbox =
  | { kind: 'found'; path: string; uid: number; gid: number }
  | { kind: 'unknown' }
  | { kind: 'defer' };

/** C atol(): leading blanks, sign, digits; anything else ends the number. */
function atol(text: string): number {
  const m = /^[ \t\n\v\f\r]*([+-]?\d+)/.exec(text);
  return m ? Number(m[1]) : 0;
}

/** deliver_mailbox()'s lookups. */
async function findMailbox(s: VirtualSettings, user: string, warn: (t: string) => void): Promise<Mailbox> {
  const mbox = await mailAddrFind(s.mailboxMaps, user, s.addrFind);
  if (mbox.status === 'notfound') return { kind: 'unknown' };
  if (mbox.status === 'error') {
    warn(`table ${s.mailboxMaps.title}: lookup ${user}: table lookup failed`);
    return { kind: 'defer' };
  }
  const uidRes = await mailAddrFind(s.uidMaps, user, s.addrFind);
  if (uidRes.status !== 'found') {
    warn(`recipient ${user}: not found in ${s.uidMaps.title}`);
    return { kind: 'defer' };
  }
  const uid = atol(uidRes.value);
  if (uid < s.minimumUid) {
    warn(`recipient ${user}: bad uid ${uidRes.value} in ${s.uidMaps.title}`);
    return { kind: 'defer' };
  }
  const gidRes = await mailAddrFind(s.gidMaps, user, s.addrFind);
  if (gidRes.status !== 'found') {
    warn(`recipient ${user}: not found in ${s.gidMaps.title}`);
    return { kind: 'defer' };
  }
  const gid = atol(gidRes.value);
  if (gid <= 0) {
    warn(`recipient ${user}: bad gid ${gidRes.value} in ${s.gidMaps.title}`);
    return { kind: 'defer' };
  }
  return { kind: 'found', path: `${s.mailboxBase}/${mbox.value}`, uid, gid };
}

/** deliver_recipient(): one recipient, reported; DEL_STAT_FINAL or DEL_STAT_DEFER. */
async function deliverRecipient(s: VirtualSettings, relay: string, delivery: AgentDelivery, rcpt: DeliveryRecipient): Promise<number> {
  const { request, status: ctx, log } = delivery;
  const warn = (t: string): void => log.warning(t);
  const user = casefold(rcpt.address);
  const report = (dsn: RcptDsn, hard = dsn.status.startsWith('5')): Promise<number> =>
    (dsn.status.startsWith('2') ? sentRecipient : hard ? bounceRecipient : deferRecipient)(ctx, rcpt, relay, dsn);

  const box = await findMailbox(s, user, warn);
  if (box.kind === 'unknown') return report({ status: '5.1.1', reason: `unknown user: "${user}"` });
  if (box.kind === 'defer') return report({ status: '4.3.5', reason: 'mail system configuration error' });
  const maildir = box.path.endsWith('/');
  if (request.flags & DEL_REQ_TRACE_ONLY_MASK) {
    return report({ status: '2.0.0', reason: maildir ? 'delivers to maildir' : 'delivers to mailbox' });
  }
  const source: CopySource = {
    fd: delivery.fh.fd, dataOffset: request.dataOffset, sender: request.sender,
    deliveredTo: rcpt.address, origRcpt: rcpt.orcpt, enableOrcpt: s.enableOrcpt,
    path: `${request.queueName}/${request.queueId}`,
  };
  const who = { uid: box.uid, gid: box.gid, name: user };
  let outcome: LocalOutcome;
  if (maildir) {
    outcome = await deliverMaildir(box.path, who, {
      source, copyFlags: MAIL_COPY_TOFILE | MAIL_COPY_RETURN | MAIL_COPY_DELIVERED | MAIL_COPY_ORIG_RCPT,
      sizeLimit: s.mailboxLimit, kind: 'virtual', warn,
    });
  } else {
    outcome = await deliverMboxFile(box.path, who, {
      source, copyFlags: MAIL_COPY_MBOX, locks: s.locks, sizeLimit: s.mailboxLimit, kind: 'virtual',
      strictOwner: s.strictOwner, timing: s.timing, warn,
    });
  }
  if (outcome.ok) return report({ status: '2.0.0', reason: outcome.reason });
  if (outcome.corrupt) return DEL_STAT_DEFER;
  return report(outcomeDsn(outcome), !outcome.soft);
}

/** A virtual(8) handler for delivery/agent.ts, plus the promise of its tables being open. */
export type VirtualHandler = AgentHandler & { ready: Promise<void> };

/**
 * virtual(8) for one configuration: relay is the master.cf service name
 * ("virtual"); tables are opened through cache (the program's logger and
 * smtputf8 setting). A bad configuration rejects ready and defers every request.
 */
export function virtualAgent(config: Config, cache: TableCache = new TableCache(), relay = 'virtual'): VirtualHandler {
  const settings = openVirtual(config, cache);
  settings.catch(() => undefined); // reported through ready and per request
  const handler = async (delivery: AgentDelivery): Promise<DeliveryReply> => {
    let s: VirtualSettings;
    try {
      s = await settings;
    } catch (e) {
      delivery.log.warning(`${delivery.request.queueId}: ${(e as Error).message}`);
      return { status: DEL_STAT_DEFER };
    }
    return deliverEach(delivery, (rcpt) => deliverRecipient(s, relay, delivery, rcpt));
  };
  const ready = settings.then(() => undefined);
  ready.catch(() => undefined);
  return Object.assign(handler, { ready });
}
