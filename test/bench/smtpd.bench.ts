// Benchmark: mail acceptance over SMTP. This project's daemon and Postfix
// 3.7.11 run the same configuration (fixtures/smtpd/01-defaults: every
// accepted message is written, fsynced and left in the queue, nothing is
// delivered) one after the other in the same run, and Postfix's
// smtp-source drives N concurrent sessions of 1 KB messages at each (one
// message per connection, its default); without smtp-source the project's
// own load generator does the same. Runs alternate between the two daemons
// so that background load hits both alike; medians are reported, with the
// ratio (target: at least 2x Postfix's rate). Each daemon first gets an
// untimed warm-up load of the same shape (BENCH_WARMUP messages): a mail
// server runs for days, and the figure wanted is its steady rate, not the
// first seconds in which Node compiles its hot code (Postfix's smtpd
// processes, reused up to max_use times, get the same warm-up). The rate
// of the warm-up itself is printed too, as the cold-start figure. Every
// run checks that all messages reached the queue. Starts daemons, so it
// runs in a private network namespace (re-running itself under unshare as
// root). Sizes: BENCH_SESSIONS (20), BENCH_MESSAGES (2000), BENCH_WARMUP
// (2000), BENCH_RUNS (3).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { repoRoot } from '../lib/cases.js';
import { type Daemon, type DaemonKind, startDaemon } from '../lib/daemon.js';
import { runLoad } from '../master/smtp-load.js';
import { median, treeCpuSeconds, inNamespace } from './lib.js';

export const name = 'smtpd: concurrent SMTP sessions of 1 KB messages, this daemon vs Postfix';

const SESSIONS = Number(process.env.BENCH_SESSIONS ?? 20);
const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 2000);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 2000);
const SMTP_SOURCE = '/usr/sbin/smtp-source';
const FIXTURE = path.join(repoRoot(), 'fixtures', 'smtpd', '01-defaults');
const self = fileURLToPath(import.meta.url);

/** Files in the queue (every accepted message stays there). */
function queued(d: Daemon): number {
  const count = (dir: string): number =>
    fs.existsSync(dir) ? fs.readdirSync(dir, { withFileTypes: true }).reduce((n, e) => n + (e.isDirectory() ? count(path.join(dir, e.name)) : 1), 0) : 0;
  return ['incoming', 'active', 'deferred', 'hold'].reduce((n, q) => n + count(path.join(d.dir, 'spool', q)), 0);
}

/**
 * The queue count once it holds still: Postfix's queue manager moves files
 * from incoming/ to active/ and deferred/ after the load, and a directory
 * walk that races a rename can miss a file or see it twice.
 */
async function settledQueued(d: Daemon): Promise<number> {
  let last = queued(d);
  for (let i = 0; i < 50; i++) {
    await new Promise((r) => setTimeout(r, 200));
    const now = queued(d);
    if (now === last) return now;
    last = now;
  }
  return last;
}


/**
 * CPU seconds used so far by a daemon: its master (with the children it
 * has reaped) and every live process below it. A measure of the work per
 * message that does not depend on how busy the machine is.
 */
/** One load run of `messages` messages: elapsed seconds. */
async function drive(port: number, messages: number): Promise<number> {
  if (fs.existsSync(SMTP_SOURCE)) {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(SMTP_SOURCE, ['-s', String(SESSIONS), '-m', String(messages), '-l', '1024', '-f', 'bench@example.org', '-t', 'root@mx.example.com', `127.0.0.1:${port}`], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`smtp-source: ${r.stderr || r.stdout}`);
    return Number(process.hrtime.bigint() - t0) / 1e9;
  }
  const perSession = Math.ceil(messages / SESSIONS);
  const r = await runLoad({ port, sessions: SESSIONS, messagesPerSession: perSession, size: 1024, connectionPerMessage: true });
  if (r.failures) throw new Error(`${r.failures} sessions failed`);
  return r.elapsedMs / 1000;
}

interface Measurement {
  /** Messages per second, warmed up. */
  rate: number;
  /** Messages per second during the warm-up on a fresh daemon. */
  coldRate: number;
  /** Milliseconds of CPU the daemon spent per message. */
  cpuMs: number;
}

