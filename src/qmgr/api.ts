// The queue manager as other parts see it: the wake-up that Postfix's
// global/mail_trigger.c sends (after cleanup queues a message,
// mail_stream.c writes "W" to public/qmgr; postqueue -f writes "F" and
// "A"), over the service's FIFO or UNIX-domain socket, whichever master.cf
// made. Failures are values (the warning Postfix would log). Also the
// types a program wrapper needs to run qmgr. Touches only the trigger
// endpoint.
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as net from 'node:net';
import * as path from 'node:path';
import { errnoText } from '../util/errno.js';

export { Qmgr, type QmgrClock, type QmgrCounters, type QmgrOptions, type RecipientResolver, realClock } from './qmgr.js';
export type { BounceService, NoticeRequest, StatusOps } from './status.js';
export { SocketAgentClient, type AgentClient } from './agent.js';
export { qmgrParams } from './params.js';

/** How long a trigger may take (trigger_timeout). */
const TRIGGER_TIMEOUT_MS = 10_000;

function writeSocket(file: string, request: Buffer): Promise<string | null> {
  return new Promise((resolve) => {
    const s = net.createConnection(file);
    const timer = setTimeout(() => {
      s.destroy();
      resolve(`${file}: trigger timeout`);
    }, TRIGGER_TIMEOUT_MS);
    timer.unref();
    s.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve(`connect to ${file}: ${errnoText(e)}`);
    });
    s.once('connect', () => s.end(request));
    s.once('close', () => {
      clearTimeout(timer);
      resolve(null);
    });
  });
}

async function writeFifo(file: string, request: Buffer): Promise<string | null> {
  let fh: fsp.FileHandle | undefined;
  try {
    fh = await fsp.open(file, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
    await fh.write(request);
    return null;
  } catch (e) {
    return `${file}: ${errnoText(e as NodeJS.ErrnoException)}`;
  } finally {
    await fh?.close().catch(() => undefined);
  }
}

/**
 * mail_trigger(class, service, request): writes the request bytes to
 * queue_directory/class/service. Null when sent; else the warning text.
 */
export async function mailTrigger(queueDir: string, cls: string, service: string, request: string): Promise<string | null> {
  const rel = `${cls}/${service}`;
  const file = path.join(queueDir, rel);
  let st: fs.Stats;
  try {
    st = await fsp.stat(file);
  } catch (e) {
    return `unable to look up ${rel}: ${errnoText(e as NodeJS.ErrnoException)}`;
  }
  const bytes = Buffer.from(request, 'latin1');
  if (st.isFIFO()) return writeFifo(file, bytes);
  if (st.isSocket()) return writeSocket(file, bytes);
  return `${rel} is not a socket or a fifo`;
}
