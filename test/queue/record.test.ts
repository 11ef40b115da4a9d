// Record layer: reading the real 3.7.11 queue files gives the records, offsets
// and types that postcat -od printed for them; the length encoding, padding,
// pointer following and error values behave as global/record.c does.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  type ByteInput, MemoryInput, REC_FLAG_DEFAULT, REC_FLAG_NONE, RecordWriter, cString, encodeLength, encodePad, encodeRecord, openInput,
  recGetRaw, recPutType, recordSpace,
} from '../../src/queue/record.js';
import {
  REC_TYPE, REC_TYPE_ENVELOPE, REC_TYPE_EOF, REC_TYPE_ERROR, asctimeLocal, formatSizeRecord, formatTimeRecord, formatWarnRecord,
  recTypeIn, recTypeName, scanSizeRecord, splitNameValue,
} from '../../src/queue/rec-type.js';
import { repoRoot } from '../lib/cases.js';

const samples = path.join(repoRoot(), 'fixtures', 'postcat', 'samples');
const sampleFiles = fs.readdirSync(samples).filter((f) => f.endsWith('.qf')).sort();

/** (offset, type) of every record a default read returns, up to END, as postcat -od shows them. */
function readAll(input: ByteInput): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (;;) {
    const at = input.tell();
    const r = recGetRaw(input, 0, REC_FLAG_DEFAULT);
    if (r.type === REC_TYPE_EOF) return out;
    assert.notEqual(r.type, REC_TYPE_ERROR, 'warning' in r ? r.warning : '');
    out.push([at, r.type]);
  }
}

function asInput(file: string) {
  const o = openInput(file);
  if ('error' in o) throw o.error;
  return o.input;
}

test('record reader: every recorded sample gives the records postcat -od printed', () => {
  const dir = '/work/shared/postfix-samples/queue';
  const refs = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.postcat-od.txt')) : [];
  if (refs.length === 0) return;
  for (const ref of refs) {
    const qf = path.join(dir, ref.replace('.postcat-od.txt', '.qf'));
    const want = fs
      .readFileSync(path.join(dir, ref), 'latin1')
      .split('\n')
      .map((l) => /^ *(\d+) +(\d+) /.exec(l))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => [Number(m[1]), Number(m[2])]);
    assert.deepEqual(readAll(asInput(qf)), want, ref);
  }
});

test('record reader: a file and its in-memory image read the same', () => {
  for (const f of sampleFiles) {
    const file = path.join(samples, f);
    assert.deepEqual(readAll(asInput(file)), readAll(new MemoryInput(fs.readFileSync(file), f)), f);
  }
});

test('record reader: first records of a real file', () => {
  const input = new MemoryInput(fs.readFileSync(path.join(samples, '1423120E980.qf')), 'x');
  const first = recGetRaw(input);
  assert.equal(first.type, REC_TYPE.SIZE);
  assert.equal(cString((first as { data: Buffer }).data).toString(), formatSizeRecord([341, 708, 1, 0, 341, 0]));
  const second = recGetRaw(input);
  assert.equal((second as { data: Buffer }).data.toString(), formatTimeRecord(1795303967, 68429));
});

test('length encoding: 7 bits a byte, low bits first', () => {
  assert.deepEqual([...encodeLength(0)], [0]);
  assert.deepEqual([...encodeLength(127)], [127]);
  assert.deepEqual([...encodeLength(128)], [0x80, 1]);
  assert.deepEqual([...encodeLength(300)], [0xac, 2]);
  assert.deepEqual([...encodeLength(16384)], [0x80, 0x80, 1]);
  for (const n of [0, 1, 127, 128, 129, 16383, 16384, 2097151, 2097152, 70000]) {
    const data = Buffer.alloc(n, 0x61);
    const rec = encodeRecord(REC_TYPE.NORM, data);
    assert.equal(rec.length, recordSpace(n), `space ${n}`);
    const r = recGetRaw(new MemoryInput(rec, 't'), 0, REC_FLAG_NONE);
    assert.equal(r.type, REC_TYPE.NORM);
    assert.ok((r as { data: Buffer }).data.equals(data));
  }
});

