// Builds the project's own native code (run by `npm ci` as part of the
// postinstall, after build-lmdb.mjs): native/thread-creds, the per-thread
// credential switch of the local and virtual delivery agents (see
// native/thread-creds/thread_creds.c). Linux only; elsewhere there is
// nothing to build and the agents switch credentials process-wide. Fails
// the install, with the compiler's messages, when the build fails.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findNodeGyp, rebuildArgs } from './node-gyp.mjs';

if (process.platform !== 'linux') {
  console.log('build-native: per-thread credentials are Linux only; nothing to build');
  process.exit(0);
}
const dir = join(dirname(fileURLToPath(import.meta.url)), '..', 'native', 'thread-creds');
const binary = join(dir, 'build', 'Release', 'thread_creds.node');
const gyp = findNodeGyp();
if (!gyp) {
  console.error('build-native: cannot find node-gyp (it comes with npm)');
  process.exit(1);
}
const r = spawnSync(process.execPath, rebuildArgs(gyp), { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 16 << 20 });
if (r.status !== 0 || !existsSync(binary)) {
  process.stderr.write(r.stdout ?? '');
  process.stderr.write(r.stderr ?? '');
  console.error(`build-native: node-gyp failed (status ${r.status}); see the messages above`);
  process.exit(1);
}
console.log('build-native: done');
