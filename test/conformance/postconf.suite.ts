// Conformance suite: replays every postconf fixture case against the real
// /usr/sbin/postconf, proving the recordings are reproducible. Cases marked
// "project" (outputs that truthfully differ for this project) are skipped.

import * as path from 'node:path';
import { realBinary, replaySuites, repoRoot, type SuiteReport } from '../lib/cases.js';

export const name = 'postconf';
export const binaries = ['postconf'];

export async function run(): Promise<SuiteReport> {
  return await replaySuites(path.join(repoRoot(), 'fixtures', 'postconf'), realBinary, true);
}
