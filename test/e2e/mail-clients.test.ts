// Local submission as people do it (issue 10, done-when 3): `sendmail -t` from a
// shell, Debian's `mail` (bsd-mailx) and `mutt`, each run as a throw-away
// ordinary user with its sendmail pointed at this project's bin/sendmail, deliver
// through `bin/postfix start` to Maildirs. The Maildir files, owners, modes and
// maillog lines must equal what Postfix 3.7.11 made of the same runs
// (fixtures/mail-clients/, recorded by tools/record-delivery.ts; IDs, dates and
// uids normalised). Needs root and a private namespace; the mailx/mutt fixture is
// skipped with a message when either program is not installed.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { compare, listDeliveryFixtures, privateEtcPostfix, recordFixture, removeStaleUsers } from '../../tools/record-delivery.js';
import { repoRoot } from '../lib/cases.js';
import { namespaceReady, whyNoNamespace } from '../lib/netns.js';
import { testInNamespace } from '../lib/netns-test.js';

/** Programs a fixture's shell commands need, by fixture name. */
const NEEDS: Record<string, string[]> = { '02-mailx-mutt': ['mailx', 'mutt'] };

function missing(programs: string[]): string[] {
  const dirs = ['/usr/local/bin', '/usr/bin', '/bin'];
  return programs.filter((p) => !dirs.some((d) => fs.existsSync(path.join(d, p))));
}

if (namespaceReady()) {
  let restoreEtc: () => void = () => {};
  before(() => {
    removeStaleUsers();
    restoreEtc = privateEtcPostfix();
  });
  after(() => restoreEtc());
  for (const dir of listDeliveryFixtures(path.join(repoRoot(), 'fixtures', 'mail-clients'))) {
    const name = path.basename(dir);
    test(`mail client fixture ${name}`, async (t) => {
      const absent = missing(NEEDS[name] ?? []);
      if (absent.length) {
        t.skip(`not installed: ${absent.join(', ')} (apt-get install bsd-mailx mutt)`);
        return;
      }
      const rec = await recordFixture(dir, { kind: 'ours' });
      const problems = compare(path.join(dir, 'expected'), rec);
      assert.deepEqual(problems, [], `${name} differs from Postfix 3.7.11:\n${problems.join('\n')}`);
    });
  }
} else {
  testInNamespace('sendmail -t, mail and mutt as a user through bin/postfix', import.meta.url, whyNoNamespace);
}
