// smtp(8)'s dialogue against the scripted peer (test/lib/scripted-smtp.ts),
// in-process: the agent serves one request for the two-recipient fixture
// message (test/delivery/agent-harness.ts) to [127.0.0.1]:PORT, and the
// test compares what the peer received, the log lines and the reply. The
// whole-daemon comparison with Postfix is test/e2e/smtp-replay.test.ts.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { after, test } from 'node:test';
import { Config } from '../../src/config/config.js';
import { encodeRequest } from '../../src/delivery/api.js';
import type { HopFinder, LookupEntry } from '../../src/delivery/smtp/connect.js';
import { smtpAgent } from '../../src/delivery/smtp/smtp.js';
import { type PeerScript, ScriptedPeer } from '../lib/scripted-smtp.js';
import { STATS, exchange, options, queueWithMessage, recipientStates, request } from './agent-harness.js';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

function hopsTo(port: number): HopFinder {
  return {
    async *lookups(): AsyncIterable<LookupEntry> {
      yield {
        destination: { dest: `[127.0.0.1]:${port}`, domain: '127.0.0.1', port, fallback: false, first: true },
        hosts: [{ name: '127.0.0.1', addr: '127.0.0.1', family: 4, pref: 0, port }],
        final: true,
      };
    },
    leftover: (why) => ({ failure: why ?? { status: '4.3.0', reason: 'server unavailable or unable to receive mail' } }),
  };
}

interface Run {
  lines: string[];
  replies: string[];
  states: string[];
  peer: ScriptedPeer | null;
}

async function deliver(script: PeerScript | null, settings: Array<[string, string]> = [], port?: number): Promise<Run> {
  const q = queueWithMessage();
  dirs.push(q.dir);
  const peer = script ? await ScriptedPeer.start(script) : null;
  const target = port ?? peer!.port;
  const config = Config.fromEntries(q.dir, [['myhostname', 'client.example.com'], ...settings]);
  const lines: string[] = [];
  const opts = options(q.dir, lines, 'postfix/smtp');
  const agent = smtpAgent({ config, log: opts.log, service: 'smtp', lmtp: false, hops: hopsTo(target) });
  const req = request({ nexthop: `[127.0.0.1]:${target}`, dataOffset: 781, dataSize: 325, stats: { ...STATS } });
  const ex = await exchange(agent.handle, opts, `${encodeRequest(req)}\n`, 1);
  agent.close();
  if (peer) {
    await peer.closedSessions(peer.sessions.length);
    await peer.stop();
  }
  return { lines: lines.map((l) => l.replace(`127.0.0.1]:${target}`, '127.0.0.1]:PORT').replace(/delay=[\d.]+, delays=[\d./]+/, 'DELAYS')), replies: ex.replies, states: recipientStates(q.file), peer };
}

const SENT = (n: string) => `postfix/smtp[42]: 865E820E9C9: to=<alice@mx.example.com>${n}, relay=127.0.0.1[127.0.0.1]:PORT, DELAYS, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as PEERQ1)`;

test('a pipelined transaction: both recipients sent, the peer got the message with dot-stuffing and CRLF', async () => {
  const r = await deliver({});
  const s = r.peer!.sessions[0]!;
  assert.deepEqual(s.commands.slice(0, 5), [
    'EHLO client.example.com',
    'MAIL FROM:<sender@example.com> SIZE=325 BODY=7BIT',
    'RCPT TO:<alice@mx.example.com> ORCPT=rfc822;alice@mx.example.com',
    'RCPT TO:<alice@mx.example.com> ORCPT=rfc822;known@valias.example',
    'DATA',
  ]);
  assert.equal(s.commands[6], 'QUIT');
  assert.match(s.messages[0]!, /\r\n$/);
  assert.deepEqual(r.lines.filter((l) => l.includes('status=')), [SENT(''), SENT(', orig_to=<known@valias.example>')]);
  assert.deepEqual(r.replies, ['{"status":0}']);
  assert.deepEqual(r.states, ['done', 'done']);
});

test('refused recipients bounce; without an accepted one the transaction ends with RSET', async () => {
  const r2 = await deliver({ rcpt: '550 5.1.1 <alice@mx.example.com>: Recipient address rejected: User unknown' });
  const lines = r2.lines.filter((l) => l.includes('status='));
  assert.equal(lines.length, 2);
  assert.match(lines[0]!, /dsn=5\.1\.1, status=bounced \(host 127\.0\.0\.1\[127\.0\.0\.1\] said: 550 5\.1\.1 <alice@mx\.example\.com>: Recipient address rejected: User unknown \(in reply to RCPT TO command\)\)$/);
  assert.deepEqual(r2.peer!.sessions[0]!.commands.slice(-2), ['RSET', 'QUIT']);
});

test('connection refused defers both with relay=none and a hop status', async () => {
  const free = await new Promise<number>((resolve) => {
    const srv = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(p));
    });
  });
  const r = await deliver(null, [], free);
  assert.equal(r.lines[0], 'postfix/smtp[42]: connect to 127.0.0.1[127.0.0.1]:PORT: Connection refused');
  assert.match(r.lines[1]!, /relay=none, .*dsn=4\.4\.1, status=deferred \(connect to 127\.0\.0\.1\[127\.0\.0\.1\]:PORT: Connection refused\)$/);
  assert.match(r.replies[0]!, /"hopStatus":\{"status":"4.4.1"/);
});

test('a silent server times out during the greeting', async () => {
  const r = await deliver({ greeting: 'hang' }, [['smtp_helo_timeout', '1s']]);
  assert.match(r.lines.at(-1)!, /status=deferred \(conversation with 127\.0\.0\.1\[127\.0\.0\.1\] timed out while receiving the initial server greeting\)$/);
});

test('a server that hangs up after the final dot: message may be sent more than once', async () => {
  const r = await deliver({ dot: 'close' });
  assert.match(r.lines.at(-1)!, /dsn=4\.4\.2, status=deferred \(lost connection with 127\.0\.0\.1\[127\.0\.0\.1\] while sending end of data -- message may be sent more than once\)$/);
});
