// The pipe(8) fixtures (fixtures/pipe/, recorded from Postfix 3.7.11 by
// tools/record-pipe.ts) replayed through this project's daemon: the same
// master.cf pipe services, users and messages, and the same normalised
// results -- what each command was given (argv, identity, environment,
// standard input), the notices, and the maillog lines. Needs root
// (throw-away users, a private network and mount namespace); skipped with
// the reason otherwise.
import { listPipeFixtures } from '../../tools/record-pipe.js';
import { replayFixtureTests } from '../lib/replay.js';

replayFixtureTests('pipe', listPipeFixtures, import.meta.url);
