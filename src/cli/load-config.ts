// The commands' first step, as Postfix's mail_conf_read(): main.cf from
// MAIL_CONFIG or the default directory, and a configuration that cannot
// be read ends the command through its own fatal(), with Postfix's text.
// Also the queue directory check that follows. Reads main.cf and stats
// queue_directory only.
import * as fs from 'node:fs';
import { Config, ConfigError } from '../config/config.js';
import { errText } from './queue-trigger.js';

/** main.cf, or the command's fatal(text) when it cannot be loaded. */
export function loadConfigOr(fatal: (text: string) => never): Config {
  try {
    return Config.load();
  } catch (e) {
    if (e instanceof ConfigError) fatal(e.message);
    throw e;
  }
}

/** queue_directory, or fatal("chdir DIR: reason") when it is not a directory, as the queue commands' chdir() fails. */
export function queueDirOr(config: Config, fatal: (text: string) => never): string {
  const qdir = config.get('queue_directory');
  try {
    if (!fs.statSync(qdir).isDirectory()) throw Object.assign(new Error(), { code: 'ENOTDIR' });
  } catch (e) {
    fatal(`chdir ${qdir}: ${errText(e)}`);
  }
  return qdir;
}
