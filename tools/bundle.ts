// Build step after tsc: bundles each command (dist/src/cli/NAME.js, for every
// launcher in bin/) into one CommonJS file, dist/bin/NAME.cjs. A command then
// starts by compiling one file instead of resolving and linking twenty ES
// modules, which is most of what `postconf -n` would otherwise spend beyond
// Node's own start-up. Packages in node_modules (lmdb's native code) stay
// outside the bundle and load as usual.
import { build } from 'esbuild';
import { readdirSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

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
  outExtension: { '.js': '.cjs' },
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  packages: 'external',
  logLevel: 'warning',
});
