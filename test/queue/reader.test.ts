// The queue-file reader: real 3.7.11 files give the envelope, the recipients
// and the record offsets that Postfix's own postcat -o shows; the
// asynchronous reader (pages read with fs/promises) gives the same result
// as the synchronous one, also across page boundaries, pointer records and
// padding; malformed files come back as values with qmgr's reasons.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { RecordWriter, encodeRecord } from '../../src/queue/record.js';
import { REC_TYPE, formatPtrRecord, formatSizeRecord, formatWarnRecord } from '../../src/queue/rec-type.js';
import { attributeValue, readQueueBytes, readQueueFile, readQueueFileSync } from '../../src/queue/reader.js';
import { repoRoot } from '../lib/cases.js';

const REAL_POSTCAT = '/usr/sbin/postcat';
const root = repoRoot();
const samples = path.join(root, 'fixtures', 'postcat', 'samples');
const sampleFiles = fs.readdirSync(samples).filter((f) => f.endsWith('.qf')).sort();
const malformed = path.join(root, 'fixtures', 'postcat', 'malformed');

test('reader: a delivered recipient of a real file', () => {
  const r = readQueueFileSync(path.join(root, 'fixtures', 'queue', '1423120E980.qf'));
  assert.ok(r.ok);
  const f = r.file;
  assert.deepEqual(f.size, { count: 6, contentSize: 341, dataOffset: 708, rcptCount: 1, qmgrFlags: 0, contentLength: 341, smtputf8: 0 });
  assert.deepEqual(f.arrival, { sec: 1795303967, usec: 68429 });
  assert.equal(f.createTime, 1795303967);
  assert.equal(f.sender, 'sender@example.org');
  assert.equal(f.warnTime, 1795318367);
  assert.equal(attributeValue(f, 'log_ident'), '1423120E980');
  assert.equal(attributeValue(f, 'client_address_type'), '2');
  assert.equal(attributeValue(f, 'create_time'), null, 'create_time is mapped to createTime');
  assert.deepEqual(f.recipients, [{
    address: 'alice@mx.example.com', offset: 684, status: 'done', orcpt: 'known@valias.example',
    dsnOrcpt: 'rfc822;known@valias.example', notify: 0, segment: 'envelope',
  }]);
  assert.equal(f.messageOffset, 706);
  assert.equal(f.contentOffset, 708);
  assert.equal(f.extractedOffset, 708 + 341);
  assert.equal(f.endOffset, 1051);
  assert.deepEqual(f.warnings, []);
});

test('reader: recipients and offsets agree with the real postcat -o', async (t) => {
  if (!fs.existsSync(REAL_POSTCAT)) return t.skip(`${REAL_POSTCAT} is not installed`);
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', TZ: 'UTC', LANG: 'C' };
  for (const name of sampleFiles) {
    const file = path.join(samples, name);
    const real = spawnSync(REAL_POSTCAT, ['-c', samples, '-o', '-e', file], { env, encoding: 'latin1' });
    assert.equal(real.status, 0, real.stderr);
    const want = [...real.stdout.matchAll(/^ *(\d+) (recipient|done_recipient|canceled_recipient): (.*)$/gm)]
      .map((m) => `${m[1]} ${m[2]} ${m[3]}`);
    const r = readQueueFileSync(file);
    assert.ok(r.ok, name);
    const kind = { pending: 'recipient', done: 'done_recipient', canceled: 'canceled_recipient' } as const;
    assert.deepEqual(r.file.recipients.map((x) => `${x.offset} ${kind[x.status]} ${x.address}`), want, name);
    const sender = /^ *\d+ sender: (.*)$/m.exec(real.stdout);
    assert.equal(r.file.sender, sender?.[1], name);
    const end = /^ *(\d+) \*\*\* HEADER EXTRACTED/m.exec(real.stdout);
    assert.equal(r.file.extractedOffset, Number(end?.[1]), name);
  }
});

