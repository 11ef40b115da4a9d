// Mirrors Postfix's bounce/bounce_notify_service.c, bounce_warn_service.c
// and bounce_trace_service.c: who a notice goes to (the sender, or for a
// bounce message the postmaster per notify_classes), which log entries it
// reports (DSN NOTIFY filters), which template it uses, the postmaster
// copies, and what is logged. The notice is queued through cleanup; the
// bounce/ and trace/ logs (and defer/ after an expiry notice) are removed
// once it is. Touches the status logs and cleanup; reads the queue file.
import type { BounceService, BounceServiceOptions, NoticeRequest } from './api.js';
import { ConfigError } from '../config/config.js';
import { errnoText } from '../util/errno.js';
import { type BounceTemplate, TemplateError, type TemplateClass, expandTemplateText, resolveTemplate } from '../mail/bounce-templates.js';
import { DSN_NOTIFY_DELAY, DSN_NOTIFY_FAILURE, DSN_NOTIFY_OVERRIDE, DSN_RET_FULL, DSN_RET_HDRS } from '../mail/dsn.js';
import { MAIL_QUEUE_BOUNCE, MAIL_QUEUE_DEFER, MAIL_QUEUE_TRACE } from '../queue/layout.js';
import { readStatusLog, removeStatusLog } from '../queue/status-log.js';
import { casefold } from '../dict/utf8.js';
import { bytesToText } from '../util/bytes.js';
import {
  NoticeBody, type NoticeInfo, writeBoilerplate, writeDiagnosticDsn, writeDiagnosticLog, writeHeader, writeHeaderDsn, writeOriginal,
} from './notice.js';
import { DEL_REQ_FLAG_RECORD, DEL_REQ_FLAG_USR_VRFY } from '../delivery/api.js';
import { readOriginal } from './original.js';
import { postMail, postMailAbandon } from './post-mail.js';
import {
  MAIL_ERROR_2BOUNCE, MAIL_ERROR_BOUNCE, MAIL_ERROR_DELAY, type NoticeSettings, loadTemplates, noticeSettings, templateEnv,
} from './settings.js';

/** Thrown inside a notice run for what Postfix's bounce daemon treats as fatal; becomes -1. */
class NoticeFatal extends Error {}

const sameAddress = (a: string, b: string) =>
  casefold(bytesToText(Buffer.from(a, 'latin1'))) === casefold(bytesToText(Buffer.from(b, 'latin1')));

/** How one notice went: 0 sent (or nothing to send), non-zero failed. */
type Status = number;

class NoticeService implements BounceService {
  private settings: Promise<NoticeSettings> | null = null;

  constructor(private readonly opts: BounceServiceOptions) {}

  flushBounces(req: NoticeRequest): Promise<number> {
    return this.run(() => this.notify(MAIL_QUEUE_BOUNCE, req));
  }

  flushDefers(req: NoticeRequest): Promise<number> {
    return this.run(() => this.notify(MAIL_QUEUE_DEFER, req));
  }

  warnDelayed(req: NoticeRequest): Promise<number> {
    return this.run(() => this.warn(req));
  }

  flushTrace(req: NoticeRequest): Promise<number> {
    return this.run(() => this.trace(req));
  }

  private async run(task: () => Promise<Status>): Promise<number> {
    try {
      return (await task()) === 0 ? 0 : -1;
    } catch (e) {
      if (e instanceof NoticeFatal || e instanceof TemplateError || e instanceof ConfigError) {
        this.opts.log.fatal(e.message);
        return -1;
      }
      throw e;
    }
  }

  /** The settings and templates, read once; concurrent first calls share the read. */
  private loadSettings(): Promise<NoticeSettings> {
    this.settings ??= this.readSettings();
    return this.settings;
  }

  private async readSettings(): Promise<NoticeSettings> {
    const warn = (t: string) => this.opts.log.warning(t);
    const templates = await loadTemplates(this.opts.config, warn);
    if ('error' in templates) {
      this.settings = null; // try again next time, as a restarted bounce daemon would
      throw new NoticeFatal(templates.error);
    }
    return noticeSettings(this.opts.config, templates.value, warn);
  }

  private doubleBounceAddr(s: NoticeSettings): string {
    return `${s.doubleBounceSender}@${s.myhostname}`;
  }

