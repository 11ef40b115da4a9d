// The pipe(8) fixtures (fixtures/pipe/, recorded from Postfix 3.7.11 by
// tools/record-pipe.ts) replayed through this project's daemon: the same
// master.cf pipe services, users and messages, and the same normalised
// results -- what each command was given (argv, identity, environment,
// standard input), the notices, and the maillog lines. Needs root
// (throw-away users, a private network and mount namespace); skipped with
// the reason otherwise. The fixtures run one after another: they share user
// names.
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { compare, privateEtcPostfix, recordFixture, removeStaleUsers } from '../../tools/record-delivery.js';
import { listPipeFixtures } from '../../tools/record-pipe.js';
import { namespaceReady, whyNoNamespace } from '../lib/netns.js';
import { testInNamespace } from '../lib/netns-test.js';

if (namespaceReady()) {
  let restoreEtc: () => void = () => {};
  before(() => {
    removeStaleUsers();
    restoreEtc = privateEtcPostfix();
  });
  after(() => restoreEtc());
  for (const dir of listPipeFixtures()) {
    test(`pipe fixture ${path.basename(dir)}`, async () => {
      const rec = await recordFixture(dir, { kind: 'ours' });
      const problems = compare(path.join(dir, 'expected'), rec);
      assert.deepEqual(problems, [], `${path.basename(dir)} differs from Postfix 3.7.11:\n${problems.join('\n')}`);
    });
  }
} else {
  testInNamespace('pipe fixtures replayed through bin/postfix', import.meta.url, whyNoNamespace);
}
