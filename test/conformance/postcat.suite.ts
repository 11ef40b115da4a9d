// Conformance suite: replays every postcat fixture case against the real
// /usr/sbin/postcat, proving the recordings (real queue files, Postfix's own
// test files, crafted malformed files, queue searches, stdin) reproduce.

import * as path from 'node:path';
import { realBinary, replaySuites, repoRoot, type SuiteReport } from '../lib/cases.js';

export const name = 'postcat';
export const binaries = ['postcat'];

export async function run(): Promise<SuiteReport> {
  return replaySuites(path.join(repoRoot(), 'fixtures', 'postcat'), realBinary, true);
}
