// ETRN end to end on the running daemon (fixtures/e2e/flush): a message
// for flush.example is deferred (its next hop, 127.0.0.1:13299, does not
// answer yet) and its queue ID lands in flush/flush_example; then a peer
// starts listening there and the ETRN session recorded from Postfix
// 3.7.11 (fixtures/flush/flush.json) is replayed: every reply must be
// Postfix's, and the ETRN makes the message leave the queue at once
// (the back-off is an hour). FLUSH_E2E_KIND=postfix runs it against
// Postfix. Daemons run in a private network namespace.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { test } from 'node:test';
import { repoRoot } from '../lib/cases.js';
import { type DaemonKind, startDaemon } from '../lib/daemon.js';
import { namespaceReady, whyNoNamespace } from '../lib/netns.js';
import { testInNamespace } from '../lib/netns-test.js';
import { connect, ReplyReader } from '../master/smtp-load.js';
import type { FlushFixture } from '../../tools/record-flush.js';

const FIXTURE = path.join(repoRoot(), 'fixtures', 'e2e', 'flush');
const FX = JSON.parse(fs.readFileSync(path.join(repoRoot(), 'fixtures/flush/flush.json'), 'utf8')) as FlushFixture;
const KIND = (process.env.FLUSH_E2E_KIND ?? 'ours') as DaemonKind;
const PEER_PORT = 13299;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls cond every 50 ms (the daemon's log is the only event there is); fails after ms. */
async function until(what: string, ms: number, cond: () => boolean, detail: () => string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`${what}: not after ${ms / 1000}s\n${detail()}`);
    await sleep(50);
  }
}

/** An SMTP session: sends each line, returns each reply (the greeting first). */
async function session(port: number, lines: string[]): Promise<string[]> {
  const socket = await connect('127.0.0.1', port);
  if (!socket) throw new Error(`cannot connect to 127.0.0.1:${port}`);
  const reader = new ReplyReader(socket);
  const replies: string[] = [];
  try {
    replies.push((await reader.next()) ?? '[closed]');
    for (const line of lines) {
      socket.write(`${line}\r\n`);
      replies.push((await reader.next()) ?? '[closed]');
    }
  } finally {
    socket.destroy();
  }
  return replies;
}

/** A peer that accepts every message; resolves with the server once it listens. */
function acceptingPeer(received: string[]): Promise<net.Server> {
  const server = net.createServer((sock) => {
    let inData = false;
    let buf = '';
    sock.on('error', () => sock.destroy());
    sock.write('220 peer.flush.test ESMTP\r\n');
    sock.on('data', (b: Buffer) => {
      buf += b.toString('latin1');
      let nl: number;
      while ((nl = buf.indexOf('\r\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 2);
        if (inData) {
          if (line === '.') {
            inData = false;
            sock.write('250 2.0.0 Ok: queued\r\n');
          } else received.push(line);
        } else if (/^DATA/i.test(line)) {
          inData = true;
          sock.write('354 End data with <CR><LF>.<CR><LF>\r\n');
        } else if (/^QUIT/i.test(line)) sock.end('221 2.0.0 Bye\r\n');
        else if (/^EHLO/i.test(line)) sock.write('250-peer.flush.test\r\n250 8BITMIME\r\n');
        else sock.write('250 2.0.0 Ok\r\n');
      }
    });
  });
  return new Promise((resolve) => server.listen(PEER_PORT, '127.0.0.1', () => resolve(server)));
}

if (namespaceReady()) {
  test(`${KIND}: ETRN delivers a deferred message at once; the replies are Postfix's`, async () => {
    const d = await startDaemon(KIND, FIXTURE);
    let peer: net.Server | null = null;
    try {
      const port = d.ports[0]!;
      const body = await new Promise<string>((resolve, reject) => {
        const s = net.connect({ host: '127.0.0.1', port });
        const reader = new ReplyReader(s);
        void (async () => {
          await reader.next();
          for (const line of ['EHLO client.flush.test', 'MAIL FROM:<sender@flush.test>', 'RCPT TO:<someone@flush.example>', 'DATA']) {
            s.write(`${line}\r\n`);
            await reader.next();
          }
          s.write('Subject: etrn\r\n\r\nwaiting for ETRN\r\n.\r\n');
          const r = (await reader.next()) ?? '';
          s.end('QUIT\r\n');
          resolve(r);
        })().catch(reject);
      });
      const qid = /^250 2\.0\.0 Ok: queued as (\w+)/.exec(body)?.[1];
      assert.ok(qid, body);
      const deferred = new RegExp(`${qid}: to=<someone@flush\\.example>, relay=none, .*status=deferred`);
      await until('the deferral', 20_000, () => deferred.test(d.log()), d.log);
      const logfile = path.join(d.dir, 'spool', 'flush', 'flush_example');
      await until('the flush logfile', 5_000, () => fs.existsSync(logfile) && fs.readFileSync(logfile, 'latin1').includes(`${qid}\n`), d.log);
      // Written as mail_owner, mode 0600, as Postfix's unprivileged flush process writes it.
      const postfixUid = Number(fs.readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('postfix:'))?.split(':')[2]);
      const st = fs.statSync(logfile);
      assert.equal(st.mode & 0o777, 0o600);
      if (process.getuid?.() === 0) assert.equal(st.uid, postfixUid);
      // qmgr moves the message to deferred/ after the agent's reply: an ETRN
      // before that finds nothing to move (in Postfix too).
      const inDeferred = () => fs.readdirSync(path.join(d.dir, 'spool', 'deferred'), { recursive: true }).some((f) => String(f).endsWith(qid));
      await until('the message in deferred/', 5_000, inDeferred, d.log);
      const received: string[] = [];
      peer = await acceptingPeer(received);
      const replies = await session(port, FX.etrn.map((e) => e.send));
      assert.deepEqual(replies.slice(1), FX.etrn.map((e) => e.reply));
      const sentLine = new RegExp(`${qid}: to=<someone@flush\\.example>, relay=127\\.0\\.0\\.1\\[127\\.0\\.0\\.1\\]:${PEER_PORT}, .*status=sent`);
      await until('the delivery after ETRN', 20_000, () => sentLine.test(d.log()), d.log);
      assert.ok(received.includes('waiting for ETRN'), received.join('\n'));
      assert.match(d.log(), /postfix\/smtpd\[\d+\]: warning: reject: ETRN other\.example\.\.\. from localhost\[127\.0\.0\.1\]/);
    } finally {
      if (peer) await new Promise((r) => peer!.close(r));
      await d.stop();
    }
  });
} else {
  testInNamespace('ETRN end to end (flush service)', import.meta.url, whyNoNamespace);
}
