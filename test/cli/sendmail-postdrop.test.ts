// Replays fixtures/submission/postdrop.json (recorded from Postfix 3.7.11's
// postdrop by tools/record-submission.ts): record streams fed to postdrop
// directly, compared byte for byte: the attribute stream on stdout (queue
// ID normalized), stderr, the exit status, and the maildrop file left
// behind as postcat shows it, with its permission bits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { repoRoot } from '../lib/cases.js';
import { POSTDROP_CASES, encodeRecords } from '../pickup/submission-cases.js';
import { normalizePostcat } from '../pickup/submission-normalize.js';
import { makeSpool, runCommand, submissionEnv, type RecordedCase } from '../pickup/submission-run.js';

const recorded = new Map(
  (JSON.parse(fs.readFileSync(path.join(repoRoot(), 'fixtures', 'submission', 'postdrop.json'), 'latin1')) as RecordedCase[]).map((c) => [c.name, c]),
);
const labelId = (s: string) => s.replace(/queue_id\0[^\0]*\0/, 'queue_id\0MAILDROP_ID\0');

test('postdrop fixtures', async (t) => {
  const spool = makeSpool();
  const maildrop = path.join(spool.queueDir, 'maildrop');
  for (const c of POSTDROP_CASES) {
    const want = recorded.get(`postdrop-${c.name}`);
    if (!want) continue;
    await t.test(c.name, async () => {
      for (const f of fs.readdirSync(maildrop)) fs.rmSync(path.join(maildrop, f));
      const got = await runCommand('postdrop', ['-r'], encodeRecords(c), submissionEnv(spool));
      assert.equal(labelId(got.stdout), labelId(want.stdout), 'stdout');
      const ids = fs.readdirSync(maildrop);
      const id = ids[0];
      assert.equal(id ? got.stderr.split(id).join('MAILDROP_ID') : got.stderr, want.stderr, 'stderr');
      assert.equal(got.status, want.status, 'exit status');
      assert.equal(ids.length, want.maildrop === null ? 0 : 1, 'maildrop files');
      if (id === undefined) return;
      assert.equal((fs.statSync(path.join(maildrop, id)).mode & 0o7777).toString(8), want.mode, 'mode');
      const shown = await runCommand('postcat', ['-q', id], '', submissionEnv(spool));
      assert.equal(normalizePostcat(shown.stdout, [[id, 'MAILDROP_ID']]), want.maildrop);
    });
  }
});
