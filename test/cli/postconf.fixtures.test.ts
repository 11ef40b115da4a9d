// Replays the recorded postconf fixtures (fixtures/postconf/*/cases.json)
// against this project's bin/postconf and compares every byte: stdout, stderr,
// exit status and the files a case edits. One test per suite, one subtest per
// case. Cases marked "project" carry this project's own expected output.

import { test } from 'node:test';
import * as path from 'node:path';
import { caseLabel, compareCase, listSuites, loadCases, oursBinary, repoRoot, runCase } from '../lib/cases.js';

const root = repoRoot();
const binary = oursBinary(root);

for (const suiteDir of listSuites(path.join(root, 'fixtures', 'postconf'))) {
  test(`postconf fixtures: ${path.basename(suiteDir)}`, async (t) => {
    const cases = loadCases(suiteDir);
    for (const [i, c] of cases.entries()) {
      await t.test(caseLabel(c, i), () => {
        const diff = compareCase(c, runCase(c, { binary, suiteDir }));
        if (diff !== null) throw new Error(`${caseLabel(c, i)}\n${diff}`);
      });
    }
  });
}