test('malformed records are values with Postfix warnings', () => {
  const read = (bytes: number[]) => recGetRaw(new MemoryInput(Buffer.from(bytes), 'f'), 0, REC_FLAG_NONE);
  assert.deepEqual(read([0x4e]), { type: REC_TYPE_ERROR, warning: 'f: unexpected EOF reading length, record type 78' });
  assert.deepEqual(read([0x4e, 0x80, 0x80, 0x80, 0x80, 0x80]), { type: REC_TYPE_ERROR, warning: 'f: too many length bits, record type 78' });
  assert.deepEqual(read([0x4e, 0x80, 0x80, 0x80, 0x80, 0x0f]), { type: REC_TYPE_ERROR, warning: 'f: illegal length -268435456, record type 78' });
  assert.deepEqual(read([0x4e, 5, 0x61]), { type: REC_TYPE_ERROR, warning: 'f: unexpected EOF in data, record type 78 length 5' });
  assert.deepEqual(read([]), { type: REC_TYPE_EOF });
  const limited = recGetRaw(new MemoryInput(encodeRecord(REC_TYPE.NORM, 'abcdef'), 'f'), 4, REC_FLAG_NONE);
  assert.deepEqual(limited, { type: REC_TYPE_ERROR, warning: 'f: illegal length 6, record type 78' });
});

test('default flags follow pointers, skip padding and stop reading after END', () => {
  const w = new RecordWriter();
  w.put(REC_TYPE.FROM, 'a@b');
  const ptrAt = w.put(REC_TYPE.PTR, formatWarnRecord(0));
  w.pad(REC_TYPE.DTXT, 10);
  w.put(REC_TYPE.RCPT, 'x@y');
  w.put(REC_TYPE.END);
  w.put(REC_TYPE.FROM, 'after@end');
  const image = w.take();
  // Point the pointer past the padding, at the recipient.
  const target = ptrAt + recordSpace(15) + recordSpace(8);
  encodeRecord(REC_TYPE.PTR, formatWarnRecord(target)).copy(image, ptrAt);
  const types = (flags: number) => {
    const input = new MemoryInput(image, 'p');
    const seen: number[] = [];
    for (let r = recGetRaw(input, 0, flags); r.type >= 0; r = recGetRaw(input, 0, flags)) seen.push(r.type);
    return String.fromCharCode(...seen);
  };
  assert.equal(types(REC_FLAG_DEFAULT), 'SRE');
  assert.equal(types(REC_FLAG_NONE), 'SpwRES');
});

test('pointer loops end after 10000 reverse jumps; bad pointers and pipes fail', () => {
  const ptr = encodeRecord(REC_TYPE.PTR, formatWarnRecord(0));
  const self = Buffer.concat([encodeRecord(REC_TYPE.FROM, 'x'), ptr]);
  encodeRecord(REC_TYPE.PTR, formatWarnRecord(3)).copy(self, 3);
  const loop = new MemoryInput(self, 'loop');
  assert.equal(recGetRaw(loop).type, REC_TYPE.FROM);
  assert.deepEqual(recGetRaw(loop), { type: REC_TYPE_ERROR, warning: 'loop: too many reverse jump records' });
  const bad = Buffer.concat([encodeRecord(REC_TYPE.PTR, '12x')]);
  assert.deepEqual(recGetRaw(new MemoryInput(bad, 'b')), { type: REC_TYPE_ERROR, warning: 'b: malformed pointer record value: 12x' });
  const fwd = Buffer.concat([encodeRecord(REC_TYPE.PTR, '5'), encodeRecord(REC_TYPE.END)]);
  assert.deepEqual(recGetRaw(new MemoryInput(fwd, 'stdin', false)), {
    type: REC_TYPE_ERROR,
    warning: 'stdin: seek error after pointer record: Illegal seek',
  });
  assert.deepEqual(recGetRaw(new MemoryInput(encodeRecord(REC_TYPE.END), 'stdin', false)), {
    type: REC_TYPE_ERROR,
    warning: 'stdin: seek error after reading END record: Illegal seek',
  });
});

