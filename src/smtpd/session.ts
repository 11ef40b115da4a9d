// Mirrors smtpd_service() and smtpd_proto() of Postfix's smtpd/smtpd.c:
// one SMTP session from "connect from" to "disconnect from ... commands=N".
// The greeting (or the 421/554 refusals: client talking first, too many
// connections, smtpd_client_restrictions with smtpd_delay_reject=no),
// then the command loop: hard error limit, bare-LF rejection, UTF-8 check,
// smtpd_command_filter, tokenizing, smtpd_noop_commands, the command
// table, smtpd_forbidden_commands and header-like commands ("I can break
// rules, too"), access denial, unauthorized pipelining detection, and the
// per-command statistics. End of input, timeouts and hang-ups arrive as
// SessionExit (Postfix's longjmp to smtpd_proto).
import { smtpdToken, type SmtpdToken } from '../address/smtp-token.js';
import { smtpdChatQuery, smtpdChatReply } from './chat.js';
import { smtpdCheckClient } from './check/drivers.js';
import { logWhatsup } from './check/reject.js';
import { ehloCmd, heloCmd, heloReset } from './cmd-helo.js';
import { bdatCmd, dataCmd } from './cmd-data.js';
import { mailCmd, rcptCmd } from './cmd-mail.js';
import { authCmd, etrnCmd, noopCmd, quitCmd, rsetCmd, startTls, starttlsCmd, vrfyCmd } from './cmd-misc.js';
import { xclientCmd, xforwardCmd } from './cmd-xclient.js';
import { BARE_LF_FLAG_REPLY_REJECT, type SmtpdContext } from './context.js';
import { ehloMask } from './ehlo.js';
import { chatReset, mailReset, rcptReset } from './reset.js';
import {
  AFTER_BDAT, AFTER_DATA, AFTER_EOM, CMD_UNKNOWN, MAIL_ERROR_DATA, MAIL_ERROR_POLICY, MAIL_ERROR_PROTOCOL,
  SMTPD_FLAG_HANGUP, SMTPD_FLAG_ILL_PIPELINING, type SmtpdState,
} from './state.js';
import { SessionExit } from './stream.js';
import { anvilConnect, anvilWrapperRefused } from './limits.js';
import { escapeBytes, printable, toBytes, toText, validUtf8Bytes } from './text.js';
import { isHeader } from '../mail/header.js';
import { dictLookup } from '../address/maps.js';

type Action = (ctx: SmtpdContext, state: SmtpdState, argv: SmtpdToken[]) => Promise<number>;

interface CommandDef {
  name: string;
  action: Action;
  /** SMTPD_CMD_FLAG_PRE_TLS: allowed before STARTTLS when TLS is required. */
  preTls?: boolean;
  /** SMTPD_CMD_FLAG_LIMIT: counts toward smtpd_junk_command_limit. */
  limit: boolean;
  /** SMTPD_CMD_FLAG_LAST: must be the last of a pipelined group. */
  last: boolean;
}

/** smtpd_cmd_table, in Postfix's order (which is also the order of the disconnect statistics). */
const COMMANDS: readonly CommandDef[] = [
  { name: 'HELO', action: heloCmd, limit: true, last: true, preTls: true },
  { name: 'EHLO', action: ehloCmd, limit: true, last: true, preTls: true },
  { name: 'XCLIENT', action: xclientCmd, limit: false, last: false, preTls: true },
  { name: 'XFORWARD', action: xforwardCmd, limit: false, last: false },
  { name: 'STARTTLS', action: starttlsCmd, limit: false, last: false, preTls: true },
  { name: 'AUTH', action: (c, s) => authCmd(c, s), limit: false, last: false },
  { name: 'MAIL', action: mailCmd, limit: false, last: false },
  { name: 'RCPT', action: rcptCmd, limit: false, last: false },
  { name: 'DATA', action: dataCmd, limit: false, last: true },
  { name: 'BDAT', action: bdatCmd, limit: false, last: false },
  { name: 'RSET', action: rsetCmd, limit: true, last: false },
  { name: 'NOOP', action: (c, s) => noopCmd(c, s), limit: true, last: true, preTls: true },
  { name: 'VRFY', action: vrfyCmd, limit: true, last: true },
  { name: 'ETRN', action: etrnCmd, limit: true, last: false },
  { name: 'QUIT', action: (c, s) => quitCmd(c, s), limit: false, last: false, preTls: true },
];

