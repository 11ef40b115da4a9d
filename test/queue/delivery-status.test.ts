// The per-recipient status calls: exact maillog lines (fixed time stamps and
// a fixed clock), exact defer/bounce/trace log contents, the done mark on a
// queue file, soft_bounce, and Postfix's delay formatting (format_tv).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import * as api from '../../src/delivery/api.js';
import { createLogger, memorySink } from '../../src/log/logger.js';
import { DSN_NOTIFY_SUCCESS } from '../../src/mail/dsn.js';
import {
  type StatusContext, bounceRecipient, deferRecipient, deliveryLogLine, formatDelay, sentRecipient,
} from '../../src/queue/delivery-status.js';
import { DEFAULT_LAYOUT, mailQueuePath } from '../../src/queue/layout.js';
import { readQueueFileSync } from '../../src/queue/reader.js';
import { repoRoot } from '../lib/cases.js';
import { tempDir } from '../lib/tmp.js';

const QID = '4jX7nC6dWtzJFHY';
const OFFSET = 687;
const STATS: api.MsgStats = {
  incomingArrival: { sec: 1000, usec: 0 },
  activeArrival: { sec: 1000, usec: 500000 },
  agentHandoff: { sec: 1001, usec: 0 },
  connSetupDone: api.NO_TIME,
  deliverDone: api.NO_TIME,
  reuseCount: 0,
};
const NOW = { sec: 1003, usec: 250000 };
const DEFER_PATH = mailQueuePath(DEFAULT_LAYOUT, 'defer', QID);
const TIMES = 'delay=3.3, delays=0.5/0.5/0/2.3';

interface Setup {
  dir: string;
  lines: string[];
  ctx: StatusContext;
  close(): Promise<void>;
  queueFile: string;
}

/** A queue directory with the fixture message in active/, opened for done marks. */
async function setup(over: Partial<StatusContext> = {}): Promise<Setup> {
  const dir = tempDir('delivery-status-');
  fs.mkdirSync(path.join(dir, 'active'));
  const queueFile = path.join(dir, 'active', QID);
  fs.copyFileSync(path.join(repoRoot(), 'fixtures', 'queue', `${QID}.qf`), queueFile);
  const fh = await fsp.open(queueFile, 'r+');
  const lines: string[] = [];
  const ctx: StatusContext = {
    queueDir: dir, layout: DEFAULT_LAYOUT, log: createLogger(memorySink(lines), 'postfix/local', 42), queueName: 'active',
    queueId: QID, stats: STATS, flags: api.DEL_REQ_FLAG_DEFLT, fh, softBounce: false, oldlogCompat: true, delayMaxRes: 2,
    now: () => NOW, ...over,
  };
  return { dir, lines, ctx, queueFile, close: () => fh.close() };
}

const rcpt = (over: Partial<api.DeliveryRecipient> = {}): api.DeliveryRecipient => ({
  address: 'user@example.com', orcpt: 'alias@example.com', dsnOrcpt: '', notify: 0, offset: OFFSET, ...over,
});

const statusOf = (file: string) => {
  const r = readQueueFileSync(file);
  assert.ok(r.ok);
  return r.file.recipients[0]!.status;
};

const read = (dir: string, rel: string) => fs.readFileSync(path.join(dir, rel), 'latin1');

test('flag and status values equal delivery/api.ts', async () => {
  const s = await setup({ flags: api.DEL_REQ_FLAG_SUCCESS });
  // SUCCESS alone: a done mark and DEL_STAT_FINAL.
  assert.equal(await sentRecipient(s.ctx, rcpt(), 'none', { status: '2.0.0', reason: 'ok' }), api.DEL_STAT_FINAL);
  assert.equal(statusOf(s.queueFile), 'done');
  await s.close();
  const d = await setup({ flags: api.DEL_REQ_FLAG_RECORD });
  assert.equal(await deferRecipient(d.ctx, rcpt(), 'none', { status: '4.0.0', reason: 'later' }), api.DEL_STAT_DEFER);
  assert.ok(fs.existsSync(path.join(d.dir, 'trace', QID)), 'RECORD has the value delivery/api.ts gives it');
  assert.equal(statusOf(d.queueFile), 'pending');
  await d.close();
});

