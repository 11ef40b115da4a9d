// Build step after tsc: bundles each command (dist/src/cli/NAME.js, for every
// launcher in bin/) into one CommonJS file, dist/bin/NAME.cjs. A command then
// starts by compiling one file instead of resolving and linking twenty ES
// modules, which is most of what `postconf -n` would otherwise spend beyond
// Node's own start-up. Packages in node_modules (lmdb's native code) stay
// outside the bundle and load as usual.
//
// Each bundle also gets a V8 code cache: dist/bin/NAME.cjs is a small stub
// that compiles the bundle (NAME.bundle.cjs) with the cache made here
// (NAME.bundle.cjs.cache), which spares every process -- each daemon worker
// and each command -- most of the parse of a file of a megabyte. V8 checks
// that the cache fits the source and its own version and flags, and
// compiles from scratch when it does not.
import { build } from 'esbuild';
import { readdirSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as vm from 'node:vm';

const root = fileURLToPath(new URL('../../', import.meta.url));
// Every launcher that loads a bundle (require('../dist/bin/NAME.cjs')).
const commands = readdirSync(join(root, 'bin')).filter(
  (n) => !n.includes('.') && readFileSync(join(root, 'bin', n), 'utf8').includes(`dist/bin/${n}.cjs`),
);
const entryPoints: Record<string, string> = {};
for (const name of commands) {
  const entry = join(root, 'dist/src/cli', `${name}.js`);
  if (!existsSync(entry)) throw new Error(`bin/${name} has no dist/src/cli/${name}.js`);
  entryPoints[name] = entry;
}
await build({
  entryPoints,
  outdir: join(root, 'dist/bin'),
  outExtension: { '.js': '.bundle.cjs' },
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  packages: 'external',
  logLevel: 'warning',
  // A script compiled through node:vm cannot import(): external packages
  // loaded on demand (lmdb) are required instead.
  supported: { 'dynamic-import': false },
});

/** The CommonJS wrapper Node puts around a module's source. */
const WRAP_HEAD = '(function (exports, require, module, __filename, __dirname) { ';
const WRAP_TAIL = '\n});';

const LOADER = `'use strict';
// Written by tools/bundle.ts: compiles a command's bundle with its V8 code
// cache and runs it as the module Node would have made of it.
const fs = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');
const { createRequire } = require('node:module');
exports.run = function run(mod, file) {
  const source = fs.readFileSync(file, 'utf8');
  let cachedData;
  try {
    cachedData = fs.readFileSync(file + '.cache');
  } catch {
    cachedData = undefined;
  }
  const script = new vm.Script(${JSON.stringify(WRAP_HEAD)} + source + ${JSON.stringify(WRAP_TAIL)}, { filename: file, cachedData });
  mod.filename = file;
  script.runInThisContext().call(mod.exports, mod.exports, createRequire(file), mod, file, path.dirname(file));
};
`;
const outDir = join(root, 'dist/bin');
writeFileSync(join(outDir, 'load-bundle.cjs'), LOADER);
for (const name of commands) {
  const bundle = join(outDir, `${name}.bundle.cjs`);
  const script = new vm.Script(WRAP_HEAD + readFileSync(bundle, 'utf8') + WRAP_TAIL, { filename: bundle });
  writeFileSync(`${bundle}.cache`, script.createCachedData());
  writeFileSync(join(outDir, `${name}.cjs`), `'use strict';\nrequire('./load-bundle.cjs').run(module, require('node:path').join(__dirname, '${name}.bundle.cjs'));\n`);
}
// Caches of commands that no longer exist would only take room.
for (const f of readdirSync(outDir)) {
  const base = f.split('.')[0]!;
  if (!commands.includes(base) && f !== 'load-bundle.cjs') rmSync(join(outDir, f), { force: true });
}
