// authorized_submit_users as sendmail and postdrop enforce it
// (global/user_acl.c): a "static:" list admits everyone; otherwise the
// login name must match the string list, and a refused user gets
// Postfix's message, with sendmail's EX_TEMPFAIL or postdrop's status 1,
// and nothing is left in maildrop/.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { getpwuid } from '../../src/pickup/passwd.js';
import { checkUserAclByUid } from '../../src/pickup/user-acl.js';
import { makeSpool, runCommand, submissionEnv } from '../pickup/submission-run.js';

const uid = process.getuid?.() ?? 0;
const me = getpwuid(uid)?.name ?? 'unknown';

test('checkUserAclByUid: static lists, names, negation, unknown uids', async () => {
  assert.equal(await checkUserAclByUid('authorized_submit_users', 'static:anyone', uid), null);
  assert.equal(await checkUserAclByUid('authorized_submit_users', `${me}`, uid), null);
  assert.equal(await checkUserAclByUid('authorized_submit_users', `!${me}, static:anyone`, uid), me);
  assert.equal(await checkUserAclByUid('authorized_submit_users', 'nobody-else', uid), me);
  assert.equal(await checkUserAclByUid('authorized_submit_users', 'unknown', 4_000_000_000 - 7), null);
  assert.equal(await checkUserAclByUid('authorized_submit_users', '', uid), me);
});

test('a user that authorized_submit_users refuses cannot submit', async () => {
  const spool = makeSpool(`authorized_submit_users = !${me}, static:anyone\n`);
  const env = submissionEnv(spool);
  const sm = await runCommand('sendmail', ['-f', 'a@example.test', 'b@example.test'], 'Subject: x\n\nbody\n', env);
  assert.deepEqual(sm, { status: 75, stdout: '', stderr: `sendmail: fatal: User ${me}(${uid}) is not allowed to submit mail\n` });
  const pd = await runCommand('postdrop', ['-r'], '', env);
  assert.deepEqual(pd, { status: 1, stdout: '', stderr: `postdrop: fatal: User ${me}(${uid}) is not allowed to submit mail\n` });
  assert.deepEqual(fs.readdirSync(path.join(spool.queueDir, 'maildrop')), []);
});
