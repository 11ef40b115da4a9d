// Creating queue files as mail_queue_enter and mail_stream_finish do: the
// inode-based ID, the rename into a (hashed) queue, mode 0700 on commit,
// batched commits, hold, abort. A file written with the record writer is
// read back by the REAL postcat (skipped when Postfix is not installed)
// without a warning, and our reader sees the same records.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DEFAULT_LAYOUT, MAIL_QUEUE_STAT_READY } from '../../src/queue/layout.js';
import { type QueueFile, commitAll, createQueueFile } from '../../src/queue/queue-file.js';
import { parseQueueId } from '../../src/queue/queue-id.js';
import { MemoryInput, RecordWriter, recGetRaw } from '../../src/queue/record.js';
import { REC_TYPE, REC_TYPE_EOF, formatSizeRecord, formatTimeRecord, formatWarnRecord } from '../../src/queue/rec-type.js';
import { repoRoot } from '../lib/cases.js';

const REAL_POSTCAT = '/usr/sbin/postcat';

function tempQueue(): string {
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'qf-')));
  for (const q of ['incoming', 'hold', 'deferred']) fs.mkdirSync(path.join(dir, q));
  return dir;
}

function create(dir: string, opts: { queue?: string; longIds?: boolean } = {}): QueueFile {
  const r = createQueueFile({ queueDir: dir, layout: DEFAULT_LAYOUT, ...opts });
  if ('error' in r) throw new Error(r.error);
  assert.deepEqual(r.warnings, []);
  return r.file;
}

/** Records in the order cleanup writes them, with the SIZE record filled in at the end. */
function writeMessage(file: QueueFile): void {
  const w = new RecordWriter();
  w.put(REC_TYPE.SIZE, formatSizeRecord([0, 0, 0, 0, 0, 0]));
  w.put(REC_TYPE.TIME, formatTimeRecord(file.time.sec, file.time.usec));
  w.put(REC_TYPE.ATTR, `create_time=${file.time.sec}`);
  w.put(REC_TYPE.ATTR, `log_ident=${file.id}`);
  w.put(REC_TYPE.ATTR, 'rewrite_context=remote');
  w.put(REC_TYPE.FROM, 'sender@example.org');
  w.put(REC_TYPE.WARN, formatWarnRecord(file.time.sec + 14400));
  w.put(REC_TYPE.ATTR, 'dsn_orig_rcpt=rfc822;rcpt@example.com');
  w.put(REC_TYPE.ORCP, 'rcpt@example.com');
  w.put(REC_TYPE.RCPT, 'rcpt@example.com');
  w.put(REC_TYPE.MESG);
  const dataOffset = w.offset;
  w.put(REC_TYPE.NORM, `Received: by test (Postfix) id ${file.id}`);
  w.put(REC_TYPE.NORM, 'Subject: test');
  w.put(REC_TYPE.NORM, '');
  w.put(REC_TYPE.CONT, 'x'.repeat(2048));
  w.put(REC_TYPE.NORM, 'tail of a long line');
  const xtraOffset = w.offset;
  w.put(REC_TYPE.XTRA);
  w.put(REC_TYPE.END);
  assert.equal(file.append(w.take()), null);
  const size = xtraOffset - dataOffset;
  const c = new RecordWriter();
  c.put(REC_TYPE.SIZE, formatSizeRecord([size, dataOffset, 1, 0, size, 0]));
  assert.equal(file.writeAt(c.take(), 0), null);
}

