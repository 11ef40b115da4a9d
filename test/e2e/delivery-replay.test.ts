// The delivery fixtures (fixtures/delivery/, recorded from Postfix 3.7.11 by
// tools/record-delivery.ts) replayed through this project's daemon: the same
// configuration, users, files and messages, sent by SMTP or by bin/sendmail,
// and the same normalised results -- mailbox and Maildir bytes with owners and
// modes, files and command output, notices, and the maillog lines in canonical
// order. Needs root (throw-away users, a private network and mount namespace);
// skipped with the reason otherwise. The fixtures run one after another: they
// share user names.
import { listDeliveryFixtures } from '../../tools/record-delivery.js';
import { replayFixtureTests } from '../lib/replay.js';

replayFixtureTests('delivery', () => listDeliveryFixtures(), import.meta.url);
