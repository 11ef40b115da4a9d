// The replay of recorded delivery fixtures (tools/record-delivery.ts layout:
// fixtures/delivery/, fixtures/pipe/) through this project's daemon, as
// node:test tests: one test per fixture directory, run one after another
// (they share user names) inside a private network and mount namespace
// with a private /etc/postfix. Fixture sets replayed at the same time need
// user names of their own. Outside a namespace, a single test re-runs the file
// there, or is skipped with the reason (not root).
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { compare, privateEtcPostfix, recordFixture, removeStaleUsers } from '../../tools/record-delivery.js';
import { namespaceReady, whyNoNamespace } from './netns.js';
import { testInNamespace } from './netns-test.js';

/** Registers the tests; kind names the fixtures in test titles ("delivery", "pipe"). */
export function replayFixtureTests(kind: string, fixtures: () => string[], moduleUrl: string): void {
  if (!namespaceReady()) {
    testInNamespace(`${kind} fixtures replayed through bin/postfix`, moduleUrl, whyNoNamespace);
    return;
  }
  let restoreEtc: () => void = () => {};
  before(() => {
    removeStaleUsers(fixtures());
    restoreEtc = privateEtcPostfix();
  });
  after(() => restoreEtc());
  for (const dir of fixtures()) {
    test(`${kind} fixture ${path.basename(dir)}`, async () => {
      const rec = await recordFixture(dir, { kind: 'ours' });
      const problems = compare(path.join(dir, 'expected'), rec);
      assert.deepEqual(problems, [], `${path.basename(dir)} differs from Postfix 3.7.11:\n${problems.join('\n')}`);
    });
  }
}
