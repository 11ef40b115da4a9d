// Benchmark: the daemon under a soak of slow and idle clients (issue 12,
// Done-when 4), this project's daemon and Postfix 3.7.11 side by side in
// one run on fixtures/smtpd/01-defaults with smtpd's process_limit raised
// to SOAK_LIMIT (1,200), so that both can hold every client:
//  - the normal load alone: SOAK_SESSIONS (10) concurrent sessions sending
//    1 KB messages, one connection per message, for SOAK_ALONE seconds (20);
//  - the soak: SOAK_CLIENTS (1,000) clients, half idle after the greeting,
//    half slow (one byte of a HELO command every few seconds), plus the same
//    normal load for SOAK_SECONDS (60);
//  - figures: the normal load's acceptance rate in the soak against its rate
//    alone (target: within 20%), the clients greeted, and the summed PSS
//    (/proc/PID/smaps_rollup) of the master and every process below it,
//    sampled every second, its peak reported for both daemons.
// Root only: the daemons run in a private network namespace.
// BENCH_KINDS=postfix (or ours) measures one of the two.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { repoRoot } from '../lib/cases.js';
import { type DaemonKind, startDaemon } from '../lib/daemon.js';
import { tempDir } from '../lib/tmp.js';
import { connect, runLoad } from '../master/smtp-load.js';
import { treePss, inNamespace } from './lib.js';

export const name = 'soak: 1,000 slow and idle clients plus a normal load, this daemon vs Postfix';

const CLIENTS = Number(process.env.SOAK_CLIENTS ?? 1000);
const LIMIT = Number(process.env.SOAK_LIMIT ?? 1200);
const SESSIONS = Number(process.env.SOAK_SESSIONS ?? 10);
const ALONE_S = Number(process.env.SOAK_ALONE ?? 20);
const SOAK_S = Number(process.env.SOAK_SECONDS ?? 60);
/** How often a slow client sends its next byte. */
const TRICKLE_MS = 5000;
const BASE = path.join(repoRoot(), 'fixtures', 'smtpd', '01-defaults');
const self = fileURLToPath(import.meta.url);

function fixture(): string {
  const dir = tempDir('soak-bench-');
  for (const f of fs.readdirSync(BASE)) fs.copyFileSync(path.join(BASE, f), path.join(dir, f));
  const masterCf = path.join(dir, 'master.cf');
  fs.writeFileSync(masterCf, fs.readFileSync(masterCf, 'utf8').replace(/^(127\.0\.0\.1:\d+\s+inet\s+n\s+-\s+n\s+-\s+)-/m, `$1${LIMIT}`));
  // Every client comes from 127.0.0.1: no per-client connection limit.
  fs.appendFileSync(path.join(dir, 'main.cf'), 'smtpd_client_connection_count_limit = 0\nsmtpd_client_connection_rate_limit = 0\n');
  return dir;
}

/** Normal load for seconds: messages accepted per second. */
async function normalLoad(port: number, seconds: number): Promise<{ rate: number; failures: number; messages: number }> {
  const end = Date.now() + seconds * 1000;
  const r = await runLoad({ port, sessions: SESSIONS, messagesPerSession: Infinity, size: 1024, connectionPerMessage: true, stop: () => Date.now() >= end });
  // Over the whole run: a session still waiting for its greeting when the time is up finishes its message.
  return { rate: r.acked.length / (r.elapsedMs / 1000), failures: r.failures, messages: r.acked.length };
}

interface Soakers {
  greeted(): number;
  close(): void;
}

/** n clients: even ones idle after the greeting, odd ones trickling "HELO x" a byte at a time. */
async function soakers(port: number, n: number): Promise<Soakers> {
  const sockets: net.Socket[] = [];
  let greeted = 0;
  const command = Buffer.from('HELO slow.example.org\r\n');
  for (let i = 0; i < n; i++) {
    const s = await connect('127.0.0.1', port);
    if (!s) continue;
    s.on('error', () => undefined);
    s.once('data', () => greeted++);
    sockets.push(s);
    if (i % 2 === 1) {
      let at = 0;
      const timer = setInterval(() => {
        if (s.destroyed) return clearInterval(timer);
        s.write(command.subarray(at, at + 1));
        at = (at + 1) % command.length;
      }, TRICKLE_MS);
      s.once('close', () => clearInterval(timer));
    }
  }
  return { greeted: () => greeted, close: () => sockets.forEach((s) => s.destroy()) };
}

interface Figures {
  alone: number;
  soaked: number;
  failures: number;
  messages: number;
  greeted: number;
  peakPssKb: number;
  processes: number;
}

async function measure(kind: DaemonKind): Promise<Figures> {
  const d = await startDaemon(kind, fixture());
  let soak: Soakers | null = null;
  try {
    const port = d.ports[0]!;
    const master = Number(fs.readFileSync(path.join(d.dir, 'spool', 'pid', 'master.pid'), 'utf8').trim());
    await normalLoad(port, 3);
    const alone = await normalLoad(port, ALONE_S);
    soak = await soakers(port, CLIENTS);
    let peak = { kb: 0, processes: 0 };
    const sample = () => {
      const now = treePss(master);
      if (now.kb > peak.kb) peak = now;
    };
    const sampler = setInterval(sample, 1000);
    const soaked = await normalLoad(port, SOAK_S);
    clearInterval(sampler);
    sample();
    return { alone: alone.rate, soaked: soaked.rate, failures: soaked.failures, messages: soaked.messages, greeted: soak.greeted(), peakPssKb: peak.kb, processes: peak.processes };
  } finally {
    soak?.close();
    await d.stop();
  }
}

async function inner(): Promise<void> {
  const kinds = (process.env.BENCH_KINDS ?? 'postfix,ours').split(',').filter((k): k is DaemonKind => k === 'ours' || (k === 'postfix' && fs.existsSync('/usr/sbin/postfix')));
  console.log(`  ${CLIENTS} soak clients (half idle, half slow), ${SESSIONS} normal sessions, ${ALONE_S} s alone, ${SOAK_S} s soaked, process_limit ${LIMIT}`);
  const results: Partial<Record<DaemonKind, Figures>> = {};
  for (const kind of kinds) {
    const f = await measure(kind);
    results[kind] = f;
    const ratio = (f.soaked / f.alone) * 100;
    console.log(
      `  ${kind.padEnd(7)} normal load ${f.alone.toFixed(1)} msg/s alone, ${f.soaked.toFixed(1)} msg/s soaked (${f.messages} messages): ${ratio.toFixed(0)}% (target >= 80%); ` +
        `${f.greeted}/${CLIENTS} soak clients greeted; ${f.failures} failed sessions; peak PSS ${(f.peakPssKb / 1024).toFixed(1)} MiB over ${f.processes} processes`,
    );
  }
  const { postfix, ours } = results;
  if (postfix && ours) console.log(`  ours/postfix: soaked rate ${(ours.soaked / postfix.soaked).toFixed(2)}x, peak PSS ${(ours.peakPssKb / postfix.peakPssKb).toFixed(2)}x`);
}

export const run = inNamespace(self, inner);
