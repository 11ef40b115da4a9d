// The TLS policy engine of smtp(8)/lmtp(8) (src/delivery/smtp/tls-policy.ts)
// in-process, for what the recorded fixtures (fixtures/smtp/71-78) cannot
// reach without DNS: the lookup keys of a domain (the domain, then
// ".parent" keys), smtp_tls_per_site's precedence, the per-level defaults of
// protocols, cipher grade and exclusions, the cache, and the protocol and
// cipher lists handed to node:tls. The wording of each warning was checked
// against Postfix 3.7.11 by the fixtures; these tests pin the logic.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { test } from 'node:test';
import { TableCache } from '../../src/address/maps.js';
import { Config } from '../../src/config/config.js';
import { readSmtpSettings } from '../../src/delivery/smtp/settings.js';
import {
  LEV_ENCRYPT, LEV_FPRINT, LEV_MAY, LEV_NONE, LEV_VERIFY, type PolicyResult, TlsPolicyEngine,
} from '../../src/delivery/smtp/tls-policy.js';
import { cipherList, protocolRange } from '../../src/delivery/smtp/tls.js';
import type { MsgLog } from '../../src/util/msg.js';
import { tempDir } from '../lib/tmp.js';

/** A log that keeps its lines. */
function memoryLog(): MsgLog & { lines: string[] } {
  const lines: string[] = [];
  return { lines, info: (t) => lines.push(`info: ${t}`), warning: (t) => lines.push(`warning: ${t}`), error: (t) => lines.push(`error: ${t}`) };
}

