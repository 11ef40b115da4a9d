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
// Each figure is given as wall time and as the command's CPU time (user +
// system, from /usr/bin/time when installed): on a machine shared with other
// work the CPU time is the steadier comparison.
// Postfix's side needs root (its postqueue runs showq as mail_owner) and an
// installed Postfix; otherwise only ours is measured.

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { repoRoot } from '../lib/cases.js';
import { bigQueue, replayMainCf } from '../../tools/record-queue-tools.js';
import { median } from './lib.js';

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

const TIME = '/usr/bin/time';

/** Wall seconds, and the child's user+system CPU seconds when /usr/bin/time is there (NaN otherwise). */
function timed(file: string, args: string[], opts: { env: NodeJS.ProcessEnv; input?: string }): { seconds: number; cpu: number; status: number | null; stdout: string; stderr: string } {
  const useTime = fs.existsSync(TIME);
  const cpuFile = path.join(fs.realpathSync('/tmp'), `queue-bench-cpu-${process.pid}`);
  const [cmd, argv] = useTime ? [TIME, ['-f', '%U %S', '-o', cpuFile, file, ...args]] : [file, args];
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, argv, { env: opts.env, input: opts.input, encoding: 'latin1', maxBuffer: 1 << 30 });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  let cpu = NaN;
  if (useTime) {
    const f = fs.readFileSync(cpuFile, 'utf8').trim().split('\n').pop()!.split(' ').map(Number);
    cpu = (f[0] ?? NaN) + (f[1] ?? NaN);
    fs.rmSync(cpuFile, { force: true });
  }
  return { seconds, cpu, status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function timeMailq(c: Contender, conf: string): { seconds: number; cpu: number; out: string } {
  const r = timed(c.mailq, [], { env: env(conf) });
  if (r.status !== 0) throw new Error(`${c.label} mailq: exit ${r.status}: ${r.stderr}`);
  return { seconds: r.seconds, cpu: r.cpu, out: r.stdout };
}

function benchMailq(cs: Contender[]): void {
  const dir = makeRun(QUEUE);
  try {
    const conf = path.join(dir, 'conf');
    const times = new Map<string, number[]>(cs.map((c) => [c.label, []]));
    const cpus = new Map<string, number[]>(cs.map((c) => [c.label, []]));
    const outputs = new Map<string, string>();
    for (let run = 0; run < RUNS; run++) {
      for (const c of run % 2 ? [...cs].reverse() : cs) {
        const r = timeMailq(c, conf);
        times.get(c.label)!.push(r.seconds);
        cpus.get(c.label)!.push(r.cpu);
        outputs.set(c.label, r.out);
      }
    }
    const lines = (outputs.get('ours') ?? '').split('\n').length;
    console.log(`  mailq, ${QUEUE + 12} messages (${lines} lines), median of ${RUNS} (wall; CPU = user + system of the command):`);
    for (const c of cs) {
      const t = times.get(c.label)!;
      console.log(`    ${c.label.padEnd(8)} ${median(t).toFixed(3)} s, CPU ${median(cpus.get(c.label)!).toFixed(2)} s  (runs: ${t.map((x) => x.toFixed(3)).join(' ')})`);
    }
    if (cs.length === 2) {
      const ratio = median(times.get('Postfix')!) / median(times.get('ours')!);
      const cpuRatio = median(cpus.get('Postfix')!) / median(cpus.get('ours')!);
      console.log(`    ours/Postfix speed: ${ratio.toFixed(2)}x wall, ${cpuRatio.toFixed(2)}x CPU (target >= 1.00x: ${ratio >= 1 ? 'met' : 'not met'})`);
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
      let seconds = 0;
      let cpu = 0;
      for (let i = 0; i < SUBMISSIONS; i++) {
        const text = `From: bench@example.com\nTo: user${i}@example.com\nSubject: message ${i}\n\n${'x'.repeat(900)}\n`;
        const r = timed(c.sendmail, ['-C', conf, '-i', `user${i}@example.com`], { env: env(conf), input: text });
        if (r.status !== 0) throw new Error(`${c.label} sendmail: exit ${r.status}: ${r.stderr}`);
        seconds += r.seconds;
        cpu += r.cpu;
      }
      const made = fs.readdirSync(maildrop).length - before;
      if (made !== SUBMISSIONS) throw new Error(`${c.label}: ${made} maildrop files for ${SUBMISSIONS} messages`);
      rates.set(c.label, SUBMISSIONS / seconds);
      console.log(
        `    ${c.label.padEnd(8)} ${seconds.toFixed(2)} s, ${(SUBMISSIONS / seconds).toFixed(0)} msg/s, ${((seconds / SUBMISSIONS) * 1000).toFixed(1)} ms each, CPU ${((cpu / SUBMISSIONS) * 1000).toFixed(0)} ms each`,
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
  if (rates.size === 2) console.log(`    ours/Postfix rate: ${(rates.get('ours')! / rates.get('Postfix')!).toFixed(2)}x`);
}

export async function run(): Promise<void> {
  const cs = contenders();
  benchMailq(cs);
  if (SUBMISSIONS > 0) benchSendmail(cs);
}
