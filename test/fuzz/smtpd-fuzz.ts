// The smtpd fuzzer's driver, shared by test/fuzz/smtpd.test.ts (20,000
// sessions with a fixed seed) and test/bench/fuzz.bench.ts (longer runs):
// runs generated sessions (smtp-gen.ts) against this project's smtpd in
// this process over loopback, many at a time, and reports what a test
// asserts: sessions that did not end, errors that escaped a session,
// "250 ... queued as" replies against the complete messages cleanup got,
// cleanup sessions left open, and the heap before and after.
import * as net from 'node:net';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { Gen, session } from './smtp-gen.js';
import { startLoopbackSmtpd } from '../smtpd/loopback.js';

export interface FuzzReport {
  sessions: number;
  /** Sessions the server did not close within the per-session limit. */
  hung: number;
  /** Log lines of errors that escaped a session ("unexpected error"). */
  escaped: string[];
  queuedReplies: number;
  completeMessages: number;
  finished: number;
  opened: number;
  aborted: number;
  heapBefore: number;
  heapAfter: number;
  seconds: number;
}

const MAIN_CF = [
  'myhostname = mx.example.com', 'mydestination = mx.example.com', 'mynetworks = 127.0.0.0/8',
  'smtpd_recipient_restrictions = permit_mynetworks, reject', 'smtpd_timeout = 30s',
].join('\n') + '\n';

/** What a session's catch-all logs when an error escaped it. */
const ESCAPED = /unexpected error|uncaught/i;

function collectGarbage(): () => void {
  v8.setFlagsFromString('--expose-gc');
  return vm.runInNewContext('gc') as () => void;
}

/** One session: writes its pieces, half-closes, reads until the server closes. Resolves with the reply text, or null if it hung. */
function runOne(port: number, pieces: string[], limitMs: number): Promise<string | null> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    const out: Buffer[] = [];
    let done = false;
    const finish = (v: string | null): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      resolve(v);
    };
    const timer = setTimeout(() => finish(null), limitMs);
    s.on('data', (d: Buffer) => out.push(d));
    s.on('error', () => undefined);
    s.on('close', () => finish(Buffer.concat(out).toString('latin1')));
    s.once('connect', async () => {
      for (const p of pieces) {
        if (s.destroyed) return;
        s.write(Buffer.from(p, 'latin1'));
        if (pieces.length > 1) await new Promise((r) => setImmediate(r));
      }
      if (!s.destroyed) s.end();
    });
  });
}

export async function runSmtpdFuzz(opts: { seed: number; sessions: number; concurrency: number; limitMs?: number }): Promise<FuzzReport> {
  const gc = collectGarbage();
  const d = await startLoopbackSmtpd(MAIN_CF, {}, (line) => ESCAPED.test(line));
  const started = Date.now();
  gc();
  const heapBefore = process.memoryUsage().heapUsed;
  let queuedReplies = 0;
  let hung = 0;
  let next = 0;
  const g = new Gen(opts.seed);
  try {
    const worker = async (): Promise<void> => {
      while (next < opts.sessions) {
        next++;
        const reply = await runOne(d.port, session(g), opts.limitMs ?? 20000);
        if (reply === null) hung++;
        else queuedReplies += (reply.match(/^250 2\.0\.0 Ok: (?:\d+ bytes )?queued as /gm) ?? []).length;
      }
    };
    await Promise.all(Array.from({ length: opts.concurrency }, worker));
    for (let i = 0; i < 100 && d.active() > 0; i++) await new Promise((r) => setTimeout(r, 10));
  } finally {
    await d.stop();
  }
  gc();
  const c = d.cleanup.counts;
  return {
    sessions: opts.sessions,
    hung,
    escaped: d.logLines,
    queuedReplies,
    completeMessages: c.complete,
    finished: c.finished,
    opened: c.opened,
    aborted: c.aborted,
    heapBefore,
    heapAfter: process.memoryUsage().heapUsed,
    seconds: (Date.now() - started) / 1000,
  };
}
