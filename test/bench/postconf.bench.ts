// Benchmark: how long `bin/postconf -n` takes to start, print and exit,
// against a bare `node -e 0` (the floor for any Node program) and against
// Postfix's own postconf when it is installed. Runs are interleaved so that
// background load hits every contender alike; medians are reported.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { median } from './lib.js';

export const name = 'postconf -n startup';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const RUNS = Number(process.env.BENCH_RUNS ?? 40);

function timeOnce(cmd: string, args: string[]): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'ignore'] });
  const t1 = process.hrtime.bigint();
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}`);
  return Number(t1 - t0) / 1e6;
}

export async function run(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-postconf-'));
  try {
    writeFileSync(
      join(dir, 'main.cf'),
      'compatibility_level = 3.6\nmyhostname = mx.example.com\nmydestination = $myhostname, localhost\n' +
        'relay_domains = example.net\nvirtual_alias_maps = hash:/etc/postfix/virtual\n' +
        'smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination\n',
    );
    if (existsSync('/etc/postfix/master.cf')) copyFileSync('/etc/postfix/master.cf', join(dir, 'master.cf'));
    else writeFileSync(join(dir, 'master.cf'), 'smtp inet n - n - - smtpd\n');
    const contenders: Array<[string, string, string[]]> = [
      ['node -e 0', process.execPath, ['-e', '0']],
      ['bin/postconf -n', join(root, 'bin/postconf'), ['-c', dir, '-n']],
    ];
    if (existsSync('/usr/sbin/postconf')) contenders.push(['/usr/sbin/postconf -n', '/usr/sbin/postconf', ['-c', dir, '-n']]);
    else console.log('  (Postfix not installed: /usr/sbin/postconf skipped)');
    const times = contenders.map(() => [] as number[]);
    for (const [, cmd, args] of contenders) timeOnce(cmd, args); // warm caches
    for (let i = 0; i < RUNS; i++) contenders.forEach(([, cmd, args], k) => times[k]!.push(timeOnce(cmd, args)));
    const med = times.map(median);
    contenders.forEach(([label], k) => console.log(`  ${label.padEnd(24)} median ${med[k]!.toFixed(1)} ms over ${RUNS} runs`));
    console.log(`  ratio bin/postconf -n / node -e 0: ${(med[1]! / med[0]!).toFixed(2)} (target <= 1.30)`);
    if (med[2] !== undefined) console.log(`  ratio bin/postconf -n / Postfix postconf -n: ${(med[1]! / med[2]).toFixed(2)}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