  /** bounce_mail_init(): the queue file, the log and the template, bundled. */
  private async init(service: string, req: NoticeRequest, cls: TemplateClass, s: NoticeSettings): Promise<NoticeInfo> {
    const { queueDir, layout, config, log } = this.opts;
    const warn = (t: string) => log.warning(t);
    const logRead = await readStatusLog(queueDir, layout, service, req.queueId, { utf8: s.smtputf8Enable });
    let entries = null;
    if ('code' in logRead) {
      if (logRead.code !== 'ENOENT') throw new NoticeFatal(`open ${service} ${req.queueId}: ${errnoText(logRead.error)}`);
    } else {
      for (const w of logRead.warnings) warn(w);
      entries = logRead.entries;
    }
    const original = await readOriginal(queueDir, layout, req.queueName, req.queueId, s.myhostname, s.threadedBounces);
    if ('code' in original) throw new NoticeFatal(`open ${service} ${req.queueId}: ${errnoText(original.error)}`);
    const template: BounceTemplate = resolveTemplate(s.templates, cls, warn);
    const expandText = () => expandTemplateText(template, templateEnv(config), warn);
    let mimeEncoding: string | null;
    if (s.smtputf8Enable || req.encoding === '8bit') mimeEncoding = '8bit';
    else if (req.encoding === '7bit') mimeEncoding = '7bit';
    else {
      if (req.encoding !== '') warn(`${req.queueId}: unknown encoding: ${req.encoding.slice(0, 200)}`);
      mimeEncoding = null;
    }
    const now = this.now();
    return {
      queueId: req.queueId, template, expandText, mimeEncoding, smtputf8: req.smtputf8, dsnEnvid: req.dsnEnvid,
      boundary: `${req.queueId}.${Math.floor(now.getTime() / 1000)}/${s.myhostname}`,
      mailName: s.mailNameAtom, myhostname: s.myhostname, standardFrom: s.standardFrom, original, entries,
      bounceLimit: s.bounceSizeLimit, maxQueueTime: s.maxQueueTime,
    };
  }

  private now(): Date {
    return this.opts.now ? this.opts.now() : new Date();
  }

  /**
   * Builds and queues one notice. A notice with no recipient to report is
   * dropped: the result is then 0 when none qualified, as in Postfix.
   */
  private async send(
    info: NoticeInfo, s: NoticeSettings, from: string, to: string, postmasterCopy: boolean,
    boilerplate: boolean, filter: number, dsnRet: number, what: string,
  ): Promise<Status> {
    const body = new NoticeBody();
    writeHeader(body, info, to, postmasterCopy);
    if (boilerplate) writeBoilerplate(body, info);
    const count = writeDiagnosticLog(body, info, filter);
    if (count <= 0) {
      // Postfix has the notice open in cleanup by now: it is dropped there.
      await postMailAbandon(this.opts.cleanup, s.post, this.now(), from, to, info.smtputf8, body.records);
      return count === 0 ? 0 : 1;
    }
    writeHeaderDsn(body, info);
    if (writeDiagnosticDsn(body, info, filter) <= 0) {
      await postMailAbandon(this.opts.cleanup, s.post, this.now(), from, to, info.smtputf8, body.records);
      return 1;
    }
    writeOriginal(body, info, dsnRet);
    const posted = await postMail(this.opts.cleanup, s.post, this.now(), from, to, info.smtputf8, body.records);
    if (!posted.ok) return posted.status;
    this.opts.log.info(`${info.queueId}: ${what} notification: ${posted.queueId}`);
    return 0;
  }

  /** Removes a log after its notice; a failure other than a missing file is fatal in Postfix. */
  private async removeLog(service: string, queueId: string): Promise<void> {
    const r = await removeStatusLog(this.opts.queueDir, this.opts.layout, service, queueId);
    if (r && r.code !== 'ENOENT') throw new NoticeFatal(`remove ${service} ${queueId}: ${errnoText(r.error)}`);
  }

