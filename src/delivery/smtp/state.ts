// The state of one smtp(8)/lmtp(8) delivery request and its sessions, and
// how recipients leave it: Postfix's smtp/smtp.h (SMTP_STATE,
// SMTP_SESSION), smtp_rcpt.c (the keep/drop marks of the recipient list,
// smtp_rcpt_done) and smtp_trouble.c (smtp_site_fail, smtp_mesg_fail,
// smtp_rcpt_fail, smtp_stream_except, smtp_bulk_fail). A soft failure on a
// server that is not the last one to try only notes the reason and keeps
// the recipient for the next server; otherwise the recipient is deferred
// or bounced (queue/delivery-status.ts) with the session's host[addr]:port
// as the relay, or "none" without a session. A failure of the whole site
// also records the request's hop status, so that qmgr treats the
// destination as dead. Touches the queue file and status logs through the
// status calls.
import type { MailLogger } from '../../log/logger.js';
import { DSN_NOTIFY_SUCCESS, dsnValid } from '../../mail/dsn.js';
import { type RcptDsn, type StatusContext, bounceRecipient, deferRecipient, sentRecipient } from '../../queue/delivery-status.js';
import type { DeliveryRecipient, DeliveryRequest, HopStatus } from '../api.js';
import type { SmtpSettings } from './settings.js';
import type { SmtpStream } from './stream.js';
import { LEV_NONE, type TlsPolicy } from './tls-policy.js';
import type { SaslSettings } from './sasl.js';
import type { ContentRules } from './rewrite.js';

export const FEATURE_ESMTP = 1 << 0;
export const FEATURE_8BITMIME = 1 << 1;
export const FEATURE_PIPELINING = 1 << 2;
export const FEATURE_SIZE = 1 << 3;
export const FEATURE_STARTTLS = 1 << 4;
export const FEATURE_AUTH = 1 << 5;
export const FEATURE_DSN = 1 << 6;
export const FEATURE_SMTPUTF8 = 1 << 7;
export const FEATURE_BEST_MX = 1 << 8;
export const FEATURE_RSET_REJECTED = 1 << 9;
export const FEATURE_FROM_CACHE = 1 << 10;
export const FEATURE_XFORWARD_NAME = 1 << 11;
export const FEATURE_XFORWARD_ADDR = 1 << 12;
export const FEATURE_XFORWARD_PROTO = 1 << 13;
export const FEATURE_XFORWARD_HELO = 1 << 14;
export const FEATURE_XFORWARD_DOMAIN = 1 << 15;
export const FEATURE_XFORWARD_PORT = 1 << 16;
export const FEATURE_XFORWARD_IDENT = 1 << 17;

/** One SMTP reply: its code (0 when malformed), its enhanced status, and its lines joined with "\n". */
export interface SmtpResp {
  code: number;
  dsn: string;
  str: string;
}

/** A reply made up locally (SMTP_RESP_FAKE): only the status counts. */
export function fakeResp(dsn: string): SmtpResp {
  return { code: 0, dsn, str: '' };
}

/** One connection to a server. */
export interface SmtpSession {
  stream: SmtpStream;
  /** The server's name and address as the iterator had them ("mx.example", "192.0.2.1" or a socket path). */
  host: string;
  addr: string;
  /** 0 for a unix-domain socket. */
  port: number;
  /** "host[addr]" and "host[addr]:port". */
  namaddr: string;
  namaddrport: string;
  features: number;
  /** The SIZE limit the server announced, 0 when none. */
  sizeLimit: number;
  reuseCount: number;
  /** ms since the epoch until which the session may be cached; 0: not cached; -1: throttled. */
  expireTime: number;
  forbidden: boolean;
  /** The name in the server's EHLO reply. */
  helo: string;
  sendProtoHelo: boolean;
  /** The connection label of the session cache (address and port, or the socket path). */
  endpoint: string;
  /** TLS is on (such sessions are not cached). */
  tls: boolean;
  /** The certificate matched (SASL then uses the verified-TLS security options). */
  tlsMatched: boolean;
  /** The server's AUTH mechanisms that smtp_sasl_mechanism_filter lets through, null when none were offered. */
  saslMechs: string | null;
  /** Authenticated with SASL (such sessions are not cached). */
  authenticated: boolean;
}

export function newSession(stream: SmtpStream, host: string, addr: string, port: number, endpoint: string): SmtpSession {
  const namaddr = `${host}[${addr}]`;
  return {
    stream, host, addr, port, namaddr, namaddrport: port ? `${namaddr}:${port}` : namaddr, features: 0, sizeLimit: 0,
    reuseCount: 0, expireTime: 0, forbidden: false, helo: '', sendProtoHelo: false, endpoint, tls: false, tlsMatched: false,
    saslMechs: null, authenticated: false,
  };
}

