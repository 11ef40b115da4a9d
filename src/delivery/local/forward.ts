// Mirrors Postfix's local/forward.c: addresses that an alias, .forward or
// :include: expansion sends elsewhere are not delivered here but collected
// into new messages, one per (Delivered-To address, envelope sender) pair,
// injected through cleanup with the original content behind a Received:
// and a Delivered-To: header. The original recipient is then logged as
// "forwarded as NEWQID". One Forwarder serves one recipient of a request.
// Touches the cleanup service and reads the queue file.
import {
  CLEANUP_FLAG_BOUNCE, CLEANUP_FLAG_MAP_OK, CLEANUP_FLAG_SMTPUTF8, CLEANUP_STAT_OK,
  type CleanupSession,
} from '../../cleanup/api.js';
import { REC_TYPE, formatTimeRecord } from '../../queue/rec-type.js';
import { recGetRaw, REC_FLAG_DEFAULT } from '../../queue/record.js';
import { getTimeOfDay, type TimeVal } from '../../queue/queue-file.js';
import { mailDate } from '../../mail/mail-date.js';
import { DSN_NOTIFY_NEVER, DSN_NOTIFY_SUCCESS } from '../../mail/dsn.js';
import { lowercaseAscii } from '../../dict/utf8.js';
import { DELIVER_HDR_FWD, type DeliverAttr } from './attr.js';
import type { LocalRequest, Status } from './request.js';
import { corruptOutcome } from './mail-copy.js';

/** SMTPUTF8_FLAG_REQUESTED (global/smtputf8.h). */
const SMTPUTF8_FLAG_REQUESTED = 1 << 0;

interface Copy {
  session: CleanupSession;
  queueId: string;
  postingTime: TimeVal;
}

const letter = (type: number): string => String.fromCharCode(type);

export class Forwarder {
  /** delivered -> sender -> copy under construction. */
  private readonly copies = new Map<string, Map<string, Copy>>();

  constructor(private readonly lr: LocalRequest) {}

  /** forward_open: a cleanup session with the envelope head. */
  private async open(sender: string): Promise<Copy | null> {
    const req = this.lr.req;
    let session: CleanupSession;
    try {
      const flags = CLEANUP_FLAG_BOUNCE | CLEANUP_FLAG_MAP_OK | (req.smtputf8 & SMTPUTF8_FLAG_REQUESTED ? CLEANUP_FLAG_SMTPUTF8 : 0);
      session = await this.lr.env.cleanup.open(flags);
    } catch (e) {
      this.lr.log.warning(`connect to public/${this.lr.settings.cleanupServiceName}: ${(e as Error).message}`);
      return null;
    }
    const postingTime = getTimeOfDay();
    const attr = (name: string, value: string) => {
      if (value !== '') session.record(letter(REC_TYPE.ATTR), `${name}=${value}`);
    };
    session.record(letter(REC_TYPE.TIME), formatTimeRecord(postingTime.sec, postingTime.usec));
    session.record(letter(REC_TYPE.FROM), sender);
    if (req.dsnRet) attr('ret_flags', String(req.dsnRet));
    attr('envelope_id', req.dsnEnvid);
    attr('log_client_name', req.clientName);
    attr('log_client_address', req.clientAddr);
    attr('log_protocol_name', req.clientProto);
    attr('log_helo_name', req.clientHelo);
    attr('sasl_method', req.saslMethod);
    attr('sasl_username', req.saslUsername);
    attr('sasl_sender', req.saslSender);
    attr('log_ident', req.logIdent);
    attr('rewrite_context', req.rewriteContext);
    return { session, queueId: session.queueId, postingTime };
  }

  /** forward_append: the recipient joins the copy for its Delivered-To address and sender. 0 when queued. */
  async append(attr: DeliverAttr): Promise<number> {
    const delivered = attr.delivered ?? attr.rcpt.address;
    let bySender = this.copies.get(delivered);
    if (bySender === undefined) {
      bySender = new Map();
      this.copies.set(delivered, bySender);
    }
    let copy = bySender.get(attr.sender);
    if (copy === undefined) {
      const opened = await this.open(attr.sender);
      if (opened === null) return -1;
      copy = opened;
      bySender.set(attr.sender, copy);
    }
    const s = copy.session;
    if (attr.rcpt.dsnOrcpt !== '') s.record(letter(REC_TYPE.ATTR), `dsn_orig_rcpt=${attr.rcpt.dsnOrcpt}`);
    if (attr.rcpt.notify) s.record(letter(REC_TYPE.ATTR), `notify_flags=${attr.rcpt.notify}`);
    if (attr.rcpt.orcpt !== '') s.record(letter(REC_TYPE.ORCP), attr.rcpt.orcpt);
    s.record(letter(REC_TYPE.RCPT), attr.rcpt.address);
    return 0;
  }

  /** forward_send: content and end; then the top-level recipient is logged as forwarded. */
  private async send(copy: Copy, attr: DeliverAttr, delivered: string): Promise<Status> {
    const lr = this.lr;
    const s = copy.session;
    s.record(letter(REC_TYPE.MESG), '');
    s.record(letter(REC_TYPE.NORM), `Received: by ${lr.settings.myhostname} (${lr.settings.mailName})`);
    s.record(letter(REC_TYPE.NORM), `\tid ${copy.queueId}; ${mailDate(copy.postingTime.sec)}`);
    if (lr.settings.deliverHdrMask & DELIVER_HDR_FWD) s.record(letter(REC_TYPE.NORM), `Delivered-To: ${lowercaseAscii(delivered)}`);
    const input = lr.input;
    const seek = input.seek(lr.req.dataOffset, 'set');
    if (!seek.ok) {
      await s.abort();
      return -1;
    }
    let type = 0;
    for (;;) {
      const r = recGetRaw(input, 0, REC_FLAG_DEFAULT);
      if (!('data' in r)) {
        type = r.type;
        break;
      }
      type = r.type;
      if (type !== REC_TYPE.CONT && type !== REC_TYPE.NORM) break;
      s.record(letter(type), r.data);
    }
    if (type !== REC_TYPE.XTRA) {
      // The original is bad: the queue manager sets it aside (mark_corrupt).
      corruptOutcome(lr.copySource(attr), `${copy.queueId}: bad record type: ${type} in message content`, lr.warn);
      await s.abort();
      return -1;
    }
    s.record(letter(REC_TYPE.XTRA), '');
    s.record(letter(REC_TYPE.END), '');
    const result = await s.finish();
    if (result.status !== CLEANUP_STAT_OK) return -1;
    const notify = attr.rcpt.notify === DSN_NOTIFY_SUCCESS ? DSN_NOTIFY_NEVER : attr.rcpt.notify & ~DSN_NOTIFY_SUCCESS;
    const top: DeliverAttr = { ...attr, rcpt: { ...attr.rcpt, notify } };
    return lr.sent(top, { status: '2.0.0', action: 'relayed', reason: `forwarded as ${copy.queueId}` });
  }

  /** forward_finish: sends every copy unless the recipient's delivery already failed (cancel), and aborts the rest. */
  async finish(attr: DeliverAttr, cancel: Status): Promise<Status> {
    let status = cancel;
    for (const [delivered, bySender] of this.copies) {
      for (const copy of bySender.values()) {
        if (status === 0) status |= await this.send(copy, attr, delivered);
        else await copy.session.abort().catch(() => undefined);
      }
    }
    this.copies.clear();
    return status;
  }
}
