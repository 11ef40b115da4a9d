// Mirrors how Postfix's commands wake its daemons: global/mail_trigger.c
// (stat the public/ or private/ endpoint, then util/fifo_trigger.c or
// util/unix_trigger.c: write the request bytes and go) and
// global/mail_command_client.c (a short attribute exchange over a stream
// socket, as postqueue -s/-i talk to the flush service: the server names
// its protocol, the client sends name/value pairs, the server answers with
// a status; src/queue/flush-client.ts). Touches only the endpoint it is given.
import { mailTrigger as queueMailTrigger } from '../queue/mail-trigger.js';
import { errnoText } from '../util/errno.js';

const TRIGGER_TIMEOUT_MS = 10_000;

/** The open/connect error text Postfix's %m would print. */
export function errText(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  if (err.code === 'ENXIO') return 'No such device or address';
  return errnoText(err);
}

/** mail_trigger(): false (after Postfix's warning, if any) when nobody listens. */
export function mailTrigger(queueDir: string, cls: string, service: string, req: string, warn: (t: string) => void): Promise<boolean> {
  return queueMailTrigger(queueDir, `${cls}/${service}`, req, { warning: warn }, TRIGGER_TIMEOUT_MS);
}

export { attrPrint0, mailCommandClient } from '../queue/flush-client.js';