export const sessionIsCached = (s: SmtpSession): boolean => !s.forbidden && s.expireTime > 0;
export const sessionIsThrottled = (s: SmtpSession): boolean => !s.forbidden && s.expireTime < 0;
export function sessionIsExpired(s: SmtpSession, reuseCountLimit: number): boolean {
  return sessionIsCached(s) && (s.expireTime < s.stream.lastActivity || (reuseCountLimit > 0 && s.reuseCount >= reuseCountLimit));
}
export function dontCache(s: SmtpSession): void {
  s.expireTime = 0;
}

/** The reason of the latest failure (Postfix's DSN_BUF). */
export interface Why {
  status: string;
  reason: string;
  /** The server that said it (mta name), '' for this host. */
  mname: string;
  /** The server's reply text, '' when none. */
  dtext: string;
}

type Mark = 'keep' | 'drop';

/** One delivery request as the client works on it. */
export class SmtpState {
  /** The recipients not yet dealt with, in order. */
  left: DeliveryRecipient[];
  private marks = new Map<DeliveryRecipient, Mark>();
  /** DEL_STAT_* bits of the outcomes so far. */
  status = 0;
  hopStatus: HopStatus | undefined;
  why: Why | null = null;
  session: SmtpSession | null = null;
  /** The server now tried is the last one: soft failures defer instead of waiting for the next. */
  finalServer = false;
  /** The session ended normally (no hop status for a message-level refusal such as SIZE). */
  completeSession = false;
  /** Connected on the SMTP port: a greeting with our own name is a mail loop. */
  loopDetect = false;
  /** The TLS policy of the session being set up (./tls-policy.ts; its level lowered to none to retry in plaintext). */
  tls: TlsPolicy = dummyTlsPolicy();
  /** The domain a "secure" certificate is checked against (the next hop's domain; myhostname for a unix socket). */
  tlsNexthop = '';
  /** The destination being tried, as written (the last key of the SASL password lookup). */
  dest = '';
  /** A TLS handshake failed under "may": try the same server again without TLS. */
  retryPlain = false;
  /** The client's output rewriting (generic maps, header and body checks); null: none configured. */
  content: ContentRules | null = null;
  /** The envelope sender (key null) and recipients as smtp_generic_maps rewrote them for this transaction. */
  readonly generic = new Map<DeliveryRecipient | null, string>();
  /** Session caching wanted for this request. */
  cacheLoad = false;
  cacheStore = false;

  constructor(
    readonly request: DeliveryRequest,
    readonly ctx: StatusContext,
    readonly settings: SmtpSettings,
    readonly log: MailLogger,
    readonly sasl: SaslSettings,
  ) {
    this.left = [...request.recipients];
  }

  isMarked(rcpt: DeliveryRecipient): boolean {
    return this.marks.has(rcpt);
  }

  keep(rcpt: DeliveryRecipient): void {
    this.marks.set(rcpt, 'keep');
  }

  drop(rcpt: DeliveryRecipient): void {
    this.marks.set(rcpt, 'drop');
  }

  /** After a session: forget the dropped recipients, unmark the kept ones (smtp_rcpt_cleanup). */
  cleanupRecipients(): void {
    this.left = this.left.filter((r) => this.marks.get(r) !== 'drop');
    this.marks.clear();
  }

  private relay(): string {
    return this.session ? this.session.namaddrport : 'none';
  }

  private dsnOf(why: Why, action?: string): RcptDsn {
    return {
      status: why.status, reason: why.reason, ...(action ? { action } : {}),
      ...(why.mname ? { mtype: 'dns', mname: why.mname } : {}),
      ...(why.dtext ? { dtype: 'smtp', dtext: why.dtext } : {}),
    };
  }

  /** vsmtp_fill_dsn(): the reason of a failure, a non-4/5 server status turned into a protocol error. */
  fill(mname: string, resp: SmtpResp, reason: string): Why {
    let status = resp.dsn;
    let text = reason;
    if (mname && status[0] !== '4' && status[0] !== '5') {
      if (this.session) dontCache(this.session);
      text = `Protocol error: ${reason}`;
      status = '5.5.0';
    }
    this.why = { status, reason: text, mname, dtext: resp.str.replace(/\n/g, ' ') };
    return this.why;
  }

  /** The failure of every recipient left (smtp_bulk_fail); throttle: the site as a whole. Returns -1. */
  async bulkFail(throttle: boolean): Promise<number> {
    const why = this.why!;
    const soft = why.status[0] === '4';
    const softBounce = why.status[0] === '5' && this.ctx.softBounce;
    if ((soft || softBounce) && !this.finalServer) {
      this.log.info(`${this.request.queueId}: ${why.reason}`);
      for (const r of this.left) if (!this.isMarked(r)) this.keep(r);
    } else {
      const now = nowTv();
      if (this.request.stats.connSetupDone.sec === 0) {
        this.request.stats.connSetupDone = now;
      }
      this.request.stats.deliverDone = now;
      let aggregate = 0;
      for (const r of this.left) {
        if (this.isMarked(r)) continue;
        const dsn = this.dsnOf(why);
        const st = await (soft ? deferRecipient : bounceRecipient)(this.ctx, r, this.relay(), dsn);
        this.drop(r);
        aggregate |= st;
      }
      this.status |= aggregate;
      if (!this.completeSession && throttle && aggregate && this.hopStatus === undefined) {
        this.hopStatus = { status: why.status, reason: why.reason };
      }
    }
    if (throttle && this.session) this.session.expireTime = -1;
    return -1;
  }

