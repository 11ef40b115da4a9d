// The agent side of the qmgr protocol: requests in turn on one connection,
// the queue file open for the handler and closed after, a missing queue
// file deferred, garbage and overlong lines ending the connection with a
// warning, a vanished peer not cutting a delivery short, deliverEach's fold.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { QueueHandle } from '../../src/queue/handle.js';
import * as net from 'node:net';
import * as path from 'node:path';
import { type AgentHandler, deliverEach, serveAgentConnection } from '../../src/delivery/agent.js';
import * as api from '../../src/delivery/api.js';
import { deferRecipient, sentRecipient } from '../../src/queue/delivery-status.js';
import { tempDir } from '../lib/tmp.js';
import { QID, TIMES, exchange, lines, options, queueWithMessage, recipientStates, request } from './agent-harness.js';

test('two requests on one connection: one reply line each, in order, the file closed after each', async () => {
  const q = queueWithMessage();
  const log: string[] = [];
  const seen: Array<{ nexthop: string; fh: QueueHandle; same: boolean }> = [];
  const handler: AgentHandler = async (d) => {
    seen.push({ nexthop: d.request.nexthop, fh: d.fh, same: d.status.fh === d.fh });
    const st = await d.fh.stat();
    assert.ok(st.size > 0);
    return d.request.nexthop === 'a' ? { status: api.DEL_STAT_FINAL } : { status: api.DEL_STAT_DEFER, hopStatus: { status: '4.4.1', reason: 'down' } };
  };
  const x = await exchange(handler, options(q.dir, log, 'postfix/test'), lines(request({ nexthop: 'a' }), request({ nexthop: 'b' })), 2);
  assert.deepEqual(x.replies, ['{"status":0}', '{"status":1,"hopStatus":{"status":"4.4.1","reason":"down"}}']);
  assert.deepEqual(seen.map((s) => [s.nexthop, s.same]), [['a', true], ['b', true]]);
  // Closed: a closed handle has fd -1.
  for (const s of seen) assert.equal(s.fh.fd, -1);
  assert.deepEqual(log, []);
});

test('a missing queue file: warning and a deferral, the handler is not called', async () => {
  const q = queueWithMessage();
  const log: string[] = [];
  let called = false;
  const handler: AgentHandler = async () => {
    called = true;
    return { status: api.DEL_STAT_FINAL };
  };
  const x = await exchange(handler, options(q.dir, log, 'postfix/test'), lines(request({ queueId: 'ABCDEF12345' })), 1);
  assert.deepEqual(x.replies, ['{"status":1}']);
  assert.equal(called, false);
  assert.deepEqual(log, ['postfix/test[42]: warning: ABCDEF12345: open active ABCDEF12345: No such file or directory']);
});

test('a handler that throws defers the request and the connection goes on', async () => {
  const q = queueWithMessage();
  const log: string[] = [];
  let n = 0;
  const handler: AgentHandler = async () => {
    if (n++ === 0) throw new Error('boom');
    return { status: api.DEL_STAT_FINAL };
  };
  const x = await exchange(handler, options(q.dir, log, 'postfix/test'), lines(request(), request()), 2);
  assert.deepEqual(x.replies, ['{"status":1}', '{"status":0}']);
  assert.deepEqual(log, [`postfix/test[42]: warning: ${QID}: delivery failed: boom`]);
});

test('a line that is not a request: warning, the connection is closed', async () => {
  const q = queueWithMessage();
  const log: string[] = [];
  const handler: AgentHandler = async () => ({ status: api.DEL_STAT_FINAL });
  const x = await exchange(handler, options(q.dir, log, 'postfix/test'), 'hello there\n', 0);
  assert.deepEqual(x.replies, []);
  assert.equal(x.closedByAgent, true);
  assert.equal(log.length, 1);
  assert.match(log[0]!, /^postfix\/test\[42\]: warning: malformed delivery request from .*: hello there$/);
});

test('a line longer than MAX_LINE_BYTES: warning, the connection is closed', async () => {
  const q = queueWithMessage();
  const log: string[] = [];
  const handler: AgentHandler = async () => ({ status: api.DEL_STAT_FINAL });
  const x = await exchange(handler, options(q.dir, log, 'postfix/test'), Buffer.alloc(api.MAX_LINE_BYTES + 10, 0x61), 0);
  assert.deepEqual(x.replies, []);
  assert.equal(log.length, 1);
  assert.match(log[0]!, /^postfix\/test\[42\]: warning: request from .* exceeds 16777216 bytes$/);
});

test('a peer that goes away mid-request: the delivery finishes, the reply is dropped', async () => {
  const q = queueWithMessage();
  const log: string[] = [];
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let started!: () => void;
  const begun = new Promise<void>((r) => (started = r));
  const handler: AgentHandler = (d) => {
    started();
    return deliverEach(d, async (rcpt) => {
      await gate;
      return sentRecipient(d.status, rcpt, 'none', { status: '2.0.0', reason: 'kept' });
    });
  };
  const sock = path.join(tempDir('agent-sock-'), 's');
  let conn: ReturnType<typeof serveAgentConnection> | undefined;
  const server = net.createServer((s) => {
    conn = serveAgentConnection(s, handler, options(q.dir, log, 'postfix/test'));
  });
  await new Promise<void>((r) => server.listen(sock, r));
  const client = net.connect(sock);
  client.write(lines(request()));
  await begun;
  const gone = new Promise<void>((r) => server.close(() => r()));
  client.destroy();
  await gone;
  let idle = false;
  const idled = conn!.idle().then(() => (idle = true));
  await new Promise((r) => setImmediate(r));
  assert.equal(idle, false, 'a delivery is in progress');
  release();
  await idled;
  await conn!.done;
  await conn!.idle();
  assert.deepEqual(recipientStates(q.file), ['done', 'done']);
  assert.equal(log.length, 2);
  assert.equal(log[0], `postfix/test[42]: ${QID}: to=<alice@mx.example.com>, relay=none, ${TIMES}, dsn=2.0.0, status=sent (kept)`);
});

test('deliverEach: FINAL only when no recipient was deferred', async () => {
  const q = queueWithMessage();
  const log: string[] = [];
  const handler: AgentHandler = (d) => deliverEach(d, (rcpt, i) => (i === 0
    ? sentRecipient(d.status, rcpt, 'none', { status: '2.0.0', reason: 'ok' })
    : deferRecipient(d.status, rcpt, 'none', { status: '4.0.0', reason: 'later' })));
  const x = await exchange(handler, options(q.dir, log, 'postfix/test'), lines(request()), 1);
  assert.deepEqual(x.replies, ['{"status":1}']);
  assert.deepEqual(recipientStates(q.file), ['done', 'pending']);
  assert.deepEqual(log, [
    `postfix/test[42]: ${QID}: to=<alice@mx.example.com>, relay=none, ${TIMES}, dsn=2.0.0, status=sent (ok)`,
    `postfix/test[42]: ${QID}: to=<alice@mx.example.com>, orig_to=<known@valias.example>, relay=none, ${TIMES}, dsn=4.0.0, status=deferred (later)`,
  ]);
});
