// The smtp(8)/lmtp(8) fixtures (fixtures/smtp/, recorded from Postfix 3.7.11
// by tools/record-smtp.ts) replayed through this project's daemon: the same
// configuration, the same scripted peer and the same messages, and the
// same normalised results -- what the peer received in each session and
// the maillog lines in canonical order. The fixtures are split between
// several test files (smtp-replay-N.test.ts), which the test runner runs at
// once, each in a private network namespace of its own (root); skipped
// with the reason otherwise.
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { test } from 'node:test';
import { compare } from '../../tools/record-delivery.js';
import { listSmtpFixtures, recordScenario } from '../../tools/record-smtp.js';
import { namespaceReady, whyNoNamespace } from '../lib/netns.js';
import { testInNamespace } from '../lib/netns-test.js';

/** Registers the tests of shard `index` of `count` (every count-th fixture from index). */
export function replayShard(index: number, count: number, self: string): void {
  if (!namespaceReady()) {
    testInNamespace(`smtp fixtures (part ${index + 1} of ${count}) replayed through bin/postfix`, self, whyNoNamespace);
    return;
  }
  listSmtpFixtures().forEach((dir, i) => {
    if (i % count !== index) return;
    test(`smtp fixture ${path.basename(dir)}`, async () => {
      const rec = await recordScenario(dir, 'ours');
      const problems = compare(path.join(dir, 'expected'), rec);
      assert.deepEqual(problems, [], `${path.basename(dir)} differs from Postfix 3.7.11:\n${problems.join('\n')}`);
    });
  });
}
