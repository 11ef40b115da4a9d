// Recorder for the pipe(8) fixtures: the messages of fixtures/pipe/<NN-name>/
// go through real Postfix 3.7.11 with master.cf pipe services, and what came
// out -- what each command was given (argv, identity, environment, standard
// input, as its capture script wrote them under @ROOT@/out), the notices in
// the sender's mailbox, the maillog lines -- is written into expected/,
// normalised as the delivery fixtures are (tools/record-delivery.ts does the
// work; fixtures/pipe/README.md lists the cases).
//   node dist/tools/record-pipe.js [--check] [--keep] [--ours] [FIXTURE_DIR...]
// Started outside a private network namespace, it re-runs itself under
// `unshare -n -m --pid` (root only).
import * as path from 'node:path';
import { repoRoot } from '../test/lib/cases.js';
import { listDeliveryFixtures, privateEtcPostfix, recordAll, removeStaleUsers, runRecorder } from './record-delivery.js';

/** The fixture directories under fixtures/pipe/. */
export function listPipeFixtures(): string[] {
  return listDeliveryFixtures(path.join(repoRoot(), 'fixtures', 'pipe'));
}

async function main(argv: string[]): Promise<number> {
  const flags = new Set(argv.filter((a) => a.startsWith('--')));
  const dirs = argv.filter((a) => !a.startsWith('--')).map((d) => path.resolve(d));
  const fixtures = dirs.length ? dirs : listPipeFixtures();
  removeStaleUsers(fixtures);
  const restoreEtc = privateEtcPostfix();
  try {
    return await recordAll(fixtures, flags);
  } finally {
    restoreEtc();
  }
}

await runRecorder('record-pipe', import.meta.url, main);
