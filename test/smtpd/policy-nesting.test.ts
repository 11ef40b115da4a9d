// Two sessions of one smtpd process at once through check_policy_service
// with servers that are down, so each falls back to its default_action.
// Session A's default action is a restriction class that asks a slow
// policy server; session B's is a plain REJECT. Postfix counts the
// fallback per process (one session each), so that a default action which
// fails again gets the built-in "451 4.3.5 Server configuration problem";
// here the count must be per session, or B, arriving while A waits for the
// slow server, would wrongly get that 451 (as the old module-level counter
// gave it). Runs this project's smtpd in-process (harness.ts), in a private
// network namespace; the slow server answers A only after B's reply is in
// (events, no timers).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { repoRoot } from '../lib/cases.js';
import { namespaceReady, whyNoNamespace } from '../lib/netns.js';
import { testInNamespace } from '../lib/netns-test.js';
import { ReplyReader } from '../master/smtp-load.js';
import { startFixture } from './harness.js';

const FIXTURE = path.join(repoRoot(), 'fixtures', 'smtpd', '01-defaults');
/** Nothing listens on these: the first policy servers are down. */
const DOWN_A = 10191;
const DOWN_B = 10193;
const SLOW_PORT = 10192;

/** A policy server that holds every request until release(); it answers by recipient. */
async function slowPolicyServer(port: number): Promise<{ held: () => number; whenHeld: (n: number) => Promise<void>; release: () => void; close: () => Promise<void> }> {
  const pending: Array<() => void> = [];
  const waiters: Array<{ n: number; done: () => void }> = [];
  let released = false;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => undefined);
    let buf = '';
    sock.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      for (let end = buf.indexOf('\n\n'); end >= 0; end = buf.indexOf('\n\n')) {
        const rcpt = /(?:^|\n)recipient=([^\n]*)/.exec(buf.slice(0, end))?.[1] ?? '';
        buf = buf.slice(end + 2);
        const answer = () => sock.write(`action=REJECT slow answer for ${rcpt}\n\n`);
        if (released) answer();
        else pending.push(answer);
        for (const w of waiters.filter((x) => pending.length >= x.n)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.done();
        }
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return {
    held: () => pending.length,
    whenHeld: (n) => (pending.length >= n ? Promise.resolve() : new Promise((done) => waiters.push({ n, done }))),
    release: () => {
      released = true;
      pending.splice(0).forEach((a) => a());
    },
    close: () => new Promise((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
}

async function session(port: number, helo: string): Promise<{ cmd: (line: string) => Promise<string | null>; send: (line: string) => Promise<string | null>; socket: net.Socket }> {
  const socket = net.connect({ host: '127.0.0.1', port });
  socket.on('error', () => undefined);
  const reader = new ReplyReader(socket);
  assert.equal(await reader.next(), '220 mx.example.com ESMTP Postfix\r\n');
  const cmd = (line: string) => {
    socket.write(`${line}\r\n`);
    return reader.next();
  };
  assert.equal(await cmd(`HELO ${helo}`), '250 mx.example.com\r\n');
  assert.equal(await cmd('MAIL FROM:<s@example.org>'), '250 2.1.0 Ok\r\n');
  return { cmd, send: cmd, socket };
}

if (!namespaceReady()) {
  testInNamespace('policy default_action nesting per session (in a private network namespace)', import.meta.url, whyNoNamespace);
} else {
  test('two concurrent sessions falling back to a slow policy default each get their own answer', async () => {
    const fixture = fs.mkdtempSync(path.join(os.tmpdir(), 'policy-nesting-fixture-'));
    for (const f of fs.readdirSync(FIXTURE)) fs.copyFileSync(path.join(FIXTURE, f), path.join(fixture, f));
    fs.appendFileSync(path.join(fixture, 'main.cf'), [
      '',
      'smtpd_restriction_classes = class_a, class_b, slowpolicy',
      `class_a = check_policy_service { inet:127.0.0.1:${DOWN_A}, default_action=slowpolicy }`,
      `class_b = check_policy_service { inet:127.0.0.1:${DOWN_B}, default_action=REJECT }`,
      `slowpolicy = check_policy_service inet:127.0.0.1:${SLOW_PORT}`,
      'smtpd_recipient_restrictions = check_recipient_access inline:{alice@mx.example.com=class_a, bob@mx.example.com=class_b}, permit',
      '',
    ].join('\n'));
    const slow = await slowPolicyServer(SLOW_PORT);
    const running = await startFixture(fixture).finally(() => fs.rmSync(fixture, { recursive: true, force: true }));
    const sockets: net.Socket[] = [];
    try {
      const port = running.ports[0]!;
      const a = await session(port, 'a.example');
      sockets.push(a.socket);
      const b = await session(port, 'b.example');
      sockets.push(b.socket);
      const replyA = a.cmd('RCPT TO:<alice@mx.example.com>');
      // A is inside its default action, waiting for the slow server.
      await slow.whenHeld(1);
      // B's own fallback is answered while A still waits.
      const replyB = await b.cmd('RCPT TO:<bob@mx.example.com>');
      assert.equal(slow.held(), 1);
      assert.equal(replyB, '554 5.7.1 <bob@mx.example.com>: Recipient address rejected: Access denied\r\n');
      slow.release();
      assert.equal(await replyA, '554 5.7.1 <alice@mx.example.com>: Recipient address rejected: slow answer for alice@mx.example.com\r\n');
      assert.equal(await a.cmd('QUIT'), '221 2.0.0 Bye\r\n');
      assert.equal(await b.cmd('QUIT'), '221 2.0.0 Bye\r\n');
      a.socket.destroy();
      b.socket.destroy();
      assert.ok(!running.logLines.some((l) => l.includes('Server configuration problem')), running.logLines.join('\n'));
    } finally {
      // A failed assertion must not leave a session waiting for the slow server.
      slow.release();
      for (const s of sockets) s.destroy();
      await running.stop();
      await slow.close();
    }
  });
}