test('format_tv: two significant digits, never finer than the resolution limit', () => {
  const cases: Array<[number, number, number, string]> = [
    [0, 123, 2, '0'],
    [0, 56700, 2, '0.06'],
    [0, 5670, 2, '0.01'],
    [0, 5670, 3, '0.006'],
    [0, 500000, 2, '0.5'],
    [0, 995000, 2, '1'],
    [1, 234567, 2, '1.2'],
    [3, 250000, 2, '3.3'],
    [12, 500000, 2, '13'],
    [12, 400000, 6, '12'],
    [345, 0, 2, '345'],
    [0, 0, 0, '0'],
    [0, 700000, 0, '1'],
    [0, 1234, 6, '0.0012'],
  ];
  for (const [sec, usec, max, want] of cases) assert.equal(formatDelay(sec, usec, 2, max), want, `${sec}.${usec} max ${max}`);
});

test('log line: orig_to only when it differs ignoring case, conn_use, external and internal address forms', () => {
  const opts = { delayMaxRes: 2, now: NOW };
  const dsn = { status: '2.0.0', reason: 'delivered to mailbox' };
  assert.equal(deliveryLogLine(QID, STATS, rcpt(), 'local', dsn, 'sent', opts),
    `${QID}: to=<user@example.com>, orig_to=<alias@example.com>, relay=local, ${TIMES}, dsn=2.0.0, status=sent (delivered to mailbox)`);
  assert.equal(deliveryLogLine(QID, STATS, rcpt({ orcpt: 'USER@Example.COM' }), 'local', dsn, 'sent', opts),
    `${QID}: to=<user@example.com>, relay=local, ${TIMES}, dsn=2.0.0, status=sent (delivered to mailbox)`);
  assert.equal(deliveryLogLine(QID, STATS, rcpt({ orcpt: '' }), 'local', dsn, 'sent', opts),
    `${QID}: to=<user@example.com>, relay=local, ${TIMES}, dsn=2.0.0, status=sent (delivered to mailbox)`);
  // UTF-8 addresses compare with Unicode case folding.
  const upper = Buffer.from('ÄRGER@example.com', 'utf8').toString('latin1');
  const lower = Buffer.from('ärger@example.com', 'utf8').toString('latin1');
  assert.doesNotMatch(deliveryLogLine(QID, STATS, rcpt({ address: lower, orcpt: upper }), 'local', dsn, 'sent', opts), /orig_to/);
  const quoted = rcpt({ address: 'a b@example.com', orcpt: '' });
  assert.match(deliveryLogLine(QID, STATS, quoted, 'local', dsn, 'sent', opts), /to=<"a b"@example\.com>/);
  assert.match(deliveryLogLine(QID, STATS, quoted, 'local', dsn, 'sent', { ...opts, infoLogAddressFormat: 'internal' }), /to=<a b@example\.com>/);
  assert.match(deliveryLogLine(QID, STATS, rcpt({ address: '', orcpt: '' }), 'local', dsn, 'sent', opts), /to=<>, relay/);
  const smtp = { ...STATS, connSetupDone: { sec: 1001, usec: 120000 }, deliverDone: { sec: 1002, usec: 0 }, reuseCount: 2 };
  assert.equal(deliveryLogLine(QID, smtp, rcpt({ orcpt: '' }), 'mx.example.com[192.0.2.1]:25', { status: '2.0.0', reason: '250 ok' }, 'sent', opts),
    `${QID}: to=<user@example.com>, relay=mx.example.com[192.0.2.1]:25, conn_use=3, delay=2, delays=0.5/0.5/0.12/0.88, dsn=2.0.0, status=sent (250 ok)`);
  // No queue manager time stamps (a bounce by cleanup): everything is before the queue manager.
  const early = { ...STATS, activeArrival: api.NO_TIME, agentHandoff: api.NO_TIME };
  assert.match(deliveryLogLine(QID, early, rcpt({ orcpt: '' }), 'none', dsn, 'sent', opts), /delay=3\.3, delays=3\.3\/0\/0\/0,/);
  // A clock that went back gives zero, not a negative delay.
  assert.match(deliveryLogLine(QID, STATS, rcpt({ orcpt: '' }), 'none', dsn, 'sent', { ...opts, now: { sec: 999, usec: 0 } }),
    /delay=0, delays=0\.5\/0\.5\/0\/0,/);
});