  /** bounce_notify_service(): non-delivery notice from the bounce or defer log. */
  private async notify(service: string, req: NoticeRequest): Promise<Status> {
    const s = await this.loadSettings();
    const info = await this.init(service, req, 'failure', s);
    const doubleBounce = this.doubleBounceAddr(s);
    let status: Status = 1;
    if (sameAddress(req.sender, doubleBounce)) {
      this.opts.log.warning(`${req.queueId}: undeliverable postmaster notification discarded`);
      status = 0;
    } else if (req.sender === '') {
      if ((s.notifyMask & (MAIL_ERROR_2BOUNCE | MAIL_ERROR_BOUNCE)) === 0) status = 0;
      else {
        status = await this.send(info, s, doubleBounce, s.bounce2Rcpt, true, false, DSN_NOTIFY_OVERRIDE, DSN_RET_FULL,
          'postmaster non-delivery');
      }
    } else {
      status = await this.send(info, s, '', req.sender, false, true, DSN_NOTIFY_FAILURE, req.dsnRet || DSN_RET_FULL,
        'sender non-delivery');
      if (status === 0 && s.notifyMask & MAIL_ERROR_BOUNCE) {
        const pm = await this.send(info, s, doubleBounce, s.bounceRcpt, true, false, DSN_NOTIFY_OVERRIDE, DSN_RET_HDRS,
          'postmaster non-delivery');
        if (pm !== 0) this.opts.log.warning(`${req.queueId}: postmaster notice failed while bouncing to ${req.sender}`);
      }
    }
    if (status === 0) await this.removeLog(service, req.queueId);
    return status;
  }

  /** bounce_warn_service(): delay warning from the defer log, which stays. */
  private async warn(req: NoticeRequest): Promise<Status> {
    const s = await this.loadSettings();
    const info = await this.init(MAIL_QUEUE_DEFER, req, 'delay', s);
    const doubleBounce = this.doubleBounceAddr(s);
    if (sameAddress(req.sender, doubleBounce)) {
      this.opts.log.warning(`${req.queueId}: undeliverable postmaster notification discarded`);
      return 0;
    }
    if (req.sender === '') {
      if ((s.notifyMask & MAIL_ERROR_DELAY) === 0) return 0;
      return this.send(info, s, doubleBounce, s.delayRcpt, true, false, DSN_NOTIFY_OVERRIDE, DSN_RET_FULL, 'postmaster delay');
    }
    const status = await this.send(info, s, '', req.sender, false, true, DSN_NOTIFY_DELAY, DSN_RET_HDRS, 'sender delay');
    if (status === 0 && s.notifyMask & MAIL_ERROR_DELAY) {
      const pm = await this.send(info, s, doubleBounce, s.delayRcpt, true, false, DSN_NOTIFY_OVERRIDE, DSN_RET_HDRS, 'postmaster delay');
      if (pm !== 0) this.opts.log.warning(`${req.queueId}: postmaster notice failed while warning ${req.sender}`);
    }
    return status;
  }

  /** bounce_trace_service(): success or delivery-report notice from the trace log. */
  private async trace(req: NoticeRequest): Promise<Status> {
    const s = await this.loadSettings();
    const doubleBounce = this.doubleBounceAddr(s);
    let from = '';
    let to = req.sender;
    if (sameAddress(req.sender, doubleBounce)) {
      this.opts.log.info(`${req.queueId}: not sending trace/success notification for double-bounce message`);
      return 0;
    }
    if (req.sender === '') {
      if ((s.notifyMask & MAIL_ERROR_2BOUNCE) === 0) {
        this.opts.log.info(`${req.queueId}: not sending trace/success notification for single-bounce message`);
        await this.removeLog(MAIL_QUEUE_TRACE, req.queueId);
        return 0;
      }
      to = s.bounce2Rcpt;
      from = doubleBounce;
    }
    const cls = (req.flags ?? 0) & (DEL_REQ_FLAG_USR_VRFY | DEL_REQ_FLAG_RECORD) ? 'verify' : 'success';
    const info = await this.init(MAIL_QUEUE_TRACE, req, cls, s);
    if (info.entries === null) return 0;
    const status = await this.send(info, s, from, to, false, true, DSN_NOTIFY_OVERRIDE, DSN_RET_HDRS, 'sender delivery status');
    if (status === 0) await this.removeLog(MAIL_QUEUE_TRACE, req.queueId);
    return status;
  }
}

export function createNoticeService(opts: BounceServiceOptions): BounceService {
  return new NoticeService(opts);
}
