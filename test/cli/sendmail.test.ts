// Replays the submission fixtures (fixtures/submission/cases.json, recorded
// from Postfix 3.7.11 by tools/record-submission.ts) against this project's
// bin/sendmail: exit status, stdout and stderr byte for byte, and the
// maildrop file as postcat shows it (queue ID and arrival time normalized)
// with its permission bits. The fixtures were recorded as root, whose full
// name comes from /etc/passwd: the cases run as root only.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SUBMISSION_CASES } from '../pickup/submission-cases.js';
import { normalizePostcat } from '../pickup/submission-normalize.js';
import { loadRecorded, makeSpool, runCommand, runSubmission, submissionEnv } from '../pickup/submission-run.js';

const recorded = loadRecorded();
const asRoot = process.getuid?.() === 0;

test('sendmail submission fixtures', { skip: asRoot ? false : 'recorded as root' }, async (t) => {
  const spool = makeSpool();
  for (const c of SUBMISSION_CASES) {
    const want = recorded.get(c.name);
    if (!want) continue;
    await t.test(c.name, async () => {
      const got = await runSubmission(c, spool);
      assert.equal(got.stderr, want.stderr, 'stderr');
      assert.equal(got.stdout, want.stdout, 'stdout');
      assert.equal(got.status, want.status, 'exit status');
      assert.equal(got.ids.length, want.maildrop === null ? 0 : 1, 'maildrop files');
      const id = got.ids[0];
      if (id === undefined || want.maildrop === null) return;
      const st = fs.statSync(path.join(spool.queueDir, 'maildrop', id));
      assert.equal((st.mode & 0o7777).toString(8), want.mode, 'maildrop file mode');
      const shown = await runCommand('postcat', ['-q', id], '', submissionEnv(spool));
      assert.equal(normalizePostcat(shown.stdout, [[id, 'MAILDROP_ID']]), want.maildrop);
    });
  }
});
