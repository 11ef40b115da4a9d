// The bounce service's choices: who gets a notice (sender, postmaster per
// notify_classes, none), which recipients it reports (DSN NOTIFY), which
// template, what happens to the logs, and what is logged. Each case builds
// a queue file and status logs in a temporary queue directory and runs the
// real cleanup service behind the bounce service.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { NoticeRequest } from '../../src/bounce/api.js';
import { lineWrap } from '../../src/bounce/line-wrap.js';
import { DEL_REQ_FLAG_RECORD } from '../../src/delivery/api.js';
import { notifyClassMask } from '../../src/bounce/settings.js';
import { DEFAULT_LAYOUT, mailQueuePath } from '../../src/queue/layout.js';
import { appendStatusRecord, type StatusDsn, type StatusRecipient } from '../../src/queue/status-log.js';
import { type Env, type QueuedMessage, makeEnv, noticeIds, readQueued, writeOriginal } from './harness.js';

const ID = 'C0000000001';
const ARRIVAL = 1796522400;
const NOW = new Date((ARRIVAL + 3600) * 1000);
const CONTENT = [
  'Received: by host.example.com (Postfix, from userid 1000)',
  '\tid C0000000001; Sat,  5 Dec 2026 10:00:00 +0000 (UTC)',
  'From: Sender <pfsender@host.example.com>',
  'To: a@host.example.com',
  'Subject: test',
  'Message-Id: <orig.1@host.example.com>',
  '',
  'first body line',
  'second body line',
];

interface Scenario {
  mainCf?: string;
  sender?: string;
  logs?: Array<{ queue: string; rcpt: StatusRecipient; dsn: StatusDsn }>;
  noQueueFile?: boolean;
  req?: Partial<NoticeRequest>;
  call: 'flushBounces' | 'flushDefers' | 'warnDelayed' | 'flushTrace';
}

interface Outcome {
  status: number;
  lines: string[];
  notices: QueuedMessage[];
  env: Env;
  logExists(queue: string): boolean;
}

const FAIL: StatusDsn = { status: '5.1.1', action: 'failed', reason: 'unknown user: "a"' };
const DELAY: StatusDsn = { status: '4.4.1', action: 'delayed', reason: 'connect to mx.example.net[192.0.2.1]:25: Connection refused' };
const rcpt = (address: string, notify = 0): StatusRecipient => ({ address, dsnOrcpt: `rfc822;${address}`, notify });

async function run(s: Scenario): Promise<Outcome> {
  const env = await makeEnv(s.mainCf ?? '', () => NOW);
  const sender = s.sender ?? 'pfsender@host.example.com';
  if (!s.noQueueFile) writeOriginal(env.spool, { id: ID, sender, recipients: ['a@host.example.com'], arrival: ARRIVAL, content: CONTENT });
  for (const l of s.logs ?? []) assert.equal(await appendStatusRecord(env.spool, DEFAULT_LAYOUT, l.queue, ID, l.rcpt, l.dsn), null);
  const req: NoticeRequest = { queueName: 'active', queueId: ID, encoding: '8bit', smtputf8: 0, sender, dsnEnvid: '', dsnRet: 0, ...s.req };
  const status = await env.bounce[s.call](req);
  const notices = noticeIds(env.lines).map((id) => readQueued(env.spool, id));
  await env.close();
  return {
    status, lines: env.lines.filter((l) => l.startsWith('postfix/bounce')), notices, env,
    logExists: (queue) => fs.existsSync(path.join(env.spool, mailQueuePath(DEFAULT_LAYOUT, queue, ID))),
  };
}

const header = (n: QueuedMessage, name: string) => n.content.split('\n').find((l) => l.startsWith(`${name}: `))?.slice(name.length + 2);

test('lineWrap breaks at blanks within 79 columns and indents continuations', () => {
  assert.deepEqual(lineWrap('short', 79, 4), ['short']);
  const long = `<a@b>: ${'word '.repeat(20).trim()}`;
  assert.deepEqual(lineWrap(long, 20, 4), ['<a@b>: word word', '    word word word', '    word word word', '    word word word', '    word word word',
    '    word word word', '    word word word']);
  assert.deepEqual(lineWrap('x'.repeat(30) + ' y', 20, 4), ['x'.repeat(30), '    y']);
});

test('notify_classes names map to Postfix mail_error bits; unknown names are reported', () => {
  const warnings: string[] = [];
  assert.equal(notifyClassMask('resource, software', (t) => warnings.push(t)), (1 << 4) | (1 << 3));
  assert.equal(notifyClassMask('bounce 2bounce,delay', (t) => warnings.push(t)), (1 << 2) | (1 << 5) | (1 << 6));
  assert.equal(notifyClassMask('bogus', (t) => warnings.push(t)), 0);
  assert.deepEqual(warnings, ['unknown notify_classes value "bogus" in "bogus"']);
});

