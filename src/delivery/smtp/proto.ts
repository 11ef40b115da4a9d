// The SMTP/LMTP dialogue of one session, as Postfix's smtp/smtp_proto.c
// and smtp_chat.c run it: the greeting and EHLO/HELO/LHLO with the
// server's features (smtp_helo), then one mail transaction (smtp_xfer):
// MAIL FROM with SIZE, BODY, ENVID, RET and SMTPUTF8, RCPT TO with ORCPT
// and NOTIFY, DATA, the content and the final dot, or RSET when no
// recipient was accepted. With PIPELINING the commands go out in batches
// and the replies are matched up afterwards; without it each command waits
// for its reply. Each reply decides each recipient's fate (state.ts), each
// time limit and lost connection becomes Postfix's "... while <stage>"
// text. With smtp_generic_maps the envelope addresses go out rewritten;
// the content is rewritten (./rewrite.ts) when generic maps, header or
// body checks apply or the server needs 8bit to 7bit conversion. Touches
// its session's socket and, for the content, the queue file.
import { dsnNotifyStr, dsnRetStr } from '../../mail/dsn.js';
import { xtextQuote, uxtextQuote } from '../../mail/xtext.js';
import { quote822Local } from '../../address/quote.js';
import { allAscii } from '../../util/bytes.js';
import { printable } from '../../util/printable.js';
import { DEL_REQ_TRACE_ONLY_MASK } from '../api.js';
import { mimeStateDetail } from '../../mail/mime-state.js';
import { sendContent } from './content.js';
import { GenericLookupError } from './generic.js';
import { contentFilter, needsFilter } from './rewrite.js';
import { quote821 } from './quote821.js';
import {
  FEATURE_8BITMIME, FEATURE_AUTH, FEATURE_DSN, FEATURE_ESMTP, FEATURE_PIPELINING, FEATURE_RSET_REJECTED, FEATURE_SIZE,
  FEATURE_SMTPUTF8, FEATURE_STARTTLS, FEATURE_BEST_MX, FEATURE_XFORWARD_ADDR, FEATURE_XFORWARD_DOMAIN, FEATURE_XFORWARD_HELO,
  FEATURE_XFORWARD_IDENT, FEATURE_XFORWARD_NAME, FEATURE_XFORWARD_PORT, FEATURE_XFORWARD_PROTO,
  type SmtpResp, type SmtpSession, type SmtpState, dontCache, fakeResp, nowTv, replyDsn, sessionIsCached, sessionIsExpired,
} from './state.js';
import { SmtpStream, StreamFault } from './stream.js';
import { chooseMechanism, filterMechanisms, findCredentials, initialResponse, nextResponse } from './sasl.js';
import { LEV_MAY, LEV_NONE, startTls, tlsMustMatch, tlsRequired, tlsSummary } from './tls.js';

const ST_XFORWARD_NAME_ADDR = 0;
const ST_XFORWARD_PROTO_HELO = 1;
const ST_MAIL = 2;
const ST_RCPT = 3;
const ST_DATA = 4;
const ST_DOT = 5;
const ST_ABORT = 6;
const ST_RSET = 7;
const ST_QUIT = 8;
const ST_LAST = 9;

/** What the client was doing, for "lost connection ... while <stage>". */
const XFER_STATES = [
  'sending XFORWARD name/address',
  'sending XFORWARD protocol/helo_name',
  'sending MAIL FROM',
  'sending RCPT TO',
  'sending DATA command',
  'sending end of data -- message may be sent more than once',
  'sending final RSET',
  'sending RSET probe',
  'sending QUIT',
];

/** What a reply answered, for "(in reply to <command>)". */
const XFER_REQUEST = [
  'XFORWARD name/address command',
  'XFORWARD helo/protocol command',
  'MAIL FROM command',
  'RCPT TO command',
  'DATA command',
  'end of DATA command',
  'final RSET command',
  'RSET probe',
  'QUIT command',
];

/** Unacknowledged command bytes a pipelining client may have outstanding. */
const PIPELINING_BUFSIZE = 4096;

const ENC_8BIT = '8bit';
const ENC_7BIT = '7bit';
/** global/smtputf8.h: the sender asked for SMTPUTF8 (bit 0). */
const SMTPUTF8_FLAG_REQUESTED = 1 << 0;

