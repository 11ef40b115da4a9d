// Replays Postfix 3.7.11's global/mail_addr_find.in (expecting
// mail_addr_find.ref) and the built-in cases of its mail_addr_map test
// program (expecting mail_addr_map.ref for the cases that must fail)
// through src/address/addr-find.ts, printing what the C test drivers print.
import test from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  MA_FIND_DEFAULT, MA_FIND_DOMAIN, MA_FIND_FULL, MA_FIND_NOEXT, mailAddrFindOpt, mailAddrMapOpt, strategyFromString,
  type AddrFindEnv,
} from '../../src/address/addr-find.js';
import { MA_FORM_EXTERNAL, MA_FORM_INTERNAL, mailAddrFormFromString, mailAddrFormToString } from '../../src/address/crunch.js';
import { Maps, TableCache } from '../../src/address/maps.js';
import { LocalDestinations } from '../../src/address/resolve-local.js';
import { DICT_FLAG_FOLD_FIX, DICT_FLAG_LOCK, DICT_FLAG_UTF8_REQUEST } from '../../src/dict/dict.js';
import { Config } from '../../src/config/config.js';

const dir = fileURLToPath(new URL('../../../fixtures/resolve/postfix-tests/', import.meta.url));
const FLAGS = DICT_FLAG_LOCK | DICT_FLAG_FOLD_FIX | DICT_FLAG_UTF8_REQUEST;

/** mystrtok: the next token, skipping leading separators (so empty fields vanish). */
function tokens(text: string, sep: string): string[] {
  return text.split(new RegExp(`[${sep}]+`)).filter((t) => t !== '');
}

async function findDriver(input: string): Promise<string> {
  const config = Config.fromEntries('/nonexistent', [['mydestination', 'localhost.localdomain'], ['inet_interfaces', 'loopback-only']]);
  const local = await LocalDestinations.create(config);
  const env: AddrFindEnv = { recipientDelimiter: '+', myorigin: 'localdomain', resolveLocal: (d) => local.resolveLocal(d) };
  let maps: Maps | undefined;
  let out = '';
  for (const line of input.split('\n')) {
    const m = /^\s*(\S+)\s*(.*)$/.exec(line);
    if (!m || m[1]!.startsWith('#')) continue;
    const [, cmd, rest] = m as unknown as [string, string, string];
    if (cmd === 'echo') {
      out += `${rest}\n`;
    } else if (cmd === 'maps') {
      maps = await Maps.create('mail_addr_find', rest, FLAGS, new TableCache());
      out += `${rest}\n`;
    } else if (cmd === 'test' && maps) {
      const [inField, queryField, outField, strategyField, key] = tokens(rest, ':') as [string, string, string, string, string];
      const r = await mailAddrFindOpt(maps, key, mailAddrFormFromString(inField), mailAddrFormFromString(queryField),
        mailAddrFormFromString(outField), strategyFromString(strategyField), env);
      const value = r.status === 'found' ? r.value : r.status === 'error' ? '(try again)' : '(not found)';
      const ext = r.status === 'found' && r.extension !== null ? r.extension : 'null extension';
      out += `${inField}:${key} -${queryField}-> ${outField}:${value} (${ext})\n`;
    }
  }
  return out;
}

test('mail_addr_find.in gives mail_addr_find.ref', async () => {
  assert.equal(await findDriver(readFileSync(dir + 'mail_addr_find.in', 'utf8')), readFileSync(dir + 'mail_addr_find.ref', 'utf8'));
});

interface MapCase {
  name: string;
  database: string;
  propagate: boolean;
  delimiter: string;
  inForm: number;
  queryForm: number;
  outForm: number;
  address: string;
  expect: string[];
}

