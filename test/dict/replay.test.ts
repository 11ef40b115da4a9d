// Replays Postfix's own dict test data (util/dict_*.map/.in, miss_endif_*,
// inline/static/union/pipe cases) plus this project's extra tables, as
// recorded from the installed Postfix 3.7.11 with `postmap -q KEY SPEC`
// (fixtures/dict-ref/record.sh). Each lookup is replayed by opening the
// table module directly and doing what postmap -q does around it; stdout,
// stderr and the exit status must match byte for byte.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { setProgName } from '../../src/util/msg.js';
import {
  type Dict, type DictOpener, isSurrogate, O_RDONLY,
  DICT_FLAG_DUP_WARN, DICT_FLAG_FOLD_FIX, DICT_FLAG_UTF8_REQUEST, DICT_FLAG_SRC_RHS_IS_FILE,
} from '../../src/dict/dict.js';

interface Recorded {
  id: string;
  flags: string[];
  spec: string;
  key: string;
  stdout: string;
  stderr: string;
  exit: number;
}

const here = dirname(fileURLToPath(import.meta.url));
const fixtureDir = join(here, '..', '..', '..', 'fixtures', 'dict-ref');
const records = JSON.parse(readFileSync(join(fixtureDir, 'expected.json'), 'utf8')) as Recorded[];

/** Runs `body` with stderr captured. */
async function captureStderr(body: () => Promise<void>): Promise<string> {
  const original = process.stderr.write.bind(process.stderr);
  let text = '';
  process.stderr.write = ((chunk: string | Uint8Array): boolean => {
    text += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    return true;
  }) as typeof process.stderr.write;
  try {
    await body();
  } finally {
    process.stderr.write = original;
  }
  return text;
}

/** What `postmap [flags] -q key spec` prints, with this project's table modules. */
async function postmapQuery(rec: Recorded): Promise<{ stdout: string; stderr: string; exit: number }> {
  let flags = DICT_FLAG_DUP_WARN | DICT_FLAG_FOLD_FIX | DICT_FLAG_UTF8_REQUEST;
  if (rec.flags.includes('-f')) flags &= ~DICT_FLAG_FOLD_FIX;
  if (rec.flags.includes('-F')) flags |= DICT_FLAG_SRC_RHS_IS_FILE;
  const colon = rec.spec.indexOf(':');
  const type = rec.spec.slice(0, colon);
  const name = rec.spec.slice(colon + 1);
  let stdout = '';
  let exit = 1;
  const fatal = (text: string): void => {
    process.stderr.write(`postmap: fatal: ${text}\n`);
  };
  const stderr = await captureStderr(async () => {
    const { open } = (await import(`../../src/dict/${type}.js`)) as { open: DictOpener };
    const dict: Dict = await open(name, O_RDONLY, flags);
    if (isSurrogate(dict)) return fatal(dict.openError);
    const r = await dict.lookup(rec.key);
    if (r.status === 'error') {
      return fatal(`table ${dict.type}:${dict.name}: query error${r.error === 'retry' ? ': Application error' : ''}`);
    }
    if (r.status === 'found') {
      const value = flags & DICT_FLAG_SRC_RHS_IS_FILE ? Buffer.from(r.value, 'base64').toString('utf8') : r.value;
      if (value === '') {
        process.stderr.write(`postmap: warning: table ${type}:${name}: key ${rec.key}: empty string result is not allowed\n`);
        process.stderr.write(`postmap: warning: table ${type}:${name} should return NO RESULT in case of NOT FOUND\n`);
      }
      stdout = value + '\n';
      exit = 0;
    }
    await dict.close();
  });
  return { stdout, stderr, exit };
}

setProgName('postmap');
process.chdir(fixtureDir);
process.env.HOME = '/root';

const groups = new Map<string, Recorded[]>();
for (const r of records) groups.set(r.id, [...(groups.get(r.id) ?? []), r]);

for (const [id, recs] of groups) {
  test(`dict-ref ${id}`, async () => {
    for (const rec of recs) {
      if (rec.spec.startsWith('unix:') && process.env.CI_SKIP_UNIX === '1') continue;
      const got = await postmapQuery(rec);
      assert.deepEqual(got, { stdout: rec.stdout, stderr: rec.stderr, exit: rec.exit }, `${rec.flags.join(' ')} -q ${JSON.stringify(rec.key)} ${rec.spec}`);
    }
  });
}
