// Notices recorded from a real Postfix 3.7.11 (test/bounce/oracle/README.md):
// a delay warning with its template warnings, an expired message returned
// to its sender with a postmaster copy, and the double bounce of the delay
// notice. The same queue file and defer log through this project's bounce
// service must give the same bytes after normalising the new queue IDs,
// dates and message-id stamps.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { NoticeRequest } from '../../src/bounce/api.js';
import { DEFAULT_LAYOUT } from '../../src/queue/layout.js';
import { appendStatusRecord } from '../../src/queue/status-log.js';
import { fixtureNotice, makeEnv, noticeIds, normalise, readQueued, returnedContent, writeOriginal } from './harness.js';

const DIR = path.resolve('test/bounce/oracle');
const read = (name: string) => fs.readFileSync(path.join(DIR, name), 'latin1');
const MAIN_CF = [
  'delay_warning_time = 2s', 'maximal_queue_lifetime = 6s', 'bounce_queue_lifetime = 1h',
  'notify_classes = bounce, 2bounce, delay, resource, software',
  'bounce_notice_recipient = pmb@remote.test', '2bounce_notice_recipient = pm2@remote.test', 'delay_notice_recipient = pmd@remote.test', '',
].join('\n');

const ORIG = 'E4C8520C59C';
const DELAY_NOTICE = '2AD0720C1C3';
const doubleBounce = read('double-bounce.txt');
const delayNotice = fixtureNotice(path.join(DIR, 'double-bounce.txt'), DELAY_NOTICE);
const expirySender = read('expiry-sender.txt');
const oracleLog = read('maillog.txt').split('\n').map((l) => l.replace(/^host /, '').replace(/\[\d+\]/, '[2]'));

const req = (over: Partial<NoticeRequest>): NoticeRequest => ({
  queueName: 'active', queueId: ORIG, encoding: '', smtputf8: 0, sender: 's@remote.test', dsnEnvid: '', dsnRet: 0, ...over,
});

/** The original message E4C8520C59C and its defer log. */
async function setUpOriginal(spool: string): Promise<void> {
  writeOriginal(spool, { id: ORIG, sender: 's@remote.test', recipients: ['r@remote.test'], arrival: 1796523468, content: returnedContent(expirySender) });
  const r = await appendStatusRecord(spool, DEFAULT_LAYOUT, 'defer', ORIG,
    { address: 'r@remote.test', dsnOrcpt: 'rfc822;r@remote.test', notify: 12 }, { status: '4.3.2', action: 'delayed', reason: 'deferred transport' });
  assert.equal(r, null);
}

const norm = (text: string, orig: string, notice: string) => normalise(text, [[orig, '@QID1@'], [notice, '@QID2@']]);

test('oracle: delay warning to the sender and its postmaster copy, with the template warnings', async () => {
  const env = await makeEnv(MAIN_CF, () => new Date(1796523469 * 1000));
  try {
    await setUpOriginal(env.spool);
    assert.equal(await env.bounce.warnDelayed(req({})), 0);
    const [sender, postmaster] = noticeIds(env.lines);
    const got = readQueued(env.spool, sender!);
    assert.deepEqual([got.sender, got.recipients], ['', ['s@remote.test']]);
    assert.equal(norm(got.content, ORIG, sender!), norm(delayNotice, ORIG, DELAY_NOTICE));
    const pm = readQueued(env.spool, postmaster!);
    assert.deepEqual([pm.sender, pm.recipients], ['double-bounce@host.example.com', ['pmd@remote.test']]);
    assert.match(pm.content, /\nSubject: Postmaster Warning: Delayed Mail\n/);
    const bounceLines = env.lines.filter((l) => l.startsWith('postfix/bounce'));
    const expected = oracleLog.slice(0, 8).map((l) => l.replace(DELAY_NOTICE, sender!).replace('3115220D4EA', postmaster!));
    assert.deepEqual(bounceLines, expected);
    assert.ok(fs.existsSync(path.join(env.spool, 'defer', ORIG[0]!, ORIG)), 'the defer log stays');
  } finally {
    await env.close();
  }
});

test('oracle: expired message returned to the sender, postmaster copy with headers only', async () => {
  const env = await makeEnv(MAIN_CF, () => new Date(1796523474 * 1000));
  try {
    await setUpOriginal(env.spool);
    assert.equal(await env.bounce.flushDefers(req({})), 0);
    const [sender, postmaster] = noticeIds(env.lines);
    assert.equal(norm(readQueued(env.spool, sender!).content, ORIG, sender!), norm(expirySender, ORIG, '6FDA120C058'));
    assert.equal(norm(readQueued(env.spool, postmaster!).content, ORIG, postmaster!), norm(read('expiry-postmaster.txt'), ORIG, '714D320C075'));
    assert.deepEqual(env.lines.filter((l) => l.startsWith('postfix/bounce')), [
      `postfix/bounce[2]: ${ORIG}: sender non-delivery notification: ${sender}`,
      `postfix/bounce[2]: ${ORIG}: postmaster non-delivery notification: ${postmaster}`,
    ]);
    assert.equal(fs.existsSync(path.join(env.spool, 'defer', ORIG[0]!, ORIG)), false, 'the defer log is gone');
  } finally {
    await env.close();
  }
});

test('oracle: an expired notice is a double bounce to 2bounce_notice_recipient, whole notice returned', async () => {
  const env = await makeEnv(MAIN_CF, () => new Date(1796523475 * 1000));
  try {
    // The delay notice as queued: its content is what the double bounce returns.
    writeOriginal(env.spool, { id: DELAY_NOTICE, sender: '', recipients: ['s@remote.test'], arrival: 1796523469, content: delayNotice.slice(0, -1).split('\n') });
    assert.equal(await appendStatusRecord(env.spool, DEFAULT_LAYOUT, 'defer', DELAY_NOTICE,
      { address: 's@remote.test', dsnOrcpt: 'rfc822;s@remote.test' }, { status: '4.3.2', action: 'delayed', reason: 'deferred transport' }), null);
    assert.equal(await env.bounce.flushDefers(req({ queueId: DELAY_NOTICE, sender: '', encoding: '8bit' })), 0);
    const [id] = noticeIds(env.lines);
    const got = readQueued(env.spool, id!);
    assert.deepEqual([got.sender, got.recipients], ['double-bounce@host.example.com', ['pm2@remote.test']]);
    // The returned delay notice keeps its own IDs and dates: normalise them alike on both sides.
    const both = (text: string, notice: string) => normalise(text, [[ORIG, '@QID1@'], [DELAY_NOTICE, '@QID2@'], [notice, '@QID3@']]);
    assert.equal(both(got.content, id!), both(doubleBounce, '7D0AD20C01C'));
    assert.deepEqual(env.lines.filter((l) => l.startsWith('postfix/bounce')), [`postfix/bounce[2]: ${DELAY_NOTICE}: postmaster non-delivery notification: ${id}`]);
  } finally {
    await env.close();
  }
});