const E = MA_FORM_EXTERNAL;
const I = MA_FORM_INTERNAL;
const PASS: MapCase[] = [
  { name: '1 external -external-> external, no extension', database: 'inline:{ aa@example.com=bb@example.com }',
    propagate: true, delimiter: '+', inForm: E, queryForm: E, outForm: E, address: 'aa@example.com', expect: ['bb@example.com'] },
  { name: '2 external -external-> external, extension, propagation', database: 'inline:{ aa@example.com=bb@example.com }',
    propagate: true, delimiter: '+', inForm: E, queryForm: E, outForm: E, address: 'aa+ext@example.com', expect: ['bb+ext@example.com'] },
  { name: '3 external -external-> external, extension, no propagation, no match', database: 'inline:{ aa@example.com=bb@example.com }',
    propagate: false, delimiter: '', inForm: E, queryForm: E, outForm: E, address: 'aa+ext@example.com', expect: [] },
  { name: '4 external -external-> external, extension, full match', database: 'inline:{{cc+ext@example.com=dd@example.com,ee@example.com}}',
    propagate: true, delimiter: '+', inForm: E, queryForm: E, outForm: E, address: 'cc+ext@example.com', expect: ['dd@example.com', 'ee@example.com'] },
  { name: '5 external -external-> external, no extension, quoted', database: 'inline:{ {"a a"@example.com="b b"@example.com} }',
    propagate: true, delimiter: '+', inForm: E, queryForm: E, outForm: E, address: '"a a"@example.com', expect: ['"b b"@example.com'] },
  { name: '6 external -external-> external, extension, propagation, quoted', database: 'inline:{ {"a a"@example.com="b b"@example.com} }',
    propagate: true, delimiter: '+', inForm: E, queryForm: E, outForm: E, address: '"a a+ext"@example.com', expect: ['"b b+ext"@example.com'] },
  { name: '7 internal -external-> internal, no extension, propagation, embedded space', database: 'inline:{ {"a a"@example.com="b b"@example.com} }',
    propagate: true, delimiter: '+', inForm: I, queryForm: E, outForm: I, address: 'a a@example.com', expect: ['b b@example.com'] },
  { name: '8 internal -external-> internal, extension, propagation, embedded space', database: 'inline:{ {"a a"@example.com="b b"@example.com} }',
    propagate: true, delimiter: '+', inForm: I, queryForm: E, outForm: I, address: 'a a+ext@example.com', expect: ['b b+ext@example.com'] },
  { name: '9 internal -external-> internal, no extension, propagation, embedded space', database: 'inline:{ {a_a@example.com="b b"@example.com} }',
    propagate: true, delimiter: '+', inForm: I, queryForm: E, outForm: I, address: 'a_a@example.com', expect: ['b b@example.com'] },
  { name: '10 internal -external-> internal, extension, propagation, embedded space', database: 'inline:{ {a_a@example.com="b b"@example.com} }',
    propagate: true, delimiter: '+', inForm: I, queryForm: E, outForm: I, address: 'a_a+ext@example.com', expect: ['b b+ext@example.com'] },
  { name: '11 internal -external-> internal, no extension, @domain', database: 'inline:{ {@example.com=@example.net} }',
    propagate: true, delimiter: '+', inForm: I, queryForm: E, outForm: E, address: 'a@a@example.com', expect: ['"a@a"@example.net'] },
  { name: '12 external -external-> external, extension, propagation', database: 'inline:{ aa@example.com=bb@example.com }',
    propagate: true, delimiter: '.', inForm: E, queryForm: E, outForm: E, address: 'aa.ext@example.com', expect: ['bb.ext@example.com'] },
];
const QUOTED_DB = 'inline:{ {"a a"@example.com="b b"@example.com} }';
const FAIL: MapCase[] = [
  { name: 'selftest 1 external -external-> external, no extension, quoted', database: QUOTED_DB,
    propagate: true, delimiter: '+', inForm: E, queryForm: E, outForm: E, address: '"a a"@example.com', expect: ['"bXb"@example.com'] },
  { name: 'selftest 2 external -external-> external, no extension, quoted', database: QUOTED_DB,
    propagate: true, delimiter: '+', inForm: E, queryForm: E, outForm: E, address: '"aXa"@example.com', expect: ['"b b"@example.com'] },
  { name: 'selftest 3 external -external-> external, no extension, quoted', database: QUOTED_DB,
    propagate: true, delimiter: '+', inForm: E, queryForm: E, outForm: E, address: '"a a"@example.com', expect: [] },
];

