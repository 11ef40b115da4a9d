// trivial-rewrite's rewrite_tree (src/address/rewrite.ts): the recorded
// rewrite requests in fixtures/resolve/*/cases.json run through the bare
// functions (resolve.test.ts runs them through AddressResolver), plus the
// internal-form wrapper and the switches one at a time.
import test from 'node:test';
import assert from 'node:assert/strict';
import { rewriteExternal, rewriteInternal, rewriteParamsFromConfig, type RewriteParams } from '../../src/address/rewrite.js';
import { Config } from '../../src/config/config.js';
import { fixtureNames, loadFixture } from './resolve-fixtures.js';

const BASE: RewriteParams = {
  myorigin: 'origin.example', mydomain: 'example.com', remoteHeaderRewriteDomain: 'remote.invalid',
  appendAtMyorigin: true, appendDotMydomain: true, swapBangpath: true, allowPercentHack: true,
  warnCompatAppendDotMydomain: false,
};
const quiet = { log: { info() {}, warning() {}, error() {} } };

test('recorded rewrite requests, without the resolver around them', () => {
  let checked = 0;
  for (const name of fixtureNames()) {
    const fx = loadFixture(name);
    try {
      const p = rewriteParamsFromConfig(fx.config);
      for (const c of fx.cases.filter((x) => x.op === 'rewrite')) {
        const localhost = () => false;
        assert.equal(rewriteExternal(p, c.rule!, c.address!, { ...quiet, localhostIsDefaultClass: localhost }),
          c.expect.address, `${name}: ${c.rule} ${c.address}`);
        checked++;
      }
    } finally {
      fx.cleanup();
    }
  }
  assert.ok(checked >= 60, `only ${checked} cases`);
});

test('each switch alone', () => {
  const rw = (over: Partial<RewriteParams>, addr: string, ctx: 'local' | 'remote' = 'local') =>
    rewriteExternal({ ...BASE, ...over }, ctx, addr, quiet);
  assert.equal(rw({}, 'user'), 'user@origin.example');
  assert.equal(rw({ appendAtMyorigin: false }, 'user'), 'user');
  assert.equal(rw({}, 'user@host'), 'user@host.example.com');
  assert.equal(rw({ appendDotMydomain: false }, 'user@host'), 'user@host');
  assert.equal(rw({}, 'user@[1.2.3.4]'), 'user@[1.2.3.4]');
  assert.equal(rw({}, 'host!user'), 'user@host.example.com');
  assert.equal(rw({ swapBangpath: false }, 'host!user'), 'host!user@origin.example');
  assert.equal(rw({}, 'user%host'), 'user@host.example.com');
  assert.equal(rw({ allowPercentHack: false }, 'user%host'), 'user%host@origin.example');
  assert.equal(rw({}, 'a%b%c'), 'a%b@c.example.com');
  assert.equal(rw({}, '@a,@b:user@c.d'), 'user@c.d');
  assert.equal(rw({}, 'user', 'remote'), 'user@remote.invalid');
  assert.equal(rw({ remoteHeaderRewriteDomain: '' }, 'user@host', 'remote'), 'user@host');
  assert.equal(rw({}, 'user@host.'), 'user@host');
  assert.equal(rw({}, 'user@host..'), 'user@host..');
});

test('the internal-form wrapper quotes and unquotes around the rewrite', () => {
  assert.equal(rewriteInternal(BASE, 'local', 'a b'), 'a b@origin.example');
  assert.equal(rewriteInternal(BASE, 'local', 'a@b@host.test'), 'a@b@host.test');
  assert.equal(rewriteInternal(BASE, 'local', ''), '');
});

test('the compatibility notice for append_dot_mydomain', () => {
  const lines: string[] = [];
  const log = { info: (t: string) => lines.push(t), warning() {}, error() {} };
  const p = { ...BASE, warnCompatAppendDotMydomain: true };
  rewriteExternal(p, 'local', 'u@host', { log });
  rewriteExternal(p, 'local', 'u@localhost', { log, localhostIsDefaultClass: () => false });
  rewriteExternal(p, 'local', 'u@LocalHost', { log, localhostIsDefaultClass: () => true });
  assert.deepEqual(lines, [
    'using backwards-compatible default setting append_dot_mydomain=yes to rewrite "host" to "host.example.com"',
    'using backwards-compatible default setting append_dot_mydomain=yes to rewrite "LocalHost" to "LocalHost.example.com"; '
      + 'please add "localhost" to mydestination or other address class',
  ]);
});

test('parameters come from the configuration, with compatibility-level defaults', () => {
  const old = rewriteParamsFromConfig(Config.fromEntries('/x', [['myhostname', 'h.example'], ['mydomain', 'example']]));
  assert.equal(old.appendDotMydomain, true);
  assert.equal(old.warnCompatAppendDotMydomain, true);
  const cur = rewriteParamsFromConfig(Config.fromEntries('/x', [['myhostname', 'h.example'], ['compatibility_level', '3.6']]));
  assert.equal(cur.appendDotMydomain, false);
  assert.equal(cur.warnCompatAppendDotMydomain, false);
  assert.equal(cur.myorigin, 'h.example');
});
