// The state of one local(8) delivery request (Postfix's LOCAL_STATE and the
// per-request half of local/local.c): the process-wide environment (tables,
// settings, the cleanup service for forwarded copies), the open queue file,
// the Delivered-To: addresses already in the message, and, per recipient,
// the duplicate filter and the forwarded copies under construction. The
// per-recipient outcome goes through the status library (queue/
// delivery-status.ts) with relay=<service name>; bounce_workaround
// (local/bounce_workaround.c) is here too, and the trace record of an
// expansion for NOTIFY=SUCCESS. Touches the queue's logs through
// the status library only.
import type { Config } from '../../config/config.js';
import type { MailLogger } from '../../log/logger.js';
import type { AddressResolver } from '../../address/resolve.js';
import type { Maps } from '../../address/maps.js';
import type { CleanupService } from '../../cleanup/api.js';
import { MAIL_QUEUE_TRACE, mailQueuePath, type QueueLayout } from '../../queue/layout.js';
import { appendStatusRecord } from '../../queue/status-log.js';
import type { ByteInput } from '../../queue/record.js';
import {
  type StatusContext, type RcptDsn, sentRecipient, bounceRecipient, deferRecipient,
} from '../../queue/delivery-status.js';
import { stripAddr } from '../../address/strip.js';
import type { DeliveryRequest, DeliveryReply } from '../api.js';
import type { DeliverAttr } from './attr.js';
import { DuplicateFilter } from './been-here.js';
import type { DeliveredHeaders } from './delivered.js';
import type { LocalSettings } from './settings.js';
import type { PasswdFile } from './passwd.js';
import type { Forwarder } from './forward.js';
import type { CopySource } from './mail-copy.js';

/** One alias table and who owns it (Postfix's dict owner: trusted, a uid, or unknown). */
export interface AliasTable {
  spec: string;
  maps: Maps;
  owner: { status: 'trusted' } | { status: 'unknown' } | { status: 'user'; uid: number };
}

/** Hands a recipient to another delivery service (deliver_pass); resolves with its reply, or null when unreachable. */
export type PassFunction = (transport: string, nexthop: string, req: DeliveryRequest) => Promise<DeliveryReply | null>;

/** What every delivery of one local(8) process shares. */
export interface LocalEnv {
  config: Config;
  settings: LocalSettings;
  log: MailLogger;
  resolver: AddressResolver;
  cleanup: CleanupService;
  passwd: PasswdFile;
  aliasTables: AliasTable[];
  mailboxTransportMaps?: Maps;
  fallbackTransportMaps?: Maps;
  mailboxCommandMaps?: Maps;
  /** The master.cf service name: relay= in the log, and the transport name that means "deliver here". */
  service: string;
  queueDir: string;
  layout: QueueLayout;
  pass: PassFunction;
  /** export_environment, MAIL_CONFIG given its value when this process has none. */
  exportEnv: string[];
  /** default_privs's uid and gid. */
  defaultUid: number;
  defaultGid: number;
}

/** A delivery step's status: 0 done (delivered, bounced or forwarded), non-zero when something was deferred. */
export type Status = number;

export class LocalRequest {
  dup: DuplicateFilter;
  forwarder: Forwarder | null = null;

  constructor(
    readonly env: LocalEnv,
    readonly req: DeliveryRequest,
    readonly status: StatusContext,
    readonly input: ByteInput,
    readonly fd: number,
    readonly loopInfo: DeliveredHeaders,
  ) {
    this.dup = new DuplicateFilter(env.settings.dupFilterLimit);
  }

  /** A new recipient: a fresh duplicate filter and no forwarded copies. */
  resetRecipient(): void {
    this.dup = new DuplicateFilter(this.env.settings.dupFilterLimit);
    this.forwarder = null;
  }

  get settings(): LocalSettings {
    return this.env.settings;
  }

  get log(): MailLogger {
    return this.env.log;
  }

