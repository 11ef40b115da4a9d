// Canonical mapping and masquerading (src/address/canonical.ts): Postfix
// 3.7.11's cleanup/cleanup_masq.ref replayed (its inputs are in the
// reference output itself), the *_classes parameters, and the error paths.
// Whole sessions recorded from Postfix are replayed in virtual.test.ts.
import test from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  CleanupAddressRules, CLEANUP_CANON_FLAG_ENV_FROM, CLEANUP_CANON_FLAG_ENV_RCPT, CLEANUP_CANON_FLAG_HDR_FROM,
  CLEANUP_STAT_WRITE, canonicalize, envelopeRecipient, envelopeSender, masquerade, nameMask,
} from '../../src/address/canonical.js';
import { AddressResolver } from '../../src/address/resolve.js';
import { TableCache } from '../../src/address/maps.js';
import { Config } from '../../src/config/config.js';
import { recordingLog } from './resolve-fixtures.js';

const dir = fileURLToPath(new URL('../../../fixtures/resolve/postfix-tests/', import.meta.url));

async function rules(entries: Array<[string, string]>, lines: string[] = []): Promise<CleanupAddressRules> {
  const config = Config.fromEntries('/nonexistent', [
    ['myhostname', 'mx.example.com'], ['mydomain', 'example.com'], ['compatibility_level', '3.6'],
    ['inet_interfaces', 'loopback-only'], ...entries,
  ]);
  const log = recordingLog('cleanup', lines);
  return CleanupAddressRules.create(new AddressResolver(config, { log }), { log, cache: new TableCache(log, config.getBool('smtputf8_enable')) });
}

test('cleanup_masq.ref: masquerade_domains and masquerade_exceptions', async () => {
  const ref = readFileSync(dir + 'cleanup_masq.ref', 'utf8');
  let out = '';
  for (const block of ref.split('----------\n').slice(1)) {
    const field = (name: string) => new RegExp(`^${name}:[ \\t]*(.*)$`, 'm').exec(block)![1]!;
    const [exceptions, masqList, address] = [field('exceptions'), field('masq_list'), field('address')];
    const r = await rules([['masquerade_exceptions', exceptions], ['masquerade_domains', masqList]]);
    const m = await r.masqueradeExternal(address, 'NOQUEUE');
    out += `----------\nexceptions: ${exceptions}\nmasq_list:  ${masqList}\naddress:    ${address}\n`
      + `result:     ${m.address}\nerrs:       ${m.errs}\n`;
  }
  assert.equal(out, ref);
});

test('the classes parameters choose which addresses each table rewrites', async () => {
  const r = await rules([
    ['canonical_maps', 'inline:{a@x.test=common@x.test}'], ['canonical_classes', 'envelope_sender'],
    ['sender_canonical_maps', 'inline:{b@x.test=sender@x.test}'], ['sender_canonical_classes', 'header_sender'],
    ['recipient_canonical_maps', 'inline:{c@x.test=rcpt@x.test}'],
  ]);
  assert.equal(r.commonFlags, CLEANUP_CANON_FLAG_ENV_FROM);
  assert.equal(r.senderFlags, CLEANUP_CANON_FLAG_HDR_FROM);
  assert.equal(r.recipientFlags, CLEANUP_CANON_FLAG_ENV_RCPT | (1 << 3));
  assert.equal((await envelopeSender(r, 'a@x.test', true)).address, 'common@x.test');
  assert.equal((await envelopeRecipient(r, 'a@x.test', true)).address, 'a@x.test');
  assert.equal((await envelopeSender(r, 'b@x.test', true)).address, 'b@x.test');
  assert.equal((await canonicalize(r, 'header_sender', 'b@x.test')).address, 'sender@x.test');
  assert.equal((await envelopeRecipient(r, 'c@x.test', true)).address, 'rcpt@x.test');
  assert.equal((await envelopeRecipient(r, 'c@x.test', false)).address, 'c@x.test');
});

test('a bad class name is fatal, worded as Postfix words it', async () => {
  assert.throws(() => nameMask('canonical_classes', [['envelope_sender', 1]], 'envelope_sender, Header_Sender'),
    /unknown canonical_classes value "Header_Sender" in "envelope_sender, Header_Sender"/);
  await assert.rejects(rules([['sender_canonical_classes', 'envelope_recipient']]), /unknown canonical_classes value "envelope_recipient"/);
});

test('the null sender and the local MAILER-DAEMON', async () => {
  const r = await rules([['canonical_maps', 'inline:{a@x.test=b@x.test}']]);
  assert.deepEqual(await envelopeSender(r, '', true), { address: '', changed: false, errs: 0 });
  assert.equal((await envelopeSender(r, 'MAILER-DAEMON', true)).address, '');
  assert.equal((await envelopeSender(r, 'mailer-daemon@MX.example.com', true)).address, '');
  assert.equal((await envelopeSender(r, 'MAILER-DAEMON@other.test', true)).address, 'MAILER-DAEMON@other.test');
  assert.equal((await envelopeRecipient(r, '', true)).address, 'MAILER-DAEMON@mx.example.com');
});

test('a failing table: the address stays, cleanup is told to try again later', async () => {
  const lines: string[] = [];
  const r = await rules([['canonical_maps', 'fail:broken'], ['masquerade_domains', 'example.com'],
    ['masquerade_exceptions', 'fail:exc']], lines);
  const x = await envelopeSender(r, 'u@a.example.com', true, 'QID');
  assert.deepEqual(x, { address: 'u@example.com', changed: true, errs: CLEANUP_STAT_WRITE });
  assert.deepEqual(lines, [
    'cleanup: warning: fail:broken lookup error for "u@a.example.com"',
    'cleanup: warning: QID: canonical_maps map lookup problem for u@a.example.com -- message not accepted, try again later',
    'cleanup: warning: masquerade_exceptions: fail:exc: table lookup problem',
    'cleanup: QID: masquerade_exceptions map lookup problem -- message not accepted, try again later',
  ]);
});

test('masquerade applies only to the classes listed', async () => {
  const r = await rules([['masquerade_domains', 'example.com']]);
  assert.equal((await masquerade(r, 'envelope_sender', 'u@a.example.com')).address, 'u@example.com');
  assert.equal((await masquerade(r, 'envelope_recipient', 'u@a.example.com')).address, 'u@a.example.com');
  assert.equal((await masquerade(r, 'header_recipient', '"a b"@A.Example.COM')).address, '"a b"@example.com');
});