/** Reads one reply (smtp_chat_resp): continuation lines joined with "\n", malformed lines skipped. */
export async function chatResp(state: SmtpState, timeoutSec: number): Promise<SmtpResp> {
  const session = state.session!;
  const limit = state.settings.replyLineLimit;
  let str = '';
  let last = '';
  let threeDigits = false;
  for (;;) {
    const got = await session.stream.readLine(limit, timeoutSec);
    const line = printable(got.text, '?', state.settings.smtputf8);
    if (!got.complete) state.log.warning(`${session.namaddrport}: response longer than ${limit}: ${line.slice(0, 30)}...`);
    if (str.length < limit) str += (str.length ? '\n' : '') + line;
    last = line;
    let n = 0;
    while (n < line.length && line.charCodeAt(n) >= 0x30 && line.charCodeAt(n) <= 0x39) n++;
    threeDigits = n === 3;
    if (threeDigits) {
      if (line[3] === '-') continue;
      if (line[3] === ' ' || line.length === 3) break;
    }
    dontCache(session);
    if (session.features & FEATURE_PIPELINING) {
      state.log.warning(`${state.request.queueId}: non-${state.settings.lmtp ? 'LMTP' : 'ESMTP'} response from ${session.namaddrport}: ${line.slice(0, 100)}`);
      state.log.warning(`to prevent loss of mail, turn off command pipelining for ${session.addr} with the ${state.settings.prefix}_discard_${state.settings.lmtp ? 'lhlo' : 'ehlo'}_keyword_address_maps parameter`);
    }
  }
  return threeDigits ? { code: Number(last.slice(0, 3)), dsn: replyDsn(last), str } : { code: 0, dsn: '5.5.0', str };
}

function chatCmd(session: SmtpSession, command: string): void {
  session.stream.write(`${command}\r\n`);
}

/** translit(str, "\n", " "). */
const oneLine = (s: string): string => s.replace(/\n/g, ' ');

/** The greeting (not after STARTTLS): refused, or whether to speak ESMTP; null when it may go on. */
async function greeting(state: SmtpState): Promise<number | null> {
  const session = state.session!;
  const s = state.settings;
  let resp = await chatResp(state, s.timeouts.helo);
  if (Math.floor(resp.code / 100) !== 2) {
    if (Math.floor(resp.code / 100) === 5 && s.skip5xxGreeting) resp = { ...resp, dsn: `4${resp.dsn.slice(1)}` };
    return state.siteFail(session.host, resp, `host ${session.namaddr} refused to talk to me: ${oneLine(resp.str)}`);
  }
  const afterCode = resp.str.replace(/^[- \t\n]*[^- \t\n]*[- \t\n]?/, '');
  for (const [n, word] of afterCode.split(/[ \t\n]+/).filter((w) => w !== '').entries()) {
    if (n === 0 && word.toLowerCase() === s.myhostname.toLowerCase()) {
      if (state.loopDetect) state.log.warning(`host ${session.namaddrport} greeted me with my own hostname ${s.myhostname}`);
    } else if (word.toLowerCase() === 'esmtp') session.features |= FEATURE_ESMTP;
  }
  if (!s.lmtp) {
    if (s.alwaysEhlo) session.features |= FEATURE_ESMTP;
    if (s.neverEhlo) session.features &= ~FEATURE_ESMTP;
  } else {
    session.features |= FEATURE_ESMTP;
  }
  return null;
}

