// Mirrors how Postfix's commands wake its daemons: global/mail_trigger.c
// (stat the public/ or private/ endpoint, then util/fifo_trigger.c or
// util/unix_trigger.c: write the request bytes and go) and
// global/mail_command_client.c (a short attribute exchange over a stream
// socket, as postqueue -s/-i talk to the flush service: the server names
// its protocol, the client sends name/value pairs, the server answers with
// a status). Touches only the endpoint it is given.
import { mailTrigger as queueMailTrigger } from '../queue/mail-trigger.js';
import * as net from 'node:net';
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

/** Serialises attributes in Postfix's attr_print0 form: name NUL value NUL ..., then NUL. */
export function attrPrint0(attrs: Array<[string, string]>): Buffer {
  return Buffer.from(attrs.map(([n, v]) => `${n}\0${v}\0`).join('') + '\0', 'latin1');
}

/** Reads attr0 groups ("name\0value\0...\0") from text; returns the complete groups. */
function attrGroups(text: string): Array<Map<string, string>> {
  const groups: Array<Map<string, string>> = [];
  let cur = new Map<string, string>();
  const parts = text.split('\0');
  let i = 0;
  while (i < parts.length - 1) {
    const name = parts[i]!;
    if (name === '') {
      groups.push(cur);
      cur = new Map();
      i++;
      continue;
    }
    if (i + 1 >= parts.length - 1) break;
    cur.set(name, parts[i + 1]!);
    i += 2;
  }
  return groups;
}

/**
 * mail_command_client(): -1 (after Postfix's warning) when the service is
 * not there or the exchange fails, else the status the server answered.
 */
export function mailCommandClient(queueDir: string, cls: string, service: string, proto: string,
  attrs: Array<[string, string]>, warn: (t: string) => void): Promise<number> {
  const rel = `${cls}/${service}`;
  return new Promise((resolve) => {
    const sock = net.connect({ path: `${queueDir}/${rel}` });
    let connected = false;
    let sent = false;
    let data = '';
    const done = (status: number, warning?: string) => {
      clearTimeout(timer);
      sock.destroy();
      if (warning) warn(warning);
      resolve(status);
    };
    const timer = setTimeout(() => done(-1, `read ${rel}: Connection timed out`), TRIGGER_TIMEOUT_MS);
    sock.on('connect', () => (connected = true));
    sock.on('error', (e) => done(-1, connected ? `read ${rel}: ${errText(e)}` : `connect to ${rel}: ${errText(e)}`));
    sock.on('end', () => done(-1, `${sent ? 'write/read' : 'read'} ${rel}: Success`));
    sock.on('data', (chunk: Buffer) => {
      data += chunk.toString('latin1');
      const groups = attrGroups(data);
      if (!sent && groups.length >= 1) {
        if (groups[0]!.get('protocol') !== proto) return done(-1, `read ${rel}: Success`);
        sent = true;
        sock.write(attrPrint0(attrs));
      }
      if (sent && groups.length >= 2) {
        const status = groups[1]!.get('status');
        if (status === undefined || !/^-?\d+$/.test(status)) return done(-1, `write/read ${rel}: Success`);
        done(Number(status));
      }
    });
  });
}