test('bounce: sender notice, log removed, logged as Postfix does', async () => {
  const o = await run({ call: 'flushBounces', logs: [{ queue: 'bounce', rcpt: rcpt('a@host.example.com'), dsn: FAIL }] });
  assert.equal(o.status, 0);
  assert.equal(o.notices.length, 1);
  const [n] = o.notices as [QueuedMessage];
  assert.match(o.lines[0]!, new RegExp(`^postfix/bounce\\[2\\]: ${ID}: sender non-delivery notification: \\w+$`));
  assert.equal(n.sender, '');
  assert.deepEqual(n.recipients, ['pfsender@host.example.com']);
  assert.equal(header(n, 'Subject'), 'Undelivered Mail Returned to Sender');
  assert.equal(header(n, 'Auto-Submitted'), 'auto-replied');
  assert.match(n.content, /\nContent-Type: message\/rfc822\nContent-Transfer-Encoding: 8bit\n\nReturn-Path: <pfsender@host\.example\.com>\nReceived: by host/);
  assert.match(n.content, /\nsecond body line\n\n--C0000000001\.\d+\/host\.example\.com--\n$/);
  assert.match(n.content, new RegExp(`boundary="${ID}\\.${ARRIVAL + 3600}/host\\.example\\.com"`));
  assert.equal(o.logExists('bounce'), false);
});

test('bounce: RET=HDRS returns the headers only', async () => {
  const o = await run({ call: 'flushBounces', req: { dsnRet: 2 }, logs: [{ queue: 'bounce', rcpt: rcpt('a@host.example.com'), dsn: FAIL }] });
  const n = o.notices[0]!;
  assert.match(n.content, /Content-Description: Undelivered Message Headers\nContent-Type: text\/rfc822-headers\n/);
  assert.match(n.content, /Message-Id: <orig\.1@host\.example\.com>\n\n--C0000000001\.\d+\/host\.example\.com--\n$/);
  assert.doesNotMatch(n.content, /first body line/);
});

test('bounce: NOTIFY filters the reported recipients; none left cancels the notice', async () => {
  const o = await run({
    call: 'flushBounces',
    logs: [
      { queue: 'bounce', rcpt: rcpt('a@host.example.com', 4), dsn: FAIL },
      { queue: 'bounce', rcpt: rcpt('b@host.example.com', 2), dsn: { ...FAIL, reason: 'unknown user: "b"' } },
    ],
  });
  const n = o.notices[0]!;
  assert.match(n.content, /<a@host\.example\.com>: unknown user: "a"/);
  assert.doesNotMatch(n.content, /b@host\.example\.com/);
  const none = await run({ call: 'flushBounces', logs: [{ queue: 'bounce', rcpt: rcpt('a@host.example.com', 1), dsn: FAIL }] });
  assert.equal(none.status, 0);
  assert.deepEqual(none.notices, []);
  assert.deepEqual(none.lines, []);
  assert.equal(none.logExists('bounce'), false);
});

