// Issue 12, points 1 and 4: what a client declares or sends does not set
// a session's memory or CPU. A 200 MB BDAT chunk (discarded before MAIL,
// or kept with message_size_limit = 0) streams through with the process's
// heap and buffers growing by less than 50 MB, and a 100 MB command line
// without a line end costs the process under a second of CPU. The replies
// are the ones Postfix 3.7.11 gives for the same dialogue (recorded with
// smaller sizes in test/smtpd/fixtures/20-hardening).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { connectLoopback, ReplyLines, startLoopbackSmtpd, writeBulk } from './loopback.js';

/** argv: port, size. Sends size bytes of "A", then CRLF NOOP QUIT; prints the replies. */
const LONG_LINE_CLIENT = `
const net = require('node:net');
const [port, size] = process.argv.slice(1).map(Number);
const s = net.connect({ host: '127.0.0.1', port });
s.pipe(process.stdout);
const fill = Buffer.alloc(1 << 20, 'A');
let left = size;
function more() {
  while (left > 0) {
    const piece = left >= fill.length ? fill : fill.subarray(0, left);
    left -= piece.length;
    if (!s.write(piece)) return s.once('drain', more);
  }
  s.end('\\r\\nNOOP\\r\\nQUIT\\r\\n');
}
s.once('connect', more);
`;

const MB = 1024 * 1024;
const MAIN_CF = 'myhostname = mx.example.com\nmydestination = mx.example.com\nmynetworks = 127.0.0.0/8\nmessage_size_limit = 0\nsmtpd_recipient_restrictions = permit_mynetworks, reject\n';

function memNow(): number {
  const m = process.memoryUsage();
  return m.heapUsed + m.external + m.arrayBuffers;
}

/** Runs fn while sampling memory; returns fn's result and the peak growth over the start. */
async function peakGrowth<T>(fn: () => Promise<T>): Promise<{ value: T; growth: number }> {
  global.gc?.();
  const base = memNow();
  let peak = base;
  const timer = setInterval(() => {
    peak = Math.max(peak, memNow());
  }, 10);
  try {
    const value = await fn();
    peak = Math.max(peak, memNow());
    return { value, growth: peak - base };
  } finally {
    clearInterval(timer);
  }
}

async function session(port: number, run: (s: import('node:net').Socket, r: ReplyLines) => Promise<string[]>): Promise<string[]> {
  const s = await connectLoopback(port);
  const r = new ReplyLines(s);
  try {
    return await run(s, r);
  } finally {
    s.destroy();
  }
}

test('a 200 MB BDAT chunk before MAIL is read and dropped with bounded memory', { timeout: 120000 }, async () => {
  const d = await startLoopbackSmtpd(MAIN_CF);
  try {
    const size = 200 * MB;
    const fill = Buffer.alloc(MB, 'x\r\n'.repeat(1));
    const { value, growth } = await peakGrowth(() => session(d.port, async (s, r) => {
      const out = [(await r.next())!];
      s.write('EHLO client.example\r\n');
      out.push((await r.next())!);
      s.write(`BDAT ${size} LAST\r\n`);
      await writeBulk(s, size, fill);
      out.push((await r.next())!);
      s.write('QUIT\r\n');
      out.push((await r.next())!);
      return out;
    }));
    assert.equal(value[2], '503 5.5.1 Error: need RCPT command\r\n');
    assert.equal(value[3], '221 2.0.0 Bye\r\n');
    console.log(`BDAT ${size / MB} MB discarded: peak growth ${(growth / MB).toFixed(1)} MB`);
    assert.ok(growth < 50 * MB, `memory grew by ${(growth / MB).toFixed(1)} MB`);
  } finally {
    await d.stop();
  }
});

test('a kept 200 MB BDAT chunk streams to cleanup with bounded memory', { timeout: 120000 }, async () => {
  const d = await startLoopbackSmtpd(MAIN_CF);
  try {
    const line = 'y'.repeat(70) + '\r\n';
    const fill = Buffer.from(line.repeat(Math.floor(MB / line.length)));
    const size = 200 * fill.length;
    const { value, growth } = await peakGrowth(() => session(d.port, async (s, r) => {
      await r.next();
      s.write('EHLO client.example\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<postmaster@mx.example.com>\r\n');
      for (let i = 0; i < 3; i++) await r.next();
      s.write(`BDAT ${size} LAST\r\n`);
      await writeBulk(s, size, fill);
      return [(await r.next())!];
    }));
    assert.match(value[0]!, new RegExp(`^250 2\\.0\\.0 Ok: ${size} bytes queued as [0-9A-F]+\\r\\n$`));
    assert.equal(d.cleanup.counts.complete, 1);
    console.log(`BDAT ${size / MB} MB kept: peak growth ${(growth / MB).toFixed(1)} MB`);
    assert.ok(growth < 50 * MB, `memory grew by ${(growth / MB).toFixed(1)} MB`);
  } finally {
    await d.stop();
  }
});

test('a 100 MB command line costs under a second of CPU', { timeout: 120000 }, async () => {
  const d = await startLoopbackSmtpd(MAIN_CF);
  try {
    // The client runs in a child process, so that this process's CPU time is the server's alone.
    const before = process.cpuUsage();
    const child = spawn(process.execPath, ['-e', LONG_LINE_CLIENT, String(d.port), String(100 * MB)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('latin1').on('data', (t: string) => (out += t));
    await once(child, 'close');
    const used = process.cpuUsage(before);
    const cpu = (used.user + used.system) / 1e6;
    console.log(`100 MB command line: ${cpu.toFixed(2)} s CPU in the server`);
    const replies = out.split(/(?<=\n)/);
    assert.equal(replies[1], '500 5.5.2 Error: command not recognized\r\n');
    assert.equal(replies[2], '250 2.0.0 Ok\r\n');
    assert.ok(cpu < 1, `${cpu.toFixed(2)} s of CPU`);
  } finally {
    await d.stop();
  }
});
