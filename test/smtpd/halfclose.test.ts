// Clients that send their commands and shut down their side of the
// connection at once (a script piping into a socket, `printf ... | nc -N`):
// Postfix reads what they sent and answers it before it closes, even when
// the shutdown arrives before the greeting. The expected replies and log
// lines were recorded from Postfix 3.7.11 on fixtures/smtpd/01-defaults
// (the same script with kind 'postfix', in a private network namespace).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import * as path from 'node:path';
import { repoRoot } from '../lib/cases.js';
import { startDaemon } from '../lib/daemon.js';
import { namespaceReady, whyNoNamespace } from '../lib/netns.js';
import { testInNamespace } from '../lib/netns-test.js';

const EHLO = '250-mx.example.com\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-VRFY\r\n250-ETRN\r\n250-ENHANCEDSTATUSCODES\r\n'
  + '250-8BITMIME\r\n250-DSN\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n';
const GREETING = '220 mx.example.com ESMTP Postfix\r\n';

const CASES: Array<{ send: string; replies: string; log: string[] }> = [
  {
    send: 'QUIT\r\n',
    replies: `${GREETING}221 2.0.0 Bye\r\n`,
    log: ['improper command pipelining after CONNECT from localhost[127.0.0.1]: QUIT\\r\\n', 'disconnect from localhost[127.0.0.1] quit=1 commands=1'],
  },
  {
    send: 'EHLO client.example.com\r\nQUIT\r\n',
    replies: `${GREETING}${EHLO}221 2.0.0 Bye\r\n`,
    log: ['improper command pipelining after EHLO from localhost[127.0.0.1]: QUIT\\r\\n', 'disconnect from localhost[127.0.0.1] ehlo=1 quit=1 commands=2'],
  },
  {
    send: 'HELO a\r\nMAIL FROM:<a@example.org>\r\n',
    replies: `${GREETING}250 mx.example.com\r\n250 2.1.0 Ok\r\n`,
    log: [
      'improper command pipelining after HELO from localhost[127.0.0.1]: MAIL FROM:<a@example.org>\\r\\n',
      'lost connection after MAIL from localhost[127.0.0.1]',
      'disconnect from localhost[127.0.0.1] helo=1 mail=1 commands=2',
    ],
  },
  {
    send: '',
    replies: GREETING,
    log: ['lost connection after CONNECT from localhost[127.0.0.1]', 'disconnect from localhost[127.0.0.1] commands=0/0'],
  },
];

/** Connects, sends `payload` and shuts down the sending side at once; everything received until the server closes. */
function halfClose(port: number, payload: string): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    let text = '';
    s.on('connect', () => s.end(payload));
    s.on('data', (b) => (text += b.toString('latin1')));
    s.on('close', () => resolve(text));
    s.on('error', () => undefined);
  });
}

async function run(): Promise<void> {
  const d = await startDaemon('ours', path.join(repoRoot(), 'fixtures', 'smtpd', '01-defaults'));
  try {
    for (const c of CASES) {
      // Several times: the shutdown can arrive before or after the greeting is written.
      for (let i = 0; i < 5; i++) assert.equal(await halfClose(d.ports[0]!, c.send), c.replies, JSON.stringify(c.send));
    }
    const lines = () => d.log().split('\n').map((l) => l.replace(/^.*?postfix\/smtpd\[\d+\]: /, ''));
    for (const c of CASES) {
      for (const want of c.log) {
        // Which line a session logs depends on whether the client's bytes
        // arrive before the greeting is written: on a busy machine the five
        // sessions above may all fall on one side, so more are made.
        const deadline = Date.now() + 5000;
        for (let extra = 0; !lines().includes(want) && extra < 40; extra++) {
          assert.equal(await halfClose(d.ports[0]!, c.send), c.replies, JSON.stringify(c.send));
          await new Promise((r) => setTimeout(r, 50));
        }
        while (!lines().includes(want) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
        assert.ok(lines().includes(want), `log line: ${want}`);
      }
    }
  } finally {
    await d.stop();
  }
}

if (namespaceReady()) {
  test('smtpd answers clients that half-close at once, as Postfix does', { timeout: 60000 }, run);
} else {
  testInNamespace('smtpd half-closed clients (in a private network namespace)', import.meta.url, whyNoNamespace);
}
