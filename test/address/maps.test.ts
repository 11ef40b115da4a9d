// Table lists (src/address/maps.ts) and match lists
// (src/address/match-list.ts): search order, the error and empty-result
// rules of Postfix's maps_find, the DICT_FLAG_FIXED filter, table sharing,
// and string_list/domain_list matching with negation, files, parent
// domains and failing tables. The recorded fixtures (resolve.test.ts)
// cover the same code against Postfix itself; these pin the details.
import test from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Maps, TableCache, splitTableList } from '../../src/address/maps.js';
import { MATCH_FLAG_NONE, MATCH_FLAG_PARENT, MATCH_FLAG_RETURN, MatchList, matchParentStyle } from '../../src/address/match-list.js';
import { DICT_FLAG_FIXED, DICT_FLAG_FOLD_FIX, DICT_FLAG_LOCK, DICT_FLAG_PATTERN } from '../../src/dict/dict.js';
import { recordingLog } from './resolve-fixtures.js';

const FLAGS = DICT_FLAG_LOCK | DICT_FLAG_FOLD_FIX;

function logged(): { lines: string[]; cache: TableCache } {
  const lines: string[] = [];
  return { lines, cache: new TableCache(recordingLog('test', lines)) };
}

test('table lists split at commas and white space, braces kept', () => {
  assert.deepEqual(splitTableList(' hash:/a, inline:{a=b, c=d}\tregexp:/x ,'), ['hash:/a', 'inline:{a=b, c=d}', 'regexp:/x']);
  assert.deepEqual(splitTableList(''), []);
});

test('the first table with the key answers', async () => {
  const maps = await Maps.create('t', 'inline:{a=1} inline:{a=2, b=3}', FLAGS);
  assert.deepEqual(await maps.find('a'), { status: 'found', value: '1' });
  assert.deepEqual(await maps.find('b'), { status: 'found', value: '3' });
  assert.deepEqual(await maps.find('c'), { status: 'notfound' });
  assert.deepEqual(await maps.find(''), { status: 'notfound' });
});

test('fixed-case folding is the tables\' business, asked for with DICT_FLAG_FOLD_FIX', async () => {
  assert.equal((await (await Maps.create('t', 'inline:{abc=1}', FLAGS)).find('ABC')).status, 'found');
  assert.equal((await (await Maps.create('t', 'inline:{abc=1}', DICT_FLAG_LOCK)).find('ABC')).status, 'notfound');
});

test('a failing table stops the search, with Postfix\'s warning', async () => {
  const { lines, cache } = logged();
  const maps = await Maps.create('t', 'inline:{a=1} fail:oops inline:{b=2}', FLAGS, cache);
  assert.deepEqual(await maps.find('a'), { status: 'found', value: '1' });
  assert.equal((await maps.find('b')).status, 'error');
  assert.deepEqual(lines, ['test: warning: fail:oops lookup error for "b"']);
});

test('an empty result is a configuration error', async () => {
  const { lines, cache } = logged();
  const maps = await Maps.create('virtual_alias_maps', 'inline:{ {a=} }', FLAGS, cache);
  assert.equal((await maps.find('a')).status, 'error');
  assert.deepEqual(lines, [
    'test: warning: virtual_alias_maps lookup of a returns an empty string result',
    'test: warning: virtual_alias_maps should return NO RESULT in case of NOT FOUND',
  ]);
});

test('a flag filter keeps partial keys away from pattern tables', async () => {
  const maps = await Maps.create('t', 'regexp:{{/./ re}} inline:{@x=in}', FLAGS);
  assert.deepEqual(await maps.find('@x'), { status: 'found', value: 're' });
  assert.deepEqual(await maps.find('@x', DICT_FLAG_FIXED), { status: 'found', value: 'in' });
  assert.deepEqual(await maps.find('@y', DICT_FLAG_PATTERN), { status: 'found', value: 're' });
});

