// Benchmark: the long runs of issue 12's hardening checks, never part of
// `npm test`.
//   - the smtpd fuzzer (test/fuzz/smtpd-fuzz.ts) for BENCH_FUZZ_SESSIONS
//     sessions (default 100,000) with seed BENCH_FUZZ_SEED: sessions per
//     second, queued messages, heap before and after, and the same checks
//     as the test (no escaped error, no hung session, every "queued as" a
//     complete message);
//   - a 1 GB BDAT chunk before MAIL sent by a client in another process:
//     this process's peak RSS while smtpd reads and drops it (the bound of
//     issue 12: under 200 MB).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { runSmtpdFuzz } from '../fuzz/smtpd-fuzz.js';
import { startLoopbackSmtpd } from '../smtpd/loopback.js';

export const name = 'smtpd fuzz (long run) and 1 GB BDAT RSS';

const SESSIONS = Number(process.env.BENCH_FUZZ_SESSIONS ?? 100000);
const SEED = Number(process.env.BENCH_FUZZ_SEED ?? 1212);
const MB = 1024 * 1024;

/** argv: port, size. EHLO, BDAT size LAST, size bytes, QUIT; prints the replies. */
const BDAT_CLIENT = `
const net = require('node:net');
const [port, size] = process.argv.slice(1).map(Number);
const s = net.connect({ host: '127.0.0.1', port });
s.pipe(process.stdout);
const fill = Buffer.alloc(1 << 20, 'x');
let left = size;
function more() {
  while (left > 0) {
    const piece = left >= fill.length ? fill : fill.subarray(0, left);
    left -= piece.length;
    if (!s.write(piece)) return s.once('drain', more);
  }
  s.end('QUIT\\r\\n');
}
s.once('connect', () => { s.write('EHLO bench.example\\r\\nBDAT ' + size + ' LAST\\r\\n'); more(); });
`;

async function bdatRss(): Promise<void> {
  const d = await startLoopbackSmtpd('myhostname = mx.example.com\nmydestination = mx.example.com\nmynetworks = 127.0.0.0/8\n'
    + 'alias_maps =\nsmtpd_recipient_restrictions = permit_mynetworks, reject\n');
  try {
    const size = 1024 * MB;
    const base = process.memoryUsage().rss;
    let peak = base;
    const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
    const t0 = Date.now();
    const child = spawn(process.execPath, ['-e', BDAT_CLIENT, String(d.port), String(size)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('latin1').on('data', (t: string) => (out += t));
    await once(child, 'close');
    clearInterval(timer);
    const reply = out.split('\r\n').find((l) => l.startsWith('503')) ?? '(no 503 reply)';
    console.log(`  1 GB BDAT before MAIL: ${reply}; ${((Date.now() - t0) / 1000).toFixed(1)} s; RSS ${(base / MB).toFixed(0)} MB -> peak ${(peak / MB).toFixed(0)} MB (bound 200 MB)`);
  } finally {
    await d.stop();
  }
}

export async function run(): Promise<void> {
  await bdatRss();
  const r = await runSmtpdFuzz({ seed: SEED, sessions: SESSIONS, concurrency: 128 });
  console.log(`  fuzz: ${r.sessions} sessions (seed ${SEED}) in ${r.seconds.toFixed(1)} s = ${(r.sessions / r.seconds).toFixed(0)}/s; ${r.queuedReplies} queued`);
  console.log(`  heap ${(r.heapBefore / MB).toFixed(1)} -> ${(r.heapAfter / MB).toFixed(1)} MB; hung ${r.hung}; escaped errors ${r.escaped.length}; "queued as" ${r.queuedReplies} vs complete ${r.completeMessages}; cleanup open ${r.opened - r.finished - r.aborted}`);
  if (r.hung || r.escaped.length || r.queuedReplies !== r.completeMessages || r.opened !== r.finished + r.aborted) throw new Error('fuzz run found a problem');
}
