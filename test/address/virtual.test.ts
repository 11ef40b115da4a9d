// Replays the SMTP sessions recorded from Postfix 3.7.11 under
// fixtures/resolve/*/cases.json through this project's envelope pipeline,
// the way cleanup runs it: the sender and each accepted recipient rewritten
// in the local context, canonical maps and masquerading, virtual alias
// expansion, then duplicate elimination. The result must list the same
// sender and recipient records as the queue file Postfix wrote, or end in
// the same 451 error, with the same cleanup warnings.
import test from 'node:test';
import assert from 'node:assert/strict';
import { AddressResolver } from '../../src/address/resolve.js';
import {
  CleanupAddressRules, CLEANUP_STAT_DEFER, CLEANUP_STAT_WRITE, envelopeRecipient, envelopeSender, headerAddress,
} from '../../src/address/canonical.js';
import { TOK822_ADDR, tok822Grep, tok822Parse } from '../../src/address/tok822.js';
import { tok822Externalize, TOK822_STR_HEAD } from '../../src/address/tok822-format.js';
import { DuplicateFilter, duplicateKey, VirtualAliasExpander } from '../../src/address/virtual.js';
import { TableCache } from '../../src/address/maps.js';
import { Config } from '../../src/config/config.js';
import { fixtureNames, loadFixture, recordingLog, type RecordedCase } from './resolve-fixtures.js';

interface Outcome {
  envelope?: string[];
  headers?: string[];
  final?: string;
}

// header_opts.c: headers whose addresses are rewritten as senders or as recipients.
const SENDER_HEADERS = ['from', 'sender', 'reply-to', 'errors-to', 'return-receipt-to', 'disposition-notification-to',
  'mail-followup-to', 'resent-from', 'resent-sender', 'return-path'];
const RECIPIENT_HEADERS = ['to', 'cc', 'bcc', 'apparently-to', 'resent-to', 'resent-cc', 'resent-bcc', 'resent-reply-to'];

/** cleanup_rewrite_sender / cleanup_rewrite_recip for one short (unfolded) header line. */
async function rewriteHeader(rules: CleanupAddressRules, line: string, context: 'local' | 'remote' | null): Promise<string> {
  const name = line.slice(0, line.indexOf(':'));
  const side = SENDER_HEADERS.includes(name.toLowerCase()) ? 'sender'
    : RECIPIENT_HEADERS.includes(name.toLowerCase()) ? 'recipient' : null;
  if (side === null || context === null) return line;
  const tree = tok822Parse(line.slice(name.length + 1));
  let changed = false;
  for (const node of tok822Grep(tree, TOK822_ADDR)) changed = (await headerAddress(rules, side, node, context, true, 'QID')).changed || changed;
  return changed ? foldHeader(`${name}: ${tok822Externalize(tree, TOK822_STR_HEAD)}`) : line;
}

/** cleanup_fold_header: one address per line becomes as many per line as fit in 70 characters. */
function foldHeader(text: string): string {
  const parts = text.split('\n');
  let out = parts[0]!;
  let lineStart = 0;
  for (const part of parts.slice(1)) {
    if (out.length + 1 + part.length - lineStart < 70) out += ` ${part}`;
    else {
      out += `\n${part}`;
      lineStart = out.length - part.length;
    }
  }
  // cleanup_out_header indents continuation lines with a TAB.
  return out.replace(/\n(?![ \t])/g, '\n\t');
}

