// Helpers for the table tests: temporary table files and captured warnings.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../lib/tmp.js';

/** Writes `text` to a fresh temporary file and returns its path. */
export function tableFile(text: string, name = 'table'): string {
  const dir = tempDir('dict-test-');
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

/** Runs body with stderr captured; returns its value and what was written. */
export async function captured<T>(body: () => T | Promise<T>): Promise<{ value: T; stderr: string }> {
  const original = process.stderr.write.bind(process.stderr);
  let stderr = '';
  process.stderr.write = ((c: string | Uint8Array) => {
    stderr += typeof c === 'string' ? c : Buffer.from(c).toString('utf8');
    return true;
  }) as typeof process.stderr.write;
  try {
    return { value: await body(), stderr };
  } finally {
    process.stderr.write = original;
  }
}