/** The C test's compare(): "unknown: ..." lines for each difference, then the test's settings. */
async function mapDriver(cases: MapCase[]): Promise<{ out: string; failed: number }> {
  let out = '';
  let failed = 0;
  for (const t of cases) {
    const maps = await Maps.create('test', t.database, FLAGS, new TableCache());
    const r = await mailAddrMapOpt(maps, t.address, t.propagate, t.inForm, t.queryForm, t.outForm,
      { recipientDelimiter: t.delimiter, myorigin: 'localdomain' }, () => undefined);
    const got = r.status === 'found' ? r.addresses : [];
    let err = false;
    if (t.expect.length && got.length) {
      for (let n = 0; n < t.expect.length && n < got.length; n++) {
        if (t.expect[n] !== got[n]) {
          out += `unknown: warning: fail test ${t.name}: expect[${n}]='${t.expect[n]}', result[${n}]='${got[n]}'\n`;
          err = true;
        }
      }
    }
    if (t.expect.length !== got.length) {
      out += `unknown: warning: fail test ${t.name}: expects ${t.expect.length} results but there were ${got.length}\n`;
      for (let n = t.expect.length; n < got.length; n++) out += `unknown: no expect to match result[${n}]='${got[n]}'\n`;
      for (let n = got.length; n < t.expect.length; n++) out += `unknown: no result to match expect[${n}]='${t.expect[n]}'\n`;
      err = true;
    }
    if (err) {
      failed++;
      out += `unknown: database = ${t.database}\nunknown: propagate = ${t.propagate ? 1 : 0}\nunknown: delimiter = '${t.delimiter}'\n`
        + `unknown: in_form = ${mailAddrFormToString(t.inForm)}\nunknown: query_form = ${mailAddrFormToString(t.queryForm)}\n`
        + `unknown: out_form = ${mailAddrFormToString(t.outForm)}\nunknown: address = ${t.address}\n`;
    }
  }
  return { out, failed };
}

test('mail_addr_map pass_tests all pass', async () => {
  assert.deepEqual(await mapDriver(PASS), { out: '', failed: 0 });
});

test('mail_addr_map fail_tests all fail, as mail_addr_map.ref shows', async () => {
  const r = await mapDriver(FAIL);
  assert.equal(r.failed, FAIL.length);
  assert.equal(r.out, readFileSync(dir + 'mail_addr_map.ref', 'utf8'));
});

test('a table error stops the search and is reported as such', async () => {
  const maps = await Maps.create('t', 'fail:broken inline:{a@x.test=b@x.test}', FLAGS, new TableCache({ info() {}, warning() {}, error() {} }));
  const r = await mailAddrFindOpt(maps, 'a@x.test', I, E, E, MA_FIND_DEFAULT, { recipientDelimiter: '', myorigin: 'x' });
  assert.deepEqual(r, { status: 'error' });
});

test('domain lookups skip pattern tables for partial keys', async () => {
  const maps = await Maps.create('t', 'regexp:{{/^x\\.test$/ regexp-hit}} inline:{x.test=inline-hit}', FLAGS, new TableCache());
  const r = await mailAddrFindOpt(maps, 'a@x.test', I, E, E, MA_FIND_FULL | MA_FIND_NOEXT | MA_FIND_DOMAIN,
    { recipientDelimiter: '', myorigin: 'x' });
  assert.deepEqual(r, { status: 'found', value: 'inline-hit', extension: null });
});

test('owner-/-request and the special users keep their extension-like parts', async () => {
  const maps = await Maps.create('t', 'inline:{owner=o, list=l, postmaster=p, user=u}', FLAGS, new TableCache());
  const env: AddrFindEnv = { recipientDelimiter: '-+', myorigin: 'x.test', split: { ownerRequestSpecial: true } };
  const find = async (a: string) => {
    const r = await mailAddrFindOpt(maps, a, I, E, E, MA_FIND_DEFAULT, env);
    return r.status === 'found' ? `${r.value} ${r.extension}` : r.status;
  };
  assert.equal(await find('owner-list@x.test'), 'notfound');
  assert.equal(await find('list-request@x.test'), 'notfound');
  assert.equal(await find('list-foo@x.test'), 'l -foo');
  assert.equal(await find('user+a-b@x.test'), 'u +a-b');
  assert.equal(await find('postmaster+x@x.test'), 'p +x');
  assert.equal(await find('postmaster@x.test'), 'p null');
  const plain = { ...env, split: { ownerRequestSpecial: false } };
  const r = await mailAddrFindOpt(maps, 'owner-list@x.test', I, E, E, MA_FIND_DEFAULT, plain);
  assert.deepEqual(r, { status: 'found', value: 'o', extension: '-list' });
});