function countCommand(state: SmtpdState, name: string, success: boolean | null): void {
  const s = state.cmdStats.get(name) ?? [0, 0];
  if (success === null) s[1]++;
  else if (success) s[0]++;
  state.cmdStats.set(name, s);
}

/** smtpd_format_cmd_stats(): " ehlo=1 mail=1 rcpt=0/1 quit=1 commands=3/4". */
export function formatCmdStats(state: SmtpdState): string {
  let out = '';
  let success = 0;
  let total = 0;
  for (const name of [...COMMANDS.map((c) => c.name), 'unknown']) {
    const s = state.cmdStats.get(name);
    if (!s || s[1] === 0) continue;
    out += ` ${name.toLowerCase()}=${s[0]}`;
    if (s[0] !== s[1]) out += `/${s[1]}`;
    success += s[0];
    total += s[1];
  }
  out += ` commands=${success}`;
  if (success !== total || total === 0) out += `/${total}`;
  return out;
}

/**
 * smtpd_flag_ill_pipelining(): input that arrived before we asked for it
 * is logged and remembered for reject_unauth_pipelining.
 */
function flagIllPipelining(ctx: SmtpdContext, state: SmtpdState): boolean {
  if (state.stream.pending === 0) return false;
  const peek = state.stream.peekData(100);
  ctx.log.info(toText(`improper command pipelining after ${state.where} from ${state.namaddr}: ${escapeBytes(peek)}`));
  state.flags |= SMTPD_FLAG_ILL_PIPELINING;
  return true;
}

/** The greeting, or the refusal that ends the session before it starts; true to go on. */
async function greet(ctx: SmtpdContext, state: SmtpdState): Promise<boolean> {
  if (ctx.tls.wrappermode && state.stream.tlsSocket === null) {
    if (ctx.tls.context === null) {
      ctx.log.warning(`Wrapper-mode request dropped from ${state.namaddr} for service ${state.service}. TLS context initialization failed. For details see earlier warnings in your logs.`);
      return false;
    }
    if (await anvilWrapperRefused(ctx, state)) return false;
    await startTls(ctx, state);
  }
  // Postfix looks for early talkers after the process handoff and name
  // lookup, and sees what is in the kernel's buffer by then. Here bytes are
  // seen once the event loop has read them: one turn of it reads what has
  // arrived; where it matters (the pipelining restrictions), a client that
  // talks first gets a moment more to be seen.
  if (!ctx.standAlone && state.stream.pending === 0) await new Promise((r) => (ctx.watchPipelining ? setTimeout(r, 10) : setImmediate(r)));
  if (!ctx.standAlone && !(state.flags & SMTPD_FLAG_ILL_PIPELINING) && flagIllPipelining(ctx, state) && ctx.params.forbidUnauthPipelining) {
    await smtpdChatReply(ctx, state, '554 5.5.0 Error: SMTP protocol synchronization');
    return false;
  }
  if (!(await anvilConnect(ctx, state))) return false;
  let words = ctx.params.discardEhloKeywords;
  if (ctx.ehloDiscardMaps) {
    const r = await ctx.ehloDiscardMaps.find(toText(state.addr), 0);
    if (r.status === 'found') words = r.value;
  }
  state.ehloDiscardMask = ctx.ehloDiscardMaps ? ehloMask(words) : ctx.ehloDiscardMask;
  if (!ctx.standAlone && !ctx.params.delayReject) {
    const err = await smtpdCheckClient(ctx, state);
    if (err !== null) {
      state.errorMask |= MAIL_ERROR_POLICY;
      state.accessDenied = err;
      await smtpdChatReply(ctx, state, err);
      state.errorCount++;
      return true;
    }
  }
  await smtpdChatReply(ctx, state, `220 ${toBytes(ctx.params.banner)}`);
  return true;
}

