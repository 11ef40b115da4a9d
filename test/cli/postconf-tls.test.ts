// postconf -T reports the OpenSSL that this Node.js runs with; its version
// text changes with Node itself, so it is checked against Node's own report
// instead of a recorded fixture.
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../lib/tmp.js';

const bin = fileURLToPath(new URL('../../../bin/postconf', import.meta.url));
const dir = tempDir('pc-tls-');
writeFileSync(join(dir, 'main.cf'), '');
const version = process.versions.openssl.replace(/\+.*$/, '');

for (const mode of ['compile-version', 'run-version']) {
  test(`postconf -T ${mode} names Node's OpenSSL ${version}`, () => {
    const r = spawnSync(bin, ['-c', dir, '-T', mode], { encoding: 'utf8' });
    assert.equal(r.status, 0);
    assert.equal(r.stderr, '');
    assert.match(r.stdout, new RegExp(`^OpenSSL ${version.replace(/\./g, '\\.')}( \\d{1,2} \\w{3} \\d{4})?\\n$`));
  });
}

test('postconf -T with an unknown mode fails as Postfix does', () => {
  const r = spawnSync(bin, ['-c', dir, '-T', 'bogus'], { encoding: 'utf8' });
  // Recorded from Postfix 3.7.11: a warning, then exit status 1.
  assert.equal(r.status, 1);
  assert.equal(r.stdout, '');
  assert.equal(r.stderr, "postconf: warning: unknown 'postconf -T' mode: bogus\n");
});
