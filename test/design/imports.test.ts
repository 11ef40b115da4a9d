// The one-way imports of DESIGN.md, checked on the source tree: a layer
// imports only from the layers below it, and a daemon part reaches a sibling
// daemon part only through that part's exported interface (its api.ts).
// log/ (the logger interface and sinks) sits just above util/, so that every
// layer can be handed a logger.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { repoRoot } from '../lib/cases.js';

const RANK: Record<string, number> = {
  util: 0,
  log: 1,
  config: 2,
  dict: 3,
  mail: 4,
  address: 5,
  queue: 6,
  smtpd: 7,
  cleanup: 7,
  qmgr: 7,
  delivery: 7,
  bounce: 7,
  pickup: 7,
  flush: 7,
  master: 8,
  cli: 9,
};

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...sourceFiles(p));
    else if (e.name.endsWith('.ts')) out.push(p);
  }
  return out;
}

/** Relative module specifiers of one file's static and dynamic imports and re-exports. */
export function importsOf(text: string): string[] {
  const specs: string[] = [];
  for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^;'"]*?from\s*'([^']+)'/g)) specs.push(m[1]!);
  for (const m of text.matchAll(/(?:^|\n)\s*import\s*'([^']+)'/g)) specs.push(m[1]!);
  for (const m of text.matchAll(/\bimport\(\s*'([^']+)'\s*\)/g)) specs.push(m[1]!);
  return specs.filter((s) => s.startsWith('.'));
}

/** The violations of the layering rule among src/ files, as "from -> to" lines. */
export function layerViolations(srcDir: string): string[] {
  const bad: string[] = [];
  for (const file of sourceFiles(srcDir)) {
    const rel = path.relative(srcDir, file);
    const layer = rel.split(path.sep)[0]!;
    const from = RANK[layer];
    if (from === undefined) {
      bad.push(`${rel}: directory "${layer}" has no place in DESIGN.md's layering`);
      continue;
    }
    for (const spec of importsOf(fs.readFileSync(file, 'utf8'))) {
      const target = path.relative(srcDir, path.resolve(path.dirname(file), spec));
      const toLayer = target.split(path.sep)[0]!;
      if (toLayer === layer) continue;
      const to = RANK[toLayer];
      if (to === undefined) {
        bad.push(`${rel} -> ${target}: outside the layers`);
      } else if (to > from) {
        bad.push(`${rel} -> ${target}: ${layer} may not import from ${toLayer}`);
      } else if (to === from && path.basename(target).replace(/\.[jt]s$/, '') !== 'api') {
        bad.push(`${rel} -> ${target}: a daemon part reaches ${toLayer} only through ${toLayer}/api`);
      }
    }
  }
  return bad.sort();
}

test('imports in src/ follow DESIGN.md: downward only, siblings through their api', () => {
  assert.deepEqual(layerViolations(path.join(repoRoot(), 'src')), []);
});

test('the check sees upward and sideways imports', () => {
  const dir = fs.mkdtempSync('/tmp/pfcase-imports-');
  try {
    for (const d of ['util', 'dict', 'smtpd', 'cleanup']) fs.mkdirSync(path.join(dir, d));
    fs.writeFileSync(path.join(dir, 'util/a.ts'), "import { x } from '../dict/b.js';\n");
    fs.writeFileSync(path.join(dir, 'dict/b.ts'), "export const x = 1;\nimport '../util/a.js';\n");
    fs.writeFileSync(path.join(dir, 'smtpd/c.ts'), "import type { Y } from '../cleanup/state.js';\nimport { Z } from '../cleanup/api.js';\n");
    fs.writeFileSync(path.join(dir, 'cleanup/state.ts'), 'export type Y = 1;\n');
    fs.writeFileSync(path.join(dir, 'cleanup/api.ts'), 'export const Z = 1;\n');
    assert.deepEqual(layerViolations(dir), [
      'smtpd/c.ts -> cleanup/state.js: a daemon part reaches cleanup only through cleanup/api',
      'util/a.ts -> dict/b.js: util may not import from dict',
    ]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
