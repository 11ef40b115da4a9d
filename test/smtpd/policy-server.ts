// A scripted policy server (Postfix's policy delegation protocol) for the
// smtpd fixtures: it answers by the recipient's localpart and the protocol
// state, and keeps every request it received so that the requests of real
// Postfix and of this project can be compared attribute by attribute.
import * as net from 'node:net';

export type PolicyRequest = Array<[string, string]>;

/** The action for a request. */
function decide(req: Map<string, string>): string | null {
  const state = req.get('protocol_state') ?? '';
  const rcpt = req.get('recipient') ?? '';
  const sender = req.get('sender') ?? '';
  const local = rcpt.split('@')[0] ?? '';
  if (state === 'END-OF-MESSAGE') return sender.startsWith('eod@') ? 'REJECT end of data refused' : 'DUNNO';
  if (state === 'DATA') return sender.startsWith('data@') ? '451 4.7.1 try data later' : 'DUNNO';
  if (state === 'ETRN') return req.get('etrn_domain') === 'no.example' ? 'REJECT no flush' : 'DUNNO';
  switch (local) {
    case 'reject': return 'REJECT policy says no';
    case 'defer': return 'DEFER_IF_PERMIT policy defer';
    case 'code': return '550 5.7.1 custom code';
    case 'prepend': return 'PREPEND X-Policy: yes';
    case 'hold': return 'HOLD held by policy';
    case 'ok': return 'OK';
    case 'garbage': return 'bogus_restriction';
    case 'noaction': return null;
    case 'warn': return 'WARN policy warning';
    default: return 'DUNNO';
  }
}

export interface PolicyServer {
  requests: PolicyRequest[];
  close(): Promise<void>;
}

export async function startPolicyServer(port: number): Promise<PolicyServer> {
  const requests: PolicyRequest[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => undefined);
    let buf = '';
    sock.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      for (;;) {
        const end = buf.indexOf('\n\n');
        if (end < 0) break;
        const block = buf.slice(0, end);
        buf = buf.slice(end + 2);
        const attrs: PolicyRequest = block.split('\n').map((l) => {
          const eq = l.indexOf('=');
          return [l.slice(0, eq), l.slice(eq + 1)];
        });
        requests.push(attrs);
        const action = decide(new Map(attrs));
        sock.write(Buffer.from(action === null ? 'foo=bar\n\n' : `action=${action}\n\n`, 'latin1'));
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return {
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A request without what differs per run (client port, queue ID, instance). */
export function normalizeRequest(req: PolicyRequest): PolicyRequest {
  return req.map(([k, v]) => {
    if (k === 'client_port') return [k, '@N@'];
    if (k === 'queue_id' && v !== '') return [k, '@QID@'];
    if (k === 'instance' && v !== '') return [k, '@INSTANCE@'];
    return [k, v];
  });
}