test('a table that cannot be opened complains at open and at every lookup', async () => {
  const { lines, cache } = logged();
  const maps = await Maps.create('t', 'texthash:/nonexistent/table', FLAGS, cache);
  assert.equal((await maps.find('a')).status, 'error');
  assert.deepEqual(lines, [
    'test: error: open database /nonexistent/table: No such file or directory',
    'test: warning: texthash:/nonexistent/table is unavailable. open database /nonexistent/table: No such file or directory',
    'test: warning: texthash:/nonexistent/table lookup error for "a"',
  ]);
  // Opened once per cache: a second list naming it does not complain again.
  lines.length = 0;
  await Maps.create('u', 'texthash:/nonexistent/table', FLAGS, cache);
  assert.deepEqual(lines, []);
});

test('string lists: exact, case-insensitive, first match wins, ! refuses', async () => {
  const list = await MatchList.stringList('mydestination', MATCH_FLAG_RETURN, 'Example.COM, !no.example, no.example, inline:{t.example=x}');
  assert.equal(await list.match('example.com'), 'match');
  assert.equal(await list.match('sub.example.com'), 'nomatch');
  assert.equal(await list.match('NO.example'), 'nomatch');
  assert.equal(await list.match('T.Example'), 'match');
  assert.equal(await list.match('other'), 'nomatch');
});

test('domain lists: subdomains by parent style or by a leading dot', async () => {
  const parent = await MatchList.domainList('relay_domains', MATCH_FLAG_RETURN | MATCH_FLAG_PARENT, 'example.com, inline:{t.example=x}');
  assert.equal(await parent.match('a.b.example.com'), 'match');
  assert.equal(await parent.match('xexample.com'), 'nomatch');
  assert.equal(await parent.match('a.t.example'), 'match');
  const dotted = await MatchList.domainList('relay_domains', MATCH_FLAG_RETURN, 'example.com, .sub.test, inline:{.t.example=x}');
  assert.equal(await dotted.match('a.example.com'), 'nomatch');
  assert.equal(await dotted.match('a.sub.test'), 'match');
  assert.equal(await dotted.match('sub.test'), 'nomatch');
  assert.equal(await dotted.match('a.t.example'), 'match');
  assert.equal(await dotted.match('t.example'), 'nomatch');
});

test('match lists read /file/name patterns, and !/file/name negates them all', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'match-list-'));
  try {
    writeFileSync(join(dir, 'list'), 'a.example\n# comment\nb.example, !c.example\n');
    const list = await MatchList.stringList('x', MATCH_FLAG_RETURN, `${dir}/list, c.example`);
    assert.equal(await list.match('b.example'), 'match');
    assert.equal(await list.match('c.example'), 'nomatch');
    const neg = await MatchList.stringList('x', MATCH_FLAG_RETURN, `!${dir}/list, a.example, c.example`);
    assert.equal(await neg.match('a.example'), 'nomatch');
    assert.equal(await neg.match('c.example'), 'match');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a table error ends the search with a warning (MATCH_FLAG_RETURN) or a fatal error', async () => {
  const { lines, cache } = logged();
  const list = await MatchList.stringList('relay_domains', MATCH_FLAG_RETURN, 'a.example, fail:x, b.example', { cache });
  assert.equal(await list.match('a.example'), 'match');
  assert.equal(await list.match('b.example'), 'error');
  assert.deepEqual(lines, ['test: warning: relay_domains: fail:x: table lookup problem']);
  const strict = await MatchList.stringList('relay_domains', MATCH_FLAG_NONE, 'fail:x', { cache });
  await assert.rejects(strict.match('b.example'), /relay_domains: fail:x: table lookup problem/);
});

test('a comment item ends the list with a warning; a lone ! is fatal', async () => {
  const { lines, cache } = logged();
  const list = await MatchList.stringList('mydestination', MATCH_FLAG_RETURN, 'a, #b c', { cache, log: cache.log });
  assert.equal(await list.match('c'), 'nomatch');
  assert.deepEqual(lines, ['test: warning: mydestination: comment at end of line is not supported: #b c']);
  await assert.rejects(MatchList.stringList('mydestination', 0, 'a, !'), /mydestination: no pattern after '!'/);
});

test('parent_domain_matches_subdomains decides the matching style', async () => {
  assert.equal(await matchParentStyle('relay_domains, smtpd_access_maps', 'relay_domains'), MATCH_FLAG_PARENT);
  assert.equal(await matchParentStyle('relay_domains', 'transport_maps'), 0);
});
