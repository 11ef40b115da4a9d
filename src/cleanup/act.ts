// Mirrors cleanup_act() and cleanup_act_log() of Postfix's
// cleanup/cleanup_message.c: what a header_checks, mime_header_checks,
// nested_header_checks or body_checks match does (REJECT, WARN, INFO,
// FILTER, PASS, DISCARD, HOLD, PREPEND, REPLACE, REDIRECT, BCC, STRIP,
// IGNORE, DUNNO, OK) and the log line each action leaves:
//   QID: reject: header Subject: x from host[addr]; from=<s> to=<r> proto=ESMTP helo=<h>: 5.7.1 text
import {
  CLEANUP_FLAG_DISCARD, CLEANUP_FLAG_FILTER, CLEANUP_FLAG_HOLD, CLEANUP_FLAG_MILTER, CLEANUP_STAT_CONT,
  CLEANUP_STAT_DEFER, cleanupStatDetail,
} from './api.js';
import { isHeader } from '../mail/header.js';
import { dsnPrepend } from '../mail/dsn.js';
import { cleanupOut } from './out.js';
import { cleanupOutHeader } from './header-out.js';
import type { CleanupState } from './state.js';
import { cstr, isCSpace, printable, toText, trunc } from './text.js';
import { quote822Local } from '../address/quote.js';

const CLEANUP_FLAG_FILTER_ALL = CLEANUP_FLAG_FILTER | CLEANUP_FLAG_MILTER;

/** A log line through msg(3): C string, printable(), then text for the logger. */
export function logInfo(state: CleanupState, line: string): void {
  state.ctx.log.info(toText(printable(cstr(line), state.ctx.params.smtputf8Enable)));
}

export function logWarning(state: CleanupState, line: string): void {
  state.ctx.log.warning(toText(printable(cstr(line), state.ctx.params.smtputf8Enable)));
}

/** info_log_addr_form_*(): an address as the log shows it. */
export function logAddr(state: CleanupState, addr: string): string {
  if (addr === '' || !state.ctx.params.logExternal) return addr;
  return quote822Local(addr);
}

/** cleanup_act_log(): "QID: action: class content from origin; from=<> to=<> proto= helo=<>: text". */
export function cleanupActLog(state: CleanupState, action: string, cls: string, content: string, text: string): void {
  let line = `${state.queueId}: ${action}: ${cls} ${trunc(cstr(content), 200)} from ${state.attr.get('log_message_origin') ?? 'unknown'};`;
  if (state.sender !== null) line += ` from=<${logAddr(state, state.sender)}>`;
  if (state.recip !== null) line += ` to=<${logAddr(state, state.recip)}>`;
  const proto = state.attr.get('log_protocol_name');
  if (proto !== undefined) line += ` proto=${proto}`;
  const helo = state.attr.get('log_helo_name');
  if (helo !== undefined) line += ` helo=<${helo}>`;
  if (text !== '') line += `: ${text}`;
  logInfo(state, line);
}

/** Context words of the log line. */
export type ActContext = 'header' | 'body' | 'content';

/**
 * cleanup_act(): the action of a table match on buf. Returns buf (keep it),
 * null (drop it: STRIP, IGNORE), or the replacement text (REPLACE).
 */
export function cleanupAct(state: CleanupState, context: ActContext, buf: string, value: string, mapClass: string): string | null {
  let cmdLen = 0;
  while (cmdLen < value.length && value[cmdLen] !== ' ' && value[cmdLen] !== '\t') cmdLen++;
  let t = cmdLen;
  while (t < value.length && isCSpace(value[t])) t++;
  const optional = value.slice(t);
  const cmd = value.slice(0, cmdLen).toUpperCase();
  const log = (action: string, text: string): void => cleanupActLog(state, action, context, buf, text);
  const warn = (text: string): void => logWarning(state, text);
  switch (cmd) {
    case 'REJECT': {
      let reason: string;
      if (optional !== '') {
        reason = dsnPrepend('5.7.1', optional);
        if (reason[0] !== '4' && reason[0] !== '5') {
          warn(`bad DSN action in ${optional} -- need 4.x.x or 5.x.x`);
          reason = `4${reason.slice(1)}`;
        }
      } else {
        const d = cleanupStatDetail(CLEANUP_STAT_CONT)!;
        reason = dsnPrepend(d.dsn, d.text);
      }
      state.reason = reason;
      state.errs |= reason[0] === '4' ? CLEANUP_STAT_DEFER : CLEANUP_STAT_CONT;
      state.flags &= ~CLEANUP_FLAG_FILTER_ALL;
      log('reject', reason);
      return buf;
    }
    case 'WARN':
      log('warning', optional);
      return buf;
    case 'INFO':
      log('info', optional);
      return buf;
    case 'FILTER':
      if (optional === '') warn(`missing FILTER command argument in ${mapClass} map`);
      else if (!optional.includes(':')) warn(`bad FILTER command ${optional} in ${mapClass} -- need transport:destination`);
      else {
        state.filter = optional;
        log('filter', optional);
      }
      return buf;
    case 'PASS':
      log('pass', optional);
      state.flags &= ~CLEANUP_FLAG_FILTER_ALL;
      return buf;
    case 'DISCARD':
      log('discard', optional);
      state.flags |= CLEANUP_FLAG_DISCARD;
      state.flags &= ~CLEANUP_FLAG_FILTER_ALL;
      return buf;
    case 'HOLD':
      if (!(state.flags & (CLEANUP_FLAG_HOLD | CLEANUP_FLAG_DISCARD))) {
        log('hold', optional);
        state.flags |= CLEANUP_FLAG_HOLD;
      }
      return buf;
    case 'PREPEND':
      prepend(state, context, buf, optional, mapClass);
      return buf;
    case 'REPLACE':
      if (optional === '') {
        warn(`REPLACE action without text in ${mapClass} map`);
        return buf;
      }
      if (context === 'header' && !isHeader(optional)) {
        warn(`bad REPLACE header text "${optional}" in ${mapClass} map -- need "headername: headervalue"`);
        return buf;
      }
      log('replace', optional);
      return optional;
    case 'REDIRECT':
      if (!optional.includes('@')) warn(`bad REDIRECT target "${optional}" in ${mapClass} map -- need user@domain`);
      else {
        state.redirect = optional;
        log('redirect', optional);
        state.flags &= ~CLEANUP_FLAG_FILTER_ALL;
      }
      return buf;
    case 'BCC':
      if (!optional.includes('@')) warn(`bad BCC address "${optional}" in ${mapClass} map -- need user@domain`);
      else {
        (state.hbcRcpt ??= []).push(optional);
        log('bcc', optional);
      }
      return buf;
    case 'STRIP':
      log('strip', optional);
      return null;
    case 'IGNORE':
      return null;
    case 'DUNNO':
    case 'OK':
      return buf;
    default:
      warn(`unknown command in ${mapClass} map: ${value}`);
      return buf;
  }
}

/** PREPEND: a header goes out before the matched one; body text before the matched line. */
function prepend(state: CleanupState, context: ActContext, buf: string, text: string, mapClass: string): void {
  if (text === '') {
    logWarning(state, `PREPEND action without text in ${mapClass} map`);
  } else if (context === 'header') {
    if (!isHeader(text)) {
      logWarning(state, `bad PREPEND header text "${text}" in ${mapClass} map -- need "headername: headervalue"`);
    } else {
      cleanupActLog(state, 'prepend', context, buf, text);
      cleanupOutHeader(state, text);
    }
  } else {
    cleanupActLog(state, 'prepend', context, buf, text);
    cleanupOut(state, 'N', text);
  }
}
