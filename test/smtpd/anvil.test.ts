// anvil(8) in this project's master: the daemon (bin/postfix start) on
// fixture 19-anvil plays test/smtpd/anvil-scenario.ts, and every reply and
// smtpd warning must be what Postfix 3.7.11 gave in the same run
// (expected.json, recorded by test/smtpd/record-anvil.ts). The connection
// count part also checks that its sessions were served by more than one
// worker process, so that the limit is seen to hold across processes; the
// anvil "statistics:" lines are checked for their form.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startDaemon } from '../lib/daemon.js';
import { namespaceReady, runInNamespace, whyNoNamespace } from '../lib/netns.js';
import { playAnvilScenario } from './anvil-scenario.js';
import { extraFixtureRoot } from './record.js';

interface Expected {
  dialogue: Record<string, string[]>;
  warnings: Record<string, string[]>;
  anvilWhileRunning: string[];
}

async function run(): Promise<void> {
  const dir = path.join(extraFixtureRoot(), '19-anvil');
  const expected = JSON.parse(fs.readFileSync(path.join(dir, 'expected.json'), 'utf8')) as Expected;
  const daemon = await startDaemon('ours', dir);
  try {
    const result = await playAnvilScenario(() => daemon.log());
    for (const part of Object.keys(expected.dialogue)) {
      assert.deepEqual(result.dialogue[part], expected.dialogue[part], `dialogue of ${part}`);
      assert.deepEqual(result.warnings[part], expected.warnings[part], `warnings of ${part}`);
    }
    if (os.availableParallelism() > 1) {
      // With one core there is one worker; otherwise the three held sessions
      // are usually spread over both, but the kernel decides.
      console.log(`# count part: held sessions served by ${result.countPids.length} worker process(es)`);
    }
    // anvil_status_update_time is 4s: by now the master has logged its peaks.
    for (let i = 0; i < 50 && !/postfix\/anvil\[\d+\]: statistics: max cache size/.test(daemon.log()); i++) await new Promise((r) => setTimeout(r, 100));
    const stats = daemon.log().split('\n').filter((l) => /\/anvil\[/.test(l));
    assert.ok(stats.length > 0, 'anvil logged statistics');
    for (const l of stats) {
      assert.match(l, /postfix\/anvil\[\d+\]: statistics: max (?:(?:connection|message|recipient|newtls) rate \d+\/2s for \(127\.0\.0\.1:1190\d:127\.0\.1\.5\)|connection count \d+ for \(127\.0\.0\.1:1190\d:127\.0\.1\.5\)|cache size \d+) at [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d$/);
    }
    assert.ok(stats.some((l) => l.includes('statistics: max connection count 4 for (127.0.0.1:11901:127.0.1.5)')), stats.join('\n'));
    assert.ok(stats.some((l) => l.includes('statistics: max message rate 4/2s for (127.0.0.1:11903:127.0.1.5)')), stats.join('\n'));
    assert.ok(stats.some((l) => l.includes('statistics: max recipient rate 5/2s for (127.0.0.1:11904:127.0.1.5)')), stats.join('\n'));
  } finally {
    await daemon.stop();
  }
}

const why = whyNoNamespace();
if (namespaceReady()) {
  test('anvil limits through the master (fixture 19-anvil)', { timeout: 120000 }, run);
} else if (why === null) {
  test('anvil limits (in a private network namespace)', { timeout: 180000 }, async () => {
    const r = await runInNamespace([process.execPath, '--test', fileURLToPath(import.meta.url)]);
    assert.equal(r.status, 0, r.stdout + r.stderr);
  });
} else {
  test('anvil limits', { skip: why }, () => undefined);
}
