// mailTrigger (src/queue/mail-trigger.ts): a wake-up reaches a service
// over a UNIX-domain socket and over a FIFO; a missing endpoint is a warning.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { test } from 'node:test';
import { mailTrigger } from '../../src/queue/mail-trigger.js';
import { tempDir } from '../lib/tmp.js';

const quiet = { warning: (t: string) => assert.fail(t) };

test('mailTrigger: over a unix socket', async () => {
  const dir = tempDir('qmgr-trigger-');
  fs.mkdirSync(path.join(dir, 'public'));
  let resolveGot: (data: string) => void = () => undefined;
  const got = new Promise<string>((resolve) => (resolveGot = resolve));
  const server = net.createServer((s) => {
    let data = '';
    s.on('data', (d) => (data += d.toString('latin1')));
    s.on('end', () => {
      server.close();
      resolveGot(data);
    });
  });
  await new Promise<void>((resolve) => server.listen(path.join(dir, 'public', 'qmgr'), resolve));
  assert.equal(await mailTrigger(dir, 'public/qmgr', 'W', quiet), true);
  assert.equal(await got, 'W');
});

test('mailTrigger: over a FIFO, and a missing endpoint', async (t) => {
  const dir = tempDir('qmgr-trigger-');
  fs.mkdirSync(path.join(dir, 'public'));
  const fifo = path.join(dir, 'public', 'qmgr');
  if (spawnSync('mkfifo', [fifo]).status !== 0) return t.skip('mkfifo is not available');
  const fd = fs.openSync(fifo, fs.constants.O_RDWR | fs.constants.O_NONBLOCK);
  try {
    assert.equal(await mailTrigger(dir, 'public/qmgr', 'FA', quiet), true);
    const buf = Buffer.alloc(10);
    const n = fs.readSync(fd, buf, 0, 10, null);
    assert.equal(buf.subarray(0, n).toString('latin1'), 'FA');
  } finally {
    fs.closeSync(fd);
  }
  const warnings: string[] = [];
  assert.equal(await mailTrigger(dir, 'public/pickup', 'W', { warning: (t) => warnings.push(t) }), false);
  assert.deepEqual(warnings, ['unable to look up public/pickup: No such file or directory']);
});
