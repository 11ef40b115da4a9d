// Replays the trivial-rewrite answers recorded from Postfix 3.7.11 under
// fixtures/resolve/*/cases.json (resolve, verify and rewrite requests, plus
// what trivial-rewrite logged for each) against AddressResolver, and the
// transport lookups of Postfix's own trivial-rewrite/transport.in test.
import test from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  AddressResolver, RESOLVE_CLASS_ALIAS, RESOLVE_CLASS_DEFAULT, RESOLVE_CLASS_LOCAL, RESOLVE_CLASS_MASK, RESOLVE_CLASS_RELAY,
  RESOLVE_CLASS_VIRTUAL, RESOLVE_FLAG_ERROR,
} from '../../src/address/resolve.js';
import { unquote822Local } from '../../src/address/quote.js';
import { TableCache } from '../../src/address/maps.js';
import { TransportTable } from '../../src/address/transport.js';
import { fixtureNames, loadFixture, recordingLog, type RecordedCase } from './resolve-fixtures.js';

async function answer(resolver: AddressResolver, c: RecordedCase): Promise<Record<string, unknown>> {
  switch (c.op) {
    case 'resolve':
      return { ...(await resolver.resolve(c.address!, c.sender ?? '')) };
    case 'verify':
      return { ...(await resolver.resolveVerify(c.address!, c.sender ?? '')) };
    case 'rewrite':
      return { address: resolver.rewriteExternal(c.rule!, c.address!) };
    default:
      throw new Error(`not a trivial-rewrite case: ${c.op}`);
  }
}

for (const name of fixtureNames()) {
  test(`fixtures/resolve/${name}: trivial-rewrite answers as Postfix 3.7.11 does`, async () => {
    const fx = loadFixture(name);
    const lines: string[] = [];
    const log = recordingLog('trivial-rewrite', lines);
    const resolver = new AddressResolver(fx.config, { log, cache: new TableCache(log, fx.config.getBool('smtputf8_enable')) });
    let checked = 0;
    try {
      // trivial-rewrite's start-up complaints are logged before its first answer.
      await resolver.ready();
      for (const c of fx.cases) {
        if (c.op === 'smtp') continue;
        const what = `${c.op} ${c.rule ?? ''} <${c.address}> from <${c.sender ?? ''}>`;
        assert.deepEqual(await answer(resolver, c), c.expect, what);
        assert.deepEqual(lines.map((l) => l.replaceAll(fx.dir, '@DIR@')), c.log.filter((l) => l.startsWith('trivial-rewrite: ')), `${what}: log`);
        lines.length = 0;
        checked++;
      }
    } finally {
      await resolver.close();
      fx.cleanup();
    }
    assert.ok(checked > 0 || fx.cases.every((c) => c.op === 'smtp'));
  });
}

// Postfix's transport test driver: "address:channel:nexthop" expectations,
// "-" for an empty field; the table starts from channel DEFAULT and nexthop
// = the recipient domain, with recipient_delimiter "+".
async function transportDriver(script: string): Promise<string> {
  let out = '';
  let table: TransportTable | undefined;
  const env = { recipientDelimiter: '+', myorigin: 'localhost.localdomain' };
  for (const line of script.split('\n')) {
    const echo = /^echo (.*)$/.exec(line);
    if (echo) {
      out += `${echo[1]}\n`;
      continue;
    }
    const open = /^\$\{VALGRIND\} \.\/transport '([^']*)'/.exec(line);
    if (open) {
      table = await TransportTable.create('transport map', open[1]!, 0);
      continue;
    }
    if (!table || line === 'EOF' || line === '' || line.startsWith('#')) continue;
    const [addr, channel] = line.split(':') as [string, string?];
    const domain = addr.slice(addr.lastIndexOf('@') + 1);
    const r = await table.lookup(addr, domain, { channel: 'DEFAULT', nexthop: domain }, env);
    if (r.status === 'found') out += `${addr}:${domain} -> ${r.route.channel}:${r.route.nexthop} \n`;
    else out += `${addr}:${domain} -> ${r.status === 'error' ? '(try again)' : '(not found)'}\n`;
    void channel;
  }
  return out;
}

test('trivial-rewrite/transport.in gives transport.ref', async () => {
  const dir = fileURLToPath(new URL('../../../fixtures/resolve/postfix-tests/', import.meta.url));
  const script = readFileSync(dir + 'transport.in', 'utf8');
  assert.equal(await transportDriver(script), readFileSync(dir + 'transport.ref', 'utf8'));
});

// smtpd's recipient verdicts depend on the class trivial-rewrite gives: the
// recorded SMTP replies must agree with the class this resolver gives.
const VERDICT_CLASS: Array<[RegExp, number]> = [
  [/User unknown in local recipient table$/, RESOLVE_CLASS_LOCAL],
  [/User unknown in virtual alias table$/, RESOLVE_CLASS_ALIAS],
  [/User unknown in virtual mailbox table$/, RESOLVE_CLASS_VIRTUAL],
  [/User unknown in relay recipient table$/, RESOLVE_CLASS_RELAY],
  [/Relay access denied$/, RESOLVE_CLASS_DEFAULT],
];

test('recorded smtpd verdicts agree with the resolved address classes', async () => {
  let checked = 0;
  for (const name of fixtureNames()) {
    const fx = loadFixture(name);
    const resolver = new AddressResolver(fx.config, { log: recordingLog('trivial-rewrite', []) });
    try {
      for (const c of fx.cases.filter((x) => x.op === 'smtp')) {
        const replies = c.expect.replies as string[];
        if (!replies[0]!.startsWith('250')) continue;
        for (const [i, rcpt] of c.rcpt!.entries()) {
          const reply = replies[1 + i]!;
          const r = await resolver.resolve(unquote822Local(rcpt), c.from ?? '');
          if (reply.startsWith('501 5.1.3')) {
            assert.ok(r.flags & RESOLVE_FLAG_ERROR, `${name}: <${rcpt}> should be a syntax error`);
            checked++;
            continue;
          }
          const hit = VERDICT_CLASS.find(([re]) => re.test(reply));
          if (!hit) continue;
          assert.equal(r.flags & RESOLVE_CLASS_MASK, hit[1], `${name}: <${rcpt}>: ${reply}`);
          checked++;
        }
      }
    } finally {
      await resolver.close();
      fx.cleanup();
    }
  }
  assert.ok(checked >= 15, `only ${checked} verdicts checked`);
});
