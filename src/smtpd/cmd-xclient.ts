// Mirrors xclient_cmd() and xforward_cmd() of Postfix's smtpd/smtpd.c: a
// trusted proxy (smtpd_authorized_xclient_hosts) replaces the client's
// name, address, port, HELO, protocol, login or server endpoint and the
// session restarts with a new greeting; a trusted content filter
// (smtpd_authorized_xforward_hosts) passes the original client's
// attributes for logging and the queue file of the next message.
import type { SmtpdToken } from '../address/smtp-token.js';
import { smtpdChatReply } from './chat.js';
import { NEUTER_CHARACTERS } from './cmd-helo.js';
import type { SmtpdContext } from './context.js';
import { normalizeMailhostAddr, validHostname, VALID_HOSTNAME_LEN } from './hostname.js';
import { buildNamaddr } from './peer.js';
import {
  MAIL_ERROR_POLICY, MAIL_ERROR_PROTOCOL, PEER_CODE_OK, PEER_CODE_PERM, PEER_CODE_TEMP, XF_ADDR, XF_DOMAIN, XF_HELO,
  XF_IDENT, XF_NAME, XF_PORT, XF_PROTO, type SmtpdState,
} from './state.js';
import { SessionExit } from './stream.js';
import { allDigits, neuter, printable, strcaseEq, toText } from './text.js';
import { xtextUnquote } from '../mail/xtext.js';

async function fail(ctx: SmtpdContext, state: SmtpdState, text: string, errClass = MAIL_ERROR_PROTOCOL): Promise<number> {
  state.errorMask |= errClass;
  await smtpdChatReply(ctx, state, text);
  return -1;
}

/**
 * The checks both commands start with: no MAIL transaction, at least one
 * attribute, a client the authorized-hosts list could be checked for (else
 * the session ends) and is allowed by. Returns the reply result when the
 * command is refused, null when it may go on.
 */
async function refused(ctx: SmtpdContext, state: SmtpdState, argv: SmtpdToken[], command: 'XCLIENT' | 'XFORWARD'): Promise<number | null> {
  if (state.inMailTransaction) return fail(ctx, state, '503 5.5.1 Error: MAIL transaction in progress');
  if (argv.length < 2) return fail(ctx, state, `501 5.5.4 Syntax: ${command} attribute=value...`);
  const hosts = command === 'XCLIENT' ? ctx.xclientHosts : ctx.xforwardHosts;
  if (hosts.error) {
    ctx.log.warning(`don't know if command ${command} should be allowed from ${state.namaddr}`);
    throw new SessionExit('data');
  }
  const allowed = command === 'XCLIENT' ? state.xclientAllowed : state.xforwardAllowed;
  if (!allowed) return fail(ctx, state, '550 5.7.0 Error: insufficient authorization', MAIL_ERROR_POLICY);
  return null;
}

/**
 * Splits "name=value", xtext-decoding the value (raw when it is not valid
 * xtext) and masking non-printables; a string is the error reply.
 */
function attribute(ctx: SmtpdContext, arg: string): { name: string; value: string } | string {
  const eq = arg.indexOf('=');
  if (eq < 0 || eq + 1 === arg.length) return '501 5.5.4 Error: attribute=value expected';
  const raw = arg.slice(eq + 1);
  if (raw.length > 255) return '501 5.5.4 Error: attribute value too long';
  const value = printable(xtextUnquote(raw) ?? raw, '?', ctx.params.smtputf8Enable);
  return { name: arg.slice(0, eq), value };
}

/** A port number: up to five digits. */
function validPort(value: string): boolean {
  return allDigits(value) && value.length <= 5;
}

/** Replaces the characters Postfix neuters in client-supplied text with "?". */
function neutered(value: string): string {
  return neuter(value, NEUTER_CHARACTERS, '?');
}

function nameStatus(value: string): number {
  if (strcaseEq(value, '[UNAVAILABLE]')) return PEER_CODE_PERM;
  if (strcaseEq(value, '[TEMPUNAVAIL]')) return PEER_CODE_TEMP;
  return PEER_CODE_OK;
}

