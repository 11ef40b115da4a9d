// The delivery fixtures (fixtures/delivery/, recorded from Postfix 3.7.11 by
// tools/record-delivery.ts) replayed through this project's daemon: the same
// configuration, users, files and messages, sent by SMTP or by bin/sendmail,
// and the same normalised results -- mailbox and Maildir bytes with owners and
// modes, files and command output, notices, and the maillog lines in canonical
// order. Needs root (throw-away users, a private network and mount namespace);
// skipped with the reason otherwise. The fixtures run one after another: they
// share user names.
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { compare, listDeliveryFixtures, privateEtcPostfix, recordFixture, removeStaleUsers } from '../../tools/record-delivery.js';
import { namespaceReady, whyNoNamespace } from '../lib/netns.js';
import { testInNamespace } from '../lib/netns-test.js';

if (namespaceReady()) {
  let restoreEtc: () => void = () => {};
  before(() => {
    removeStaleUsers();
    restoreEtc = privateEtcPostfix();
  });
  after(() => restoreEtc());
  for (const dir of listDeliveryFixtures()) {
    test(`delivery fixture ${path.basename(dir)}`, async () => {
      const rec = await recordFixture(dir, { kind: 'ours' });
      const problems = compare(path.join(dir, 'expected'), rec);
      assert.deepEqual(problems, [], `${path.basename(dir)} differs from Postfix 3.7.11:\n${problems.join('\n')}`);
    });
  }
} else {
  testInNamespace('delivery fixtures replayed through bin/postfix', import.meta.url, whyNoNamespace);
}