  /** smtp_site_fail / smtp_mesg_fail: a failure for all recipients left. */
  async miscFail(throttle: boolean, mname: string, resp: SmtpResp, reason: string): Promise<number> {
    this.fill(mname, resp, reason);
    if (this.session && mname) checkCode(this.session, resp.code);
    return this.bulkFail(throttle);
  }

  siteFail(mname: string, resp: SmtpResp, reason: string): Promise<number> {
    return this.miscFail(true, mname, resp, reason);
  }

  mesgFail(mname: string, resp: SmtpResp, reason: string): Promise<number> {
    return this.miscFail(false, mname, resp, reason);
  }

  /** smtp_rcpt_fail(): one recipient refused. */
  async rcptFail(rcpt: DeliveryRecipient, mname: string, resp: SmtpResp, reason: string): Promise<void> {
    const why = this.fill(mname, resp, reason);
    const soft = why.status[0] === '4';
    const softBounce = why.status[0] === '5' && this.ctx.softBounce;
    if (this.session && mname) checkCode(this.session, resp.code);
    if ((soft || softBounce) && !this.finalServer) {
      this.log.info(`${this.request.queueId}: ${why.reason}`);
      this.keep(rcpt);
      return;
    }
    const st = await (soft ? deferRecipient : bounceRecipient)(this.ctx, rcpt, this.relay(), this.dsnOf(why));
    this.drop(rcpt);
    this.status |= st;
  }

  /** smtp_rcpt_done(): one recipient accepted for good. */
  async rcptDone(resp: SmtpResp, rcpt: DeliveryRecipient): Promise<void> {
    const session = this.session!;
    let action = 'relayed';
    let r = rcpt;
    if (session.features & FEATURE_DSN) r = { ...rcpt, notify: rcpt.notify & ~DSN_NOTIFY_SUCCESS };
    if (!(session.features & FEATURE_DSN) && this.settings.lmtp && this.settings.assumeFinal) action = 'delivered';
    const why: Why = { status: resp.dsn, reason: resp.str, mname: session.host, dtext: resp.str };
    this.why = why;
    const st = await sentRecipient(this.ctx, r, session.namaddrport, this.dsnOf(why, action));
    this.drop(rcpt);
    this.status |= st;
  }

  /** smtp_stream_except(): an I/O problem while `where`. */
  streamExcept(kind: 'eof' | 'time' | 'data', where: string): Promise<number> {
    const s = this.session!;
    if (kind === 'eof') this.why = { status: '4.4.2', reason: `lost connection with ${s.namaddr} while ${where}`, mname: '', dtext: '' };
    else if (kind === 'time') this.why = { status: '4.4.2', reason: `conversation with ${s.namaddr} timed out while ${where}`, mname: '', dtext: '' };
    else this.why = { status: '4.3.0', reason: `local data error while talking to ${s.namaddr}`, mname: '', dtext: '' };
    return this.bulkFail(true);
  }

  /** A failure not from a server: dsb_simple(). */
  setWhy(status: string, reason: string): void {
    this.why = { status, reason, mname: '', dtext: '' };
  }
}

/** smtp_tls_policy_dummy(): TLS off. */
export function dummyTlsPolicy(): TlsPolicy {
  return { level: LEV_NONE, protocols: '', sni: '', grade: '', exclusions: '', matchNames: [], fingerprints: [], trustAnchors: [] };
}

/** smtp_check_code(): a reply code that shows a protocol error ends session caching. */
function checkCode(session: SmtpSession, code: number): void {
  if (code < 400 || code > 599 || code === 555 || (code >= 500 && code < 510)) dontCache(session);
}

export function nowTv(): { sec: number; usec: number } {
  const ms = Date.now();
  return { sec: Math.floor(ms / 1000), usec: (ms % 1000) * 1000 };
}

/** The enhanced status code a reply line carries, as smtp_chat_resp() takes it. */
export function replyDsn(line: string): string {
  const first = line[0] ?? '';
  if (!'245'.includes(first) || first === '') return '5.5.0';
  let i = 4;
  while (line[i] === ' ') i++;
  const rest = line.slice(i);
  const len = dsnValid(rest);
  if (len > 0 && rest[0] === first) return rest.slice(0, len);
  return `${first}.0.0`;
}
