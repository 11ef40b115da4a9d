// Mirrors the client half of Postfix's qmgr/qmgr_deliver.c and the
// connection set-up of qmgr_transport.c (qmgr_transport_alloc): a delivery
// request goes to the transport's master.cf service, the unix socket
// private/<transport> under queue_directory, as one line (delivery/api.ts),
// and one reply line comes back. By default each request has its own
// connection, as Postfix's qmgr does: an agent service's process_limit
// counts connections, and an idle connection kept for reuse would hold one
// of its slots while other requests wait (maxIdlePerTransport > 0 keeps
// some for reuse where the agent is not so limited). Failures
// are values: "unreachable" (no agent to connect to) or "crash" (the agent
// went away or talked nonsense before it replied). Touches only sockets.
import * as net from 'node:net';
import * as path from 'node:path';
import { errnoText } from '../util/errno.js';
import { type DeliveryReply, type DeliveryRequest, MAX_LINE_BYTES, decodeReply, encodeRequest } from '../delivery/api.js';

export type AgentResult =
  | { kind: 'reply'; reply: DeliveryReply }
  | { kind: 'unreachable'; error: string }
  | { kind: 'crash'; error: string };

/** How qmgr reaches agents; tests may supply their own. */
export interface AgentClient {
  deliver(transport: string, req: DeliveryRequest): Promise<AgentResult>;
  close(): void;
}

/** One connection to one agent, one request at a time. */
class AgentConnection {
  private buf: Buffer[] = [];
  private buffered = 0;
  private waiter: ((r: AgentResult) => void) | null = null;
  closed = false;

  constructor(readonly socket: net.Socket, readonly where: string) {
    socket.on('data', (d: Buffer) => this.onData(d));
    socket.on('error', (e) => this.end(`${where}: ${e.message}`));
    socket.on('close', () => this.end(`${where}: premature disconnect`));
  }

  private onData(d: Buffer): void {
    this.buf.push(d);
    this.buffered += d.length;
    const nl = d.indexOf(10);
    if (nl < 0) {
      if (this.buffered > MAX_LINE_BYTES) this.fail(`${this.where}: malformed response`);
      return;
    }
    const all = Buffer.concat(this.buf);
    const at = all.indexOf(10);
    const line = all.subarray(0, at).toString('utf8');
    const rest = all.subarray(at + 1);
    this.buf = rest.length ? [rest] : [];
    this.buffered = rest.length;
    const reply = decodeReply(line);
    const w = this.waiter;
    this.waiter = null;
    if (reply === null) {
      this.fail(`${this.where}: malformed response`);
      w?.({ kind: 'crash', error: `${this.where}: malformed response` });
      return;
    }
    w?.({ kind: 'reply', reply });
  }

  private fail(error: string): void {
    this.socket.destroy();
    this.end(error);
  }

  private end(error: string): void {
    this.closed = true;
    const w = this.waiter;
    this.waiter = null;
    w?.({ kind: 'crash', error });
  }

  send(req: DeliveryRequest): Promise<AgentResult> {
    return new Promise((resolve) => {
      if (this.closed) return resolve({ kind: 'crash', error: `${this.where}: premature disconnect` });
      this.waiter = resolve;
      this.socket.ref();
      this.socket.write(encodeRequest(req) + '\n');
    });
  }
}

/** How long a refused connect is retried, and how often. */
const CONNECT_RETRY_MS = 5000;
const CONNECT_RETRY_STEP_MS = 100;

/** Connections to the agents' unix sockets under queue_directory/private. */
export class SocketAgentClient implements AgentClient {
  private readonly idle = new Map<string, AgentConnection[]>();
  private readonly all = new Set<AgentConnection>();
  private closing = false;

  constructor(readonly queueDir: string, readonly maxIdlePerTransport = 0) {}

  private connect(transport: string): Promise<AgentConnection | { error: string }> {
    const rel = `private/${transport}`;
    return new Promise((resolve) => {
      const socket = net.createConnection(path.join(this.queueDir, rel));
      const onError = (e: Error) => resolve({ error: `connect to transport ${rel}: ${errnoText(e as NodeJS.ErrnoException)}` });
      socket.once('error', onError);
      socket.once('connect', () => {
        socket.off('error', onError);
        const c = new AgentConnection(socket, rel);
        this.all.add(c);
        socket.once('close', () => this.all.delete(c));
        resolve(c);
      });
    });
  }

  async deliver(transport: string, req: DeliveryRequest): Promise<AgentResult> {
    const pool = this.idle.get(transport) ?? [];
    let conn: AgentConnection | undefined;
    while ((conn = pool.pop()) !== undefined && conn.closed);
    // A kept connection may have been closed by the agent meanwhile: a
    // crash on a reused connection is retried once on a fresh one.
    if (conn !== undefined) {
      const r = await conn.send(req);
      if (r.kind !== 'crash' || !conn.closed) return this.keep(transport, conn, r);
    }
    let fresh = await this.connect(transport);
    // The master makes the socket before the agent's process listens on it:
    // right after a start or a restart a connect can be refused for a moment,
    // where Postfix's client would wait in the listen queue. Try again for a
    // while before calling the transport unavailable.
    for (let waited = 0; 'error' in fresh && waited < CONNECT_RETRY_MS && !this.closing; waited += CONNECT_RETRY_STEP_MS) {
      await new Promise((r) => setTimeout(r, CONNECT_RETRY_STEP_MS));
      fresh = await this.connect(transport);
    }
    if ('error' in fresh) return { kind: 'unreachable', error: fresh.error };
    return this.keep(transport, fresh, await fresh.send(req));
  }

  private keep(transport: string, conn: AgentConnection, r: AgentResult): AgentResult {
    if (r.kind === 'reply' && !conn.closed) {
      const pool = this.idle.get(transport) ?? [];
      if (pool.length < this.maxIdlePerTransport) {
        pool.push(conn);
        this.idle.set(transport, pool);
        conn.socket.unref();
        return r;
      }
    }
    conn.socket.destroy();
    return r;
  }

  close(): void {
    this.closing = true;
    for (const c of this.all) c.socket.destroy();
    this.all.clear();
    this.idle.clear();
  }
}
