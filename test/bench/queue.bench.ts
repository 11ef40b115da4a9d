// Benchmark: the queue commands of issue 10, this project's and Postfix
// 3.7.11's side by side in one run.
//  - mailq on a large queue: fixtures/queue-tools/short.tar plus BENCH_QUEUE
//    (10,000) generated deferred messages with defer logs (tools/
//    record-queue-tools.ts bigQueue), daemon down, as root; runs alternate
//    between the two programs and medians are reported. Both listings must be
//    identical. Target: ours at least as fast as Postfix's.
//  - sendmail: BENCH_SUBMISSIONS (1,000) one-recipient messages submitted one
//    after another with `sendmail -C DIR -i`, daemon down (each message ends
//    as a maildrop/ file, written by postdrop), total time and rate.
// Postfix's side needs root (its postqueue runs showq as mail_owner) and an
// installed Postfix; otherwise only ours is measured.

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { repoRoot } from '../lib/cases.js';
import { bigQueue, replayMainCf } from '../../tools/record-queue-tools.js';

export const name = 'queue: mailq on a 10,000-message queue, sendmail x 1,000';

const QUEUE = Number(process.env.BENCH_QUEUE ?? 10000);
const SUBMISSIONS = Number(process.env.BENCH_SUBMISSIONS ?? 1000);
const RUNS = Number(process.env.BENCH_RUNS ?? 5);

interface Contender {
  label: string;
  mailq: string;
  sendmail: string;
}

function contenders(): Contender[] {
  const ours = { label: 'ours', mailq: path.join(repoRoot(), 'bin/mailq'), sendmail: path.join(repoRoot(), 'bin/sendmail') };
  const postfix = { label: 'Postfix', mailq: '/usr/bin/mailq', sendmail: '/usr/sbin/sendmail' };
  const why = process.getuid?.() !== 0 ? 'not root' : !fs.existsSync('/usr/sbin/postqueue') ? 'Postfix not installed' : null;
  if (why) console.log(`  Postfix not measured: ${why}`);
  return why ? [ours] : [ours, postfix];
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function env(conf: string): NodeJS.ProcessEnv {
  return { PATH: '/usr/bin:/bin:/usr/sbin:/sbin', TZ: 'UTC', LANG: 'C', MAIL_CONFIG: conf };
}

/** A run directory with conf/ and spool/ (the short fixture tree, plus `extra` generated messages). */
function makeRun(extra: number): string {
  const dir = fs.realpathSync(fs.mkdtempSync('/tmp/queue-bench-'));
  fs.chmodSync(dir, 0o755);
  fs.mkdirSync(path.join(dir, 'conf'));
  fs.mkdirSync(path.join(dir, 'spool'));
  const tar = spawnSync('tar', ['-C', path.join(dir, 'spool'), '-xpf', path.join(repoRoot(), 'fixtures/queue-tools/short.tar')]);
  if (tar.status !== 0) throw new Error(`tar: ${tar.stderr}`);
  if (extra) bigQueue(path.join(dir, 'spool'), extra);
  if (process.getuid?.() === 0) spawnSync('chown', ['-R', 'postfix', path.join(dir, 'spool')]);
  fs.writeFileSync(path.join(dir, 'conf/main.cf'), replayMainCf(dir, false));
  fs.writeFileSync(path.join(dir, 'conf/master.cf'), '');
  return dir;
}

function timeMailq(c: Contender, conf: string): { seconds: number; out: string } {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(c.mailq, [], { env: env(conf), encoding: 'latin1', maxBuffer: 1 << 30 });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(`${c.label} mailq: exit ${r.status}: ${r.stderr}`);
  return { seconds, out: r.stdout };
}

function benchMailq(cs: Contender[]): void {
  const dir = makeRun(QUEUE);
  try {
    const conf = path.join(dir, 'conf');
    const times = new Map<string, number[]>(cs.map((c) => [c.label, []]));
    const outputs = new Map<string, string>();
    for (let run = 0; run < RUNS; run++) {
      for (const c of run % 2 ? [...cs].reverse() : cs) {
        const r = timeMailq(c, conf);
        times.get(c.label)!.push(r.seconds);
        outputs.set(c.label, r.out);
      }
    }
    const lines = (outputs.get('ours') ?? '').split('\n').length;
    console.log(`  mailq, ${QUEUE + 12} messages (${lines} lines), median of ${RUNS}:`);
    for (const c of cs) console.log(`    ${c.label.padEnd(8)} ${median(times.get(c.label)!).toFixed(3)} s  (runs: ${times.get(c.label)!.map((t) => t.toFixed(3)).join(' ')})`);
    if (cs.length === 2) {
      const ratio = median(times.get('Postfix')!) / median(times.get('ours')!);
      console.log(`    ours/Postfix speed: ${ratio.toFixed(2)}x (target >= 1.00x: ${ratio >= 1 ? 'met' : 'not met'})`);
      console.log(`    listings ${outputs.get('ours') === outputs.get('Postfix') ? 'identical' : 'DIFFER'}`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function benchSendmail(cs: Contender[]): void {
  console.log(`  sendmail -i, ${SUBMISSIONS} messages one after another, daemon down:`);
  const rates = new Map<string, number>();
  for (const c of cs) {
    const dir = makeRun(0);
    try {
      const conf = path.join(dir, 'conf');
      const maildrop = path.join(dir, 'spool/maildrop');
      const before = fs.readdirSync(maildrop).length;
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < SUBMISSIONS; i++) {
        const text = `From: bench@example.com\nTo: user${i}@example.com\nSubject: message ${i}\n\n${'x'.repeat(900)}\n`;
        const r = spawnSync(c.sendmail, ['-C', conf, '-i', `user${i}@example.com`], { env: env(conf), input: text });
        if (r.status !== 0) throw new Error(`${c.label} sendmail: exit ${r.status}: ${r.stderr}`);
      }
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      const made = fs.readdirSync(maildrop).length - before;
      if (made !== SUBMISSIONS) throw new Error(`${c.label}: ${made} maildrop files for ${SUBMISSIONS} messages`);
      rates.set(c.label, SUBMISSIONS / seconds);
      console.log(`    ${c.label.padEnd(8)} ${seconds.toFixed(2)} s, ${(SUBMISSIONS / seconds).toFixed(0)} msg/s, ${((seconds / SUBMISSIONS) * 1000).toFixed(1)} ms each`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
  if (rates.size === 2) console.log(`    ours/Postfix rate: ${(rates.get('ours')! / rates.get('Postfix')!).toFixed(2)}x`);
}

export async function run(): Promise<void> {
  const cs = contenders();
  benchMailq(cs);
  benchSendmail(cs);
}
