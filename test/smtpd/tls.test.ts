// Real TLS sessions (the scripted fixtures cannot speak TLS): STARTTLS on a
// "may" port, mail refused before STARTTLS on an "encrypt" port, and
// wrapper mode. The expected transcripts are what Postfix 3.7.11 answered
// on the same configuration (test/smtpd/fixtures/18-tls; run this file with
// TLS_AGAINST_POSTFIX=1 to see Postfix's transcripts again).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import * as path from 'node:path';
import * as tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { namespaceReady, runInNamespace, whyNoNamespace } from '../lib/netns.js';
import { startDaemon } from '../lib/daemon.js';
import { startFixture } from './harness.js';
import { extraFixtureRoot } from './record.js';

/** Reads complete replies from a socket. */
class Replies {
  private buf = '';
  private waiter: (() => void) | null = null;
  private sock!: net.Socket;
  constructor(sock: net.Socket) {
    this.use(sock);
  }
  use(sock: net.Socket): void {
    this.sock?.removeAllListeners('data');
    this.sock = sock;
    sock.on('data', (d: Buffer) => {
      this.buf += d.toString('latin1');
      this.waiter?.();
    });
  }
  async next(): Promise<string> {
    for (;;) {
      const m = /^(?:\d{3}-[^\n]*\n)*\d{3}(?: [^\n]*)?\n/.exec(this.buf);
      if (m) {
        this.buf = this.buf.slice(m[0].length);
        return m[0];
      }
      await new Promise<void>((r) => (this.waiter = r));
    }
  }
}

async function exchange(r: Replies, sock: net.Socket, line: string, out: string[]): Promise<void> {
  sock.write(line + '\r\n');
  out.push(`> ${line}`, (await r.next()).trimEnd());
}

/** STARTTLS, then a message inside TLS. */
async function starttlsSession(port: number): Promise<string[]> {
  const out: string[] = [];
  const plain = net.connect({ port, host: '127.0.0.1', localAddress: '127.0.1.5' });
  const r = new Replies(plain);
  out.push((await r.next()).trimEnd());
  await exchange(r, plain, 'EHLO client.example', out);
  await exchange(r, plain, 'STARTTLS', out);
  const secure = tls.connect({ socket: plain, rejectUnauthorized: false, servername: 'mx.example.com' });
  await new Promise<void>((res) => secure.once('secureConnect', () => res()));
  r.use(secure);
  await exchange(r, secure, 'STARTTLS', out);
  await exchange(r, secure, 'EHLO client.example', out);
  await exchange(r, secure, 'STARTTLS', out);
  await exchange(r, secure, 'MAIL FROM:<a@example.org>', out);
  await exchange(r, secure, 'RCPT TO:<root@mx.example.com>', out);
  await exchange(r, secure, 'DATA', out);
  secure.write('Subject: tls\r\n\r\nhello\r\n.\r\n');
  out.push((await r.next()).trimEnd().replace(/queued as \S+/, 'queued as @QID@'));
  await exchange(r, secure, 'QUIT', out);
  secure.destroy();
  return out;
}

/** Mail before STARTTLS on a port that requires TLS, then after it. */
async function encryptSession(port: number): Promise<string[]> {
  const out: string[] = [];
  const plain = net.connect({ port, host: '127.0.0.1', localAddress: '127.0.1.5' });
  const r = new Replies(plain);
  out.push((await r.next()).trimEnd());
  await exchange(r, plain, 'HELO client.example', out);
  await exchange(r, plain, 'MAIL FROM:<a@example.org>', out);
  await exchange(r, plain, 'STARTTLS', out);
  const secure = tls.connect({ socket: plain, rejectUnauthorized: false });
  await new Promise<void>((res) => secure.once('secureConnect', () => res()));
  r.use(secure);
  await exchange(r, secure, 'MAIL FROM:<a@example.org>', out);
  await exchange(r, secure, 'QUIT', out);
  secure.destroy();
  return out;
}

