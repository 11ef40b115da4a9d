// Replays fixtures/smtp-addr/ (recorded from Postfix 3.7.11 by
// tools/record-smtp-addr.ts) through hostsForNexthop(): for each scenario
// the servers Postfix tried are the servers we list, in the same order
// (as a set where equal preferences are shuffled); where Postfix found none
// its DSN status and text are ours; its warnings and fatal errors are ours.
// The zone is served by a fake DNS server on 127.0.0.1.
import { after, before, test } from 'node:test';
import { startFakeDns, type FakeDns } from '../lib/fake-dns.js';
import { checkScenario, fixtureResolver, loadExpected, loadScenarios, loadZone } from './smtp-addr-harness.js';

let dns: FakeDns;
before(async () => {
  dns = await startFakeDns(loadZone());
});
after(async () => {
  await dns.close();
});

const expected = loadExpected();
for (const s of loadScenarios()) {
  test(`smtp-addr fixture ${s.name}: ${s.nexthop}`, async () => {
    await checkScenario(s, expected[s.name] ?? [], fixtureResolver(dns.server));
  });
}