test('reader: the asynchronous reader gives the synchronous result on every recorded file', async () => {
  const dirs = [samples, malformed, path.join(root, 'fixtures', 'postcat', 'postfix-tests')];
  let n = 0;
  for (const dir of dirs) {
    for (const name of fs.readdirSync(dir)) {
      const file = path.join(dir, name);
      if (!fs.statSync(file).isFile() || /\.(json|txt|cf)$/.test(name)) continue;
      assert.deepEqual(await readQueueFile(file), readQueueFileSync(file), file);
      n++;
    }
  }
  assert.ok(n > 40);
});

/** A queue file as cleanup writes one with milter edits: pointers, padding, a big body, extracted recipients. */
function craftedFile(bodyLines: number): { image: Buffer; rcptOffsets: number[] } {
  const w = new RecordWriter();
  w.put(REC_TYPE.SIZE, formatSizeRecord([0, 0, 0, 0, 0, 0]));
  w.put(REC_TYPE.TIME, '1795303967 5');
  w.put(REC_TYPE.ATTR, 'create_time=1795303960');
  w.put(REC_TYPE.FROM, 'from@example.org');
  const ptrAt = w.put(REC_TYPE.PTR, formatPtrRecord(0)); // patched below to jump to the heap
  const afterPtr = w.offset;
  w.put(REC_TYPE.ATTR, 'notify_flags=6');
  w.put(REC_TYPE.ATTR, 'dsn_orig_rcpt=rfc822;one@example.org');
  w.put(REC_TYPE.ORCP, 'one@example.org');
  const r1 = w.put(REC_TYPE.RCPT, 'one@example.net');
  w.pad(REC_TYPE.DTXT, 20);
  const r2 = w.put(REC_TYPE.DRCP, 'gone@example.net');
  w.put(REC_TYPE.MESG, '');
  const dataOffset = w.offset;
  for (let i = 0; i < bodyLines; i++) w.put(REC_TYPE.NORM, `line ${i} `.padEnd(70, 'x'));
  const xtraOffset = w.offset;
  w.put(REC_TYPE.XTRA, '');
  w.put(REC_TYPE.ATTR, 'encoding=8bit');
  const r3 = w.put(REC_TYPE.RCPT, 'bcc@example.net');
  w.put(REC_TYPE.END, '');
  // The heap: a recipient added after the fact, then back to the envelope.
  const heap = w.offset;
  w.put(REC_TYPE.WARN, formatWarnRecord(1795318367));
  const r0 = w.put(REC_TYPE.RCPT, 'heap@example.net');
  w.put(REC_TYPE.PTR, formatPtrRecord(afterPtr));
  const image = w.take();
  encodeRecord(REC_TYPE.SIZE, formatSizeRecord([xtraOffset - dataOffset, dataOffset, 4, 0, xtraOffset - dataOffset, 0])).copy(image, 0);
  encodeRecord(REC_TYPE.PTR, formatPtrRecord(heap)).copy(image, ptrAt);
  return { image, rcptOffsets: [r0, r1, r2, r3] };
}

