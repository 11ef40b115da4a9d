// regexp: tables: POSIX translation details, flags and Postfix's warnings.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setProgName } from '../../src/util/msg.js';
import { O_RDONLY, O_RDWR, DICT_FLAG_FOLD_MUL, DICT_FLAG_NO_REGSUB, isSurrogate, type Dict } from '../../src/dict/dict.js';
import { open } from '../../src/dict/regexp.js';
import { translatePosix } from '../../src/dict/regex/posix.js';
import { captured, tableFile } from './testutil.js';

setProgName('postmap');

async function table(text: string, flags = 0): Promise<{ dict: Dict; stderr: string; path: string }> {
  const path = tableFile(text);
  const { value, stderr } = await captured(() => open(path, O_RDONLY, flags));
  return { dict: value, stderr, path };
}

async function get(dict: Dict, key: string): Promise<string | null> {
  const r = await dict.lookup(key);
  return r.status === 'found' ? r.value : null;
}

test('regexp: REG_NEWLINE (m) changes ^ $ and . around newlines', async () => {
  const { dict } = await table('/^b$/m\tline\n/a.b/\tdot\n/^x[^y]z$/m\tclass\n');
  assert.equal(await get(dict, 'a\nb'), 'line');
  assert.equal(await get(dict, 'xa\nb'), 'line');
  const { dict: plain } = await table('/^b$/\tline\n/a.b/\tdot\n');
  assert.equal(await get(plain, 'a\nb'), 'dot');
  const { dict: nl } = await table('/a.b/m\tdot\n/^x[^y]z$/m\tclass\n');
  assert.equal(await get(nl, 'a\nb'), null);
  assert.equal(await get(nl, 'x\nz'), null);
});

test('regexp: $n substitution, $$, and unmatched groups', async () => {
  const { dict } = await table('/^(a)(b)?(c)$/\t[$1|$2|${3}] $$\n');
  assert.equal(await get(dict, 'ac'), '[a||c] $');
  assert.equal(await get(dict, 'AC'), '[A||C] $');
});

test('regexp: case folding of the key (FOLD_MUL) and REG_ICASE', async () => {
  const { dict } = await table('/^abc$/i\tsensitive\n');
  assert.equal(await get(dict, 'ABC'), null);
  const { dict: folded } = await table('/^abc$/i\tsensitive\n', DICT_FLAG_FOLD_MUL);
  assert.equal(await get(folded, 'ABC'), 'sensitive');
});

test('regexp: warnings for substitution when not allowed, and write access', async () => {
  const { stderr, path } = await table('/(a)/\t$1\n', DICT_FLAG_NO_REGSUB);
  assert.equal(stderr, `postmap: warning: regexp map ${path}, line 1: regular expression substitution is not allowed: skipping this rule\n`);
  const rw = await open(path, O_RDWR, 0);
  assert.ok(isSurrogate(rw) && rw.openError === `regexp:${path} map requires O_RDONLY access mode`);
});

test('regexp: nested IF/ENDIF, negated IF', async () => {
  const { dict } = await table('if /^a/\nif !/b/\n/c$/\tno-b\nendif\n/c$/\tany\nendif\n/c$/\toutside\n');
  assert.equal(await get(dict, 'axc'), 'no-b');
  assert.equal(await get(dict, 'abc'), 'any');
  assert.equal(await get(dict, 'xc'), 'outside');
});

test('regexp: translation of POSIX constructs', () => {
  const ere = { extended: true, icase: false, newline: false };
  const src = (p: string, o = ere): string => {
    const t = translatePosix(p, o);
    assert.ok(t.ok, p);
    return t.source;
  };
  assert.ok(new RegExp(src('^[[:alpha:]_]+$')).test('ab_C'));
  assert.ok(!new RegExp(src('^[[:alpha:]_]+$')).test('ab-C'));
  assert.ok(new RegExp(src('a*?')).test(''));
  assert.equal(new RegExp(src('(a*)?b')).exec('aab')![1], 'aa');
  assert.ok(new RegExp(src('\\<foo\\>')).test('a foo b'));
  assert.ok(!new RegExp(src('\\<foo\\>')).test('afoo'));
  assert.ok(new RegExp(src('[a\\]+')).test('\\'));
  assert.ok(new RegExp(src('\\(x\\)\\1', { ...ere, extended: false })).test('xx'));
  assert.ok(new RegExp(src('a\\{2\\}', { ...ere, extended: false })).test('aa'));
  assert.ok(new RegExp(src('*a', { ...ere, extended: false })).test('*a'));
  assert.deepEqual(translatePosix('a{1', ere), { ok: false, error: 'Unmatched \\{' });
  assert.deepEqual(translatePosix('(a', ere), { ok: false, error: 'Unmatched ( or \\(' });
  assert.deepEqual(translatePosix('[[:nope:]]', ere), { ok: false, error: 'Invalid character class name' });
  assert.deepEqual(translatePosix('a**', { ...ere, extended: false }), { ok: false, error: 'Invalid preceding regular expression' });
});

test('regexp: a large table is compiled once and looked up quickly', async () => {
  let text = '';
  for (let i = 0; i < 500; i++) text += `/^user${i}@example\\.com$/\tOK ${i}\n`;
  text += '/^(.*)@(.*)$/\t$2 $1\n';
  const { dict } = await table(text);
  const start = process.hrtime.bigint();
  for (let i = 0; i < 2000; i++) await dict.lookup(`someone${i}@example.org`);
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  assert.equal(await get(dict, 'user499@EXAMPLE.COM'), 'OK 499');
  assert.equal(await get(dict, 'x@y'), 'y x');
  assert.ok(ms < 5000, `2000 lookups over 501 rules took ${ms} ms`);
});