/**
 * Run directories are removed only when the whole benchmark is over: on a
 * file system without a journal, ext4 passes over recently freed inodes
 * when it allocates one, so deleting the last run's thousands of queue
 * files would slow down file creation in the next run, whichever daemon it
 * is, with work that belongs to neither.
 */
const leftovers: string[] = [];

async function measure(kind: DaemonKind, fixture: string): Promise<Measurement> {
  const d = await startDaemon(kind, fixture, { keep: true });
  leftovers.push(d.dir);
  try {
    const port = d.ports[0]!;
    const master = Number(fs.readFileSync(path.join(d.dir, 'spool', 'pid', 'master.pid'), 'utf8').trim());
    const start = queued(d);
    const coldSeconds = WARMUP > 0 ? await drive(port, WARMUP) : 0;
    const before = await settledQueued(d);
    if (before - start < WARMUP) throw new Error(`${kind}: ${before - start} of ${WARMUP} warm-up messages in the queue`);
    const cpuBefore = treeCpuSeconds(master);
    const seconds = await drive(port, MESSAGES);
    const cpu = treeCpuSeconds(master) - cpuBefore;
    const count = (await settledQueued(d)) - before;
    if (count < MESSAGES) throw new Error(`${kind}: ${count} of ${MESSAGES} messages in the queue`);
    return { rate: MESSAGES / seconds, coldRate: WARMUP > 0 ? WARMUP / coldSeconds : 0, cpuMs: (cpu * 1000) / MESSAGES };
  } finally {
    await d.stop();
  }
}

/** The measurement itself, inside the namespace. */
async function inner(): Promise<void> {
  const kinds: DaemonKind[] = fs.existsSync('/usr/sbin/postfix') ? ['ours', 'postfix'] : ['ours'];
  const generator = fs.existsSync(SMTP_SOURCE) ? 'smtp-source' : 'the project load generator';
  console.log(`  ${SESSIONS} sessions, ${MESSAGES} messages of 1 KB after a warm-up of ${WARMUP}, ${RUNS} runs, driven by ${generator}`);
  // Postfix runs its queue manager as always (it moves each message on to
  // active/ and deferred/); without one its cleanup stalls on every message.
  console.log(`  load average before: ${fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`);
  const rates: Record<string, number[]> = {};
  const cpu: Record<string, number[]> = {};
  const cold: Record<string, number[]> = {};
  for (let run = 0; run < RUNS; run++) {
    for (const kind of run % 2 ? [...kinds].reverse() : kinds) {
      const m = await measure(kind, FIXTURE);
      (rates[kind] ??= []).push(m.rate);
      (cpu[kind] ??= []).push(m.cpuMs);
      (cold[kind] ??= []).push(m.coldRate);
      console.log(`  run ${run + 1} ${kind.padEnd(7)} ${m.rate.toFixed(0)} msg/s, ${m.cpuMs.toFixed(2)} ms CPU per message (warm-up: ${m.coldRate.toFixed(0)} msg/s)`);
    }
  }
  for (const kind of kinds) console.log(`  ${kind.padEnd(7)} median ${median(rates[kind]!).toFixed(0)} msg/s, ${median(cpu[kind]!).toFixed(2)} ms CPU per message (warm-up: ${median(cold[kind]!).toFixed(0)} msg/s)`);
  if (rates.postfix) {
    console.log(`  ratio ${(median(rates.ours!) / median(rates.postfix)).toFixed(2)}x Postfix's rate (target >= 2x)`);
    if (WARMUP > 0) console.log(`  cold-start ratio ${(median(cold.ours!) / median(cold.postfix!)).toFixed(2)}x Postfix's warm-up rate`);
    console.log(`  CPU per message ${(median(cpu.ours!) / median(cpu.postfix!)).toFixed(2)}x Postfix's`);
  }
  console.log(`  load average after: ${fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`);
}

/** inner() with the run directories removed afterwards, whatever happened. */
async function innerAndTidy(): Promise<void> {
  try {
    await inner();
  } finally {
    for (const dir of leftovers.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
  }
}

export const run = inNamespace(self, innerAndTidy);