  /** msg_warn() for the primitives. */
  readonly warn = (text: string): void => this.env.log.warning(text);

  /** What a mailbox, file or command copy reads. */
  copySource(attr: DeliverAttr): CopySource {
    return {
      fd: this.fd,
      dataOffset: this.req.dataOffset,
      sender: attr.sender,
      deliveredTo: attr.delivered ?? attr.rcpt.address,
      origRcpt: attr.rcpt.orcpt,
      enableOrcpt: this.env.settings.enableOriginalRecipient,
      path: mailQueuePath(this.env.layout, this.req.queueName, this.req.queueId),
    };
  }

  sent(attr: DeliverAttr, dsn: RcptDsn): Promise<Status> {
    return sentRecipient(this.status, attr.rcpt, this.env.service, dsn);
  }

  bounce(attr: DeliverAttr, dsn: RcptDsn): Promise<Status> {
    return bounceRecipient(this.status, attr.rcpt, this.env.service, dsn);
  }

  defer(attr: DeliverAttr, dsn: RcptDsn): Promise<Status> {
    return deferRecipient(this.status, attr.rcpt, this.env.service, dsn);
  }

  /** A 4.x.x status is deferred, anything else bounced. */
  fail(attr: DeliverAttr, dsn: RcptDsn): Promise<Status> {
    return dsn.status[0] === '4' ? this.defer(attr, dsn) : this.bounce(attr, dsn);
  }

  /**
   * bounce_workaround: a failure inside a mailing list with an owner-
   * alias. Postfix sends the owner a one-recipient notice at once; here
   * the failure is recorded with the owner's sender in place (the notice
   * itself goes to the message's sender with the other failures).
   */
  async bounceWorkaround(attr: DeliverAttr, dsn: RcptDsn): Promise<Status> {
    if (this.settings.ownerRequestSpecial) {
      const find = async (addr: string) => {
        const local = addr.lastIndexOf('@') >= 0 ? addr.slice(0, addr.lastIndexOf('@')) : addr;
        return this.findAlias(`owner-${local}`);
      };
      let owner = await find(attr.rcpt.address);
      if (owner.status === 'notfound') {
        const stripped = stripAddr(attr.rcpt.address, this.settings.recipientDelimiter);
        if (stripped !== null) owner = await find(stripped.stripped);
      }
      if (owner.status === 'error') return this.defer(attr, { status: '4.3.0', reason: 'alias database unavailable' });
    }
    return this.fail(attr, dsn);
  }

  /**
   * trace_append() of an expansion for a NOTIFY=SUCCESS recipient: the
   * success notice says the alias or .forward was expanded (action
   * "expanded", or "delivered" for a list with an owner). Nothing is logged;
   * a failure to write is only a warning, as Postfix ignores it.
   */
  async traceExpanded(attr: DeliverAttr, action: string): Promise<void> {
    const r = attr.rcpt;
    const failed = await appendStatusRecord(this.env.queueDir, this.env.layout, MAIL_QUEUE_TRACE, this.req.queueId,
      { address: r.address, orcpt: r.orcpt, offset: r.offset, dsnOrcpt: r.dsnOrcpt, notify: r.notify },
      { status: '2.0.0', action, reason: `delivery via ${this.env.service}: alias expanded` },
      { oldlogCompat: this.status.oldlogCompat });
    if (failed !== null) this.log.warning(`${this.req.queueId}: ${MAIL_QUEUE_TRACE} service failure`);
  }

  /** maps_find over alias_maps. */
  async findAlias(name: string): Promise<{ status: 'found'; value: string } | { status: 'notfound' } | { status: 'error' }> {
    for (const t of this.env.aliasTables) {
      const r = await t.maps.find(name);
      if (r.status === 'found') return { status: 'found', value: r.value };
      if (r.status === 'error') return { status: 'error' };
    }
    return { status: 'notfound' };
  }
}