/** The greeting and the EHLO/HELO/LHLO exchange (smtp_helo); 0, or -1 when the session failed. */
export async function smtpHelo(state: SmtpState, inStartTls = false): Promise<number> {
  const session = state.session!;
  const s = state.settings;
  const request = state.request;
  const savedFeatures = session.features;
  let where = 'receiving the initial server greeting';
  try {
    let resp = fakeResp('');
    if (inStartTls) session.features |= FEATURE_ESMTP;
    else {
      const refused = await greeting(state);
      if (refused !== null) return refused;
    }
    if (!s.lmtp) {
      where = 'performing the EHLO handshake';
      if (session.features & FEATURE_ESMTP) {
        chatCmd(session, `EHLO ${s.heloName}`);
        resp = await chatResp(state, s.timeouts.helo);
        if (Math.floor(resp.code / 100) !== 2) {
          if (resp.code === 421) return await state.siteFail(session.host, resp, `host ${session.namaddr} refused to talk to me: ${oneLine(resp.str)}`);
          session.features &= ~FEATURE_ESMTP;
        }
      }
      if (!(session.features & FEATURE_ESMTP)) {
        where = 'performing the HELO handshake';
        chatCmd(session, `HELO ${s.heloName}`);
        resp = await chatResp(state, s.timeouts.helo);
        if (Math.floor(resp.code / 100) !== 2) return await state.siteFail(session.host, resp, `host ${session.namaddr} refused to talk to me: ${oneLine(resp.str)}`);
      }
    } else {
      where = 'performing the LHLO handshake';
      chatCmd(session, `LHLO ${s.heloName}`);
      resp = await chatResp(state, s.timeouts.helo);
      if (Math.floor(resp.code / 100) !== 2) return await state.siteFail(session.host, resp, `host ${session.namaddr} refused to talk to me: ${oneLine(resp.str)}`);
    }
    if (session.features & FEATURE_ESMTP) {
      const loop = readFeatures(state, resp);
      if (loop !== 0) return loop;
    }
  } catch (e) {
    if (!(e instanceof StreamFault)) throw e;
    return state.streamExcept(e.kind, where);
  }
  if (!(session.features & FEATURE_SMTPUTF8) && requiresSmtputf8(request.smtputf8)) {
    return state.mesgFail('', fakeResp('5.6.7'), `SMTPUTF8 is required, but was not offered by host ${session.namaddr}`);
  }
  if ((session.features & FEATURE_SMTPUTF8) && !(session.features & FEATURE_8BITMIME)) {
    state.log.info(`host ${session.namaddr} offers SMTPUTF8 support, but not 8BITMIME`);
    session.features |= FEATURE_8BITMIME;
  }
  if (!inStartTls) {
    const r = await negotiateTls(state, savedFeatures);
    // After STARTTLS the second EHLO has done what follows.
    if (r !== 0 || session.tls) return r;
  }
  if (state.sasl.enabled && session.features & FEATURE_AUTH) return saslLogin(state);
  return 0;
}

/** smtp_sasl_helo_auth(): the AUTH keyword's mechanisms, filtered; several AUTH lines add up. */
function saslHeloAuth(state: SmtpState, offered: string): void {
  const session = state.session!;
  const list = filterMechanisms(state.sasl, offered);
  if (session.saslMechs !== null) {
    if (session.saslMechs.toLowerCase() !== list.toLowerCase() && list.length > 0 && session.saslMechs.length < state.settings.replyLineLimit) {
      session.saslMechs = `${session.saslMechs} ${list}`;
    }
    return;
  }
  if (list.length > 0) session.saslMechs = list;
  else if (offered !== '') state.log.warning(`${session.namaddrport} offered no supported AUTH mechanisms: '${offered}'`);
  else state.log.warning(`${session.namaddrport} offered null AUTH mechanism list`);
  session.features |= FEATURE_AUTH;
}

/** smtp_sasl_helo_login(): authenticate when there are credentials for this server. */
async function saslLogin(state: SmtpState): Promise<number> {
  const session = state.session!;
  const sasl = state.sasl;
  const cred = await findCredentials(sasl, state.request.sender, session.host, state.dest, state.settings.lmtp);
  if (cred !== null && 'error' in cred) {
    state.log.warning(`${state.request.queueId}: ${cred.error}`);
    return state.streamExcept('data', '');
  }
  if (cred === null) {
    session.features &= ~FEATURE_AUTH;
    return 0;
  }
  if (session.saslMechs === null) {
    state.setWhy('4.7.0', `SASL authentication failed: server ${session.namaddr} offered no compatible authentication mechanisms for this type of connection security`);
    return state.bulkFail(true);
  }
  const options = !session.tls ? sasl.options : session.tlsMatched ? sasl.tlsVerifiedOptions : sasl.tlsOptions;
  const mech = chooseMechanism(session.saslMechs, options);
  if (mech === null) {
    state.log.warning('SASL authentication failure: No worthy mechs found');
    state.setWhy('4.7.0', `SASL authentication failed; cannot authenticate to server ${session.namaddr}: no mechanism available`);
    return state.bulkFail(true);
  }
  const timeout = state.settings.timeouts.helo;
  try {
    const first = initialResponse(mech, cred);
    chatCmd(session, first ? `AUTH ${mech} ${first}` : `AUTH ${mech}`);
    let resp = await chatResp(state, timeout);
    for (let steps = 0; Math.floor(resp.code / 100) === 3; steps++) {
      if (steps >= 100) {
        state.setWhy('4.3.0', `SASL authentication failed; authentication protocol loop with server ${session.namaddr}`);
        return await state.bulkFail(true);
      }
      chatCmd(session, nextResponse(mech, resp.str.replace(/^\S*?[- \t\n]+/, ''), cred));
      resp = await chatResp(state, timeout);
    }
    if (Math.floor(resp.code / 100) !== 2) {
      const dsn = sasl.softBounce && resp.dsn[0] === '5' ? `4${resp.dsn.slice(1)}` : resp.dsn;
      state.why = { status: dsn, reason: `SASL authentication failed; server ${session.namaddr} said: ${resp.str}`, mname: session.host, dtext: resp.str };
      return await state.bulkFail(true);
    }
  } catch (e) {
    if (!(e instanceof StreamFault)) throw e;
    return state.streamExcept(e.kind, 'performing the EHLO handshake');
  }
  session.authenticated = true;
  return 0;
}

