// Where node-gyp is and how to call it, for the install scripts that build
// native code (build-lmdb.mjs, build-native.mjs). npm ships node-gyp and
// tells lifecycle scripts where it is; otherwise look beside npm.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);

/** The node-gyp script, or undefined when none is found. */
export function findNodeGyp() {
  const candidates = [];
  if (process.env.npm_config_node_gyp) candidates.push(process.env.npm_config_node_gyp);
  const execDir = dirname(process.execPath);
  candidates.push(join(execDir, '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  candidates.push('/usr/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js');
  candidates.push('/usr/share/nodejs/node-gyp/bin/node-gyp.js');
  try {
    candidates.push(require.resolve('node-gyp/bin/node-gyp.js'));
  } catch {
    /* not a dependency */
  }
  return candidates.find((p) => existsSync(p));
}

/** The arguments of `node-gyp rebuild`, with Node's headers when they are installed locally. */
export function rebuildArgs(gyp) {
  const args = [gyp, 'rebuild'];
  const nodedir = process.env.npm_config_nodedir || (existsSync('/usr/include/node/node.h') ? '/usr' : undefined);
  if (nodedir) args.push(`--nodedir=${nodedir}`);
  return args;
}
