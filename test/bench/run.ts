// Benchmark runner: imports every dist/test/bench/*.bench.js (each exports
// `name` and `run(): Promise<void>`, which prints its own figures and ratios)
// and runs them one after the other, so that they do not compete for the
// cores. Arguments select benchmarks by a substring of the file or the name:
//   npm run bench -- postmap
// Never part of `npm test`.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

interface Bench {
  name: string;
  run(): Promise<void>;
}

const here = path.dirname(fileURLToPath(import.meta.url));
const filters = process.argv.slice(2);
const files = fs.readdirSync(here).filter((f) => f.endsWith('.bench.js')).sort();

let failed = false;
for (const file of files) {
  const bench = (await import(pathToFileURL(path.join(here, file)).href)) as Bench;
  const label = bench.name ?? file;
  if (filters.length && !filters.some((f) => file.includes(f) || label.includes(f))) continue;
  console.log(`== ${label}`);
  const t0 = process.hrtime.bigint();
  try {
    await bench.run();
  } catch (e) {
    failed = true;
    console.log(`  failed: ${(e as Error).message}`);
  }
  console.log(`  (${(Number(process.hrtime.bigint() - t0) / 1e9).toFixed(1)} s)`);
}
process.exitCode = failed ? 1 : 0;
