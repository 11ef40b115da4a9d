// The lean readers behind mailq (src/cli/queue-showq-records.ts) against the
// general ones they stand in for: the in-place record cursor must give the
// records queue/record.ts's record_get() gives on every queue file of the
// fixtures (malformed ones included), and the byte-level defer log reader the
// (recipient, reason) pairs of queue/status-log.ts on logs of every shape.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { BufferCursor, InputCursor, type RecordCursor, deferReasons } from '../../src/cli/queue-showq-records.js';
import { MemoryInput } from '../../src/queue/record.js';
import { REC_TYPE } from '../../src/queue/rec-type.js';
import { parseStatusLog } from '../../src/queue/status-log.js';
import { repoRoot } from '../lib/cases.js';

function queueFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...queueFiles(p));
    else if (e.isFile() && e.name.endsWith('.qf')) out.push(p);
  }
  return out;
}

/** The records a cursor gives, skipping `skip` bytes after each content record. */
function records(c: RecordCursor, skip: number): string[] {
  const out: string[] = [];
  for (let t = c.next(), n = 0; t >= 0 && n < 100000; t = c.next(), n++) {
    out.push(`${String.fromCharCode(t)} ${JSON.stringify(c.text())}`);
    if (t === REC_TYPE.MESG) c.skip(skip);
  }
  return out;
}

test('the in-place cursor reads every fixture queue file as record_get() does', () => {
  const files = [...queueFiles(path.join(repoRoot(), 'fixtures', 'postcat')), ...queueFiles(path.join(repoRoot(), 'fixtures', 'queue'))];
  assert.ok(files.length > 30, `only ${files.length} queue files found`);
  for (const file of files) {
    const bytes = fs.readFileSync(file);
    // The cursor works on a buffer larger than the file, as the scan's reused one is.
    const big = Buffer.alloc(bytes.length + 64, 0x41);
    bytes.copy(big);
    for (const skip of [0, 7, 1 << 20]) {
      const general = records(new InputCursor(new MemoryInput(bytes, file, true)), skip);
      assert.deepEqual(records(new BufferCursor(big, bytes.length), skip), general, `${path.basename(file)} (skip ${skip})`);
    }
  }
});

const LOGS: [string, string][] = [
  ['one entry', '\n<a@example.com>: connect to x: refused\nrecipient=a@example.com\noffset=123\nstatus=4.4.1\naction=delayed\nreason=connect to x: refused\n\n'],
  ['two entries', '\nrecipient=a@x\nreason=one\n\n\nrecipient=b@x\nreason=two\n\n'],
  ['no closing empty line', '\nrecipient=a@x\nreason=one\n'],
  ['old style only', '<a@x>:   spaced reason\n\n'],
  ['null recipient', 'recipient=\nreason=r\n\n<>: old\n\n'],
  ['placeholders', 'status=4.0.0\n\n'],
  ['spaces around =', 'recipient   =   a@x   \nreason =  r  \n\n'],
  ['malformed lines', 'recipient\n=x\n-x\n<a@x> no colon\nreason=r\n\n'],
  ['unknown attribute', 'foo=bar\nrecipient=a@x\n\n'],
  ['no final newline', 'recipient=a@x\nreason=r\n\nrecipient=b@x'],
  ['8-bit', 'recipient=\u00e9@x\nreason=caf\u00e9\n\n'],
  ['carriage return', 'recipient=a@x\r\nreason=r\r\n\r\n\n'],
  ['tab', 'recipient=\ta@x\nreason=r\t\n\n'],
  ['empty', ''],
  ['blank lines only', '\n\n\n'],
];

test('defer logs: the byte reader gives what parseStatusLog gives', () => {
  for (const [label, text] of LOGS) {
    for (const utf8 of [false, true]) {
      const want = parseStatusLog(text, 'defer', 'ID', { utf8 }).entries.map((e) => ({ address: e.address, reason: e.reason }));
      const buf = Buffer.alloc(text.length + 16, 0x0a);
      buf.write(text, 'latin1');
      assert.deepEqual(deferReasons(buf, text.length, 'ID', utf8).map((e) => ({ address: e.address, reason: e.reason })), want, `${label} (utf8 ${utf8})`);
    }
  }
});