test('a new file gets an inode-based short ID in incoming/, and the temporary name is gone', async () => {
  const dir = tempQueue();
  try {
    const file = create(dir);
    assert.match(file.id, /^[0-9A-F]{6,}$/);
    const st = fs.statSync(path.join(dir, 'incoming', file.id), { bigint: true });
    assert.equal(parseQueueId(file.id).inode, st.ino);
    assert.equal(parseQueueId(file.id).usec, file.time.usec);
    assert.equal(Number(st.mode & 0o777n), 0o600);
    assert.deepEqual(fs.readdirSync(path.join(dir, 'incoming')), [file.id]);
    writeMessage(file);
    assert.equal(await file.commit(), null);
    assert.equal(fs.statSync(path.join(dir, file.relPath)).mode & 0o777, MAIL_QUEUE_STAT_READY);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('long IDs, and a hashed queue gets its subdirectory on first use', async () => {
  const dir = tempQueue();
  try {
    const file = create(dir, { queue: 'deferred', longIds: true });
    const parsed = parseQueueId(file.id);
    assert.equal(parsed.long, true);
    assert.equal(parsed.sec, BigInt(file.time.sec));
    assert.equal(parsed.inode, fs.statSync(file.fullPath, { bigint: true }).ino);
    assert.match(file.relPath, /^deferred\/[0-9A-F]\/[0-9A-Za-z]+$/);
    assert.equal(await file.commit(), null);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('commitAll: many files made durable together; hold and abort', async () => {
  const dir = tempQueue();
  try {
    const files = Array.from({ length: 20 }, () => create(dir));
    assert.equal(new Set(files.map((f) => f.id)).size, 20);
    for (const f of files) writeMessage(f);
    assert.equal(files[0]!.moveTo('hold'), null);
    assert.deepEqual(await commitAll(files.slice(0, 19)), new Array(19).fill(null));
    files[19]!.abort();
    assert.equal(fs.existsSync(files[19]!.fullPath), false);
    assert.ok(fs.existsSync(path.join(dir, 'hold', files[0]!.id)));
    assert.equal(fs.readdirSync(path.join(dir, 'incoming')).length, 18);
    for (const f of files.slice(0, 19)) assert.equal(fs.statSync(f.fullPath).mode & 0o777, 0o700);
    await assert.rejects(files[1]!.commit());
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('create fails as a value when the queue directory is missing', () => {
  const r = createQueueFile({ queueDir: '/nonexistent-queue-dir', layout: DEFAULT_LAYOUT });
  assert.ok('error' in r);
  assert.match(r.error, /^mail_queue_enter: create file incoming\/\d+\.\d+: No such file or directory$/);
});

test('the real postcat reads a file written here without a warning', async (t) => {
  const dir = tempQueue();
  try {
    const file = create(dir);
    writeMessage(file);
    assert.equal(await file.commit(), null);
    const image = fs.readFileSync(file.fullPath);
    const input = new MemoryInput(image, 'f');
    const types: string[] = [];
    for (let r = recGetRaw(input); r.type !== REC_TYPE_EOF; r = recGetRaw(input)) types.push(String.fromCharCode(r.type));
    assert.equal(types.join(''), 'CTAAASWAORMNNNLNXE');
    if (!fs.existsSync(REAL_POSTCAT)) {
      t.skip(`${REAL_POSTCAT} is not installed`);
      return;
    }
    fs.writeFileSync(path.join(dir, 'main.cf'), '');
    fs.utimesSync(path.join(dir, 'main.cf'), new Date(2026, 0, 1), new Date(2026, 0, 1));
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', TZ: 'UTC', LANG: 'C' };
    const real = spawnSync(REAL_POSTCAT, ['-c', dir, '-od', file.fullPath], { env, encoding: 'latin1' });
    assert.equal(real.stderr, '');
    assert.equal(real.status, 0);
    assert.match(real.stdout, /\*\*\* MESSAGE FILE END /);
    assert.match(real.stdout, / 79 original_recipient: rcpt@example.com\n/);
    const ours = spawnSync(path.join(repoRoot(), 'bin', 'postcat'), ['-c', dir, '-o', file.fullPath], { env, encoding: 'latin1' });
    const realPlain = spawnSync(REAL_POSTCAT, ['-c', dir, '-o', file.fullPath], { env, encoding: 'latin1' });
    assert.equal(ours.stdout, realPlain.stdout);
    assert.equal(ours.stderr, '');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