test('sent: log line, done mark, no trace record without NOTIFY=SUCCESS', async () => {
  const s = await setup();
  const st = await sentRecipient(s.ctx, rcpt(), 'local', { status: '2.0.0', reason: 'delivered to mailbox' });
  assert.equal(st, api.DEL_STAT_FINAL);
  assert.deepEqual(s.lines, [
    `postfix/local[42]: ${QID}: to=<user@example.com>, orig_to=<alias@example.com>, relay=local, ${TIMES}, dsn=2.0.0, status=sent (delivered to mailbox)`,
  ]);
  assert.equal(statusOf(s.queueFile), 'done');
  assert.equal(fs.existsSync(path.join(s.dir, 'trace')), false);
  await s.close();
});

test('sent with NOTIFY=SUCCESS: one trace record, "delivery via" prefix', async () => {
  const s = await setup();
  await sentRecipient(s.ctx, rcpt({ notify: DSN_NOTIFY_SUCCESS, dsnOrcpt: 'rfc822;alias@example.com' }), 'local',
    { status: '2.0.0', reason: 'delivered to mailbox' });
  assert.equal(read(s.dir, `trace/${QID}`), [
    '',
    '<user@example.com>: delivery via local: delivered to mailbox',
    'recipient=user@example.com',
    'original_recipient=alias@example.com',
    `offset=${OFFSET}`,
    'dsn_orig_rcpt=rfc822;alias@example.com',
    'notify_flags=2',
    'status=2.0.0',
    'action=delivered',
    'reason=delivery via local: delivered to mailbox',
    '', '',
  ].join('\n'));
  assert.equal(statusOf(s.queueFile), 'done');
  await s.close();
});

test('sent with relay none and action relayed; RECORD and NOTIFY=SUCCESS each append, as Postfix does', async () => {
  const s = await setup({ flags: api.DEL_REQ_FLAG_DEFLT | api.DEL_REQ_FLAG_RECORD, oldlogCompat: false });
  await sentRecipient(s.ctx, rcpt({ orcpt: '', notify: DSN_NOTIFY_SUCCESS }), 'none', { status: '2.0.0', reason: 'discarded', action: 'relayed' });
  const one = 'recipient=user@example.com\noffset=687\nnotify_flags=2\nstatus=2.0.0\naction=relayed\nreason=discarded\n\n';
  assert.equal(read(s.dir, `trace/${QID}`), `\n${one}\n${one}`);
  await s.close();
});

test('sent: a DSN of the wrong class is replaced, with the warning', async () => {
  const s = await setup();
  await sentRecipient(s.ctx, rcpt({ orcpt: '' }), 'none', { status: '5.1.1', reason: 'odd' });
  assert.deepEqual(s.lines, [
    'postfix/local[42]: warning: sent: ignoring dsn code "5.1.1"',
    `postfix/local[42]: ${QID}: to=<user@example.com>, relay=none, ${TIMES}, dsn=2.0.0, status=sent (odd)`,
  ]);
  await s.close();
});

test('sent: a trace record that cannot be written defers the recipient', async () => {
  const s = await setup();
  fs.writeFileSync(path.join(s.dir, 'trace'), 'not a directory');
  const st = await sentRecipient(s.ctx, rcpt({ orcpt: '', notify: DSN_NOTIFY_SUCCESS }), 'local', { status: '2.0.0', reason: 'ok' });
  assert.equal(st, api.DEL_STAT_DEFER);
  assert.equal(s.lines.length, 3);
  assert.match(s.lines[0]!, /^postfix\/local\[42\]: warning: append trace\/4jX7nC6dWtzJFHY: /);
  assert.deepEqual(s.lines.slice(1), [
    `postfix/local[42]: warning: ${QID}: trace service failure`,
    `postfix/local[42]: ${QID}: to=<user@example.com>, relay=local, ${TIMES}, dsn=4.3.0, status=deferred (${QID}: trace service failure)`,
  ]);
  assert.match(read(s.dir, DEFER_PATH), /\nstatus=4\.3\.0\naction=delayed\nreason=4jX7nC6dWtzJFHY: trace service failure\n\n$/);
  assert.equal(statusOf(s.queueFile), 'pending');
  await s.close();
});

