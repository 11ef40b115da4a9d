// pcre: tables: PCRE semantics that differ from JavaScript's, and warnings.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setProgName } from '../../src/util/msg.js';
import { O_RDONLY, type Dict } from '../../src/dict/dict.js';
import { open } from '../../src/dict/pcre.js';
import { translatePcre, type PcreOptions } from '../../src/dict/regex/pcre.js';
import { captured, tableFile } from './testutil.js';

setProgName('postmap');

async function table(text: string): Promise<{ dict: Dict; stderr: string; path: string }> {
  const path = tableFile(text);
  const { value, stderr } = await captured(() => open(path, O_RDONLY, 0));
  return { dict: value, stderr, path };
}

async function get(dict: Dict, key: string): Promise<string | null> {
  const r = await dict.lookup(key);
  return r.status === 'found' ? r.value : null;
}

const defaults: PcreOptions = {
  caseless: true, dotall: true, multiline: false, extended: false, anchored: false, dollarEndonly: false, ungreedy: false,
};

test('pcre: $ matches before a final newline unless E is given', async () => {
  const { dict } = await table('/^abc$/E\tend-only\n/^abc$/\tdollar\n');
  assert.equal(await get(dict, 'abc\n'), 'dollar');
  assert.equal(await get(dict, 'abc'), 'end-only');
});

test('pcre: header_checks-style multiline matching', async () => {
  const { dict } = await table('/^Subject:.*^\\s+folded/m\tREJECT folded\n/^Subject: (.*)$/\tWARN $1\n');
  assert.equal(await get(dict, 'Subject: one\n\tfolded line'), 'REJECT folded');
  assert.equal(await get(dict, 'Subject: hello'), 'WARN hello');
});

test('pcre: caseless matching folds ASCII only, as PCRE C tables do', async () => {
  const { dict } = await table('/^é$/\tsmall\n/^[а-я]+$/\tcyrillic\n');
  assert.equal(await get(dict, 'é'), 'small');
  assert.equal(await get(dict, 'É'), null);
  assert.equal(await get(dict, '\u{1F600}'), null);
});

test('pcre: unsupported constructs are skipped with a clear warning', async () => {
  const { stderr, path } = await table('/(?R)/\tx\n/a\\Kb/\ty\n');
  assert.equal(
    stderr,
    `postmap: warning: pcre map ${path}, line 1: unsupported PCRE feature: recursion or subroutine call: skipping this rule\n` +
      `postmap: warning: pcre map ${path}, line 2: unsupported PCRE feature: \\K: skipping this rule\n`,
  );
});

test('pcre: group numbers survive atomic-group emulation', () => {
  const t = translatePcre('(?>(a+))(b)\\2', defaults);
  assert.ok(t.ok);
  const m = new RegExp(t.source, t.flags).exec('aabb')!;
  assert.equal(m[t.groupMap[1]!], 'aa');
  assert.equal(m[t.groupMap[2]!], 'b');
  const possessive = translatePcre('^a++a', defaults);
  assert.ok(possessive.ok && !new RegExp(possessive.source).test('aaa'));
});

test('pcre: PCRE2 error texts and offsets', () => {
  assert.deepEqual(translatePcre('(ab', defaults), { ok: false, error: 'missing closing parenthesis', offset: 3 });
  assert.deepEqual(translatePcre('a{3,2}', defaults), { ok: false, error: 'numbers out of order in {} quantifier', offset: 5 });
  assert.deepEqual(translatePcre('(?<=a+)b', defaults), { ok: false, error: 'lookbehind assertion is not fixed length', offset: 0 });
});
