// The notices of fixtures/delivery rebuilt by this project's bounce service
// from the same queue file and status log: after the fixture normalisation
// they must equal what Postfix 3.7.11 delivered to the sender.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { appendStatusRecord, type StatusDsn, type StatusRecipient } from '../../src/queue/status-log.js';
import { DEFAULT_LAYOUT } from '../../src/queue/layout.js';
import { denormalise, fixtureNotice, makeEnv, noticeIds, normalise, readQueued, returnedContent, writeOriginal } from './harness.js';

const FIX = path.resolve('fixtures/delivery');
const ARRIVAL = 1796522400; // a fixed arrival time

interface Case {
  name: string;
  file: string;
  origPlaceholder: string;
  noticePlaceholder: string;
  /** Other queue IDs the returned message mentions (placeholder → a made-up real ID). */
  otherIds?: Array<[string, string]>;
  mainCf: string;
  service: 'bounce' | 'trace';
  sender: string;
  rcpt: StatusRecipient;
  dsn: StatusDsn;
  dsnEnvid?: string;
  dsnRet?: number;
  /** Body lines added to the original after the headers the notice shows (a headers-only notice hides them). */
  extraBody?: string[];
}

const CASES: Case[] = [
  {
    name: '01-aliases: unknown user, whole message returned',
    file: '01-aliases/expected/files/mail/pfsender', origPlaceholder: '@QID21@', noticePlaceholder: '@QID22@',
    mainCf: '', service: 'bounce', sender: 'pfsender@host.example.com',
    rcpt: { address: 'nosuchuser@host.example.com', orcpt: 'nosuchuser@host.example.com', dsnOrcpt: 'rfc822;nosuchuser@host.example.com' },
    dsn: { status: '5.1.1', action: 'failed', reason: 'unknown user: "nosuchuser"' },
  },
  {
    name: '01-aliases: expanded-from recipient, reason wrapped',
    file: '01-aliases/expected/files/mail/pfsender', origPlaceholder: '@QID13@', noticePlaceholder: '@QID14@',
    otherIds: [['B0000000012', '@QID12@']],
    mainCf: '', service: 'bounce', sender: 'pfsender@host.example.com',
    rcpt: { address: 'someone@error.example', orcpt: 'bad-remote@host.example.com', dsnOrcpt: 'rfc822;bad-remote@host.example.com' },
    dsn: { status: '5.1.2', action: 'failed', reason: 'error.example does not take mail' },
  },
  {
    name: '03-mbox: NOTIFY=SUCCESS RET=HDRS ENVID success notice',
    file: '03-mbox/expected/files/mail/pfsender', origPlaceholder: '@QID10@', noticePlaceholder: '@QID11@',
    mainCf: '', service: 'trace', sender: 'pfsender@host.example.com', dsnEnvid: 'fixture-envid-1', dsnRet: 2,
    rcpt: { address: 'pfbob@host.example.com', orcpt: 'pfbob@host.example.com', dsnOrcpt: 'rfc822;pfbob@host.example.com', notify: 2 },
    dsn: { status: '2.0.0', action: 'delivered', reason: 'delivery via local: delivered to mailbox' },
    extraBody: ['', 'body text'],
  },
  {
    name: '08-full-mailbox: diagnostic type, long reason, bounce_size_limit gives headers only',
    file: '08-full-mailbox/expected/files/vmail/vd.example/sender/new/@MAILDIR-QID3@', origPlaceholder: '@QID2@', noticePlaceholder: '@QID3@',
    // The recorder's temporary root had this length; the reason wraps by it.
    otherIds: [['/tmp/delivery-Ab12Cd', '@ROOT@']],
    mainCf: 'bounce_size_limit = 1000\n', service: 'bounce', sender: 'sender@vd.example',
    rcpt: { address: 'pffull@host.example.com', orcpt: 'pffull@host.example.com', dsnOrcpt: 'rfc822;pffull@host.example.com' },
    dsn: {
      status: '5.2.2', action: 'failed', dtype: 'x-unix', dtext: 'input/output error',
      reason: 'cannot update mailbox /tmp/delivery-Ab12Cd/mail/pffull for user pffull. error writing message: File too large',
    },
    extraBody: ['', ...Array.from({ length: 40 }, (_, i) => `line ${i} of a message too large to return whole`)],
  },
];

for (const c of CASES) {
  test(`fixture notice: ${c.name}`, async () => {
    const env = await makeEnv(c.mainCf);
    try {
      const expected = fixtureNotice(path.join(FIX, c.file), c.noticePlaceholder);
      const origId = 'A0000000001';
      const ids: Array<[string, string]> = [[origId, c.origPlaceholder], ...(c.otherIds ?? [])];
      const content = denormalise(returnedContent(expected).join('\n'), ids, ARRIVAL).split('\n');
      writeOriginal(env.spool, { id: origId, sender: c.sender, recipients: [c.rcpt.address], arrival: ARRIVAL, content: [...content, ...(c.extraBody ?? [])] });
      assert.equal(await appendStatusRecord(env.spool, DEFAULT_LAYOUT, c.service, origId, c.rcpt, c.dsn), null);
      const req = { queueName: 'active', queueId: origId, encoding: '', smtputf8: 0, sender: c.sender, dsnEnvid: c.dsnEnvid ?? '', dsnRet: c.dsnRet ?? 0 };
      const status = c.service === 'bounce' ? await env.bounce.flushBounces(req) : await env.bounce.flushTrace(req);
      assert.equal(status, 0, env.lines.join('\n'));
      const [noticeId] = noticeIds(env.lines);
      assert.ok(noticeId, env.lines.join('\n'));
      const what = c.service === 'bounce' ? 'sender non-delivery notification' : 'sender delivery status notification';
      assert.ok(env.lines.includes(`postfix/bounce[2]: ${origId}: ${what}: ${noticeId}`), env.lines.join('\n'));
      const queued = readQueued(env.spool, noticeId);
      assert.equal(queued.sender, '');
      assert.deepEqual(queued.recipients, [c.sender]);
      assert.equal(normalise(queued.content, [...ids, [noticeId, c.noticePlaceholder]]), expected);
    } finally {
      await env.close();
    }
  });
}
