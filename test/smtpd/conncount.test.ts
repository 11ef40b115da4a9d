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

/** Connects from addr, collects everything until close; sends QUIT after holdMs. */
function session(addr: string, holdMs: number): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect({ port: 11625, host: '127.0.0.1', localAddress: addr });
    let text = '';
    s.on('data', (d) => (text += d.toString('latin1')));
    s.on('close', () => resolve(text));
    s.on('error', () => undefined);
    setTimeout(() => s.end('QUIT\r\n'), holdMs);
  });
}

async function run(): Promise<void> {
  const fx = await startFixture(path.join(extraFixtureRoot(), '16-conncount'));
  try {
    const first = session('127.0.1.5', 600);
    await new Promise((r) => setTimeout(r, 200));
    const second = session('127.0.1.5', 300);
    const inside1 = session('127.0.0.1', 300);
    const inside2 = session('127.0.0.1', 300);
    assert.equal(await first, '220 mx.example.com ESMTP Postfix\r\n221 2.0.0 Bye\r\n');
    assert.equal(await second, '421 4.7.0 mx.example.com Error: too many connections from 127.0.1.5\r\n');
    assert.equal(await inside1, '220 mx.example.com ESMTP Postfix\r\n221 2.0.0 Bye\r\n');
    assert.equal(await inside2, '220 mx.example.com ESMTP Postfix\r\n221 2.0.0 Bye\r\n');
    const warn = fx.logLines.find((l) => l.includes('Connection concurrency'));
    assert.match(warn ?? '', /: warning: Connection concurrency limit exceeded: 2 from unknown\[127\.0\.1\.5\] for service 127\.0\.0\.1:11625$/);
    assert.ok(fx.logLines.some((l) => /disconnect from unknown\[127\.0\.1\.5\] commands=0\/0$/.test(l)));
    // The count goes down again when sessions end.
    assert.equal(await session('127.0.1.5', 100), '220 mx.example.com ESMTP Postfix\r\n221 2.0.0 Bye\r\n');
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
