// The mailq command: Postfix's sendmail -bp, which runs "postqueue -p" (so
// its messages carry postqueue's name). -C names the configuration
// directory, as sendmail's; the other sendmail options mean nothing to a
// listing and are ignored, as sendmail -bp ignores them.
import { CONF_ENV_PATH } from '../config/config.js';
import { runMain } from '../util/main.js';
import { postqueueMain } from './queue-postqueue.js';

function mailq(argv: string[]): Promise<number> {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-C' && i + 1 < argv.length) process.env[CONF_ENV_PATH] = argv[++i]!;
    else if (a.startsWith('-C') && a.length > 2) process.env[CONF_ENV_PATH] = a.slice(2);
  }
  return postqueueMain(['-p']);
}

void runMain('postqueue', mailq);
