// Shared queue operations: marking a recipient done changes exactly one
// byte and Postfix's own postcat then shows a done_recipient; files move
// between queues along the hashed layout; defer logs are written byte for
// byte as Postfix 3.7.11 wrote one (fixtures/queue/865E820E9C9.defer), read
// back as bounce_log_read() does, and removed.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { DEFAULT_LAYOUT, type QueueLayout } from '../../src/queue/layout.js';
import { markRecipientDone, moveQueueFile, openQueueFile, removeQueueFile } from '../../src/queue/ops.js';
import { readQueueFile, readQueueFileSync } from '../../src/queue/reader.js';
import { appendStatusRecord, formatStatusRecord, parseStatusLog, readStatusLog, removeStatusLog } from '../../src/queue/status-log.js';
import { repoRoot } from '../lib/cases.js';

const REAL_POSTCAT = '/usr/sbin/postcat';
const fixtures = path.join(repoRoot(), 'fixtures', 'queue');

async function withQueueDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'queue-ops-'));
  try {
    await fn(dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test('mark done: one byte changes, the reader and the real postcat see a done recipient', async (t) => {
  await withQueueDir(async (dir) => {
    const file = path.join(dir, '4jX7nC6dWtzJFHY');
    const before = fs.readFileSync(path.join(fixtures, '4jX7nC6dWtzJFHY.qf'));
    fs.writeFileSync(file, before);
    const r = await readQueueFile(file);
    assert.ok(r.ok);
    const rcpt = r.file.recipients[0]!;
    assert.deepEqual([rcpt.offset, rcpt.status], [687, 'pending']);
    const fh = await fsp.open(file, 'r+');
    try {
      assert.equal(await markRecipientDone(fh, rcpt.offset), null);
      const bad = await markRecipientDone(fh, 0);
      assert.equal(bad?.code, 'EINVAL');
    } finally {
      await fh.close();
    }
    const after = fs.readFileSync(file);
    assert.equal(after.length, before.length);
    const changed = [...after.keys()].filter((i) => after[i] !== before[i]);
    assert.deepEqual(changed, [687]);
    assert.equal(String.fromCharCode(before[687]!, after[687]!), 'RD');
    const again = readQueueFileSync(file);
    assert.ok(again.ok);
    assert.equal(again.file.recipients[0]!.status, 'done');
    if (!fs.existsSync(REAL_POSTCAT)) return t.skip(`${REAL_POSTCAT} is not installed`);
    fs.writeFileSync(path.join(dir, 'main.cf'), '');
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', TZ: 'UTC', LANG: 'C' };
    const real = spawnSync(REAL_POSTCAT, ['-c', dir, '-e', '-o', file], { env, encoding: 'latin1' });
    assert.equal(real.stderr, '');
    assert.match(real.stdout, /^ {6}687 done_recipient: alice@mx\.example\.com$/m);
    assert.doesNotMatch(real.stdout, / recipient: /);
  });
});

test('move: incoming -> deferred (hashed) -> hold -> corrupt, missing files are values', async () => {
  await withQueueDir(async (dir) => {
    const id = '865E820E9C9';
    fs.mkdirSync(path.join(dir, 'incoming'));
    fs.mkdirSync(path.join(dir, 'hold'));
    fs.copyFileSync(path.join(fixtures, `${id}.qf`), path.join(dir, 'incoming', id));
    assert.equal(await moveQueueFile(dir, DEFAULT_LAYOUT, id, 'incoming', 'deferred'), null);
    assert.ok(fs.existsSync(path.join(dir, 'deferred', '8', id)));
    assert.equal((fs.statSync(path.join(dir, 'deferred', '8')).mode & 0o777), 0o700);
    assert.equal(await moveQueueFile(dir, DEFAULT_LAYOUT, id, 'deferred', 'hold'), null);
    assert.ok(fs.existsSync(path.join(dir, 'hold', id)));
    const deep: QueueLayout = { hashQueueNames: ['corrupt'], hashQueueDepth: 2 };
    assert.equal(await moveQueueFile(dir, deep, id, 'hold', 'corrupt'), null);
    assert.ok(fs.existsSync(path.join(dir, 'corrupt', '8', '6', id)));
    const gone = await moveQueueFile(dir, DEFAULT_LAYOUT, id, 'hold', 'active');
    assert.equal(gone?.code, 'ENOENT');
    assert.equal(await removeQueueFile(dir, deep, 'corrupt', id), null);
    assert.equal((await removeQueueFile(dir, deep, 'corrupt', id))?.code, 'ENOENT');
  });
});

test('defer log: written as Postfix 3.7.11 wrote it, read back, removed', async () => {
  await withQueueDir(async (dir) => {
    const id = '865E820E9C9';
    const qf = readQueueFileSync(path.join(fixtures, `${id}.qf`));
    assert.ok(qf.ok);
    const rcpt = qf.file.recipients[0]!;
    const dsn = { status: '4.3.2', action: 'delayed', reason: 'deferred transport' };
    const status = { address: rcpt.address, orcpt: rcpt.orcpt ?? '', offset: rcpt.offset, dsnOrcpt: rcpt.dsnOrcpt ?? '', notify: rcpt.notify };
    assert.equal(await appendStatusRecord(dir, DEFAULT_LAYOUT, 'defer', id, status, dsn), null);
    const logPath = path.join(dir, 'defer', '8', id);
    assert.equal(fs.readFileSync(logPath, 'latin1'), fs.readFileSync(path.join(fixtures, `${id}.defer`), 'latin1'));
    assert.equal(fs.statSync(logPath).mode & 0o777, 0o600);
    // The second recipient, with more DSN detail, goes after the first.
    const second = { address: 'Bob Smith@example.com', orcpt: 'bob@example.com', offset: 757, notify: 12 };
    const dsn2 = { status: '4.4.1', action: 'delayed', reason: 'connect to mx: refused', dtype: 'smtp', dtext: '', mtype: 'dns', mname: 'mx.example' };
    assert.equal(await appendStatusRecord(dir, DEFAULT_LAYOUT, 'defer', id, second, dsn2), null);
    const read = await readStatusLog(dir, DEFAULT_LAYOUT, 'defer', id);
    assert.ok('entries' in read);
    assert.deepEqual(read.warnings, []);
    assert.deepEqual(read.entries.map((e) => [e.address, e.orcpt, e.offset, e.dsnOrcpt, e.notify, e.status, e.action, e.reason, e.dtype, e.mtype, e.mname]), [
      ['alice@mx.example.com', '', 670, 'rfc822;alice@mx.example.com', 0, '4.3.2', 'delayed', 'deferred transport', '', '', ''],
      ['"Bob Smith"@example.com', 'bob@example.com', 757, '', 12, '4.4.1', 'delayed', 'connect to mx: refused', '', 'dns', 'mx.example'],
    ]);
    assert.equal(await removeStatusLog(dir, DEFAULT_LAYOUT, 'defer', id), null);
    assert.equal(fs.existsSync(logPath), false);
    assert.equal((await removeStatusLog(dir, DEFAULT_LAYOUT, 'defer', id))?.code, 'ENOENT');
    const none = await readStatusLog(dir, DEFAULT_LAYOUT, 'defer', id);
    assert.equal('code' in none ? none.code : '', 'ENOENT');
  });
});

test('status log format: null recipient, same-case original, no compatibility line', () => {
  assert.equal(
    formatStatusRecord({ address: '', orcpt: '' }, { status: '5.1.1', action: 'failed', reason: 'no' }),
    '\n<>: no\nrecipient=<>\nstatus=5.1.1\naction=failed\nreason=no\n\n',
  );
  assert.equal(
    formatStatusRecord({ address: 'a@b', orcpt: 'A@B', offset: 0 }, { status: '2.0.0', action: 'delivered', reason: 'ok' }, false),
    '\nrecipient=a@b\nstatus=2.0.0\naction=delivered\nreason=ok\n\n',
  );
});

test('status log reading: old-style entries, placeholders, warnings, queue-dependent defaults', () => {
  const text = '<x@y>: too slow\n\n\nfoo=bar\nrecipient=\n\nnot a record\n\n<>: gone\n\x01recipient=z\n\nstatus=2.0.0\n';
  const d = parseStatusLog(text, 'defer', 'defer/X/Y');
  assert.deepEqual(d.entries.map((e) => [e.address, e.status, e.action, e.reason]), [
    ['x@y', '4.0.0', 'delayed', 'too slow'],
    ['(MAILER-DAEMON)', '4.0.0', 'delayed', '(description unavailable)'],
    ['(recipient address unavailable)', '4.0.0', 'delayed', '(description unavailable)'],
    ['(MAILER-DAEMON)', '4.0.0', 'delayed', 'gone'],
  ]);
  assert.deepEqual(d.warnings, [
    'defer/X/Y: unknown attribute name: foo, ignored',
    "defer/X/Y: malformed record: missing '=' after attribute name",
    'defer/X/Y: malformed record: ?recipient=z...',
  ]);
  const b = parseStatusLog('<a@b>: bad\n\n', 'bounce', 'bounce/Y');
  assert.deepEqual(b.entries.map((e) => [e.status, e.action]), [['5.0.0', 'failed']]);
});

test('open: a creating open makes the hash directory', async () => {
  await withQueueDir(async (dir) => {
    const o = await openQueueFile(dir, DEFAULT_LAYOUT, 'defer', 'ABCDEF', 'a');
    assert.ok('fh' in o);
    await o.fh.close();
    assert.equal(o.path, 'defer/A/ABCDEF');
    const r = await openQueueFile(dir, DEFAULT_LAYOUT, 'deferred', 'ABCDEF', 'r');
    assert.equal('code' in r ? r.code : '', 'ENOENT');
  });
});
