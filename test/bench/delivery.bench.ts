// Benchmark: mail accepted over SMTP and delivered to a local Maildir, this
// project's daemon and Postfix 3.7.11 side by side in one run
// (fixtures/bench/delivery: home_mailbox = Maildir/, 20 concurrent local
// deliveries). Three figures per daemon:
//  - the end-to-end rate: BENCH_MESSAGES messages of 1 KB over BENCH_SESSIONS
//    concurrent sessions, from the first connection until the last message
//    is in Maildir/new (target: at least 1.3x Postfix's);
//  - memory: the summed PSS (/proc/PID/smaps_rollup) of the master and every
//    process below it, sampled during that load, the highest sample
//    reported (aim: no more than Postfix's);
//  - the acceptance rate with BENCH_DEFERRED (100,000) messages in deferred/
//    (not yet due) against the rate with an empty queue (target: within 10%).
// Each daemon first gets an untimed warm-up load. Root only (a throw-away
// user receives the mail; daemons run in a private network namespace).
// BENCH_KINDS=postfix (or ours) measures one of the two.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { repoRoot } from '../lib/cases.js';
import { type Daemon, type DaemonKind, startDaemon } from '../lib/daemon.js';
import { runLoad } from '../master/smtp-load.js';
import { encodeRecord } from '../../src/queue/record.js';
import { REC_TYPE, formatSizeRecord, formatTimeRecord } from '../../src/queue/rec-type.js';
import { DEFAULT_LAYOUT, mailQueuePath } from '../../src/queue/layout.js';
import { formatProfile, median, treePss, treeProfile, inNamespace, type TreeProfile } from './lib.js';

export const name = 'delivery: SMTP to a local Maildir, this daemon vs Postfix';

const SESSIONS = Number(process.env.BENCH_SESSIONS ?? 20);
const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 2000);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 1000);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const DEFERRED = Number(process.env.BENCH_DEFERRED ?? 100000);
const FIXTURE = path.join(repoRoot(), 'fixtures', 'bench', 'delivery');
const USER = 'pfbench';
const MARKER = 'postfix-ts delivery benchmark';
const self = fileURLToPath(import.meta.url);