/** STARTTLS when the level asks for it and the server offers it; the refusals of a level that requires TLS. */
async function negotiateTls(state: SmtpState, savedFeatures: number): Promise<number> {
  const session = state.session!;
  const s = state.settings;
  const level = state.tls.level;
  if (session.features & FEATURE_STARTTLS && s.tls.noteOffer && level === LEV_NONE) state.log.info(`Host offered STARTTLS: [${session.host}]`);
  if (session.features & FEATURE_STARTTLS && level !== LEV_NONE) {
    let resp = fakeResp('');
    try {
      chatCmd(session, 'STARTTLS');
      resp = await chatResp(state, s.timeouts.starttls);
    } catch (e) {
      if (!(e instanceof StreamFault)) throw e;
      return state.streamExcept(e.kind, 'receiving the STARTTLS response');
    }
    if (Math.floor(resp.code / 100) === 2) {
      session.features = savedFeatures;
      session.saslMechs = null;
      return startTlsSession(state);
    }
    session.features &= ~FEATURE_STARTTLS;
    if (tlsRequired(level)) return state.siteFail(session.host, resp, `TLS is required, but host ${session.namaddr} refused to start TLS: ${oneLine(resp.str)}`);
  }
  if (tlsRequired(level) && !(session.features & FEATURE_STARTTLS)) {
    return state.siteFail('', fakeResp('4.7.4'), `TLS is required, but was not offered by host ${session.namaddr}`);
  }
  return 0;
}

/** smtp_start_tls(): the handshake, the certificate checks, then EHLO again. */
async function startTlsSession(state: SmtpState): Promise<number> {
  const session = state.session!;
  const s = state.settings;
  const level = state.tls.level;
  const r = await startTls(session.stream.socket, s.tls, state.tls, {
    host: session.host, nexthopDomain: state.tlsNexthop, namaddrport: session.namaddrport, timeoutSec: s.timeouts.starttls, log: state.log,
  });
  if (!r) {
    session.forbidden = true;
    const stats = state.request.stats;
    if (level === LEV_MAY && stats.activeArrival.sec - stats.incomingArrival.sec >= s.minBackoff) {
      state.retryPlain = true;
      state.finalServer = false;
    }
    return state.miscFail(level !== LEV_MAY, '', fakeResp('4.7.5'), 'Cannot start TLS: handshake failure');
  }
  const last = session.stream.lastActivity;
  session.stream = new SmtpStream(r.socket);
  session.stream.lastActivity = last;
  session.tls = true;
  session.tlsMatched = r.matched;
  for (const line of r.failures) state.log.info(line);
  if (s.tls.loglevel >= 1) state.log.info(tlsSummary(r, session.namaddrport));
  if (tlsMustMatch(level) && !r.matched) return state.siteFail('', fakeResp('4.7.5'), 'Server certificate not verified');
  return smtpHelo(state, true);
}

const requiresSmtputf8 = (flags: number): boolean => (flags & SMTPUTF8_FLAG_REQUESTED) !== 0 && (flags & ~SMTPUTF8_FLAG_REQUESTED) !== 0;

const XFORWARD_BITS: Record<string, number> = {
  name: FEATURE_XFORWARD_NAME, addr: FEATURE_XFORWARD_ADDR, proto: FEATURE_XFORWARD_PROTO, helo: FEATURE_XFORWARD_HELO,
  domain: FEATURE_XFORWARD_DOMAIN, port: FEATURE_XFORWARD_PORT, ident: FEATURE_XFORWARD_IDENT,
};

