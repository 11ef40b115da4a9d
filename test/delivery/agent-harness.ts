// What the agent tests share: a queue directory holding a two-recipient
// message in active/ (fixtures/queue/865E820E9C9.qf), a request for it,
// agent options with a fixed clock, and a qmgr stand-in that sends request
// lines over a unix socket and collects the reply lines.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { type AgentConnection, type AgentHandler, type AgentOptions, serveAgentConnection } from '../../src/delivery/agent.js';
import * as api from '../../src/delivery/api.js';
import { createLogger, memorySink } from '../../src/log/logger.js';
import { DEFAULT_LAYOUT } from '../../src/queue/layout.js';
import { readQueueFileSync } from '../../src/queue/reader.js';
import { encodeRecord } from '../../src/queue/record.js';
import { REC_TYPE } from '../../src/queue/rec-type.js';
import { repoRoot } from '../lib/cases.js';
import { tempDir } from '../lib/tmp.js';

export const QID = '865E820E9C9';
/** The recipients' record offsets in the fixture. */
export const OFFSETS = [670, 757];
export const STATS: api.MsgStats = {
  incomingArrival: { sec: 1000, usec: 0 },
  activeArrival: { sec: 1000, usec: 500000 },
  agentHandoff: { sec: 1001, usec: 0 },
  connSetupDone: api.NO_TIME,
  deliverDone: api.NO_TIME,
  reuseCount: 0,
};
/** The delay fields of a line logged at NOW with STATS. */
export const TIMES = 'delay=3.3, delays=0.5/0.5/0/2.3';
const NOW = { sec: 1003, usec: 250000 };

export interface QueueSetup {
  dir: string;
  file: string;
}

export function queueWithMessage(): QueueSetup {
  const dir = tempDir('agent-');
  fs.mkdirSync(path.join(dir, 'active'));
  const file = path.join(dir, 'active', QID);
  fs.copyFileSync(path.join(repoRoot(), 'fixtures', 'queue', `${QID}.qf`), file);
  return { dir, file };
}

/**
 * A bare queue file at active/<qid> under queueDir: time, sender, an O and an
 * R record per recipient, the content lines, X, E. The request's
 * recipients (orcpt = address) and the data offset come back with it.
 */
export function writeQueueFile(queueDir: string, rcpts: string[], body: string[], sender: string, qid = QID): { file: string; dataOffset: number; recipients: api.DeliveryRecipient[] } {
  fs.mkdirSync(path.join(queueDir, 'active'), { recursive: true });
  const parts: Buffer[] = [encodeRecord(REC_TYPE.TIME, '1000 0'), encodeRecord(REC_TYPE.FROM, sender)];
  let offset = parts.reduce((n, b) => n + b.length, 0);
  const recipients: api.DeliveryRecipient[] = [];
  for (const r of rcpts) {
    const o = encodeRecord(REC_TYPE.ORCP, r);
    parts.push(o);
    offset += o.length;
    const rec = encodeRecord(REC_TYPE.RCPT, r);
    recipients.push({ address: r, orcpt: r, dsnOrcpt: '', notify: 0, offset });
    parts.push(rec);
    offset += rec.length;
  }
  const m = encodeRecord(REC_TYPE.MESG, '');
  parts.push(m);
  const dataOffset = offset + m.length;
  for (const l of body) parts.push(encodeRecord(REC_TYPE.NORM, l));
  parts.push(encodeRecord(REC_TYPE.XTRA, ''), encodeRecord(REC_TYPE.END, ''));
  const file = path.join(queueDir, 'active', qid);
  fs.writeFileSync(file, Buffer.concat(parts), { mode: 0o700 });
  return { file, dataOffset, recipients };
}

export function recipientStates(file: string): string[] {
  const r = readQueueFileSync(file);
  if (!r.ok) throw new Error(`unreadable ${file}`);
  return r.file.recipients.map((x) => x.status);
}

