// The per-thread credential switch of native/thread-creds (built by
// scripts/build-native.mjs at install). On Linux a thread's credentials are
// its own, but glibc's seteuid() family (and so process.seteuid()) changes
// every thread of the process by signalling each: slow, and racy in Node,
// where libuv's pool threads run other file operations meanwhile. The raw
// calls change the calling (main) thread only. Loaded once; null when the
// addon is not built (not Linux, or an install that skipped it).
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export interface ThreadCreds {
  /** Each returns 0 or the errno value of the failed system call. */
  setGroups(gids: number[]): number;
  setEgid(gid: number): number;
  setEuid(uid: number): number;
}

const ADDON = path.join('native', 'thread-creds', 'build', 'Release', 'thread_creds.node');
let cache: ThreadCreds | null | undefined;

/** The addon, found in the checkout above this module (or above the running command's bundle). */
export function threadCreds(): ThreadCreds | null {
  if (cache !== undefined) return cache;
  cache = null;
  // In a command bundle (CommonJS) import.meta is empty: start from the script.
  const from = (import.meta as { url?: string }).url ?? pathToFileURL(process.argv[1] ?? path.join(process.cwd(), 'index.js')).href;
  let dir = path.dirname(fileURLToPath(from));
  for (let i = 0; i < 6; i++, dir = path.dirname(dir)) {
    const file = path.join(dir, ADDON);
    if (!fs.existsSync(file)) continue;
    try {
      cache = createRequire(from)(file) as ThreadCreds;
    } catch {
      cache = null;
    }
    break;
  }
  return cache;
}
