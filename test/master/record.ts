// Records what Postfix 3.7.11's postfix command prints, logs and leaves
// behind for each scenario of test/master/scenarios.ts, into
// test/master/fixtures/scenarios.json. Root only; it re-runs itself in a
// private network namespace (test/lib/netns.ts) because it starts Postfix.
//   node dist/test/master/record.js [scenario...]
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execInNamespaceSync, namespaceReady } from '../lib/netns.js';
import { FIXTURE_PATH as FIXTURE, runScenarios } from './scenarios.js';

if (!namespaceReady()) {
  process.exitCode = execInNamespaceSync([process.execPath, fileURLToPath(import.meta.url), ...process.argv.slice(2)]);
} else {
  const only = process.argv.slice(2);
  const results = await runScenarios('postfix', only.length ? only : undefined);
  const old = fs.existsSync(FIXTURE) ? (JSON.parse(fs.readFileSync(FIXTURE, 'utf8')) as Array<{ name: string }>) : [];
  const merged = [...old.filter((o) => !results.some((r) => r.name === o.name)), ...results];
  fs.mkdirSync(path.dirname(FIXTURE), { recursive: true });
  fs.writeFileSync(FIXTURE, `${JSON.stringify(merged, null, 1)}\n`);
  console.log(`recorded ${results.length} scenarios into ${FIXTURE}`);
}
