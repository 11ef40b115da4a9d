// The small pure parts of smtp(8)/lmtp(8): RFC 821 quoting, the enhanced
// status of a reply, the SASL mechanism choice and messages, and the
// settings that refuse what is not built, with their messages.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { test } from 'node:test';
import { Config } from '../../src/config/config.js';
import { quote821 } from '../../src/delivery/smtp/quote821.js';
import { chooseMechanism, filterMechanisms, initialResponse, nextResponse, type SaslSettings } from '../../src/delivery/smtp/sasl.js';
import { readSmtpSettings } from '../../src/delivery/smtp/settings.js';
import { replyDsn } from '../../src/delivery/smtp/state.js';
import { tempDir } from '../lib/tmp.js';

test('quote821: dot-strings pass, anything else is quoted', () => {
  assert.equal(quote821('alice@example.com'), 'alice@example.com');
  assert.equal(quote821(''), '');
  assert.equal(quote821('a b@example.com'), '"a b"@example.com');
  assert.equal(quote821('a..b@example.com'), '"a..b"@example.com');
  assert.equal(quote821('.a@example.com'), '".a"@example.com');
  assert.equal(quote821('a"b@example.com'), '"a\\"b"@example.com');
  assert.equal(quote821('@example.com'), '""@example.com');
});

test('replyDsn: the enhanced code when its class matches the reply, else X.0.0', () => {
  assert.equal(replyDsn('250 2.0.0 Ok'), '2.0.0');
  assert.equal(replyDsn('550 5.1.1 <x>: unknown'), '5.1.1');
  assert.equal(replyDsn('450 mailbox busy'), '4.0.0');
  assert.equal(replyDsn('550 4.1.1 mixed'), '5.0.0');
  assert.equal(replyDsn('354 go ahead'), '5.5.0');
});

test('SASL: filter, choice, PLAIN and LOGIN messages', () => {
  const s = { filter: ['login'] } as unknown as SaslSettings;
  assert.equal(filterMechanisms(s, 'PLAIN LOGIN CRAM-MD5'), 'LOGIN');
  assert.equal(filterMechanisms({ filter: [] } as unknown as SaslSettings, 'PLAIN LOGIN'), 'PLAIN LOGIN');
  assert.equal(chooseMechanism('LOGIN PLAIN', ['noanonymous']), 'PLAIN');
  assert.equal(chooseMechanism('LOGIN', []), 'LOGIN');
  assert.equal(chooseMechanism('PLAIN LOGIN', ['noplaintext', 'noanonymous']), null);
  const cred = { user: 'u', password: 'p' };
  assert.equal(Buffer.from(initialResponse('PLAIN', cred), 'base64').toString(), '\0u\0p');
  assert.equal(initialResponse('LOGIN', cred), '');
  assert.equal(nextResponse('LOGIN', 'VXNlcm5hbWU6', cred), Buffer.from('u').toString('base64'));
  assert.equal(nextResponse('LOGIN', 'UGFzc3dvcmQ6', cred), Buffer.from('p').toString('base64'));
});

function settingsError(entries: Array<[string, string]>, lmtp = false): string {
  const dir = tempDir('smtp-units-');
  try {
    readSmtpSettings(Config.fromEntries(dir, entries), lmtp);
    return '';
  } catch (e) {
    return (e as Error).message;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test('settings: what is not built is refused, by name', () => {
  assert.equal(settingsError([]), '');
  assert.equal(settingsError([['smtp_tls_security_level', 'dane']]), '');
  assert.equal(settingsError([['smtp_tls_connection_reuse', 'yes']]), "smtp_tls_connection_reuse = yes: not implemented by this Postfix replacement's SMTP client yet");
  assert.equal(settingsError([['smtp_tls_cert_file', '/x.pem']]), "smtp_tls_cert_file = /x.pem: not implemented by this Postfix replacement's SMTP client yet");
  assert.equal(settingsError([['smtp_tls_fingerprint_digest', 'crc32']]), 'Digest algorithm "crc32" not found');
  assert.match(settingsError([['smtp_reply_filter', 'regexp:/x']]), /^smtp_reply_filter = regexp:\/x: not implemented by this Postfix replacement's SMTP client yet$/);
  assert.match(settingsError([['lmtp_reply_filter', 'regexp:/x']], true), /^lmtp_reply_filter = regexp:\/x: not implemented by this Postfix replacement's LMTP client yet$/);
  assert.equal(settingsError([['smtp_generic_maps', 'hash:/etc/postfix/generic'], ['lmtp_header_checks', 'regexp:/x']]), '');
  assert.equal(settingsError([['smtp_tls_security_level', 'bogus']]), 'Invalid TLS level "bogus"');
  assert.equal(settingsError([['smtp_tcp_port', 'nosuchservice']]), 'unknown service: nosuchservice/tcp');
});

test('settings: lmtp reads the lmtp_ family', () => {
  const dir = tempDir('smtp-units-');
  const s = readSmtpSettings(Config.fromEntries(dir, [['lmtp_lhlo_name', 'lhlo.example'], ['lmtp_lhlo_timeout', '7s']]), true);
  assert.equal(s.heloName, 'lhlo.example');
  assert.equal(s.timeouts.helo, 7);
  assert.equal(s.defaultPort, 24);
  assert.equal(s.skipQuitResponse, false);
  fs.rmSync(dir, { recursive: true, force: true });
});
