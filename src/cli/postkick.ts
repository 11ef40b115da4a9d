// The postkick command (Postfix's postkick/postkick.c): sends a request
// (the bytes of its third argument, e.g. "W" to wake a service up) to a
// master service by class and name ("public pickup W"), through the FIFO
// or socket under queue_directory, as Postfix's commands wake its daemons.
// Exit 1 with Postfix's warning when nobody listens.
import { loadConfigOr, queueDirOr } from './load-config.js';
import { CONF_ENV_PATH } from '../config/config.js';
import { Getopt } from '../util/getopt.js';
import { runMain } from '../util/main.js';
import { getProgName, msgFatal, msgWarn, setVerbose, verboseLevel } from '../util/msg.js';
import { mailTrigger } from './queue-trigger.js';

async function main(argv: string[]): Promise<number> {
  if (process.env.MAIL_VERBOSE) setVerbose(1);
  const usage = () => msgFatal(`usage: ${getProgName()} [-c config_dir] [-v] class service request`);
  const getopt = new Getopt(argv, 'c:v');
  for (const { opt, arg } of getopt) {
    if (opt === 'c') process.env[CONF_ENV_PATH] = arg!;
    else if (opt === 'v') setVerbose(verboseLevel() + 1);
    else usage();
  }
  const rest = argv.slice(getopt.optind);
  if (rest.length !== 3) usage();
  const [cls, service, request] = rest as [string, string, string];
  const config = loadConfigOr(msgFatal);
  const qdir = queueDirOr(config, msgFatal);
  if (!(await mailTrigger(qdir, cls, service, request, msgWarn))) {
    msgWarn(`Cannot contact class ${cls} service ${service} - perhaps the mail system is down`);
    return 1;
  }
  return 0;
}

void runMain('postkick', main);
