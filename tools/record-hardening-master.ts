// Records what Postfix 3.7.11 does in each scenario of
// test/master/hardening-scenarios.ts (dead clients, slow clients beyond
// process_limit, a killed smtpd, a reload with a bad main.cf) into
// fixtures/hardening-master/NAME.json. Root only; re-runs itself in a
// private network namespace because it starts Postfix.
//   node dist/tools/record-hardening-master.js [scenario...]
import * as fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { execInNamespaceSync, namespaceReady } from '../test/lib/netns.js';
import { FIXTURE_DIR, fixturePath, SCENARIOS, type ScenarioName } from '../test/master/hardening-scenarios.js';

if (!namespaceReady()) {
  process.exitCode = execInNamespaceSync([process.execPath, fileURLToPath(import.meta.url), ...process.argv.slice(2)]);
} else {
  const names = (process.argv.length > 2 ? process.argv.slice(2) : Object.keys(SCENARIOS)) as ScenarioName[];
  fs.mkdirSync(FIXTURE_DIR, { recursive: true });
  for (const name of names) {
    const run = SCENARIOS[name];
    if (!run) throw new Error(`no scenario ${name}`);
    const result = await run('postfix');
    fs.writeFileSync(fixturePath(name), `${JSON.stringify(result, null, 1)}\n`);
    console.log(`${name}: ${JSON.stringify(result)}`);
  }
}
