// Builds lmdb-js from source with LMDB_DATA_V1=true (run by `npm ci` as the
// project's postinstall). The prebuilt lmdb-js binary writes LMDB's newer
// data format, which Postfix's liblmdb 0.9 rejects ("MDB_INVALID"), and it
// crashes on Postfix's files; the v1 build reads and writes Postfix's
// format. Needs a C++ compiler and Node's headers (nodedir); prints why and
// fails the install when it cannot build. Skips the work when a v1 build is
// already in place.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { findNodeGyp, rebuildArgs } from './node-gyp.mjs';

const require = createRequire(import.meta.url);
/** The lmdb package directory (its package.json is not exported, so walk up from its main file). */
function findLmdbDir() {
  let dir;
  try {
    dir = dirname(require.resolve('lmdb'));
  } catch {
    return undefined;
  }
  for (let i = 0; i < 5; i++, dir = dirname(dir)) {
    const pj = join(dir, 'package.json');
    if (existsSync(pj) && JSON.parse(readFileSync(pj, 'utf8')).name === 'lmdb') return dir;
  }
  return undefined;
}
const lmdbDir = findLmdbDir();
if (!lmdbDir) {
  console.log('build-lmdb: lmdb is not installed; nothing to build');
  process.exit(0);
}
const version = JSON.parse(readFileSync(join(lmdbDir, 'package.json'), 'utf8')).version;
const marker = join(lmdbDir, 'build', 'Release', 'postfix-ts-data-v1');
const binary = join(lmdbDir, 'build', 'Release', 'lmdb.node');
if (existsSync(binary) && existsSync(marker) && readFileSync(marker, 'utf8') === `${version} ${process.versions.modules}\n`) {
  process.exit(0);
}

const gyp = findNodeGyp();
if (!gyp) {
  console.error('build-lmdb: cannot find node-gyp (it comes with npm); lmdb: tables cannot be updated in place');
  process.exit(1);
}
const args = rebuildArgs(gyp);
console.log(`build-lmdb: building lmdb ${version} with LMDB_DATA_V1=true (about a minute)`);
const r = spawnSync(process.execPath, args, {
  cwd: lmdbDir,
  stdio: ['ignore', 'pipe', 'pipe'],
  maxBuffer: 64 << 20,
  env: { ...process.env, LMDB_DATA_V1: 'true', JOBS: process.env.JOBS || 'max' },
});
if (r.status !== 0 || !existsSync(binary)) {
  // The compiler's messages only matter when the build failed.
  process.stderr.write(r.stdout ?? '');
  process.stderr.write(r.stderr ?? '');
  console.error(`build-lmdb: node-gyp failed (status ${r.status}); see the messages above`);
  process.exit(1);
}
writeFileSync(marker, `${version} ${process.versions.modules}\n`);
console.log('build-lmdb: done');
