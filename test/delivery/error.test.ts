// error(8) and its "retry" service: every recipient bounced (or deferred)
// with the next hop as the reason and its leading status code, relay=none,
// soft_bounce, done marks; the lines match what Postfix 3.7.11 logged in
// fixtures/delivery/01-aliases and 09-soft-bounce once time stamps, PIDs and
// queue IDs are normalised as the fixtures are.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { errorAgent } from '../../src/delivery/error/error.js';
import type { AgentHandler } from '../../src/delivery/agent.js';
import { DEFAULT_LAYOUT, mailQueuePath } from '../../src/queue/layout.js';
import { QID, TIMES, exchange, fixtureLine, lines, normalise, options, queueWithMessage, recipientStates, request } from './agent-harness.js';

function handler(service: string): AgentHandler {
  const h = errorAgent(service);
  if ('error' in h) throw new Error(h.error);
  return h;
}

const one = (r: ReturnType<typeof request>) => ({ ...r, recipients: r.recipients.slice(0, 1) });

test('error: bounces with the next hop\'s code and text, as in 01-aliases', async () => {
  const q = queueWithMessage();
  const log: string[] = [];
  const req = request({ nexthop: '5.1.2 error.example does not take mail' });
  req.recipients[1] = { ...req.recipients[1]!, address: 'someone@error.example', orcpt: 'bad-remote@host.example.com' };
  const x = await exchange(handler('error'), options(q.dir, log, 'postfix/error'), lines(req), 1);
  assert.deepEqual(x.replies, ['{"status":0}']);
  assert.equal(log.length, 2);
  assert.equal(normalise(log[1]!, '@QID13@'), fixtureLine('01-aliases', 'error', '@QID13@'));
  assert.equal(log[0], `postfix/error[42]: ${QID}: to=<alice@mx.example.com>, relay=none, ${TIMES}, dsn=5.1.2, status=bounced (error.example does not take mail)`);
  assert.deepEqual(recipientStates(q.file), ['done', 'done']);
  const bounce = fs.readFileSync(path.join(q.dir, mailQueuePath(DEFAULT_LAYOUT, 'bounce', QID)), 'latin1');
  assert.equal(bounce.split('\n\n').filter((e) => e.includes('action=failed')).length, 2);
});

test('error: a next hop without a code bounces 5.0.0; the done mark is written even without DEL_REQ_FLAG_SUCCESS', async () => {
  const q = queueWithMessage();
  const log: string[] = [];
  const x = await exchange(handler('error'), options(q.dir, log, 'postfix/error'), lines(one(request({ nexthop: 'mail for this domain is refused', flags: 0 }))), 1);
  assert.deepEqual(x.replies, ['{"status":0}']);
  assert.deepEqual(log, [
    `postfix/error[42]: ${QID}: to=<alice@mx.example.com>, relay=none, ${TIMES}, dsn=5.0.0, status=bounced (mail for this domain is refused)`,
  ]);
  assert.deepEqual(recipientStates(q.file), ['done', 'pending']);
});

test('error under soft_bounce: status=SOFTBOUNCE with 4.X.X, as in 09-soft-bounce; nothing marked done', async () => {
  const q = queueWithMessage();
  const log: string[] = [];
  const req = one(request({ nexthop: '5.1.2 error.example does not take mail' }));
  req.recipients[0] = { ...req.recipients[0]!, address: 'someone@error.example', orcpt: '' };
  const x = await exchange(handler('error'), options(q.dir, log, 'postfix/error', { softBounce: true }), lines(req), 1);
  assert.deepEqual(x.replies, ['{"status":1}']);
  assert.equal(log.length, 1);
  assert.equal(normalise(log[0]!, '@QID3@'), fixtureLine('09-soft-bounce', 'error', '@QID3@'));
  assert.deepEqual(recipientStates(q.file), ['pending', 'pending']);
  const defer = fs.readFileSync(path.join(q.dir, mailQueuePath(DEFAULT_LAYOUT, 'defer', QID)), 'latin1');
  assert.match(defer, /\nstatus=4\.1\.2\naction=delayed\nreason=error\.example does not take mail\n\n$/);
});

test('retry: defers every recipient, 4.0.0 unless the next hop has a code; logged as postfix/error', async () => {
  const q = queueWithMessage();
  const log: string[] = [];
  const req = one(request({ nexthop: '4.4.1 retry.example is down in this fixture' }));
  req.recipients[0] = { ...req.recipients[0]!, address: 'someone@retry.example', orcpt: '' };
  const x = await exchange(handler('retry'), options(q.dir, log, 'postfix/error'), lines(req, request({ nexthop: 'try later' })), 2);
  assert.deepEqual(x.replies, ['{"status":1}', '{"status":1}']);
  assert.equal(log.length, 3);
  assert.equal(normalise(log[0]!, '@QID4@'), fixtureLine('09-soft-bounce', 'error', '@QID4@'));
  assert.equal(log[1], `postfix/error[42]: ${QID}: to=<alice@mx.example.com>, relay=none, ${TIMES}, dsn=4.0.0, status=deferred (try later)`);
  assert.deepEqual(recipientStates(q.file), ['pending', 'pending']);
});

test('retry: a 5.X.X code is not a deferral code; defer_append replaces it with its warning', async () => {
  const q = queueWithMessage();
  const log: string[] = [];
  await exchange(handler('retry'), options(q.dir, log, 'postfix/error'), lines(one(request({ nexthop: '5.1.1 nope' }))), 1);
  assert.equal(log[0], 'postfix/error[42]: warning: defer_append: ignoring dsn code "5.1.1"');
  assert.match(log[1]!, /dsn=4\.0\.0, status=deferred \(nope\)$/);
});

test('error: another service name is refused; an empty next hop defers the request', async () => {
  assert.deepEqual(errorAgent('oops'), { error: 'bad error service name: oops' });
  const q = queueWithMessage();
  const log: string[] = [];
  const x = await exchange(handler('error'), options(q.dir, log, 'postfix/error'), lines(request({ nexthop: '' })), 1);
  assert.deepEqual(x.replies, ['{"status":1}']);
  assert.deepEqual(log, [`postfix/error[42]: warning: ${QID}: empty nexthop hostname`]);
  assert.deepEqual(recipientStates(q.file), ['pending', 'pending']);
});
