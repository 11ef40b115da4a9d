// Mirrors Postfix's global/mail_trigger.c with util/fifo_trigger.c and
// unix_trigger.c: wake a service by writing a one-byte request to its
// FIFO or UNIX-domain socket (public/pickup after a maildrop submission,
// public/qmgr after cleanup has queued a message).
// A service that is not running is not an error: the request is dropped
// silently, and the service finds the work when it starts. Only a missing
// endpoint is reported, as Postfix reports it. Touches only that endpoint.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { errnoText } from '../util/errno.js';
import type { MsgLog } from '../util/msg.js';

/**
 * Sends request to queueDir/endpoint ("public/pickup"); resolves true when
 * it was delivered. timeoutMs bounds a socket connection (trigger_timeout).
 */
export async function mailTrigger(queueDir: string, endpoint: string, request: string, log: Pick<MsgLog, 'warning'>, timeoutMs = 10_000): Promise<boolean> {
  const full = path.resolve(queueDir, endpoint);
  let st: fs.Stats;
  try {
    st = fs.statSync(full);
  } catch (e) {
    log.warning(`unable to look up ${endpoint}: ${errnoText(e as NodeJS.ErrnoException)}`);
    return false;
  }
  if (st.isFIFO()) return fifoTrigger(full, request);
  if (st.isSocket()) return socketTrigger(full, request, timeoutMs);
  log.warning(`${endpoint} is not a socket or a fifo`);
  return false;
}

function fifoTrigger(full: string, request: string): boolean {
  let fd: number;
  try {
    fd = fs.openSync(full, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
  } catch {
    return false; // ENXIO: nobody reads the FIFO
  }
  try {
    fs.writeSync(fd, Buffer.from(request, 'latin1'));
    return true;
  } catch {
    return false;
  } finally {
    fs.closeSync(fd);
  }
}

function socketTrigger(full: string, request: string, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect(full);
    const done = (ok: boolean) => {
      clearTimeout(timer);
      sock.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    sock.once('error', () => done(false));
    sock.once('connect', () => sock.end(Buffer.from(request, 'latin1'), () => done(true)));
  });
}