/** smtpd_command_filter: the table may replace the whole command line (leading blanks are not part of the key). */
async function filterCommand(ctx: SmtpdContext, state: SmtpdState, line: string): Promise<string> {
  const key = line.replace(/^[ \t]+/, '');
  const r = await dictLookup(ctx.commandFilter!, toText(key), ctx.log);
  if (r.status === 'found') {
    const replacement = toBytes(r.value);
    ctx.log.info(toText(`${state.namaddr}: replacing command "${line.slice(0, 100)}" with "${replacement.slice(0, 100)}"`));
    state.lastCommand = replacement;
    return replacement;
  }
  if (r.status === 'error') {
    ctx.log.warning(toText(`${ctx.commandFilter!.type}:${ctx.commandFilter!.name} lookup error for "${printable(line.slice(0, 100), '?', ctx.params.smtputf8Enable)}"`));
    throw new SessionExit('data');
  }
  return line;
}

/** One pass of the command loop; returns when the session should end. */
async function commandLoop(ctx: SmtpdContext, state: SmtpdState): Promise<void> {
  const p = ctx.params;
  for (;;) {
    if (state.flags & SMTPD_FLAG_HANGUP) return;
    if (state.errorCount >= p.hardErrorLimit) {
      state.reason = 'too many errors';
      state.errorMask |= MAIL_ERROR_PROTOCOL;
      await smtpdChatReply(ctx, state, `421 4.7.0 ${p.myhostname} Error: too many errors`);
      return;
    }
    const q = await smtpdChatQuery(ctx, state);
    let line = q.line;
    state.lastCommand = line;
    if (q.gotBareLf & BARE_LF_FLAG_REPLY_REJECT) {
      logWhatsup(ctx, state, 'reject', 'bare <LF> received');
      state.errorMask |= MAIL_ERROR_PROTOCOL;
      await smtpdChatReply(ctx, state, `${p.forbidBareNewlineCode} 5.5.2 ${p.myhostname} Error: bare <LF> received`);
      return;
    }
    if (p.smtputf8Enable && !validUtf8Bytes(line)) {
      state.errorMask |= MAIL_ERROR_PROTOCOL;
      await smtpdChatReply(ctx, state, '500 5.5.2 Error: bad UTF-8 syntax');
      state.errorCount++;
      continue;
    }
    if (ctx.commandFilter) line = await filterCommand(ctx, state, line);
    const argv = smtpdToken(line);
    if (argv.length === 0) {
      state.errorMask |= MAIL_ERROR_PROTOCOL;
      await smtpdChatReply(ctx, state, '500 5.5.2 Error: bad syntax');
      state.errorCount++;
      continue;
    }
    const verb = argv[0]!.strval;
    if (p.noopCommands !== '' && (await ctx.noopCommands.match(toText(verb))) === 'match') {
      await smtpdChatReply(ctx, state, '250 2.0.0 Ok');
      if (state.junkCmds++ > p.junkCommandLimit) state.errorCount++;
      continue;
    }
    const cmd = COMMANDS.find((c) => c.name === verb.toUpperCase()) ?? null;
    countCommand(state, cmd ? cmd.name : 'unknown', null);
    if (cmd === null) {
      state.where = CMD_UNKNOWN;
      if (isHeader(verb) || (p.forbiddenCommands !== '' && (await ctx.forbiddenCommands.match(toText(verb))) === 'match')) {
        ctx.log.warning(toText(`non-SMTP command from ${state.namaddr}: ${escapeBytes(line).slice(0, 100)}`));
        await smtpdChatReply(ctx, state, '221 2.7.0 Error: I can break rules, too. Goodbye.');
        return;
      }
    }
    if (state.accessDenied !== null && cmd?.name !== 'QUIT') {
      if (state.accessDenied.slice(1, 3) === '21') {
        await smtpdChatReply(ctx, state, state.accessDenied);
        continue;
      }
      await smtpdChatReply(ctx, state, `503 5.7.0 Error: access denied for ${state.namaddr}`);
      state.errorCount++;
      continue;
    }
    if (cmd === null) {
      await smtpdChatReply(ctx, state, '500 5.5.2 Error: command not recognized');
      state.errorMask |= MAIL_ERROR_PROTOCOL;
      state.errorCount++;
      continue;
    }
    if (ctx.tls.enforceTls && state.stream.tlsSocket === null && !cmd.preTls) {
      await smtpdChatReply(ctx, state, '530 5.7.0 Must issue a STARTTLS command first');
      state.errorCount++;
      continue;
    }
    state.where = cmd.name;
    if (!ctx.standAlone && (state.protocol.toUpperCase() !== 'ESMTP' || cmd.last)
      && !(state.flags & SMTPD_FLAG_ILL_PIPELINING) && flagIllPipelining(ctx, state) && p.forbidUnauthPipelining) {
      await smtpdChatReply(ctx, state, '554 5.5.0 Error: SMTP protocol synchronization');
      return;
    }
    if ((await cmd.action(ctx, state, argv)) !== 0) state.errorCount++;
    else countCommand(state, cmd.name, true);
    if (cmd.limit && state.junkCmds++ > p.junkCommandLimit) state.errorCount++;
    if (cmd.name === 'QUIT') return;
  }
}

