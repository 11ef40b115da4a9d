// Records test/smtpd/fixtures/19-anvil/expected.json from real Postfix
// 3.7.11: plays test/smtpd/anvil-scenario.ts against /usr/sbin/postfix on
// the fixture, then keeps the daemon up past anvil_status_update_time and
// stops it, to see anvil's own "statistics:" lines.
//   node dist/test/smtpd/record-anvil.js
// Runs in a private network namespace (re-runs itself under unshare as root).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startDaemon } from '../lib/daemon.js';
import { execInNamespaceSync, namespaceReady, whyNoNamespace } from '../lib/netns.js';
import { playAnvilScenario, stripLogLine } from './anvil-scenario.js';
import { extraFixtureRoot } from './record.js';

/** anvil's lines with the time of each peak ("at Mmm dd hh:mm:ss") made constant. */
export function anvilLines(log: string): string[] {
  return log.split('\n').filter((l) => /\/anvil\[\d+\]: /.test(l)).map((l) => stripLogLine(l).replace(/ at [A-Z][a-z]{2} [ 0-9]\d \d\d:\d\d:\d\d$/, ' at @TIME@'));
}

async function main(): Promise<void> {
  const dir = path.join(extraFixtureRoot(), '19-anvil');
  const daemon = await startDaemon('postfix', dir, { keep: true });
  let result;
  let running = '';
  try {
    await new Promise((r) => setTimeout(r, 1000));
    result = await playAnvilScenario(() => daemon.log());
    await new Promise((r) => setTimeout(r, 5000));
    running = daemon.log();
  } finally {
    await daemon.stop();
  }
  await new Promise((r) => setTimeout(r, 1000));
  const after = fs.readFileSync(path.join(daemon.dir, 'maillog'), 'latin1');
  const expected = {
    dialogue: result.dialogue,
    warnings: result.warnings,
    anvilWhileRunning: anvilLines(running),
    anvilAtStop: anvilLines(after.slice(running.length)),
  };
  fs.writeFileSync(path.join(dir, 'expected.json'), JSON.stringify(expected, null, 1) + '\n');
  console.log(`kept ${daemon.dir}; count part served by pids ${result.countPids.join(', ')}`);
}

if (namespaceReady()) {
  await main();
} else {
  const why = whyNoNamespace();
  if (why !== null) {
    console.error(`record-anvil: ${why}`);
    process.exit(1);
  }
  process.exit(execInNamespaceSync([process.execPath, fileURLToPath(import.meta.url)]));
}
