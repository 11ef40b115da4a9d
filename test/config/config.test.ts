// Config (the accessor daemons and table tools use): values as Postfix
// expands them. Expected values were printed by Postfix 3.7.11's
// `postconf -xh mydomain mydestination myorigin` for the same main.cf.
import test from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Config, ConfigError } from '../../src/config/config.js';
import { tempDir } from '../lib/tmp.js';

function configWith(mainCf: string): Config {
  const dir = tempDir('cfg-');
  writeFileSync(join(dir, 'main.cf'), mainCf);
  return Config.load(dir);
}

test('mydomain follows a myhostname set in main.cf', () => {
  const c = configWith('myhostname = mx.example.org\n');
  assert.equal(c.get('mydomain'), 'example.org');
  assert.equal(c.get('mydestination'), 'mx.example.org, localhost.example.org, localhost');
  assert.equal(c.get('myorigin'), 'mx.example.org');
});

test('-o style overrides win over main.cf', () => {
  const dir = tempDir('cfg-');
  writeFileSync(join(dir, 'main.cf'), 'myhostname = a.example\nrelayhost = [x]\n');
  const c = Config.load(dir, [['relayhost', '[y]:25']]);
  assert.equal(c.get('relayhost'), '[y]:25');
  assert.equal(c.isSet('relayhost'), true);
  assert.equal(c.isSet('relay_domains'), false);
});

test('a missing main.cf is a ConfigError with Postfix\'s text', () => {
  const dir = tempDir('cfg-');
  assert.throws(() => Config.load(dir), (e: unknown) => e instanceof ConfigError && e.message === `open ${dir}/main.cf: No such file or directory`);
});