/** smtpd_proto(): greeting and command loop, restarted after XCLIENT, with Postfix's exits. */
export async function smtpdProto(ctx: SmtpdContext, state: SmtpdState): Promise<void> {
  for (;;) {
    try {
      if (await greet(ctx, state)) await commandLoop(ctx, state);
      break;
    } catch (e) {
      if (!(e instanceof SessionExit)) throw e;
      if (e.reason === 'restart') {
        chatReset(state, 0);
        mailReset(state);
        rcptReset(state);
        continue;
      }
      await sessionExit(ctx, state, e);
      break;
    }
  }
  logAbnormalEnd(ctx, state);
  heloReset(state);
  chatReset(state, 0);
  mailReset(state);
  rcptReset(state);
}

/** The replies that go with leaving the session abnormally. */
async function sessionExit(ctx: SmtpdContext, state: SmtpdState, e: SessionExit): Promise<void> {
  try {
    if (e.reason === 'timeout') {
      state.reason = 'timeout';
      await smtpdChatReply(ctx, state, `421 4.4.2 ${ctx.params.myhostname} Error: timeout exceeded`);
    } else if (e.reason === 'eof') {
      state.reason = 'lost connection';
    } else if (e.reason === 'data') {
      ctx.log.info(toText(`${state.queueId ?? 'NOQUEUE'}: reject: ${state.where} from ${state.namaddr}: 421 4.3.0 ${ctx.params.myhostname} Server local data error`));
      state.errorMask |= MAIL_ERROR_DATA;
      await smtpdChatReply(ctx, state, `421 4.3.0 ${ctx.params.myhostname} Server local data error`);
    }
  } catch (inner) {
    if (!(inner instanceof SessionExit)) throw inner;
  }
}

/** "lost connection after X from Y", "timeout after DATA (N bytes) from Y". */
function logAbnormalEnd(ctx: SmtpdContext, state: SmtpdState): void {
  if (state.reason === null || !state.where) return;
  if (state.where === AFTER_DATA) {
    ctx.log.info(toText(`${state.reason} after DATA (${state.actSize + state.stream.pending} bytes) from ${state.namaddr}`));
  } else if (state.where === AFTER_BDAT) {
    ctx.log.info(toText(`${state.reason} after BDAT (${state.actSize + state.stream.pending + state.bdatPartial.length} bytes) from ${state.namaddr}`));
  } else if (state.where !== AFTER_EOM || state.reason !== 'lost connection') {
    ctx.log.info(toText(`${state.reason} after ${state.where} from ${state.namaddr}`));
  }
}
