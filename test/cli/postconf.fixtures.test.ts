// Replays the recorded postconf fixtures (fixtures/postconf/*/cases.json)
// against this project's bin/postconf and compares every byte: stdout, stderr,
// exit status and the files a case edits. One test per suite, one subtest per
// case. Cases marked "project" carry this project's own expected output.

import { test } from 'node:test';
import * as path from 'node:path';
import { caseLabel, compareCase, listSuites, loadCases, oursBinary, oursInProcess, repoRoot, runCaseAsync } from '../lib/cases.js';

const root = repoRoot();
const binary = oursBinary(root);
const inProcess = oursInProcess(root);

for (const suiteDir of listSuites(path.join(root, 'fixtures', 'postconf'))) {
  test(`postconf fixtures: ${path.basename(suiteDir)}`, { concurrency: 2 }, async (t) => {
    const cases = loadCases(suiteDir);
    await Promise.all(
      cases.map((c, i) =>
        t.test(caseLabel(c, i), async () => {
          const diff = compareCase(c, await runCaseAsync(c, { binary, suiteDir, inProcess }));
          if (diff !== null) throw new Error(`${caseLabel(c, i)}\n${diff}`);
        }),
      ),
    );
  });
}
