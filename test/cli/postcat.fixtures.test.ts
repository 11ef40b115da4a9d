// Replays the recorded postcat fixtures (fixtures/postcat/*/cases.json,
// recorded from Postfix 3.7.11) against this project's bin/postcat and
// compares every byte of stdout and stderr, and the exit status. One test
// per suite, one subtest per case.

import { test } from 'node:test';
import * as path from 'node:path';
import { caseLabel, compareCase, listSuites, loadCases, oursBinary, oursInProcess, repoRoot, runCaseAsync } from '../lib/cases.js';

const root = repoRoot();
const binary = oursBinary(root);
const inProcess = oursInProcess(root);

for (const suiteDir of listSuites(path.join(root, 'fixtures', 'postcat'))) {
  test(`postcat fixtures: ${path.basename(suiteDir)}`, async (t) => {
    for (const [i, c] of loadCases(suiteDir).entries()) {
      await t.test(caseLabel(c, i), async () => {
        const diff = compareCase(c, await runCaseAsync(c, { binary, suiteDir, inProcess }));
        if (diff !== null) throw new Error(`${caseLabel(c, i)}\n${diff}`);
      });
    }
  });
}
