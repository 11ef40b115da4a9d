// Loads the configurations recorded under fixtures/resolve/ (see record.mjs
// there): each is copied to a temporary directory with "@DIR@" replaced by
// that directory, so that its main.cf and table paths work as recorded.
import { mkdtempSync, readdirSync, readFileSync, existsSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Config } from '../../src/config/config.js';
import type { AddressLog } from '../../src/address/maps.js';

export const FIXTURES = fileURLToPath(new URL('../../../fixtures/resolve/', import.meta.url));
const DIR_TOKEN = '@DIR@';

export interface RecordedCase {
  op: 'resolve' | 'verify' | 'rewrite' | 'smtp';
  address?: string;
  sender?: string;
  rule?: 'local' | 'remote';
  from?: string;
  rcpt?: string[];
  headers?: string[];
  expect: Record<string, unknown>;
  log: string[];
  /** Why this project's answer is allowed to differ (none so far). */
  note?: string;
}

export interface LoadedFixture {
  name: string;
  dir: string;
  config: Config;
  cases: RecordedCase[];
  cleanup(): void;
}

export function fixtureNames(): string[] {
  return readdirSync(FIXTURES).filter((n) => existsSync(join(FIXTURES, n, 'cases.json'))).sort();
}

export function loadFixture(name: string): LoadedFixture {
  const src = join(FIXTURES, name);
  const dir = mkdtempSync(join(tmpdir(), `resolve-${name}-`));
  for (const f of readdirSync(src)) {
    if (f === 'cases.json' || f === 'queries.json') continue;
    writeFileSync(join(dir, f), readFileSync(join(src, f), 'latin1').replaceAll(DIR_TOKEN, dir), 'latin1');
  }
  const cases = JSON.parse(readFileSync(join(src, 'cases.json'), 'utf8')) as RecordedCase[];
  return { name, dir, config: Config.load(dir), cases, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A logger that keeps lines as the recorder shows them: "<program>: [warning: ]text". */
export function recordingLog(program: string, lines: string[]): AddressLog {
  return {
    info: (t) => lines.push(`${program}: ${t}`),
    warning: (t) => lines.push(`${program}: warning: ${t}`),
    error: (t) => lines.push(`${program}: error: ${t}`),
  };
}
