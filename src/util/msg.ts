// Mirrors Postfix's util/msg.c and msg_vstream.c: diagnostics on stderr as
// "<program>: warning: text". Only cli/ and master/ call fatal(); the layers
// below return failures as values and leave the wording of the edge to them.
import { basename } from 'node:path';

let progName = 'postfix';
let verbose = 0;

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

function emit(text: string): void {
  process.stderr.write(`${progName}: ${text}\n`);
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
