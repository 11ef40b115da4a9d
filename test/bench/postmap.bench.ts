// Benchmark: postmap on a large lmdb: table. Builds a 1,000,000-line virtual
// table with this project's bin/postmap and with Postfix's /usr/sbin/postmap
// (when installed) in the same run, then looks up 100,000 keys (nine in ten
// present) with `postmap -q -` against each table. Runs alternate between the
// two programs so that background load hits both alike; medians are reported.
// Targets: build in at most 0.7x Postfix's time; bulk queries at least as fast.
// Sizes and runs can be changed with BENCH_LINES, BENCH_KEYS and BENCH_RUNS.

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { median } from './lib.js';

export const name = 'postmap lmdb: 1M-line build, 100k-key -q -';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const LINES = Number(process.env.BENCH_LINES ?? 1_000_000);
const KEYS = Number(process.env.BENCH_KEYS ?? 100_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const REAL = '/usr/sbin/postmap';

interface Contender {
  label: string;
  program: string;
  dir: string;
}

/** A small deterministic generator, so that every run measures the same table. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const address = (i: number) => `user${i}@domain${i % 997}.example`;

function writeSource(file: string): void {
  const fd = fs.openSync(file, 'w');
  try {
    fs.writeSync(fd, '# generated virtual(5) table for the postmap benchmark\n');
    const CHUNK = 50_000;
    for (let start = 0; start < LINES; start += CHUNK) {
      const lines: string[] = [];
      for (let i = start; i < Math.min(LINES, start + CHUNK); i++) {
        lines.push(`${address(i)}\ttarget${i}@example.net, copy${i}@example.org\n`);
      }
      fs.writeSync(fd, lines.join(''));
    }
  } finally {
    fs.closeSync(fd);
  }
}

function writeKeys(file: string): void {
  const rnd = lcg(20261122);
  const keys: string[] = [];
  // Keys beyond LINES are absent from the table: about one in ten.
  for (let k = 0; k < KEYS; k++) keys.push(address(Math.floor(rnd() * LINES * 1.1)));
  fs.writeFileSync(file, keys.join('\n') + '\n');
}

interface Timed {
  ms: number;
  stdout: Buffer;
}

function timed(c: Contender, args: string[], input?: Buffer): Timed {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(c.program, ['-c', c.dir, ...args], {
    cwd: c.dir,
    input,
    maxBuffer: 1024 * 1024 * 1024,
    stdio: [input ? 'pipe' : 'ignore', 'pipe', 'pipe'],
  });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.error) throw new Error(`${c.label} ${args.join(' ')}: ${r.error.message}`);
  // "-q -" exits 1 when some key was not found; anything else is a failure.
  if (r.status !== 0 && !(args[0] === '-q' && r.status === 1)) {
    throw new Error(`${c.label} ${args.join(' ')} exited ${r.status}: ${r.stderr.toString().trim()}`);
  }
  return { ms, stdout: r.stdout };
}

const fmt = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

export async function run(): Promise<void> {
  const base = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'bench-postmap-')));
  try {
    const contenders: Contender[] = [{ label: 'bin/postmap', program: path.join(root, 'bin', 'postmap'), dir: path.join(base, 'ours') }];
    if (fs.existsSync(REAL)) contenders.push({ label: REAL, program: REAL, dir: path.join(base, 'postfix') });
    else console.log(`  (Postfix not installed: ${REAL} skipped, no ratios)`);

    const source = path.join(base, 'virtual');
    const keysFile = path.join(base, 'keys');
    let t0 = process.hrtime.bigint();
    writeSource(source);
    writeKeys(keysFile);
    const size = fs.statSync(source).size;
    console.log(`  source: ${LINES.toLocaleString('en-US')} lines, ${(size / 1e6).toFixed(1)} MB; ` +
      `${KEYS.toLocaleString('en-US')} query keys (generated in ${fmt(Number(process.hrtime.bigint() - t0) / 1e6)})`);
    for (const c of contenders) {
      fs.mkdirSync(c.dir);
      // Postfix's defaults (lmdb_map_size = 16 MB, grown as needed), as an administrator has them.
      fs.writeFileSync(path.join(c.dir, 'main.cf'), 'myhostname = mail.example.com\n');
      fs.linkSync(source, path.join(c.dir, 'virtual'));
    }

    // Build: each run starts without a table.
    const build = contenders.map(() => [] as number[]);
    for (let r = 0; r < RUNS; r++) {
      contenders.forEach((c, k) => {
        fs.rmSync(path.join(c.dir, 'virtual.lmdb'), { force: true });
        fs.rmSync(path.join(c.dir, 'virtual.lmdb-lock'), { force: true });
        build[k]!.push(timed(c, ['lmdb:virtual']).ms);
      });
    }
    const buildMed = build.map(median);
    contenders.forEach((c, k) => {
      const bytes = fs.statSync(path.join(c.dir, 'virtual.lmdb')).size;
      console.log(`  build  ${c.label.padEnd(18)} median ${fmt(buildMed[k]!)} over ${RUNS} runs ` +
        `(${Math.round(LINES / (buildMed[k]! / 1000)).toLocaleString('en-US')} lines/s, table ${(bytes / 1e6).toFixed(1)} MB)`);
    });

    // Queries: the same keys against each program's own table.
    const keys = fs.readFileSync(keysFile);
    const query = contenders.map(() => [] as number[]);
    const answers: Buffer[] = [];
    for (let r = 0; r < RUNS; r++) {
      contenders.forEach((c, k) => {
        const t = timed(c, ['-q', '-', 'lmdb:virtual'], keys);
        query[k]!.push(t.ms);
        answers[k] = t.stdout;
      });
    }
    const queryMed = query.map(median);
    contenders.forEach((c, k) => {
      const found = answers[k]!.toString().split('\n').filter(Boolean).length;
      console.log(`  -q -   ${c.label.padEnd(18)} median ${fmt(queryMed[k]!)} over ${RUNS} runs ` +
        `(${Math.round(KEYS / (queryMed[k]! / 1000)).toLocaleString('en-US')} keys/s, ${found.toLocaleString('en-US')} found)`);
    });

    if (contenders.length === 2) {
      t0 = process.hrtime.bigint();
      const same = answers[0]!.equals(answers[1]!);
      console.log(`  answers identical: ${same ? 'yes' : 'NO'}`);
      // Each program reads the other's table too (lmdb: tables are shared with Postfix).
      const cross = timed(contenders[1]!, ['-q', '-', path.join('lmdb:' + contenders[0]!.dir, 'virtual')], keys);
      console.log(`  Postfix reading our table gives the same answers: ${cross.stdout.equals(answers[1]!) ? 'yes' : 'NO'}`);
      const buildRatio = buildMed[0]! / buildMed[1]!;
      const queryRatio = queryMed[0]! / queryMed[1]!;
      console.log(`  ratio build bin/postmap / Postfix: ${buildRatio.toFixed(2)} (target <= 0.70: ${buildRatio <= 0.7 ? 'met' : 'not met'})`);
      console.log(`  ratio -q -  bin/postmap / Postfix: ${queryRatio.toFixed(2)} (target <= 1.00: ${queryRatio <= 1 ? 'met' : 'not met'})`);
    }
  } finally {
    fs.rmSync(base, { recursive: true, force: true });
  }
}