test('rec_pad: a right-aligned "0" filling the record', () => {
  assert.equal(encodePad(REC_TYPE.DTXT, 10).length, 10);
  assert.equal(encodePad(REC_TYPE.DTXT, 10).subarray(2).toString(), '       0');
  assert.equal(encodePad(REC_TYPE.DTXT, 1).subarray(2).toString(), '0');
});

test('rec_put_type changes one byte in place', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rec-'));
  try {
    const file = path.join(dir, 'f');
    const w = new RecordWriter();
    w.put(REC_TYPE.FROM, 's');
    const at = w.put(REC_TYPE.RCPT, 'r@x');
    fs.writeFileSync(file, w.take());
    const fd = fs.openSync(file, 'r+');
    assert.equal(recPutType(fd, REC_TYPE.DONE, at), null);
    fs.closeSync(fd);
    const input = new MemoryInput(fs.readFileSync(file), 'f');
    recGetRaw(input);
    assert.equal(recGetRaw(input).type, REC_TYPE.DONE);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('record type names and sets', () => {
  assert.equal(recTypeName(REC_TYPE.FILT), 'content_filter');
  assert.equal(recTypeName(REC_TYPE.DRCP), 'canceled_recipient');
  assert.equal(recTypeName(REC_TYPE.DELAY), 'unknown_record_type');
  assert.equal(recTypeName(REC_TYPE.MILT_COUNT), 'unknown_record_type');
  assert.equal(recTypeName(REC_TYPE.FLGS), 'flags');
  assert.ok(recTypeIn(REC_TYPE_ENVELOPE, REC_TYPE.SIZE));
  assert.ok(!recTypeIn(REC_TYPE_ENVELOPE, REC_TYPE.NORM));
  assert.ok(recTypeIn(REC_TYPE_ENVELOPE, 0), 'strchr finds the terminator');
});

test('field scanners behave like sscanf, atol and split_nameval', () => {
  assert.deepEqual(scanSizeRecord('    341     708  1'), { count: 2, size: 341n, offset: 708n });
  assert.deepEqual(scanSizeRecord('50'), { count: 1, size: 50n });
  assert.deepEqual(scanSizeRecord('abc'), { count: 0 });
  assert.deepEqual(splitNameValue('  a  =  b c  '), { name: 'a', value: 'b c' });
  assert.deepEqual(splitNameValue('=x'), { error: 'missing attribute name' });
  assert.deepEqual(splitNameValue('a b=c'), { error: "missing '=' after attribute name" });
});

test('asctime in the local zone, with years outside what Date can hold', () => {
  const saved = process.env.TZ;
  process.env.TZ = 'UTC';
  try {
    assert.equal(asctimeLocal(1795303967n), 'Sat Nov 21 23:32:47 2026\n');
    assert.equal(asctimeLocal(-1n), 'Wed Dec 31 23:59:59 1969\n');
    assert.equal(asctimeLocal(-62135596801n), 'Sun Dec 31 23:59:59 0\n');
    assert.equal(asctimeLocal(67767976233316800n), 'Sun Dec 29 12:00:00 2147483647\n');
    assert.equal(asctimeLocal(-67768040609740800n), 'Thu Jan  1 00:00:00 -2147481748\n');
    assert.equal(asctimeLocal(67768036191676799n), null);
    process.env.TZ = 'EST5EDT';
    assert.equal(asctimeLocal(1795303967n), 'Sat Nov 21 18:32:47 2026\n');
  } finally {
    if (saved === undefined) delete process.env.TZ;
    else process.env.TZ = saved;
  }
});