export function request(over: Partial<api.DeliveryRequest> = {}): api.DeliveryRequest {
  return {
    flags: api.DEL_REQ_FLAG_DEFLT, queueName: 'active', queueId: QID, dataOffset: 0, dataSize: 0, nexthop: 'example.com',
    encoding: '7bit', smtputf8: 0, sender: 'sender@example.com', stats: STATS,
    recipients: [
      { address: 'alice@mx.example.com', orcpt: 'alice@mx.example.com', dsnOrcpt: '', notify: 0, offset: OFFSETS[0]! },
      { address: 'alice@mx.example.com', orcpt: 'known@valias.example', dsnOrcpt: '', notify: 0, offset: OFFSETS[1]! },
    ],
    clientName: 'localhost', clientAddr: '127.0.0.1', clientPort: '12345', clientProto: 'ESMTP', clientHelo: 'client.example.com',
    saslMethod: '', saslUsername: '', saslSender: '', logIdent: QID, rewriteContext: 'local', dsnEnvid: '', dsnRet: 0,
    ...over,
  };
}

export function options(dir: string, lines: string[], tag: string, over: Partial<AgentOptions> = {}): AgentOptions {
  return {
    log: createLogger(memorySink(lines), tag, 42), queueDir: dir, layout: DEFAULT_LAYOUT, softBounce: false, oldlogCompat: true,
    delayMaxRes: 2, infoLogAddressFormat: 'external', now: () => NOW, ...over,
  };
}

export interface Exchange {
  replies: string[];
  /** The agent side's connection object, done once the agent finished. */
  conn: AgentConnection;
  /** True when the agent closed the connection before the client did. */
  closedByAgent: boolean;
}

/**
 * Sends raw bytes as qmgr would, waits for `want` reply lines (or the
 * agent closing), ends the connection and waits for the agent to finish.
 */
export async function exchange(handler: AgentHandler, opts: AgentOptions, data: string | Buffer, want: number): Promise<Exchange> {
  const sock = path.join(tempDir('agent-sock-'), 's');
  let resolveConn!: (c: AgentConnection) => void;
  const accepted = new Promise<AgentConnection>((r) => (resolveConn = r));
  const server = net.createServer((s) => {
    server.close();
    resolveConn(serveAgentConnection(s, handler, opts));
  });
  await new Promise<void>((r) => server.listen(sock, r));
  const client = net.connect(sock);
  const replies: string[] = [];
  let closedByAgent = false;
  await new Promise<void>((resolve) => {
    let buf = '';
    client.on('data', (b) => {
      buf += b.toString('utf8');
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        replies.push(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
      }
      if (replies.length >= want) resolve();
    });
    client.on('error', () => resolve());
    client.on('end', () => {
      closedByAgent = true;
      resolve();
    });
    client.on('close', () => resolve());
    client.write(data);
  });
  client.end();
  const c = await accepted;
  await c.done;
  client.destroy();
  return { replies, conn: c, closedByAgent };
}

export const lines = (...reqs: api.DeliveryRequest[]) => reqs.map((r) => `${api.encodeRequest(r)}\n`).join('');

/** The fixture's maillog line for a queue ID placeholder and program. */
export function fixtureLine(fixture: string, program: string, qid: string): string {
  const text = fs.readFileSync(path.join(repoRoot(), 'fixtures', 'delivery', fixture, 'expected', 'maillog'), 'utf8');
  const line = text.split('\n').find((l) => l.startsWith(`postfix/${program}[@PID@]: ${qid}: `));
  assert.ok(line, `${fixture}: no ${program} line for ${qid}`);
  return line;
}

/** Our line with the fixture's placeholders. */
export function normalise(line: string, qid: string): string {
  return line
    .replace(/^(postfix\/[a-z]+)\[\d+\]/, '$1[@PID@]')
    .replace(new RegExp(`\\b${QID}\\b`, 'g'), qid)
    .replace(/delay=[0-9.]+, delays=[0-9.]+\/[0-9.]+\/[0-9.]+\/[0-9.]+/, 'delay=@D@, delays=@D@/@D@/@D@/@D@');
}

