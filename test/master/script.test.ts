// The postfix command against what Postfix 3.7.11's printed, logged and left
// behind (test/master/fixtures/scenarios.json, made by record.ts): for each
// scenario of scenarios.ts, every command's exit status, its output in a
// pipe and on a terminal, the maillog lines of the command and the master's
// start and reload lines, and after start the queue directories and the
// PID file. Lines this project adds on purpose (warnings about master.cf
// services it does not run yet, "terminating on signal") are not compared.
// Starts daemons: outside a private network namespace this file re-runs
// itself under `unshare -n` (root only); not root, it skips.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { test } from 'node:test';
import { namespaceReady, whyNoNamespace } from '../lib/netns.js';
import { testInNamespace } from '../lib/netns-test.js';
import { FIXTURE_PATH, type ScenarioResult, runScenarios } from './scenarios.js';

if (!namespaceReady()) {
  testInNamespace('postfix command scenarios (in a private network namespace)', import.meta.url, () =>
    whyNoNamespace() ?? (fs.existsSync(FIXTURE_PATH) ? null : 'no recorded scenarios'));
} else {
  const recorded = JSON.parse(fs.readFileSync(FIXTURE_PATH, 'utf8')) as ScenarioResult[];
  test('postfix command scenarios', async (t) => {
    const ours = await runScenarios('ours');
    for (const want of recorded) {
      await t.test(want.name, () => {
        const got = ours.find((o) => o.name === want.name);
        assert.ok(got, `scenario ${want.name} did not run`);
        assert.deepEqual(got.steps, want.steps);
        assert.deepEqual(got.maillog, want.maillog);
        assert.deepEqual(got.queueDirs, want.queueDirs);
        assert.deepEqual(got.pidFile, want.pidFile);
      });
    }
  });
}