/** An engine over main.cf entries; tables are inline: so that no file is needed. */
async function engine(entries: Array<[string, string]>, lmtp = false): Promise<{ e: TlsPolicyEngine; log: ReturnType<typeof memoryLog> }> {
  const dir = tempDir('smtp-tls-policy-');
  try {
    const settings = readSmtpSettings(Config.fromEntries(dir, entries), lmtp);
    const log = memoryLog();
    const e = await TlsPolicyEngine.create(settings.tls.policy, new TableCache(log, true), log, true);
    return { e, log };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const levelOf = (r: PolicyResult): number => ('policy' in r ? r.policy.level : -2);

test('policy maps: a domain is looked up as itself, then as .parent keys; a next hop with [] or :port only as written', async () => {
  const { e, log } = await engine([['smtp_tls_policy_maps', 'inline:{ .example.com=encrypt, [mx.example.com]=verify, example.net:2525=may }']]);
  assert.equal(levelOf(await e.query('mail.sub.example.com', 'mx1.example.org', 25)), LEV_ENCRYPT);
  assert.equal(levelOf(await e.query('example.com', 'mx1.example.org', 25)), LEV_NONE, 'the parent keys of example.com are .com only');
  assert.equal(levelOf(await e.query('[mx.example.com]', 'mx.example.com', 25)), LEV_VERIFY);
  assert.equal(levelOf(await e.query('[sub.mx.example.com]', 'sub.mx.example.com', 25)), LEV_NONE, 'no parent lookups for [host]');
  assert.equal(levelOf(await e.query('example.net:2525', 'example.net', 2525)), LEV_MAY);
  assert.equal(levelOf(await e.query('EXAMPLE.NET:2525', 'example.net', 2525)), LEV_MAY, 'keys are folded to lower case');
  assert.deepEqual(log.lines, []);
});

test('policy maps: results are cached per next hop, server and port, warnings logged once; the caller gets a copy', async () => {
  const { e, log } = await engine([['smtp_tls_policy_maps', 'inline:{ {x.example = bogus}, y.example=encrypt }']]);
  for (let i = 0; i < 2; i++) {
    const r = await e.query('x.example', 'mx.x.example', 25);
    assert.deepEqual(r, { invalid: { status: '4.7.5', reason: 'client TLS configuration problem' } });
  }
  assert.deepEqual(log.lines, ['warning: smtp_tls_policy_maps, next-hop destination "x.example": invalid security level "bogus"']);
  const a = await e.query('y.example', 'mx.y.example', 25);
  if ('policy' in a) a.policy.level = LEV_NONE;
  assert.equal(levelOf(await e.query('y.example', 'mx.y.example', 25)), LEV_ENCRYPT);
});

test('policy maps: protocols, cipher grade and exclusions by level, entry attributes first', async () => {
  const { e } = await engine([
    ['smtp_tls_security_level', 'may'], ['smtp_tls_exclude_ciphers', 'RC4'], ['smtp_tls_mandatory_exclude_ciphers', 'MD5'],
    ['smtp_tls_mandatory_ciphers', 'high'], ['smtp_tls_protocols', '!SSLv2'], ['smtp_tls_mandatory_protocols', '>=TLSv1.2'],
    ['smtp_tls_policy_maps', 'inline:{ e.example=encrypt, {v.example = verify match=hostname:nexthop}, {x.example = secure exclude=AES128 ciphers=low protocols=TLSv1.3} }'],
  ]);
  const may = await e.query('m.example', 'mx.m.example', 25);
  assert.ok('policy' in may);
  assert.deepEqual([may.policy.grade, may.policy.exclusions, may.policy.protocols], ['medium', 'RC4', '!SSLv2']);
  const enc = await e.query('e.example', 'mx.e.example', 25);
  assert.ok('policy' in enc);
  assert.deepEqual([enc.policy.grade, enc.policy.exclusions, enc.policy.protocols], ['high', 'RC4 MD5 eNULL', '>=TLSv1.2']);
  const ver = await e.query('v.example', 'mx.v.example', 25);
  assert.ok('policy' in ver);
  assert.deepEqual([ver.policy.exclusions, ver.policy.matchNames], ['RC4 MD5 aNULL', ['hostname', 'nexthop']]);
  const sec = await e.query('x.example', 'mx.x.example', 25);
  assert.ok('policy' in sec);
  assert.deepEqual([sec.policy.grade, sec.policy.exclusions, sec.policy.protocols, sec.policy.matchNames], ['low', 'AES128 aNULL', 'TLSv1.3', ['nexthop', 'dot-nexthop']]);
});

test('smtp_tls_per_site: the next hop, then the server name; the stronger level wins, NONE beats MAY, a global level beats a MAY wildcard', async () => {
  const { e, log } = await engine([
    ['smtp_tls_security_level', 'encrypt'],
    ['smtp_tls_per_site', 'inline:{ a.example=MUST, mx.a.example=NONE, b.example=NONE, mx.b.example=MAY, c.example=may, d.example=maybe }'],
  ]);
  assert.equal(levelOf(await e.query('a.example', 'mx.a.example', 25)), LEV_VERIFY);
  assert.equal(levelOf(await e.query('b.example', 'mx.b.example', 25)), LEV_NONE);
  assert.equal(levelOf(await e.query('c.example', 'mx.c.example', 25)), LEV_ENCRYPT);
  assert.equal(levelOf(await e.query('d.example', 'mx.d.example', 25)), -2);
  assert.deepEqual(log.lines, ["warning: smtp_tls_per_site: unknown TLS policy 'maybe' for next-hop destination d.example"]);
});

test('smtp_tls_per_site beside smtp_tls_policy_maps is ignored with a warning', async () => {
  const { log } = await engine([['smtp_tls_policy_maps', 'inline:{ a=may }'], ['smtp_tls_per_site', 'inline:{ a=MUST }']]);
  assert.deepEqual(log.lines, ['warning: smtp_tls_per_site ignored when smtp_tls_policy_maps is not empty.']);
});

test('dane on a unix-domain LMTP destination is a configuration problem; fingerprints from main.cf, comma separated', async () => {
  const { e, log } = await engine([['lmtp_tls_security_level', 'dane'], ['lmtp_tls_policy_maps', 'inline:{ {/run/x.sock = fingerprint} }'],
    ['lmtp_tls_fingerprint_cert_match', '00:11, 0011223344556677889900112233445566778899001122334455667788990011']], true);
  assert.equal(levelOf(await e.query('/run/lmtp.sock', 'host.example', 0)), -2);
  const fp = await e.query('/run/x.sock', 'host.example', 0);
  assert.ok('policy' in fp);
  assert.equal(fp.policy.level, LEV_FPRINT);
  assert.deepEqual(fp.policy.fingerprints.map((b) => b.toString('hex')), ['0011', '0011223344556677889900112233445566778899001122334455667788990011']);
  assert.deepEqual(log.lines, ['warning: /run/lmtp.sock: the "dane" security level is invalid for delivery via unix-domain sockets']);
});

test('protocol lists as node:tls ranges', () => {
  assert.deepEqual(protocolRange('>=TLSv1'), { minVersion: 'TLSv1', maxVersion: 'TLSv1.3' });
  assert.deepEqual(protocolRange('!SSLv2, !SSLv3, !TLSv1.3'), { minVersion: 'TLSv1', maxVersion: 'TLSv1.2' });
  assert.deepEqual(protocolRange('>=TLSv1.2:<=TLSv1.2'), { minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' });
  assert.deepEqual(protocolRange('TLSv1.2 TLSv1.3'), { minVersion: 'TLSv1.2', maxVersion: 'TLSv1.3' });
  assert.deepEqual(protocolRange('!tlsv1, !TLSv1.1'), { minVersion: 'TLSv1.2', maxVersion: 'TLSv1.3' });
  assert.equal(protocolRange('TLSv9'), null);
  assert.deepEqual(protocolRange('!TLSv1.1'), { hole: '!TLSv1.1' });
});

test('cipher grades and exclusions as OpenSSL cipher lists', async () => {
  const dir = tempDir('smtp-tls-policy-');
  const settings = readSmtpSettings(Config.fromEntries(dir, []), false);
  fs.rmSync(dir, { recursive: true, force: true });
  assert.deepEqual(cipherList(settings.tls, 'HIGH', 'AES256 CHACHA20 aNULL', 'h[a]:25'), { list: 'aNULL:-aNULL:HIGH:@STRENGTH:!AES256:!CHACHA20:!aNULL' });
  assert.deepEqual(cipherList(settings.tls, 'best', '', 'h[a]:25'), { warning: 'h[a]:25: invalid cipher grade: "best"' });
  assert.deepEqual(cipherList(settings.tls, 'medium', '!RC4', 'h[a]:25'), { warning: "h[a]:25: invalid unary '!+-@' in cipher exclusion: !RC4" });
});
