// smtpd_client_connection_count_limit: a second concurrent connection from
// the same client gets Postfix's 421 and warning; mynetworks clients are
// exempt (smtpd_client_event_limit_exceptions). The expected texts were
// checked against Postfix 3.7.11 with two concurrent connections.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { namespaceReady, runInNamespace, whyNoNamespace } from '../lib/netns.js';
import { startFixture } from './harness.js';
import { extraFixtureRoot } from './record.js';

/** Connects from addr, collects everything until close; sends QUIT once `release` settles and the greeting came. */
function session(addr: string, release: Promise<unknown>): { greeted: Promise<void>; done: Promise<string> } {
  let greet: () => void = () => undefined;
  const greeted = new Promise<void>((r) => (greet = r));
  const done = new Promise<string>((resolve) => {
    const s = net.connect({ port: 11625, host: '127.0.0.1', localAddress: addr });
    let text = '';
    s.on('data', (d) => {
      text += d.toString('latin1');
      if (text.includes('\r\n')) greet();
    });
    s.on('close', () => {
      greet();
      resolve(text);
    });
    s.on('error', () => undefined);
    // QUIT waits for the greeting too: a client that half-closes before it
    // would lose the server's replies (the sockets do not allow half-open).
    void Promise.all([release, greeted]).then(() => s.end('QUIT\r\n'));
  });
  return { greeted, done };
}

async function run(): Promise<void> {
  const fx = await startFixture(path.join(extraFixtureRoot(), '16-conncount'));
  try {
    // The first session stays open until every other one has ended, whatever the machine's load.
    let releaseFirst: () => void = () => undefined;
    const first = session('127.0.1.5', new Promise<void>((r) => (releaseFirst = r)));
    await first.greeted;
    const now = Promise.resolve();
    const second = session('127.0.1.5', new Promise(() => undefined));
    const inside1 = session('127.0.0.1', now);
    const inside2 = session('127.0.0.1', now);
    assert.equal(await second.done, '421 4.7.0 mx.example.com Error: too many connections from 127.0.1.5\r\n');
    assert.equal(await inside1.done, '220 mx.example.com ESMTP Postfix\r\n221 2.0.0 Bye\r\n');
    assert.equal(await inside2.done, '220 mx.example.com ESMTP Postfix\r\n221 2.0.0 Bye\r\n');
    releaseFirst();
    assert.equal(await first.done, '220 mx.example.com ESMTP Postfix\r\n221 2.0.0 Bye\r\n');
    const warn = fx.logLines.find((l) => l.includes('Connection concurrency'));
    assert.match(warn ?? '', /: warning: Connection concurrency limit exceeded: 2 from unknown\[127\.0\.1\.5\] for service 127\.0\.0\.1:11625$/);
    assert.ok(fx.logLines.some((l) => /disconnect from unknown\[127\.0\.1\.5\] commands=0\/0$/.test(l)));
    // The count goes down again when sessions end: once the server has logged
    // both 127.0.1.5 sessions as gone, a new one is welcome.
    const gone = () => fx.logLines.filter((l) => l.includes('disconnect from unknown[127.0.1.5]')).length >= 2;
    for (let i = 0; i < 200 && !gone(); i++) await new Promise((r) => setTimeout(r, 25));
    assert.ok(gone(), 'the server logged both 127.0.1.5 sessions as disconnected');
    assert.equal(await session('127.0.1.5', Promise.resolve()).done, '220 mx.example.com ESMTP Postfix\r\n221 2.0.0 Bye\r\n');
  } finally {
    await fx.stop();
  }
}

const why = whyNoNamespace();
if (namespaceReady()) {
  test('smtpd_client_connection_count_limit', { timeout: 60000 }, run);
} else if (why === null) {
  test('smtpd connection count (in a private network namespace)', { timeout: 120000 }, async () => {
    const r = await runInNamespace([process.execPath, '--test', fileURLToPath(import.meta.url)]);
    assert.equal(r.status, 0, r.stdout + r.stderr);
  });
} else {
  test('smtpd connection count', { skip: why }, () => undefined);
}
