// When Postfix 3.7.11 is installed (and we are root): its postqueue and this
// project's, on the same extracted queue tree in the same directory, print
// the same bytes -- including the order of the messages, which follows the
// directory order of the file system both read. Skipped otherwise.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { makeTempDir, repoRoot } from '../lib/cases.js';
import { bigQueue, replayMainCf } from '../../tools/record-queue-tools.js';

const root = repoRoot();
const REAL = '/usr/sbin/postqueue';
const why = process.getuid?.() !== 0 ? 'needs root' : !fs.existsSync(REAL) ? 'Postfix is not installed' : false;

function run(file: string, args: string[]): { stdout: string; stderr: string; status: number | null } {
  const r = spawnSync(file, args, { env: { PATH: '/usr/bin:/bin:/usr/sbin', TZ: 'UTC', LANG: 'C' }, encoding: 'latin1' });
  return { stdout: r.stdout, stderr: r.stderr, status: r.status };
}

for (const tree of ['short', 'long'] as const) {
  for (const big of [false, true]) {
    test(`postqueue -p and -j on the ${tree} tree${big ? ' plus 1,000 messages' : ''} equal Postfix's`, { skip: why }, () => {
      const dir = makeTempDir();
      try {
        fs.mkdirSync(`${dir}/conf`);
        fs.mkdirSync(`${dir}/spool`);
        assert.equal(spawnSync('tar', ['-C', `${dir}/spool`, '-xpf', path.join(root, 'fixtures/queue-tools', `${tree}.tar`)]).status, 0);
        if (big) bigQueue(`${dir}/spool`);
        // Postfix's showq reads the queue as mail_owner.
        assert.equal(spawnSync('chown', ['-R', 'postfix', `${dir}/spool`]).status, 0);
        fs.writeFileSync(`${dir}/conf/main.cf`, replayMainCf(dir, tree === 'long'));
        fs.writeFileSync(`${dir}/conf/master.cf`, '');
        for (const opt of ['-p', '-j']) {
          const theirs = run(REAL, ['-c', `${dir}/conf`, opt]);
          const ours = run(path.join(root, 'bin/postqueue'), ['-c', `${dir}/conf`, opt]);
          assert.deepEqual(ours, theirs, `postqueue ${opt}`);
        }
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  }
}
