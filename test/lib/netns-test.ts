// The outer half of a test file that must run in a private network
// namespace (netns.ts): registered outside one, a test re-runs the file
// with the spec reporter under runInNamespace() and passes when that run
// does, showing the end of its output when it does not.
import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runInNamespace } from './netns.js';

/** How much of a failed run's output (its end) the assertion message shows. */
const SHOW = 12000;

/**
 * Registers test `name`, which re-runs the file at moduleUrl (the file's
 * import.meta.url) in a private network namespace, or is skipped with the
 * reason why() gives, when it gives one.
 */
export function testInNamespace(name: string, moduleUrl: string, why: () => string | null): void {
  test(name, async (t) => {
    const reason = why();
    if (reason) {
      t.skip(reason);
      return;
    }
    const r = await runInNamespace([process.execPath, '--test', '--test-reporter=spec', fileURLToPath(moduleUrl)]);
    const output = `${r.stdout}${r.stderr}`;
    assert.equal(r.status, 0, output.length > SHOW ? `...${output.slice(-SHOW)}` : output);
  });
}