test('bounced: log line, bounce record, done mark', async () => {
  const s = await setup({ log: createLogger(memorySink([]), 'postfix/error', 7) });
  const lines: string[] = [];
  s.ctx.log = createLogger(memorySink(lines), 'postfix/error', 7);
  const st = await bounceRecipient(s.ctx, rcpt(), 'none', { status: '5.1.2', reason: 'error.example does not take mail' });
  assert.equal(st, api.DEL_STAT_FINAL);
  assert.deepEqual(lines, [
    `postfix/error[7]: ${QID}: to=<user@example.com>, orig_to=<alias@example.com>, relay=none, ${TIMES}, dsn=5.1.2, status=bounced (error.example does not take mail)`,
  ]);
  assert.equal(read(s.dir, `bounce/${QID}`), [
    '',
    '<user@example.com>: error.example does not take mail',
    'recipient=user@example.com',
    'original_recipient=alias@example.com',
    `offset=${OFFSET}`,
    'status=5.1.2',
    'action=failed',
    'reason=error.example does not take mail',
    '', '',
  ].join('\n'));
  assert.equal(statusOf(s.queueFile), 'done');
  await s.close();
});

test('soft_bounce: status=SOFTBOUNCE, 4.X.X in the line and in the defer record, no done mark', async () => {
  const s = await setup({ softBounce: true });
  const st = await bounceRecipient(s.ctx, rcpt({ orcpt: '' }), 'none', { status: '5.1.2', reason: 'error.example does not take mail' });
  assert.equal(st, api.DEL_STAT_DEFER);
  assert.deepEqual(s.lines, [
    `postfix/local[42]: ${QID}: to=<user@example.com>, relay=none, ${TIMES}, dsn=4.1.2, status=SOFTBOUNCE (error.example does not take mail)`,
  ]);
  assert.equal(read(s.dir, DEFER_PATH),
    `\n<user@example.com>: error.example does not take mail\nrecipient=user@example.com\noffset=${OFFSET}\nstatus=4.1.2\naction=delayed\nreason=error.example does not take mail\n\n`);
  assert.equal(fs.existsSync(path.join(s.dir, 'bounce')), false);
  assert.equal(statusOf(s.queueFile), 'pending');
  await s.close();
});

test('bounce: a 4.X.X code is replaced by 5.0.0 with bounce_append\'s warning', async () => {
  const s = await setup();
  await bounceRecipient(s.ctx, rcpt({ orcpt: '' }), 'none', { status: '4.1.2', reason: 'r' });
  assert.equal(s.lines[0], 'postfix/local[42]: warning: bounce_append: ignoring dsn code "4.1.2"');
  assert.match(s.lines[1]!, /dsn=5\.0\.0, status=bounced \(r\)$/);
  await s.close();
});

test('deferred: log line, defer record (hashed), no done mark', async () => {
  const s = await setup();
  const st = await deferRecipient(s.ctx, rcpt(), 'none', { status: '4.4.1', reason: 'retry.example is down in this fixture' });
  assert.equal(st, api.DEL_STAT_DEFER);
  assert.deepEqual(s.lines, [
    `postfix/local[42]: ${QID}: to=<user@example.com>, orig_to=<alias@example.com>, relay=none, ${TIMES}, dsn=4.4.1, status=deferred (retry.example is down in this fixture)`,
  ]);
  // defer/ is a hashed queue in the default layout.
  assert.equal(read(s.dir, DEFER_PATH),
    `\n<user@example.com>: retry.example is down in this fixture\nrecipient=user@example.com\noriginal_recipient=alias@example.com\noffset=${OFFSET}\nstatus=4.4.1\naction=delayed\nreason=retry.example is down in this fixture\n\n`);
  assert.equal(statusOf(s.queueFile), 'pending');
  await s.close();
});

test('user verification: status=deliverable / undeliverable and a trace record, no bounce', async () => {
  const s = await setup({ flags: api.DEL_REQ_FLAG_DEFLT | api.DEL_REQ_FLAG_USR_VRFY });
  await sentRecipient(s.ctx, rcpt({ orcpt: '' }), 'local', { status: '2.0.0', reason: 'delivers to mailbox' });
  await bounceRecipient(s.ctx, rcpt({ orcpt: '' }), 'local', { status: '5.1.1', reason: 'unknown user' });
  assert.deepEqual(s.lines, [
    `postfix/local[42]: ${QID}: to=<user@example.com>, relay=local, ${TIMES}, dsn=2.0.0, status=deliverable (delivers to mailbox)`,
    `postfix/local[42]: ${QID}: to=<user@example.com>, relay=local, ${TIMES}, dsn=5.1.1, status=undeliverable (unknown user)`,
  ]);
  assert.match(read(s.dir, `trace/${QID}`), /action=deliverable\nreason=delivery via local: delivers to mailbox\n\n\n.*action=undeliverable\n/s);
  assert.equal(fs.existsSync(path.join(s.dir, 'bounce')), false);
  await s.close();
});