/** The EHLO reply's keywords; -1 (after reporting) when the server is this host. */
function readFeatures(state: SmtpState, resp: SmtpResp): 0 | Promise<number> {
  const session = state.session!;
  const s = state.settings;
  const discard = s.discardEhlo;
  let n = 0;
  for (const line of resp.str.split('\n')) {
    const m = /^[^- ]*[- ]+(.*)$/.exec(line);
    if (!m) continue;
    const rest = m[1]!;
    const wm = /^[ \t=]*([^ \t=]+)(.*)$/.exec(rest);
    if (!wm) continue;
    const word = wm[1]!;
    const params = wm[2]!.split(/[ \t]+/).filter((w) => w !== '');
    const key = word.toLowerCase();
    if (n === 0) {
      session.helo = word;
      if (key === s.myhostname.toLowerCase() && state.loopDetect) {
        state.log.warning(`host ${session.namaddrport} replied to HELO/EHLO with my own hostname ${s.myhostname}`);
        const status = session.features & FEATURE_BEST_MX ? '5.4.6' : '4.4.6';
        return state.siteFail('', fakeResp(status), `mail for ${state.request.nexthop} loops back to myself`);
      }
    } else if (!discard.has(key)) {
      if (key === '8bitmime') session.features |= FEATURE_8BITMIME;
      else if (key === 'pipelining') session.features |= FEATURE_PIPELINING;
      else if (key === 'xforward') for (const p of params) session.features |= XFORWARD_BITS[p.toLowerCase()] ?? 0;
      else if (key === 'size') {
        session.features |= FEATURE_SIZE;
        const limit = params[0];
        if (limit !== undefined) {
          if (!/^\d+$/.test(limit)) state.log.warning(`bad EHLO SIZE limit "${limit}" from ${session.namaddrport}`);
          else session.sizeLimit = Number(limit);
        }
      } else if (key === 'starttls') session.features |= FEATURE_STARTTLS;
      else if (key === 'auth' && state.sasl.enabled) saslHeloAuth(state, params.join(' '));
      else if (key === 'dsn') session.features |= FEATURE_DSN;
      else if (key === 'smtputf8') session.features |= FEATURE_SMTPUTF8;
    }
    n++;
  }
  return 0;
}

/** Whether the content goes out converted to 7 bits (SMTP_MIME_DOWNGRADE). */
function mimeDowngrade(state: SmtpState): boolean {
  return !state.settings.disableMimeConversion && !(state.session!.features & FEATURE_8BITMIME) && state.request.encoding !== ENC_7BIT;
}

const knownAttr = (v: string): boolean => v !== '' && v.toLowerCase() !== 'unknown';

/** The MAIL FROM command of this request. */
function mailCommand(state: SmtpState): string {
  const session = state.session!;
  const request = state.request;
  const generic = state.generic.get(null) ?? request.sender;
  const sender = state.settings.quoteRfc821 && generic !== '' ? quote821(generic) : generic;
  let cmd = `MAIL FROM:<${sender}>`;
  if (session.features & FEATURE_SIZE && !mimeDowngrade(state)) cmd += ` SIZE=${request.dataSize}`;
  if (session.features & FEATURE_8BITMIME) {
    if (request.encoding === ENC_8BIT) cmd += ' BODY=8BITMIME';
    else if (request.encoding === ENC_7BIT) cmd += ' BODY=7BIT';
    else if (request.encoding !== '') state.log.warning(`${request.queueId}: unknown content encoding: ${request.encoding}`);
  }
  if (session.features & FEATURE_DSN) {
    if (request.dsnEnvid !== '') cmd += ` ENVID=${xtextQuote(request.dsnEnvid, '+=')}`;
    if (request.dsnRet) cmd += ` RET=${dsnRetStr(request.dsnRet)}`;
  }
  if (session.features & FEATURE_SMTPUTF8 && request.smtputf8 & SMTPUTF8_FLAG_REQUESTED) cmd += ' SMTPUTF8';
  return cmd;
}

/** The RCPT TO command of one recipient. */
function rcptCommand(state: SmtpState, index: number): string {
  const session = state.session!;
  const rcpt = state.left[index]!;
  const generic = state.generic.get(rcpt) ?? rcpt.address;
  const addr = state.settings.quoteRfc821 && generic !== '' ? quote821(generic) : generic;
  let cmd = `RCPT TO:<${addr}>`;
  if (session.features & FEATURE_DSN) {
    let orcpt = rcpt.dsnOrcpt;
    if (orcpt === '' && rcpt.orcpt !== '') {
      const q = quote822Local(rcpt.orcpt);
      orcpt = `${state.request.smtputf8 !== 0 && !allAscii(q) ? 'utf-8' : 'rfc822'};${q}`;
    }
    if (orcpt !== '') {
      if (orcpt.slice(0, 6).toLowerCase() === 'utf-8;') {
        const u = uxtextQuote(orcpt, '+=');
        if (u !== null) cmd += ` ORCPT=${u}`;
      } else {
        cmd += ` ORCPT=${xtextQuote(orcpt, '=')}`;
      }
    }
    if (rcpt.notify) cmd += ` NOTIFY=${dsnNotifyStr(rcpt.notify)}`;
  }
  return cmd;
}