export async function xclientCmd(ctx: SmtpdContext, state: SmtpdState, argv: SmtpdToken[]): Promise<number> {
  const refusal = await refused(ctx, state, argv, 'XCLIENT');
  if (refusal !== null) return refusal;
  let gotHelo = false;
  let gotProto = false;
  let gotLogin = false;
  let updateNamaddr = false;
  for (const tok of argv.slice(1)) {
    const a = attribute(ctx, tok.strval);
    if (typeof a === 'string') return fail(ctx, state, a);
    const name = a.name;
    let value = a.value;
    const bad = (what: string) => fail(ctx, state, `501 5.5.4 Bad ${what} syntax: ${value}`);
    const key = name.toUpperCase();
    if (key === 'NAME' || key === 'REVERSE_NAME') {
      const status = nameStatus(value);
      if (status !== PEER_CODE_OK) value = 'unknown';
      else if (!validHostname(value)) return bad(key);
      if (key === 'NAME') {
        state.nameStatus = status;
        state.name = value;
        updateNamaddr = true;
        if (status === PEER_CODE_OK) {
          state.reverseName = value;
          state.reverseNameStatus = status;
        }
      } else {
        state.reverseNameStatus = status;
        state.reverseName = value;
      }
    } else if (key === 'ADDR') {
      if (strcaseEq(value, '[UNAVAILABLE]')) {
        state.addr = 'unknown';
        state.rfcAddr = 'unknown';
      } else {
        value = neutered(value);
        const n = normalizeMailhostAddr(value, ctx.families);
        if (n === null) return bad('ADDR');
        state.addr = n.addr;
        state.rfcAddr = n.rfcAddr;
        state.addrFamily = n.family;
      }
      updateNamaddr = true;
    } else if (key === 'PORT') {
      if (strcaseEq(value, '[UNAVAILABLE]')) value = 'unknown';
      else if (!validPort(value)) return bad('PORT');
      state.port = value;
      updateNamaddr = true;
    } else if (key === 'HELO') {
      if (strcaseEq(value, '[UNAVAILABLE]')) {
        state.heloName = null;
      } else {
        if (value.length > VALID_HOSTNAME_LEN) return bad('HELO');
        state.heloName = neutered(value);
      }
      gotHelo = true;
    } else if (key === 'PROTO') {
      if (!strcaseEq(value, 'SMTP') && !strcaseEq(value, 'ESMTP')) return bad('PROTO');
      state.protocol = value.toUpperCase();
      gotProto = true;
    } else if (key === 'LOGIN') {
      if (!strcaseEq(value, '[UNAVAILABLE]')) {
        state.saslMethod = 'XCLIENT';
        state.saslUsername = value;
        gotLogin = true;
      }
    } else if (key === 'DESTADDR') {
      if (strcaseEq(value, '[UNAVAILABLE]')) {
        state.destAddr = 'unknown';
      } else {
        value = neutered(value);
        const n = normalizeMailhostAddr(value, ctx.families);
        if (n === null) return bad('DESTADDR');
        state.destAddr = n.addr;
      }
    } else if (key === 'DESTPORT') {
      if (strcaseEq(value, '[UNAVAILABLE]')) value = 'unknown';
      else if (!validPort(value)) return bad('DESTPORT');
      state.destPort = value;
    } else {
      return fail(ctx, state, `501 5.5.4 Bad XCLIENT attribute name: ${name}`);
    }
  }
  if (updateNamaddr) state.namaddr = buildNamaddr(ctx, state.name, state.addr, state.port);
  state.xclientAllowed = await ctx.xclientHosts.match(toText(state.name), state.addr);
  if (!gotHelo) state.heloName = null;
  if (!gotProto && state.protocol.toUpperCase() !== 'SMTP') state.protocol = 'SMTP';
  if (!gotLogin) {
    state.saslMethod = null;
    state.saslUsername = null;
  }
  throw new SessionExit('restart');
}

const XFORWARD_FLAGS: Record<string, number> = {
  NAME: XF_NAME, ADDR: XF_ADDR, PORT: XF_PORT, PROTO: XF_PROTO, HELO: XF_HELO, IDENT: XF_IDENT, SOURCE: XF_DOMAIN,
};

export async function xforwardCmd(ctx: SmtpdContext, state: SmtpdState, argv: SmtpdToken[]): Promise<number> {
  const refusal = await refused(ctx, state, argv, 'XFORWARD');
  if (refusal !== null) return refusal;
  const xf = state.xforward;
  if (xf.flags === 0) {
    // smtpd_xforward_preset(): unknown until told otherwise.
    Object.assign(xf, { flags: 1, name: 'unknown', addr: 'unknown', rfcAddr: 'unknown', port: 'unknown', namaddr: 'unknown', protocol: 'unknown' });
  }
  let updated = 0;
  for (const tok of argv.slice(1)) {
    const a = attribute(ctx, tok.strval);
    if (typeof a === 'string') return fail(ctx, state, a);
    const name = a.name;
    let value = a.value;
    const unavailable = strcaseEq(value, '[UNAVAILABLE]');
    const bad = (what: string) => fail(ctx, state, `501 5.5.4 Bad ${what} syntax: ${value}`);
    const flag = XFORWARD_FLAGS[name.toUpperCase()];
    switch (flag) {
      case XF_NAME:
        if (unavailable) value = 'unknown';
        else {
          value = neutered(value);
          if (!validHostname(value)) return bad('NAME');
        }
        xf.name = value;
        break;
      case XF_ADDR:
        if (unavailable) {
          xf.addr = 'unknown';
        } else {
          value = neutered(value);
          const n = normalizeMailhostAddr(value, ctx.families);
          if (n === null) return bad('ADDR');
          xf.addr = n.addr;
          xf.rfcAddr = n.rfcAddr;
        }
        break;
      case XF_PORT:
        if (unavailable) value = 'unknown';
        else if (!validPort(value)) return bad('PORT');
        xf.port = value;
        break;
      case XF_HELO:
        xf.heloName = unavailable ? null : neutered(value);
        break;
      case XF_PROTO:
        if (unavailable) value = 'unknown';
        else {
          if (value.length > 64) return bad('PROTO');
          value = neutered(value);
        }
        xf.protocol = value;
        break;
      case XF_IDENT:
        xf.ident = unavailable ? null : neutered(value);
        break;
      case XF_DOMAIN: {
        if (unavailable) value = 'LOCAL';
        const v = value.toUpperCase();
        if (v !== 'LOCAL' && v !== 'REMOTE') return bad('SOURCE');
        xf.domain = v === 'LOCAL' ? 'local' : 'remote';
        break;
      }
      default:
        return fail(ctx, state, `501 5.5.4 Bad XFORWARD attribute name: ${name}`);
    }
    updated |= flag;
  }
  xf.flags |= updated;
  if (updated & (XF_NAME | XF_ADDR | XF_PORT)) {
    xf.namaddr = xf.addr !== null && xf.addr !== 'unknown' ? buildNamaddr(ctx, xf.name ?? 'unknown', xf.addr, xf.port ?? 'unknown') : xf.name;
  }
  await smtpdChatReply(ctx, state, '250 2.0.0 Ok');
  return 0;
}