test('bounce: notify_classes = bounce adds a postmaster copy with headers only', async () => {
  const o = await run({ mainCf: 'notify_classes = bounce\n', call: 'flushBounces', logs: [{ queue: 'bounce', rcpt: rcpt('a@host.example.com'), dsn: FAIL }] });
  assert.equal(o.notices.length, 2);
  assert.match(o.lines[1]!, new RegExp(`: ${ID}: postmaster non-delivery notification: \\w+$`));
  const pm = o.notices[1]!;
  assert.equal(pm.sender, 'double-bounce@host.example.com');
  assert.deepEqual(pm.recipients, ['postmaster@host.example.com']);
  assert.equal(header(pm, 'Subject'), 'Postmaster Copy: Undelivered Mail');
  assert.equal(header(pm, 'Auto-Submitted'), 'auto-generated');
  assert.doesNotMatch(pm.content, /I'm sorry/);
  assert.match(pm.content, /Content-Type: text\/rfc822-headers/);
});

test('double bounce: discarded by default, to 2bounce_notice_recipient with notify_classes = 2bounce', async () => {
  const logs = [{ queue: 'bounce', rcpt: rcpt('a@host.example.com'), dsn: FAIL }];
  const quiet = await run({ sender: '', call: 'flushBounces', logs });
  assert.equal(quiet.status, 0);
  assert.deepEqual(quiet.notices, []);
  assert.deepEqual(quiet.lines, []);
  assert.equal(quiet.logExists('bounce'), false);

  const o = await run({ sender: '', mainCf: 'notify_classes = 2bounce\n2bounce_notice_recipient = hostmaster\n', call: 'flushBounces', logs });
  assert.equal(o.status, 0);
  assert.match(o.lines[0]!, new RegExp(`: ${ID}: postmaster non-delivery notification: \\w+$`));
  const n = o.notices[0]!;
  assert.equal(n.sender, 'double-bounce@host.example.com');
  assert.deepEqual(n.recipients, ['hostmaster@host.example.com']);
  assert.equal(header(n, 'Subject'), 'Postmaster Copy: Undelivered Mail');
  assert.match(n.content, /X-Postfix-Sender: rfc822; MAILER-DAEMON@host\.example\.com\n/);
  assert.match(n.content, /Content-Type: message\/rfc822\n/);

  const triple = await run({ sender: 'double-bounce@host.example.com', mainCf: 'notify_classes = 2bounce\n', call: 'flushBounces', logs });
  assert.equal(triple.status, 0);
  assert.deepEqual(triple.notices, []);
  assert.deepEqual(triple.lines, [`postfix/bounce[2]: warning: ${ID}: undeliverable postmaster notification discarded`]);
});

test('expired message: failure notice from the defer log, which is removed', async () => {
  const o = await run({ call: 'flushDefers', logs: [{ queue: 'defer', rcpt: rcpt('a@mx.example.net'), dsn: DELAY }] });
  assert.equal(o.status, 0);
  const n = o.notices[0]!;
  assert.equal(header(n, 'Subject'), 'Undelivered Mail Returned to Sender');
  assert.match(n.content, /\nAction: failed\nStatus: 4\.4\.1\nDiagnostic-Code: X-Postfix; connect to mx\.example\.net\[192\.0\.2\.1\]:25: Connection\n    refused\n/);
  assert.match(o.lines[0]!, /: sender non-delivery notification: \w+$/);
  assert.equal(o.logExists('defer'), false);
});

test('delay warning: delay template, Will-Retry-Until, headers only, defer log kept', async () => {
  const o = await run({
    mainCf: 'delay_warning_time = 4h\nmaximal_queue_lifetime = 2d\n', call: 'warnDelayed',
    logs: [{ queue: 'defer', rcpt: rcpt('a@mx.example.net'), dsn: DELAY }],
  });
  assert.equal(o.status, 0);
  assert.match(o.lines[0]!, new RegExp(`: ${ID}: sender delay notification: \\w+$`));
  const n = o.notices[0]!;
  assert.equal(header(n, 'Subject'), 'Delayed Mail (still being retried)');
  assert.match(n.content, /Your message could not be delivered for more than 4 hour\(s\)\.\nIt will be retried until it is 2 day\(s\) old\./);
  assert.match(n.content, /\nAction: delayed\nStatus: 4\.4\.1\n/);
  assert.match(n.content, /\nWill-Retry-Until: \w{3}, [ \d]\d \w{3} \d{4} /);
  assert.match(n.content, /Content-Description: Undelivered Message Headers\n/);
  assert.equal(o.logExists('defer'), true);
});

test('delay warning: recipients without NOTIFY=DELAY get none', async () => {
  const o = await run({ call: 'warnDelayed', logs: [{ queue: 'defer', rcpt: rcpt('a@mx.example.net', 4), dsn: DELAY }] });
  assert.equal(o.status, 0);
  assert.deepEqual(o.notices, []);
  assert.equal(o.logExists('defer'), true);
});

test('trace: success notice; a bounce message gets none unless 2bounce is notified', async () => {
  const logs = [{ queue: 'trace', rcpt: rcpt('a@host.example.com', 2), dsn: { status: '2.0.0', action: 'delivered', reason: 'delivered to mailbox' } }];
  const o = await run({ call: 'flushTrace', logs });
  assert.equal(o.status, 0);
  assert.match(o.lines[0]!, /: sender delivery status notification: \w+$/);
  assert.equal(header(o.notices[0]!, 'Subject'), 'Successful Mail Delivery Report');
  assert.match(o.notices[0]!.content, /\nAction: delivered\nStatus: 2\.0\.0\n/);
  assert.equal(o.logExists('trace'), false);

  const verify = await run({ call: 'flushTrace', logs, req: { flags: DEL_REQ_FLAG_RECORD } });
  assert.equal(header(verify.notices[0]!, 'Subject'), 'Mail Delivery Status Report');

  const single = await run({ sender: '', call: 'flushTrace', logs });
  assert.deepEqual(single.notices, []);
  assert.deepEqual(single.lines, [`postfix/bounce[2]: ${ID}: not sending trace/success notification for single-bounce message`]);
  assert.equal(single.logExists('trace'), false);

  const none = await run({ call: 'flushTrace' });
  assert.equal(none.status, 0);
  assert.deepEqual(none.notices, []);
});

test('missing queue file or log: placeholders as in Postfix', async () => {
  const noFile = await run({ noQueueFile: true, call: 'flushBounces', logs: [{ queue: 'bounce', rcpt: rcpt('a@host.example.com'), dsn: FAIL }] });
  const n = noFile.notices[0]!;
  assert.doesNotMatch(n.content, /X-Postfix-Sender|Arrival-Date/);
  assert.match(n.content, /Content-Type: message\/rfc822\nContent-Transfer-Encoding: 8bit\n\n\t--- Undelivered message unavailable ---\n$/);
  const noLog = await run({ call: 'flushBounces' });
  assert.equal(noLog.status, 0);
  assert.match(noLog.notices[0]!.content, /The mail system\n\n\t--- Delivery report unavailable ---\n\n--/);
  assert.match(noLog.notices[0]!.content, /Arrival-Date: [^\n]+\n\n--/);
});

test('7bit without SMTPUTF8: us-ascii text part, no encoding on the other parts', async () => {
  const o = await run({
    mainCf: 'smtputf8_enable = no\n', req: { encoding: '7bit' }, call: 'flushBounces',
    logs: [{ queue: 'bounce', rcpt: rcpt('a@host.example.com'), dsn: FAIL }],
  });
  const n = o.notices[0]!;
  assert.equal(header(n, 'Content-Transfer-Encoding'), '7bit');
  assert.match(n.content, /Content-Description: Notification\nContent-Type: text\/plain; charset=us-ascii\n\n/);
  assert.match(n.content, /Content-Type: message\/rfc822\n\nReturn-Path/);
});

test('bounce_template_file replaces the failure text; enable_threaded_bounces adds References', async () => {
  const dir = fs.mkdtempSync('/tmp/bounce-tmpl-');
  try {
    const file = path.join(dir, 'bounce.cf');
    fs.writeFileSync(file, 'failure_template = <<EOF\nSubject: Your mail to $myhostname bounced\n\nSorry from $mydomain.\nEOF\n');
    const o = await run({
      mainCf: `bounce_template_file = ${file}\nenable_threaded_bounces = yes\n`, call: 'flushBounces',
      logs: [{ queue: 'bounce', rcpt: rcpt('a@host.example.com'), dsn: FAIL }],
    });
    const n = o.notices[0]!;
    assert.equal(header(n, 'Subject'), 'Your mail to $myhostname bounced');
    assert.match(n.content, /\n\nSorry from example\.com\.\n\n<a@host\.example\.com>/);
    assert.equal(header(n, 'References'), '<orig.1@host.example.com>');
    assert.equal(header(n, 'In-Reply-To'), '<orig.1@host.example.com>');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('SMTPUTF8 message: global report types and utf-8 address types', async () => {
  const o = await run({
    req: { smtputf8: 1 }, call: 'flushBounces',
    logs: [{ queue: 'bounce', rcpt: { address: 'j\xc3\xbcrgen@host.example.com', dsnOrcpt: '' }, dsn: FAIL }],
  });
  const n = o.notices[0]!;
  assert.match(n.content, /Content-Type: message\/global-delivery-status\nContent-Transfer-Encoding: 8bit\n/);
  assert.match(n.content, /\nFinal-Recipient: utf-8; j\xc3\xbcrgen@host\.example\.com\n/);
  assert.match(n.content, /\nX-Postfix-Sender: rfc822; pfsender@host\.example\.com\n/);
  assert.match(n.content, /Content-Description: Undelivered Message\nContent-Type: message\/global\nContent-Transfer-Encoding: 8bit\n/);
});

test('a notice cleanup refuses is not sent and the log is kept', async () => {
  const o = await run({ mainCf: 'message_size_limit = 1000\n', call: 'flushBounces', logs: [{ queue: 'bounce', rcpt: rcpt('a@host.example.com'), dsn: FAIL }] });
  assert.equal(o.status, -1);
  assert.deepEqual(o.lines, []);
  assert.equal(o.logExists('bounce'), true);
});

test('an unreadable bounce_template_file fails the notice with a fatal line and keeps the log', async () => {
  const o = await run({
    mainCf: 'bounce_template_file = /nonexistent/bounce.cf\n', call: 'flushBounces',
    logs: [{ queue: 'bounce', rcpt: rcpt('a@host.example.com'), dsn: FAIL }],
  });
  assert.equal(o.status, -1);
  assert.match(o.lines[0]!, /^postfix\/bounce\[2\]: fatal: open template file \/nonexistent\/bounce\.cf: No such file or directory$/);
  assert.equal(o.logExists('bounce'), true);
});