function xforwardCommand(state: SmtpState, first: boolean): string {
  const session = state.session!;
  const r = state.request;
  let cmd = 'XFORWARD';
  const add = (bit: number, ok: boolean, name: string, value: string): void => {
    if (session.features & bit && ok) cmd += ` ${name}=${xtextQuote(value)}`;
  };
  if (first) {
    add(FEATURE_XFORWARD_NAME, knownAttr(r.clientName), 'NAME', r.clientName);
    add(FEATURE_XFORWARD_ADDR, knownAttr(r.clientAddr), 'ADDR', r.clientAddr);
    add(FEATURE_XFORWARD_PORT, knownAttr(r.clientPort), 'PORT', r.clientPort);
  } else {
    add(FEATURE_XFORWARD_PROTO, knownAttr(r.clientProto), 'PROTO', r.clientProto);
    add(FEATURE_XFORWARD_HELO, r.clientHelo !== '', 'HELO', r.clientHelo);
    add(FEATURE_XFORWARD_IDENT, r.logIdent !== '', 'IDENT', r.logIdent);
    add(FEATURE_XFORWARD_DOMAIN, r.rewriteContext !== '', 'SOURCE', r.rewriteContext === 'local' ? 'LOCAL' : 'REMOTE');
  }
  return cmd;
}

