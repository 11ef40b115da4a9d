// sendmail's modes that hand over to other commands (-bp, -q, -bi), the
// stand-alone mode this project lacks, and the message size limit: what
// the command says and leaves behind. The recorded fixtures cover the
// option errors of these modes; this covers what happens when they run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { repoRoot } from '../lib/cases.js';
import { makeSpool, runCommand, submissionEnv } from '../pickup/submission-run.js';

const bin = path.join(repoRoot(), 'bin');
const haveQueueTools = fs.existsSync(path.join(bin, 'postqueue')) || fs.existsSync(path.join(bin, 'mailq'));
const uid = process.getuid?.() ?? 0;

test('-bp and -q without this project\'s postqueue: a clear fatal error', { skip: haveQueueTools ? 'postqueue is built' : false }, async () => {
  const spool = makeSpool();
  const env = submissionEnv(spool);
  assert.deepEqual(await runCommand('sendmail', ['-bp'], '', env), {
    status: 75, stdout: '',
    stderr: `sendmail: fatal: postqueue -p: the postqueue command is not available in this installation (looked for ${bin}/postqueue)\n`,
  });
  assert.deepEqual(await runCommand('sendmail', ['-q'], '', env), {
    status: 75, stdout: '',
    stderr: `sendmail: fatal: postqueue -f: the postqueue command is not available in this installation (looked for ${bin}/postqueue)\n`,
  });
});

test('-bi with an empty alias_database does nothing; -oA names the table', async () => {
  const spool = makeSpool('alias_database =\n');
  const env = submissionEnv(spool);
  assert.deepEqual(await runCommand('sendmail', ['-bi'], '', env), { status: 0, stdout: '', stderr: '' });
  const aliases = path.join(spool.dir, 'aliases');
  fs.writeFileSync(aliases, 'postmaster: root\n');
  const r = await runCommand('sendmail', ['-bi', `-oAlmdb:${aliases}`], '', env);
  assert.equal(r.status, 0, r.stderr);
  assert.ok(fs.existsSync(`${aliases}.lmdb`));
});

test('a message over message_size_limit is not queued', async () => {
  const spool = makeSpool('message_size_limit = 200\n');
  const r = await runCommand('sendmail', ['-f', 'me@example.test', 'you@example.test'], `Subject: big\n\n${'x'.repeat(300)}\n`, submissionEnv(spool));
  assert.deepEqual(r, {
    status: 75, stdout: '',
    stderr: `postdrop: warning: uid=${uid}: File too large\nsendmail: fatal: me@example.test(${uid}): message file too big\n`,
  });
  assert.deepEqual(fs.readdirSync(path.join(spool.queueDir, 'maildrop')), []);
});
