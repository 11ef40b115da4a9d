// The mailq command: Postfix's sendmail -bp, which runs "postqueue -p" (so
// its messages carry postqueue's name, except a main.cf that cannot be
// read, which sendmail itself reports). -C names the configuration
// directory, as sendmail's; the other sendmail options mean nothing to a
// listing and are ignored, as sendmail -bp ignores them.
import { CONF_ENV_PATH, Config, ConfigError } from '../config/config.js';
import { runMain } from '../util/main.js';
import { postqueueMain } from './queue-postqueue.js';

function mailq(argv: string[]): Promise<number> {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-C' && i + 1 < argv.length) process.env[CONF_ENV_PATH] = argv[++i]!;
    else if (a.startsWith('-C') && a.length > 2) process.env[CONF_ENV_PATH] = a.slice(2);
  }
  // sendmail reads main.cf itself before it runs postqueue: a configuration
  // it cannot read is its own fatal error, under its own name, with
  // sendmail's exit status (EX_TEMPFAIL).
  try {
    Config.load();
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    process.stderr.write(`mailq: fatal: ${e.message}\n`);
    return Promise.resolve(EX_TEMPFAIL);
  }
  return postqueueMain(['-p']);
}

const EX_TEMPFAIL = 75;

void runMain('postqueue', mailq);