/** The protocol engine (smtp_loop) from the given sender and receiver states. */
async function smtpLoop(state: SmtpState, initialSend: number, initialRecv: number): Promise<number> {
  const session = state.session!;
  const request = state.request;
  const s = state.settings;
  const lmtp = s.lmtp;
  const t = s.timeouts;
  const timeouts = [t.xforward, t.xforward, t.mail, t.rcpt, t.dataInit, t.dataDone, t.rset, t.rset, t.quit];
  const traceOnly = (request.flags & DEL_REQ_TRACE_ONLY_MASK) !== 0;
  let sendState = initialSend;
  let recvState = initialRecv;
  let nrcpt = 0;
  let nextRcpt = 0;
  let sendRcpt = 0;
  let recvRcpt = 0;
  let recvDone = 0;
  let mailFromRejected = false;
  const survivors: number[] = [];
  let lostInData = false;
  const done = (x: number): number => {
    if (recvState !== ST_LAST) dontCache(session);
    return x;
  };
  const senderAhead = (): boolean => recvState < sendState || recvRcpt !== sendRcpt;
  const cached = (): boolean => sessionIsCached(session);
  const expired = (): boolean => sessionIsExpired(session, s.reuseCountLimit);
  const said = (resp: SmtpResp, st: number): string => `host ${session.namaddr} said: ${oneLine(resp.str)} (in reply to ${XFER_REQUEST[st]})`;
  const rcptLeft = state.left.length;

  do {
    let nextCommand = '';
    let nextState = ST_LAST;
    switch (sendState) {
      case ST_XFORWARD_NAME_ADDR:
        nextCommand = xforwardCommand(state, true);
        nextState = session.sendProtoHelo ? ST_XFORWARD_PROTO_HELO : ST_MAIL;
        break;
      case ST_XFORWARD_PROTO_HELO:
        nextCommand = xforwardCommand(state, false);
        nextState = ST_MAIL;
        break;
      case ST_MAIL:
        request.stats.reuseCount = session.reuseCount;
        request.stats.connSetupDone = nowTv();
        nextCommand = mailCommand(state);
        nextState = ST_RCPT;
        break;
      case ST_RCPT:
        nextCommand = rcptCommand(state, sendRcpt);
        nextRcpt = sendRcpt + 1;
        if (nextRcpt === rcptLeft) nextState = traceOnly ? ST_ABORT : ST_DATA;
        else nextState = ST_RCPT;
        break;
      case ST_DATA:
        nextCommand = 'DATA';
        nextState = ST_DOT;
        break;
      case ST_DOT:
        nextCommand = '.';
        if (expired()) dontCache(session);
        nextState = cached() ? ST_LAST : ST_QUIT;
        break;
      case ST_ABORT:
        nextCommand = 'RSET';
        if (expired()) dontCache(session);
        nextState = cached() ? ST_LAST : ST_QUIT;
        break;
      case ST_RSET:
        nextCommand = 'RSET';
        nextState = ST_LAST;
        break;
      case ST_QUIT:
        nextCommand = 'QUIT';
        nextState = ST_LAST;
        if (cached()) dontCache(session);
        break;
      default:
        break;
    }

    const waitState = sendState === ST_DOT || sendState === ST_LAST;
    const checkBuf = recvState !== ST_DOT || sendState !== ST_QUIT;
    if (waitState || (senderAhead() && (!(session.features & FEATURE_PIPELINING)
      || (checkBuf && nextCommand.length + 2 + session.stream.pending > PIPELINING_BUFSIZE)
      || Date.now() - session.stream.lastActivity > 10000))) {
      while (senderAhead()) {
        let resp: SmtpResp;
        try {
          resp = await chatResp(state, timeouts[recvState]!);
        } catch (e) {
          if (!(e instanceof StreamFault)) throw e;
          if (lostInData) return done(await state.streamExcept('eof', 'sending message body'));
          return done(recvState <= ST_DOT ? await state.streamExcept(e.kind, XFER_STATES[recvState]!) : -1);
        }
        const ok2 = Math.floor(resp.code / 100) === 2;
        switch (recvState) {
          case ST_XFORWARD_NAME_ADDR:
            if (!ok2) state.log.warning(`host ${session.namaddrport} said: ${oneLine(resp.str)} (in reply to ${XFER_REQUEST[recvState]})`);
            recvState = session.sendProtoHelo ? ST_XFORWARD_PROTO_HELO : ST_MAIL;
            break;
          case ST_XFORWARD_PROTO_HELO:
            if (!ok2) state.log.warning(`host ${session.namaddrport} said: ${oneLine(resp.str)} (in reply to ${XFER_REQUEST[recvState]})`);
            recvState = ST_MAIL;
            break;
          case ST_MAIL:
            if (!ok2) {
              await state.mesgFail(session.host, resp, said(resp, ST_MAIL));
              mailFromRejected = true;
            }
            recvState = ST_RCPT;
            break;
          case ST_RCPT:
            if (!mailFromRejected) {
              const rcpt = state.left[recvRcpt]!;
              if (ok2) {
                if (lmtp) survivors[nrcpt] = recvRcpt;
                nrcpt++;
                if (traceOnly) await state.rcptDone({ ...resp, str: oneLine(resp.str) }, rcpt);
              } else {
                await state.rcptFail(rcpt, session.host, resp, said(resp, ST_RCPT));
              }
            }
            if (++recvRcpt === rcptLeft) recvState = traceOnly ? ST_ABORT : ST_DATA;
            break;
          case ST_DATA:
            recvState = ST_DOT;
            if (Math.floor(resp.code / 100) !== 3) {
              if (nrcpt > 0) await state.mesgFail(session.host, resp, said(resp, ST_DATA));
              nrcpt = -1;
            }
            break;
          case ST_DOT:
            request.stats.deliverDone = nowTv();
            if (!lmtp) {
              if (nrcpt > 0) {
                if (!ok2) await state.mesgFail(session.host, resp, said(resp, ST_DOT));
                else {
                  for (let i = 0; i < recvRcpt; i++) {
                    const rcpt = state.left[i]!;
                    if (!state.isMarked(rcpt)) await state.rcptDone({ ...resp, str: oneLine(resp.str) }, rcpt);
                  }
                }
              }
            } else {
              if (nrcpt > 0) {
                const rcpt = state.left[survivors[recvDone++]!]!;
                if (!ok2) await state.rcptFail(rcpt, session.host, resp, said(resp, ST_DOT));
                else await state.rcptDone({ ...resp, str: oneLine(resp.str) }, rcpt);
              }
              if (recvDone < nrcpt) break;
            }
            recvState = s.skipQuitResponse || cached() || lostInData ? ST_LAST : ST_QUIT;
            break;
          case ST_ABORT:
            recvState = s.skipQuitResponse || cached() ? ST_LAST : ST_QUIT;
            break;
          case ST_RSET:
            if (!ok2) session.features |= FEATURE_RSET_REJECTED;
            recvState = ST_LAST;
            break;
          case ST_QUIT:
            recvState = ST_LAST;
            break;
          default:
            break;
        }
      }
      if ((sendState === ST_RCPT && mailFromRejected) || (sendState === ST_DATA && nrcpt === 0) || (sendState === ST_DOT && nrcpt < 0)) {
        sendState = recvState = ST_ABORT;
        sendRcpt = recvRcpt = 0;
        nextCommand = 'RSET';
        if (expired()) dontCache(session);
        nextState = cached() ? ST_LAST : ST_QUIT;
        nextRcpt = 0;
      }
    }

    if (sendState === ST_LAST) continue;

    if (sendState === ST_DOT && nrcpt > 0) {
      try {
        const downgrading = mimeDowngrade(state);
        const rules = state.content;
        const sent = await sendContent({
          filter: rules && needsFilter(rules, downgrading) ? (out) => contentFilter(rules, downgrading, request.queueId, state.log, out) : null,
          fd: state.ctx.fh!.fd,
          path: `${request.queueName}/${request.queueId}`,
          dataOffset: request.dataOffset,
          lineLimit: s.lineLimit,
          onFold: () => state.log.info(`${request.queueId}: breaking line > ${s.lineLimit} bytes with <CR><LF>SPACE`),
          write: async (piece) => {
            session.stream.write(piece);
            await session.stream.flush(t.dataXfer);
          },
        });
        if (!sent.ok && 'mimeErrs' in sent) {
          // No way to cancel a transaction in progress: the session is dropped without the final dot.
          const d = mimeStateDetail(sent.mimeErrs);
          await state.mesgFail('', fakeResp(d.dsn), d.text);
          return done(0);
        }
        if (!sent.ok && 'dataError' in sent) return done(await state.streamExcept('data', 'sending message body'));
        if (!sent.ok) {
          if ('badType' in sent) state.log.warning(`${request.queueId}: bad record type: ${sent.badType} in message content`);
          const r = await state.mesgFail('', fakeResp('5.3.0'), 'unreadable mail queue entry');
          session.forbidden = true;
          return done(r);
        }
      } catch (e) {
        if (!(e instanceof StreamFault)) throw e;
        if (e.kind !== 'eof') return done(await state.streamExcept(e.kind, 'sending message body'));
        lostInData = true;
        nextState = ST_LAST;
      }
    }
    if (!lostInData) chatCmd(session, nextCommand);
    else dontCache(session);
    sendState = nextState;
    sendRcpt = nextRcpt;
  } while (recvState !== ST_LAST);
  return done(0);
}

