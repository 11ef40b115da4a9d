// Mirrors Postfix's util/msg.c and msg_vstream.c: diagnostics on stderr as
// "<program>: warning: text". Only cli/ and master/ call fatal(); the layers
// below return failures as values and leave the wording of the edge to them.
// Those layers never write here themselves: they report through the MsgLog
// they are handed (a command hands them stderrLog, a daemon its maillog
// logger), so a table warning inside the daemon reaches the maillog.
import { basename } from 'node:path';
import { printable } from './printable.js';

/**
 * The small logging interface every layer below the program edge reports
 * through (tables, configuration, addresses). A daemon's MailLogger has
 * this shape; a command passes stderrLog. An implementation applies
 * printable() to each whole line, as msg_vprintf does, so callers pass
 * untrusted text (keys, file lines) as it is.
 */
export interface MsgLog {
  info(text: string): void;
  warning(text: string): void;
  error(text: string): void;
}

// The state of the program edge: one command is one program.
let progName = 'postfix';
let verbose = 0;
let utf8 = false;

/** Sets the program name used as the message prefix (the basename of argv[0] in Postfix). */
export function setProgName(name: string): void {
  progName = basename(name);
}

export function getProgName(): string {
  return progName;
}

export function setVerbose(level: number): void {
  verbose = level;
}

export function verboseLevel(): number {
  return verbose;
}

/**
 * Whether messages keep well-formed non-ASCII text (util_utf8_enable, from
 * smtputf8_enable once the command has read main.cf); off until then.
 */
export function setMsgUtf8(on: boolean): void {
  utf8 = on;
}

/** msg_vprintf: printable() is applied once, to the whole message. */
function emit(text: string): void {
  process.stderr.write(`${progName}: ${printable(text, '?', utf8)}\n`);
}

export function msgInfo(text: string): void {
  emit(text);
}

export function msgWarn(text: string): void {
  emit(`warning: ${text}`);
}

export function msgError(text: string): void {
  emit(`error: ${text}`);
}

/** Postfix's msg_vstream for a command: "<program>: warning: text" on stderr. */
export const stderrLog: MsgLog = { info: msgInfo, warning: msgWarn, error: msgError };

/**
 * A failure that only the program edge words: runMain prints it as
 * "<program>: fatal: message" and exits 1 (config/config-error.ts's
 * ConfigError is one). Code below the edge throws or returns it, never exits.
 */
export class FatalError extends Error {}

/** Thrown by msgFatal; the command's edge catches it, flushes output and exits. */
export class FatalExit extends Error {
  constructor(public readonly status: number) {
    super(`exit ${status}`);
  }
}

/** Prints "<program>: fatal: text" and ends the program with status 1, as Postfix does. */
export function msgFatal(text: string, status = 1): never {
  emit(`fatal: ${text}`);
  throw new FatalExit(status);
}

export function msgPanic(text: string): never {
  emit(`panic: ${text}`);
  throw new FatalExit(2);
}

/** Postfix's usage complaint: "fatal: usage: ..." */
export function msgUsage(text: string): never {
  return msgFatal(`usage: ${text}`);
}
