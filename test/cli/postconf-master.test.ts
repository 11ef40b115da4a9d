// Replays the recorded master.cf fixtures (fixtures/postconf-master/*/cases.json:
// -M, -F, -P and their edits, -b/-t, -l, -T, recorded from Postfix 3.7.11)
// against this project's bin/postconf: stdout, stderr, exit status and the
// files an edit leaves behind must match byte for byte.

import { test } from 'node:test';
import * as path from 'node:path';
import { caseLabel, compareCase, listSuites, loadCases, oursBinary, oursInProcess, repoRoot, runCaseAsync } from '../lib/cases.js';

const root = repoRoot();
const binary = oursBinary(root);
const inProcess = oursInProcess(root);

for (const suiteDir of listSuites(path.join(root, 'fixtures', 'postconf-master'))) {
  test(`postconf master.cf fixtures: ${path.basename(suiteDir)}`, async (t) => {
    for (const [i, c] of loadCases(suiteDir).entries()) {
      await t.test(caseLabel(c, i), async () => {
        const diff = compareCase(c, await runCaseAsync(c, { binary, suiteDir, inProcess }));
        if (diff !== null) throw new Error(`${caseLabel(c, i)}\n${diff}`);
      });
    }
  });
}