/** smtp_rewrite_generic_internal() of the sender and each recipient left, looked up once per transaction. */
async function genericEnvelope(state: SmtpState): Promise<boolean> {
  state.generic.clear();
  const generic = state.content?.generic;
  if (!generic) return true;
  try {
    state.generic.set(null, await generic.envelope(state.request.sender));
    for (const rcpt of state.left) state.generic.set(rcpt, await generic.envelope(rcpt.address));
  } catch (e) {
    if (!(e instanceof GenericLookupError)) throw e;
    state.log.warning(e.message);
    return false;
  }
  return true;
}

/** One mail transaction (smtp_xfer); the SIZE check first. */
export async function smtpXfer(state: SmtpState): Promise<number> {
  const session = state.session!;
  const request = state.request;
  if (!(await genericEnvelope(state))) {
    dontCache(session);
    return state.streamExcept('data', 'sending MAIL FROM');
  }
  if (session.sizeLimit > 0 && session.sizeLimit < request.dataSize) {
    await state.mesgFail('', fakeResp('5.3.4'), `message size ${request.dataSize} exceeds size limit ${session.sizeLimit} of server ${session.namaddr}`);
    state.completeSession = true;
    return 0;
  }
  const xf = state.settings.sendXforward;
  const r = request;
  const f = session.features;
  const sendNameAddr = xf && !!((f & FEATURE_XFORWARD_NAME && knownAttr(r.clientName)) || (f & FEATURE_XFORWARD_ADDR && knownAttr(r.clientAddr))
    || (f & FEATURE_XFORWARD_PORT && knownAttr(r.clientPort)));
  session.sendProtoHelo = xf && !!((f & FEATURE_XFORWARD_PROTO && knownAttr(r.clientProto)) || (f & FEATURE_XFORWARD_HELO && r.clientHelo !== '')
    || (f & FEATURE_XFORWARD_IDENT && r.logIdent !== '') || (f & FEATURE_XFORWARD_DOMAIN && r.rewriteContext !== ''));
  const start = sendNameAddr ? ST_XFORWARD_NAME_ADDR : session.sendProtoHelo ? ST_XFORWARD_PROTO_HELO : ST_MAIL;
  const result = await smtpLoop(state, start, start);
  if (result === 0 && !session.stream.broken) state.completeSession = true;
  return result;
}

/** The RSET probe of a reused session. */
export function smtpRset(state: SmtpState): Promise<number> {
  return smtpLoop(state, ST_RSET, ST_RSET);
}

export function smtpQuit(state: SmtpState): Promise<number> {
  return smtpLoop(state, ST_QUIT, state.settings.skipQuitResponse ? ST_LAST : ST_QUIT);
}

