// The commands' first step, as Postfix's mail_conf_read(): main.cf from
// MAIL_CONFIG or the default directory, and a configuration that cannot
// be read ends the command through its own fatal(), with Postfix's text.
// Reads main.cf only.
import { Config, ConfigError } from '../config/config.js';

/** main.cf, or the command's fatal(text) when it cannot be loaded. */
export function loadConfigOr(fatal: (text: string) => never): Config {
  try {
    return Config.load();
  } catch (e) {
    if (e instanceof ConfigError) fatal(e.message);
    throw e;
  }
}
