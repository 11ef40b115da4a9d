// mail_date() (src/mail/mail-date.ts): the format of smtpd's Received:
// and cleanup's Date: headers, in a few time zones.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gmtStamp, mailDate } from '../../src/mail/mail-date.js';

function inZone<T>(tz: string, fn: () => T): T {
  const saved = process.env.TZ;
  process.env.TZ = tz;
  try {
    return fn();
  } finally {
    if (saved === undefined) delete process.env.TZ;
    else process.env.TZ = saved;
  }
}

test('mail_date in UTC: space-padded day, +0000 (UTC)', () => {
  inZone('UTC', () => {
    assert.equal(mailDate(1795303967), 'Sat, 21 Nov 2026 23:32:47 +0000 (UTC)');
    assert.equal(mailDate(1672628645), 'Mon,  2 Jan 2023 03:04:05 +0000 (UTC)');
    assert.equal(mailDate(Math.floor(1672628645999 / 1000)), 'Mon,  2 Jan 2023 03:04:05 +0000 (UTC)');
    assert.equal(mailDate(0), 'Thu,  1 Jan 1970 00:00:00 +0000 (UTC)');
  });
});

test('mail_date follows TZ, its offsets and abbreviations', () => {
  inZone('EST5EDT', () => {
    assert.equal(mailDate(1672628645), 'Sun,  1 Jan 2023 22:04:05 -0500 (EST)');
    assert.equal(mailDate(1688263445), 'Sat,  1 Jul 2023 22:04:05 -0400 (EDT)');
  });
  inZone('America/New_York', () => assert.equal(mailDate(1672628645), 'Sun,  1 Jan 2023 22:04:05 -0500 (EST)'));
  // The zone cache follows TZ.
  inZone('UTC', () => assert.equal(mailDate(1672628645), 'Mon,  2 Jan 2023 03:04:05 +0000 (UTC)'));
});

test('gmtStamp: the Message-Id time stamp', () => {
  assert.equal(gmtStamp(1795303967), '20261121233247');
  assert.equal(gmtStamp(0), '19700101000000');
});