function sh(file: string, args: string[]): void {
  const r = spawnSync(file, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${file} ${args.join(' ')}: ${r.stderr || r.stdout}`);
}

interface BenchUser {
  home: string;
  uid: number;
  gid: number;
}

function createUser(base: string): BenchUser {
  const home = path.join(base, 'home');
  spawnSync('/usr/sbin/userdel', [USER]);
  sh('/usr/sbin/useradd', ['-M', '-U', '-d', home, '-s', '/bin/sh', '-c', MARKER, USER]);
  const line = fs.readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith(`${USER}:`))!;
  const f = line.split(':');
  const user = { home, uid: Number(f[2]), gid: Number(f[3]) };
  resetHome(user);
  return user;
}

function resetHome(u: BenchUser): void {
  fs.rmSync(u.home, { recursive: true, force: true });
  fs.mkdirSync(u.home, { mode: 0o755 });
  fs.chownSync(u.home, u.uid, u.gid);
}

function delivered(u: BenchUser): number {
  try {
    return fs.readdirSync(path.join(u.home, 'Maildir', 'new')).length;
  } catch {
    return 0;
  }
}

async function waitDelivered(u: BenchUser, want: number, kind: string): Promise<void> {
  const deadline = Date.now() + 600_000;
  while (delivered(u) < want) {
    if (Date.now() > deadline) throw new Error(`${kind}: ${delivered(u)} of ${want} messages delivered`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function load(port: number, messages: number): Promise<number> {
  const r = await runLoad({
    port,
    sessions: SESSIONS,
    messagesPerSession: Math.ceil(messages / SESSIONS),
    size: 1024,
    to: `${USER}@mx.example.com`,
    from: 'bench@example.org',
    connectionPerMessage: true,
  });
  if (r.failures) throw new Error(`${r.failures} sessions failed`);
  return r.acked.length;
}

function masterPid(d: Daemon): number {
  return Number(fs.readFileSync(path.join(d.dir, 'spool', 'pid', 'master.pid'), 'utf8').trim());
}

interface Delivery {
  rate: number;
  pssKb: number;
  /** Per program: the CPU the measured load took, the PSS at the peak sample. */
  profile: string;
}

async function measureDelivery(kind: DaemonKind, u: BenchUser): Promise<Delivery> {
  resetHome(u);
  const d = await startDaemon(kind, FIXTURE);
  try {
    const master = masterPid(d);
    const port = d.ports[0]!;
    const warm = WARMUP > 0 ? await load(port, WARMUP) : 0;
    await waitDelivered(u, warm, kind);
    let peak = 0;
    let peakProfile: TreeProfile = new Map();
    const sample = () => {
      const kb = treePss(master).kb;
      if (kb > peak) {
        peak = kb;
        peakProfile = treeProfile(master);
      }
    };
    const sampler = setInterval(sample, 250);
    const before = treeProfile(master);
    const t0 = process.hrtime.bigint();
    const sent = await load(port, MESSAGES);
    await waitDelivered(u, warm + sent, kind);
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    clearInterval(sampler);
    sample();
    const after = treeProfile(master);
    for (const [name, e] of after) e.pssKb = peakProfile.get(name)?.pssKb ?? 0;
    return { rate: sent / seconds, pssKb: peak, profile: formatProfile(before, after) };
  } finally {
    await d.stop();
  }
}

/** A small well-formed queue file, the content of every filler message. */
function fillerQueueFile(): Buffer {
  const now = Math.floor(Date.now() / 1000);
  const content = [encodeRecord(REC_TYPE.NORM, 'Subject: filler'), encodeRecord(REC_TYPE.NORM, ''), encodeRecord(REC_TYPE.NORM, 'x')];
  const contentBytes = content.reduce((n, b) => n + b.length, 0);
  const head = (size: number, offset: number) => [
    encodeRecord(REC_TYPE.SIZE, formatSizeRecord([size, offset, 1, 0, 19, 0])),
    encodeRecord(REC_TYPE.TIME, formatTimeRecord(now, 0)),
    encodeRecord(REC_TYPE.FROM, 'filler@example.org'),
    encodeRecord(REC_TYPE.RCPT, 'nobody@nowhere.example'),
    encodeRecord(REC_TYPE.MESG, ''),
  ];
  const offset = Buffer.concat(head(0, 0)).length;
  return Buffer.concat([...head(contentBytes, offset), ...content, encodeRecord(REC_TYPE.XTRA, ''), encodeRecord(REC_TYPE.END, '')]);
}

/** DEFERRED messages in deferred/, not due for a day. */
function fillDeferred(d: Daemon): void {
  const data = fillerQueueFile();
  const later = new Date(Date.now() + 86_400_000);
  const spool = path.join(d.dir, 'spool');
  for (let i = 0; i < DEFERRED; i++) {
    const id = `F${i.toString(16).toUpperCase().padStart(9, '0')}`;
    const file = path.join(spool, mailQueuePath(DEFAULT_LAYOUT, 'deferred', id));
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    fs.writeFileSync(file, data, { mode: 0o700 });
    fs.utimesSync(file, later, later);
  }
  const owner = fs.statSync(path.join(spool, 'incoming'));
  spawnSync('chown', ['-R', `${owner.uid}:${owner.gid}`, path.join(spool, 'deferred')]);
}

/** Acceptance rate (messages per second, until the last 250) with or without a large deferred queue. */
async function measureAcceptance(kind: DaemonKind, u: BenchUser, filled: boolean): Promise<number> {
  resetHome(u);
  const d = await startDaemon(kind, FIXTURE);
  try {
    if (filled) fillDeferred(d);
    const port = d.ports[0]!;
    if (WARMUP > 0) await waitDelivered(u, await load(port, WARMUP), kind);
    const t0 = process.hrtime.bigint();
    const sent = await load(port, MESSAGES);
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    await waitDelivered(u, (WARMUP > 0 ? WARMUP : 0) + sent, kind);
    return sent / seconds;
  } finally {
    await d.stop();
  }
}

async function inner(): Promise<void> {
  const kinds: DaemonKind[] = process.env.BENCH_KINDS
    ? (process.env.BENCH_KINDS.split(',') as DaemonKind[])
    : fs.existsSync('/usr/sbin/postfix') ? ['ours', 'postfix'] : ['ours'];
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-delivery-'));
  fs.chmodSync(base, 0o755);
  const u = createUser(base);
  try {
    console.log(`  ${SESSIONS} sessions, ${MESSAGES} messages of 1 KB to a Maildir after a warm-up of ${WARMUP}, ${RUNS} runs`);
    const rates: Record<string, number[]> = {};
    const mem: Record<string, number[]> = {};
    for (let run = 0; run < RUNS; run++) {
      for (const kind of run % 2 ? [...kinds].reverse() : kinds) {
        const m = await measureDelivery(kind, u);
        (rates[kind] ??= []).push(m.rate);
        (mem[kind] ??= []).push(m.pssKb);
        console.log(`  run ${run + 1} ${kind.padEnd(7)} ${m.rate.toFixed(0)} msg/s delivered, peak PSS ${(m.pssKb / 1024).toFixed(1)} MiB`);
        console.log(`      ${m.profile}`);
      }
    }
    for (const kind of kinds) console.log(`  ${kind.padEnd(7)} median ${median(rates[kind]!).toFixed(0)} msg/s, peak PSS ${(median(mem[kind]!) / 1024).toFixed(1)} MiB`);
    if (rates.postfix && rates.ours) {
      console.log(`  delivery rate ${(median(rates.ours!) / median(rates.postfix)).toFixed(2)}x Postfix's (target >= 1.3x)`);
      console.log(`  peak PSS ${(median(mem.ours!) / median(mem.postfix!)).toFixed(2)}x Postfix's (aim <= 1x)`);
    }
    if (DEFERRED > 0) {
      for (const kind of kinds) {
        const empty = await measureAcceptance(kind, u, false);
        const full = await measureAcceptance(kind, u, true);
        console.log(`  ${kind.padEnd(7)} acceptance ${empty.toFixed(0)} msg/s with an empty queue, ${full.toFixed(0)} msg/s with ${DEFERRED} deferred: ${((full / empty) * 100).toFixed(0)}% (target >= 90%)`);
      }
    }
  } finally {
    spawnSync('/usr/sbin/userdel', [USER]);
    fs.rmSync(base, { recursive: true, force: true });
  }
}

export const run = inNamespace(self, inner);
