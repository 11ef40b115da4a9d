// Replays the cases recorded from Postfix 3.7.11 (fixtures/postmap/*,
// fixtures/postalias/*) against this project's bin/postmap and bin/postalias:
// stdout, stderr and exit status must match byte for byte (dumps sorted, the
// build time in postalias dumps masked). Each suite's setup.txt is run once by
// our own programs, so queries read tables that our postmap built. One test
// per suite, one subtest per case. A suite with a memcached.txt gets a fake
// memcached on the port it names (test/lib/fake-memcached.ts).

import { test } from 'node:test';
import * as fs from 'node:fs';
import { caseLabel, loadCases, oursBinary, oursInProcess, runCaseAsync } from '../lib/cases.js';
import { type MapCase, compareMapCase, mapSuiteDirs, prepareSuite, suiteLabel } from '../conformance/postmap.suite.js';
import { startSuiteMemcached } from '../lib/fake-memcached.js';

const ours = oursBinary();
const inProcess = oursInProcess();

for (const suiteDir of mapSuiteDirs()) {
  test(`${suiteLabel(suiteDir)} fixtures`, { concurrency: 2 }, async (t) => {
    const cases = loadCases(suiteDir) as MapCase[];
    const stopServer = await startSuiteMemcached(suiteDir);
    let prepared: string | undefined;
    let setupError: string | undefined;
    try {
      prepared = prepareSuite(suiteDir, ours);
    } catch (e) {
      setupError = (e as Error).message;
    }
    try {
      await Promise.all(
        cases.map((c, i) =>
          t.test(caseLabel(c, i), async () => {
            if (setupError !== undefined) throw new Error(setupError);
            const diff = compareMapCase(c, await runCaseAsync(c, { binary: ours, suiteDir: prepared!, inProcess }));
            if (diff !== null) throw new Error(`${caseLabel(c, i)}\n${diff}`);
          }),
        ),
      );
    } finally {
      if (prepared) fs.rmSync(prepared, { recursive: true, force: true });
      await stopServer();
    }
  });
}