/** smtps: TLS from the first byte. */
async function wrapperSession(port: number): Promise<string[]> {
  const out: string[] = [];
  const secure = tls.connect({ socket: net.connect({ port, host: '127.0.0.1', localAddress: '127.0.1.5' }), rejectUnauthorized: false });
  const r = new Replies(secure);
  out.push((await r.next()).trimEnd());
  await exchange(r, secure, 'EHLO client.example', out);
  await exchange(r, secure, 'QUIT', out);
  secure.destroy();
  return out;
}

const EHLO_PLAIN = '250-mx.example.com\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-VRFY\r\n250-ETRN\r\n250-STARTTLS\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n250-SMTPUTF8\r\n250 CHUNKING';
const EHLO_TLS = EHLO_PLAIN.replace('250-STARTTLS\r\n', '');

const EXPECTED = {
  starttls: [
    '220 mx.example.com ESMTP Postfix', '> EHLO client.example', EHLO_PLAIN, '> STARTTLS', '220 2.0.0 Ready to start TLS',
    '> STARTTLS', '554 5.5.1 Error: TLS already active', '> EHLO client.example', EHLO_TLS,
    '> STARTTLS', '554 5.5.1 Error: TLS already active',
    '> MAIL FROM:<a@example.org>', '250 2.1.0 Ok', '> RCPT TO:<root@mx.example.com>', '250 2.1.5 Ok',
    '> DATA', '354 End data with <CR><LF>.<CR><LF>', '250 2.0.0 Ok: queued as @QID@', '> QUIT', '221 2.0.0 Bye',
  ],
  encrypt: [
    '220 mx.example.com ESMTP Postfix', '> HELO client.example', '250 mx.example.com',
    '> MAIL FROM:<a@example.org>', '530 5.7.0 Must issue a STARTTLS command first',
    '> STARTTLS', '220 2.0.0 Ready to start TLS', '> MAIL FROM:<a@example.org>', '250 2.1.0 Ok', '> QUIT', '221 2.0.0 Bye',
  ],
  wrapper: ['220 mx.example.com ESMTP Postfix', '> EHLO client.example', EHLO_TLS, '> QUIT', '221 2.0.0 Bye'],
};

async function runAll(): Promise<Record<string, string[]>> {
  return {
    starttls: await starttlsSession(11825),
    encrypt: await encryptSession(11826),
    wrapper: await wrapperSession(11828),
  };
}

const fixture = path.join(extraFixtureRoot(), '18-tls');
const why = whyNoNamespace();
if (namespaceReady()) {
  if (process.env.TLS_AGAINST_POSTFIX) {
    test('TLS sessions against Postfix 3.7.11', { timeout: 120000 }, async () => {
      const d = await startDaemon('postfix', fixture);
      try {
        const got = await runAll();
        console.log(JSON.stringify(got, null, 1));
        assert.deepEqual(got, EXPECTED);
      } finally {
        await d.stop();
      }
    });
  }
  test('TLS sessions (STARTTLS, encrypt, wrapper mode)', { timeout: 60000 }, async () => {
    const fx = await startFixture(fixture);
    try {
      assert.deepEqual(await runAll(), EXPECTED);
      const received = fx.cleanup.messages.at(-1)!.records.filter(([t]) => t === 'N').map(([, d]) => d);
      assert.match(received[1] ?? '', /^\tby mx\.example\.com \(Postfix\) with ESMTPS id /);
    } finally {
      await fx.stop();
    }
  });
} else if (why === null) {
  test('smtpd TLS (in a private network namespace)', { timeout: 300000 }, async () => {
    const r = await runInNamespace([process.execPath, '--test', fileURLToPath(import.meta.url)], { echo: !!process.env.TLS_AGAINST_POSTFIX });
    assert.equal(r.status, 0, r.stdout + r.stderr);
  });
} else {
  test('smtpd TLS', { skip: why }, () => undefined);
}
