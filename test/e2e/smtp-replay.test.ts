// The smtp(8)/lmtp(8) fixtures (fixtures/smtp/, recorded from Postfix 3.7.11
// by tools/record-smtp.ts) replayed through this project's daemon: the same
// configuration, the same scripted peer and the same messages, and the
// same normalised results -- what the peer received in each session and
// the maillog lines in canonical order. Needs a private network namespace
// (root); skipped with the reason otherwise.
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { test } from 'node:test';
import { compare } from '../../tools/record-delivery.js';
import { listSmtpFixtures, recordScenario } from '../../tools/record-smtp.js';
import { namespaceReady, whyNoNamespace } from '../lib/netns.js';
import { testInNamespace } from '../lib/netns-test.js';

if (namespaceReady()) {
  for (const dir of listSmtpFixtures()) {
    test(`smtp fixture ${path.basename(dir)}`, async () => {
      const rec = await recordScenario(dir, 'ours');
      const problems = compare(path.join(dir, 'expected'), rec);
      assert.deepEqual(problems, [], `${path.basename(dir)} differs from Postfix 3.7.11:\n${problems.join('\n')}`);
    });
  }
} else {
  testInNamespace('smtp fixtures replayed through bin/postfix', import.meta.url, whyNoNamespace);
}
