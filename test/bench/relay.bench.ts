// Benchmark: mail accepted over SMTP and relayed by smtp(8) to Postfix's
// smtp-sink on loopback, this project's daemon and Postfix 3.7.11 side by
// side in one run (fixtures/smtp/bench-relay: relayhost = [127.0.0.1]:13226).
// The figure is the end-to-end rate: BENCH_MESSAGES messages of 1 KB over
// BENCH_SESSIONS (20) concurrent sessions, from the first connection until
// the maillog holds a status=sent line for every one (target: at least 1.3x
// Postfix's). Each daemon first gets an untimed warm-up load. Root only
// (daemons and the sink run in a private network namespace); needs
// smtp-sink. BENCH_KINDS=postfix (or ours) measures one of the two.
import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { repoRoot } from '../lib/cases.js';
import { type Daemon, type DaemonKind, startDaemon } from '../lib/daemon.js';
import { runLoad } from '../master/smtp-load.js';
import { median, inNamespace } from './lib.js';

export const name = 'relay: SMTP in, smtp(8) out to smtp-sink, this daemon vs Postfix';

const SESSIONS = Number(process.env.BENCH_SESSIONS ?? 20);
const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 2000);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 500);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const FIXTURE = path.join(repoRoot(), 'fixtures', 'smtp', 'bench-relay');
const SINK_PORT = 13226;
const SMTP_SINK = '/usr/sbin/smtp-sink';
const self = fileURLToPath(import.meta.url);

/** Counts the status=sent lines of a maillog as it grows. */
class SentCounter {
  private offset = 0;
  private rest = '';
  count = 0;
  constructor(private readonly file: string) {}
  poll(): number {
    let fd: number;
    try {
      fd = fs.openSync(this.file, 'r');
    } catch {
      return this.count;
    }
    try {
      const buf = Buffer.alloc(1 << 20);
      for (;;) {
        const n = fs.readSync(fd, buf, 0, buf.length, this.offset);
        if (n <= 0) break;
        this.offset += n;
        const text = this.rest + buf.subarray(0, n).toString('latin1');
        const cut = text.lastIndexOf('\n') + 1;
        this.rest = text.slice(cut);
        for (let i = text.indexOf(' status=sent ', 0); i >= 0 && i < cut; i = text.indexOf(' status=sent ', i + 1)) this.count++;
      }
    } finally {
      fs.closeSync(fd);
    }
    return this.count;
  }
}

async function waitSent(counter: SentCounter, want: number, kind: string): Promise<void> {
  const deadline = Date.now() + 600_000;
  while (counter.poll() < want) {
    if (Date.now() > deadline) throw new Error(`${kind}: ${counter.count} of ${want} messages relayed`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function load(port: number, messages: number): Promise<number> {
  const r = await runLoad({
    port, sessions: SESSIONS, messagesPerSession: Math.ceil(messages / SESSIONS), size: 1024,
    to: 'someone@remote.example', from: 'bench@example.org', connectionPerMessage: true,
  });
  if (r.failures) throw new Error(`${r.failures} sessions failed`);
  return r.acked.length;
}

async function startSink(): Promise<ChildProcess> {
  const sink = spawn(SMTP_SINK, ['-u', 'nobody', `127.0.0.1:${SINK_PORT}`, '1000'], { stdio: 'ignore' });
  const deadline = Date.now() + 10_000;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port: SINK_PORT });
      s.once('connect', () => { s.destroy(); resolve(true); });
      s.once('error', () => resolve(false));
    });
    if (ok) return sink;
    if (Date.now() > deadline) throw new Error('smtp-sink did not start');
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function measure(kind: DaemonKind): Promise<number> {
  const d: Daemon = await startDaemon(kind, FIXTURE);
  try {
    const counter = new SentCounter(path.join(d.dir, 'maillog'));
    const port = d.ports[0]!;
    const warm = WARMUP > 0 ? await load(port, WARMUP) : 0;
    await waitSent(counter, warm, kind);
    const t0 = process.hrtime.bigint();
    const sent = await load(port, MESSAGES);
    await waitSent(counter, warm + sent, kind);
    return sent / (Number(process.hrtime.bigint() - t0) / 1e9);
  } finally {
    await d.stop();
  }
}

async function inner(): Promise<void> {
  if (!fs.existsSync(SMTP_SINK)) throw new Error(`${SMTP_SINK} not installed`);
  const kinds: DaemonKind[] = process.env.BENCH_KINDS
    ? (process.env.BENCH_KINDS.split(',') as DaemonKind[])
    : fs.existsSync('/usr/sbin/postfix') ? ['ours', 'postfix'] : ['ours'];
  const sink = await startSink();
  try {
    console.log(`  ${SESSIONS} sessions, ${MESSAGES} messages of 1 KB relayed to smtp-sink after a warm-up of ${WARMUP}, ${RUNS} runs`);
    const rates: Record<string, number[]> = {};
    for (let run = 0; run < RUNS; run++) {
      for (const kind of run % 2 ? [...kinds].reverse() : kinds) {
        const rate = await measure(kind);
        (rates[kind] ??= []).push(rate);
        console.log(`  run ${run + 1} ${kind.padEnd(7)} ${rate.toFixed(0)} msg/s relayed`);
      }
    }
    for (const kind of kinds) console.log(`  ${kind.padEnd(7)} median ${median(rates[kind]!).toFixed(0)} msg/s`);
    if (rates.postfix && rates.ours) console.log(`  relay rate ${(median(rates.ours) / median(rates.postfix)).toFixed(2)}x Postfix's (target >= 1.3x)`);
  } finally {
    sink.kill();
  }
}

export const run = inNamespace(self, inner);
