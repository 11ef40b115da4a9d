// Replays the cases recorded from Postfix 3.7.11 (fixtures/postmap/*,
// fixtures/postalias/*) against this project's bin/postmap and bin/postalias:
// stdout, stderr and exit status must match byte for byte (dumps sorted, the
// build time in postalias dumps masked). Each suite's setup.txt is run once by
// our own programs, so queries read tables that our postmap built.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { caseLabel, loadCases, oursBinary, runCase } from '../lib/cases.js';
import { type MapCase, compareMapCase, mapSuiteDirs, prepareSuite, suiteLabel } from '../conformance/postmap.suite.js';

const ours = oursBinary();

for (const suiteDir of mapSuiteDirs()) {
  describe(suiteLabel(suiteDir), () => {
    let prepared: string | undefined;
    let setupError: string | undefined;

    before(() => {
      try {
        prepared = prepareSuite(suiteDir, ours);
      } catch (e) {
        setupError = (e as Error).message;
      }
    });

    after(() => {
      if (prepared) fs.rmSync(prepared, { recursive: true, force: true });
    });

    (loadCases(suiteDir) as MapCase[]).forEach((c, i) => {
      test(caseLabel(c, i), () => {
        if (setupError !== undefined) assert.fail(setupError);
        const diff = compareMapCase(c, runCase(c, { binary: ours, suiteDir: prepared! }));
        if (diff !== null) assert.fail(diff);
      });
    });
  });
}