test('reader: pointers, padding, a content of many pages and extracted recipients, sync and async', async () => {
  const { image, rcptOffsets } = craftedFile(5000);
  assert.ok(image.length > 5 * 65536);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'queue-reader-'));
  try {
    const file = path.join(dir, 'qf');
    fs.writeFileSync(file, image);
    const sync = readQueueFileSync(file);
    assert.ok(sync.ok, sync.ok ? '' : sync.error);
    assert.deepEqual(await readQueueFile(file), sync);
    assert.deepEqual(readQueueBytes(image, file), sync);
    const f = sync.file;
    assert.deepEqual(f.recipients.map((r) => [r.offset, r.status, r.address, r.segment]), [
      [rcptOffsets[0], 'pending', 'heap@example.net', 'envelope'],
      [rcptOffsets[1], 'pending', 'one@example.net', 'envelope'],
      [rcptOffsets[2], 'canceled', 'gone@example.net', 'envelope'],
      [rcptOffsets[3], 'pending', 'bcc@example.net', 'extracted'],
    ]);
    assert.equal(f.recipients[1]!.notify, 6);
    assert.equal(f.recipients[1]!.dsnOrcpt, 'rfc822;one@example.org');
    assert.equal(f.recipients[1]!.orcpt, 'one@example.org');
    assert.equal(f.recipients[0]!.notify, 0);
    assert.equal(f.createTime, 1795303960);
    assert.equal(f.warnTime, 1795318367);
    assert.deepEqual(f.attributes.map((a) => [a.name, a.value, a.segment]), [['encoding', '8bit', 'extracted']]);
    assert.equal(f.extractedOffset, rcptOffsets[3]! - 2 - 'encoding=8bit'.length - 2);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('reader: malformed files are values with the reason', async () => {
  const cases: Array<[string, RegExp]> = [
    ['empty.qf', /^missing end record$/],
    ['trunc-len.qf', /trunc-len\.qf: unexpected EOF reading length, record type 69$/],
    ['neglen.qf', /illegal length -268435456/],
    ['bad-size.qf', /^weird size record$/],
    ['good.qf', /^$/],
    ['ooo.qf', /^unexpected record type 'X' at offset 115$/],
    ['unknown-type.qf', /^unexpected record type 'Z'/],
  ];
  for (const [name, want] of cases) {
    const file = path.join(malformed, name);
    const r = readQueueFileSync(file);
    assert.match(r.ok ? '' : r.error, want, name);
    assert.deepEqual(await readQueueFile(file), r, name);
  }
  const missing = await readQueueFile(path.join(malformed, 'no-such-file'));
  assert.equal(missing.ok, false);
  assert.match(missing.ok ? '' : missing.error, /^open .*no-such-file: ENOENT/);
  // The SIZE record still says 0 0 ...: cleanup never finished this file.
  const { image } = craftedFile(1);
  const unfinished = Buffer.concat([encodeRecord(REC_TYPE.SIZE, formatSizeRecord([0, 0, 0, 0, 0, 0])), image.subarray(97)]);
  const u = readQueueBytes(unfinished, 'x');
  assert.equal(u.ok ? '' : u.error, `invalid size record: ${formatSizeRecord([0, 0, 0, 0, 0, 0])}`);
  // A file cut after its recipients: no END.
  const cut = readQueueBytes(image.subarray(0, 200), 'x');
  assert.equal(cut.ok, false);
});

test('reader: out-of-order DSN data and bad notify flags are warnings, not failures', () => {
  const w = new RecordWriter();
  w.put(REC_TYPE.SIZE, formatSizeRecord([2, 0, 1, 0, 2, 0]));
  w.put(REC_TYPE.TIME, '10');
  w.put(REC_TYPE.FROM, '');
  w.put(REC_TYPE.ORCP, 'a');
  w.put(REC_TYPE.ORCP, 'b');
  w.put(REC_TYPE.ATTR, 'notify_flags=3');
  w.put(REC_TYPE.ATTR, 'ret_flags=2');
  w.put(REC_TYPE.RCPT, 'r');
  w.put(REC_TYPE.MESG, '');
  const data = w.offset;
  w.put(REC_TYPE.NORM, '');
  w.put(REC_TYPE.XTRA, '');
  w.put(REC_TYPE.END, '');
  const image = w.take();
  encodeRecord(REC_TYPE.SIZE, formatSizeRecord([2, data, 1, 0, 2, 0])).copy(image, 0);
  const r = readQueueBytes(image, 'x');
  assert.ok(r.ok, r.ok ? '' : r.error);
  assert.equal(r.file.sender, '');
  assert.equal(r.file.createTime, 10, 'falls back to the arrival time');
  assert.equal(r.file.dsnRet, 2);
  assert.deepEqual(r.file.warnings, ['ignoring out-of-order original recipient <a>', 'ignoring malformed DSN notify flags <3>']);
  assert.deepEqual([r.file.recipients[0]!.orcpt, r.file.recipients[0]!.notify], ['b', 0]);
});
