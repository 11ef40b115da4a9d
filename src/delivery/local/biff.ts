// Mirrors Postfix's local/biff_notify.c: after a delivery to an mbox, the
// comsat service (biff/udp on localhost, port 512 unless /etc/services says
// otherwise) is told "user@offset", the offset being where the new message
// starts, with a terminating NUL. Fire and forget: a failure is a warning.
import * as dgram from 'node:dgram';
import { readFileSync } from 'node:fs';

/** getservbyname("biff", "udp"): from /etc/services; the well-known port when there is no such file. */
function biffPort(): number | null {
  let text: string;
  try {
    text = readFileSync('/etc/services', 'latin1');
  } catch {
    return 512;
  }
  const m = /^biff\s+([0-9]+)\/udp\b/m.exec(text);
  return m ? Number(m[1]) : null;
}

export function biffNotify(logname: string, offset: number, warn: (text: string) => void): void {
  const port = biffPort();
  if (port === null) {
    warn('service not found: biff/udp');
    return;
  }
  const sock = dgram.createSocket('udp4');
  sock.on('error', (e) => {
    warn(`biff_notify: ${e.message}`);
    sock.close();
  });
  sock.send(Buffer.from(`${logname}@${offset}\0`, 'latin1'), port, '127.0.0.1', (e) => {
    if (e) warn(`biff_notify: ${e.message}`);
    sock.close();
  });
}
