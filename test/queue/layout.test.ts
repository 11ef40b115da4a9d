// Queue directory layout: dir_forest, hashed paths for short and long IDs
// (deferred/1/1423120E980, deferred/E/4jX7nC6dWtzJFHY as real Postfix
// placed them), hash_queue_names/hash_queue_depth from main.cf, renames that
// create missing hash directories, and the mode bits.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  DEFAULT_LAYOUT, MAIL_QUEUE_STAT_READY, dirForest, isForcedExpire, isReadyMode, layoutFromConfig, mailQueueDir, mailQueuePath,
  mailQueueRemove, mailQueueRename,
} from '../../src/queue/layout.js';

const params = (values: Record<string, string>) => ({ get: (n: string) => values[n] ?? '' });

test('dir_forest: one directory per level, "_" when the key is short', () => {
  assert.equal(dirForest('1423120E980', 1), '1/');
  assert.equal(dirForest('1423120E980', 3), '1/4/2/');
  assert.equal(dirForest('A', 2), 'A/_/');
  assert.throws(() => dirForest('', 1));
  assert.throws(() => dirForest('a.b', 2));
});

test('hashed and flat queue paths', () => {
  assert.equal(mailQueuePath(DEFAULT_LAYOUT, 'deferred', '1423120E980'), 'deferred/1/1423120E980');
  assert.equal(mailQueuePath(DEFAULT_LAYOUT, 'deferred', '4jX7nC6dWtzJFHY'), 'deferred/E/4jX7nC6dWtzJFHY');
  assert.equal(mailQueuePath(DEFAULT_LAYOUT, 'defer', '865E820E9C9'), 'defer/8/865E820E9C9');
  assert.equal(mailQueuePath(DEFAULT_LAYOUT, 'hold', '1423120E980'), 'hold/1423120E980');
  assert.equal(mailQueueDir(DEFAULT_LAYOUT, 'incoming', '1423120E980'), 'incoming/');
  const deep = { hashQueueNames: ['Deferred', 'hold'], hashQueueDepth: 2 };
  assert.equal(mailQueuePath(deep, 'deferred', '4jX7nC6dWtzJFHY'), 'deferred/E/4/4jX7nC6dWtzJFHY');
  assert.equal(mailQueuePath(deep, 'hold', '1423120E980'), 'hold/1/4/1423120E980');
  assert.throws(() => mailQueuePath(DEFAULT_LAYOUT, 'deferred', 'a/b'));
  assert.throws(() => mailQueuePath(DEFAULT_LAYOUT, 'de.ferred', 'ab'));
});

test('layout from main.cf, with mail_params_init checks', () => {
  assert.deepEqual(layoutFromConfig(params({ hash_queue_names: 'deferred, defer', hash_queue_depth: '1' })), DEFAULT_LAYOUT);
  assert.deepEqual(layoutFromConfig(params({ hash_queue_names: 'a,b\tc', hash_queue_depth: ' 3' })), {
    hashQueueNames: ['a', 'b', 'c'],
    hashQueueDepth: 3,
  });
  assert.deepEqual(layoutFromConfig(params({ hash_queue_depth: '0' })), { error: 'invalid hash_queue_depth parameter value 0 < 1' });
  assert.deepEqual(layoutFromConfig(params({ hash_queue_depth: '2x' })), { error: 'bad numerical configuration: hash_queue_depth = 2x' });
});

test('mode bits: complete files are exactly owner rwx; expire is group x', () => {
  assert.ok(isReadyMode(0o100700));
  assert.ok(isReadyMode(0o710));
  assert.ok(!isReadyMode(0o600));
  assert.ok(isForcedExpire(0o710));
  assert.ok(!isForcedExpire(MAIL_QUEUE_STAT_READY));
});

test('rename between queues makes the hash directory it needs', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'layout-'));
  try {
    fs.mkdirSync(path.join(dir, 'active'));
    fs.writeFileSync(path.join(dir, 'active', '1423120E980'), 'x');
    assert.equal(mailQueueRename(dir, DEFAULT_LAYOUT, '1423120E980', 'active', 'deferred'), null);
    assert.ok(fs.existsSync(path.join(dir, 'deferred', '1', '1423120E980')));
    assert.equal((fs.statSync(path.join(dir, 'deferred', '1')).mode & 0o777) & ~0o700, 0);
    assert.equal(mailQueueRename(dir, DEFAULT_LAYOUT, 'NOSUCH', 'active', 'deferred')?.code, 'ENOENT');
    assert.equal(mailQueueRemove(dir, DEFAULT_LAYOUT, 'deferred', '1423120E980'), null);
    assert.equal(mailQueueRemove(dir, DEFAULT_LAYOUT, 'deferred', '1423120E980')?.code, 'ENOENT');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
