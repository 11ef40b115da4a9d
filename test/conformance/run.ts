// Conformance report: runs every dist/test/conformance/*.suite.js (each
// exports `name`, optionally `binaries`, and `run()`), prints how many of its
// cases real Postfix reproduces byte for byte, the first few differences, and
// a total. It is a report: it always exits 0.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

interface Suite {
  name: string;
  binaries?: string[];
  run(): Promise<{ identical: number; total: number; failures: string[] }>;
}

const SHOW_FAILURES = 3;
const here = path.dirname(fileURLToPath(import.meta.url));
const files = fs.readdirSync(here).filter((f) => f.endsWith('.suite.js')).sort();

let identical = 0;
let total = 0;
for (const file of files) {
  const suite = (await import(pathToFileURL(path.join(here, file)).href)) as Suite;
  const missing = (suite.binaries ?? [suite.name]).map((b) => `/usr/sbin/${b}`).filter((p) => !fs.existsSync(p));
  if (missing.length) {
    console.log(`${suite.name}: skipped: ${missing.join(', ')} not installed`);
    continue;
  }
  const r = await suite.run();
  identical += r.identical;
  total += r.total;
  console.log(`${suite.name}: ${r.identical}/${r.total} identical`);
  for (const f of r.failures.slice(0, SHOW_FAILURES)) console.log(f.replace(/^/gm, '    '));
  if (r.failures.length > SHOW_FAILURES) console.log(`    ... and ${r.failures.length - SHOW_FAILURES} more`);
}
console.log(`total: ${identical}/${total} identical`);