/** What cleanup would write (or answer) for a recorded session. */
async function cleanupEnvelope(rules: CleanupAddressRules, virtual: VirtualAliasExpander, c: RecordedCase): Promise<Outcome> {
  const replies = c.expect.replies as string[];
  const accepted = c.rcpt!.filter((_, i) => replies[1 + i]?.startsWith('250'));
  const config = rules.resolver.config;
  let errs = 0;
  let reason = '';
  const sender = await envelopeSender(rules, c.from!, true, 'QID');
  errs |= sender.errs;
  const context = c.expect.queued ? (c.expect.queued as { envelope: string[] }).envelope[0]! : 'named_attribute: rewrite_context=local';
  const envelope = [context, `sender: ${sender.address}`];
  const dups = new DuplicateFilter(config.getInt('duplicate_filter_limit'));
  for (const orcpt of accepted) {
    const rcpt = await envelopeRecipient(rules, orcpt, true, 'QID');
    errs |= rcpt.errs;
    // smtpd passes the RCPT TO address as the DSN original recipient.
    const dsnOrcpt = `rfc822;${orcpt}`;
    const expansion = virtual.enabled ? await virtual.expand(rcpt.address, 'QID') : { addresses: [rcpt.address], errs: 0 };
    errs |= expansion.errs;
    if (expansion.reason) reason = expansion.reason;
    for (const addr of expansion.addresses) {
      if (dups.check(duplicateKey(config.getBool('enable_original_recipient'), dsnOrcpt, 0, orcpt, addr))) continue;
      envelope.push(`named_attribute: dsn_orig_rcpt=${dsnOrcpt}`, `original_recipient: ${orcpt}`, `recipient: ${addr}`);
    }
  }
  if (errs & CLEANUP_STAT_DEFER) return { final: `451 ${reason}` };
  if (errs & CLEANUP_STAT_WRITE) return { final: '451 4.3.0 Error: queue file write error' };
  // A remote client's headers are rewritten only when remote_header_rewrite_domain is set.
  const ctx = context.endsWith('=remote') ? (config.get('remote_header_rewrite_domain') !== '' ? 'remote' : null) : 'local';
  const headers: string[] = [];
  for (const h of c.headers ?? ['Subject: test']) headers.push(await rewriteHeader(rules, h, ctx));
  return { envelope, headers, final: '250 2.0.0 Ok: queued as QID' };
}

function recorded(c: RecordedCase): Outcome {
  const replies = c.expect.replies as string[];
  const queued = c.expect.queued as { envelope: string[]; headers: string[] } | undefined;
  if (!queued) return { final: replies[replies.length - 2] };
  // Only the headers the client sent; cleanup adds others (From:, Date:, ...).
  const sent = (c.headers ?? ['Subject: test']).map((h) => h.slice(0, h.indexOf(':')).toLowerCase());
  const headers = queued.headers.filter((h) => sent.includes(h.slice(0, h.indexOf(':')).toLowerCase()));
  return { envelope: queued.envelope, headers, final: replies[replies.length - 2] };
}

for (const name of fixtureNames()) {
  const fx = loadFixture(name);
  const sessions = fx.cases.filter((c) => c.op === 'smtp' && (c.expect.replies as string[])[0]!.startsWith('250')
    && (c.expect.replies as string[]).includes('354 End data with <CR><LF>.<CR><LF>'));
  fx.cleanup();
  if (sessions.length === 0) continue;
  test(`fixtures/resolve/${name}: envelopes as Postfix 3.7.11 queued them`, async () => {
    const f = loadFixture(name);
    const lines: string[] = [];
    const log = recordingLog('cleanup', lines);
    const resolver = new AddressResolver(f.config, { log: recordingLog('trivial-rewrite', []) });
    try {
      const rules = await CleanupAddressRules.create(resolver, { log, cache: new TableCache(log, resolver.utf8) });
      const virtual = await VirtualAliasExpander.create(resolver, { log, cache: new TableCache(log, resolver.utf8) });
      for (const c of sessions) {
        lines.length = 0;
        const what = `MAIL FROM:<${c.from}> RCPT TO:${c.rcpt!.map((r) => `<${r}>`).join(',')}`;
        const want = recorded(c);
        const got = await cleanupEnvelope(rules, virtual, c);
        assert.deepEqual(got, want, what);
        assert.deepEqual(lines, c.log.filter((l) => l.startsWith('cleanup: ')), `${what}: log`);
      }
    } finally {
      await resolver.close();
      f.cleanup();
    }
  });
}

test('an address that maps to itself among others is kept, and not expanded again', async () => {
  const config = Config.fromEntries('/nonexistent', [
    ['myhostname', 'mx.example.com'], ['mydomain', 'example.com'], ['compatibility_level', '3.6'],
    ['virtual_alias_maps', 'inline:{ {a@x.test = a@x.test, b@x.test}, {b@x.test = c@x.test, B@x.test} }'],
  ]);
  const resolver = new AddressResolver(config);
  const v = await VirtualAliasExpander.create(resolver);
  assert.deepEqual(await v.expand('a@x.test'), { addresses: ['a@x.test', 'c@x.test', 'B@x.test'], errs: 0 });
});

test('the duplicate filter folds case and stops remembering at its limit', () => {
  const f = new DuplicateFilter(2);
  assert.equal(f.check('A@x'), false);
  assert.equal(f.check('a@X'), true);
  assert.equal(f.check('b@x'), false);
  assert.equal(f.check('c@x'), false);
  assert.equal(f.check('c@x'), false);
  assert.equal(f.check('b@x'), true);
});
