// The postlog command (Postfix's postlog/postlog.c): one log line per
// argument list, or per line of standard input, in Postfix's log format, to
// maillog_file (written directly, as when postlogd is not running) or to
// syslog. -t sets the tag (default "$syslog_name/postlog"), -p the
// severity (info, warn, warning, error, err, fatal, crit, panic), -i is
// accepted and ignored (the process ID is always logged), -c names the
// configuration directory. Lines are echoed to standard error only when
// it is a terminal, as Postfix does.
import { loadConfigOr } from './load-config.js';
import * as fs from 'node:fs';
import { isatty } from 'node:tty';
import { CONF_ENV_PATH } from '../config/config.js';
import { createLogger } from '../log/logger.js';
import { logSettingsFrom, openLogSink } from '../log/sink.js';
import { Getopt } from '../util/getopt.js';
import { runMain } from '../util/main.js';
import { FatalExit, msgFatal, setProgName } from '../util/msg.js';
import { printable } from '../util/printable.js';

const LEVELS = new Map<string, string>([
  ['info', ''], ['warn', 'warning: '], ['warning', 'warning: '], ['error', 'error: '], ['err', 'error: '],
  ['fatal', 'fatal: '], ['crit', 'fatal: '], ['panic', 'panic: '],
]);

/**
 * Postfix's postlog reports on standard error only when it is a terminal;
 * otherwise its complaints go to the log alone (before main.cf is read:
 * syslog), so a script sees just the exit status.
 */
function fatal(text: string): never {
  if (isatty(2)) msgFatal(text);
  throw new FatalExit(1);
}

function main(argv: string[]): number {
  let prefix = '';
  let tagOpt: string | undefined;
  const getopt = new Getopt(argv, 'c:ip:t:v');
  for (const { opt, arg } of getopt) {
    switch (opt) {
      case 'c': process.env[CONF_ENV_PATH] = arg!; break;
      case 'i': break;
      case 'p': {
        const p = LEVELS.get(arg!.toLowerCase());
        if (p === undefined) fatal(`bad severity: "${arg}"`);
        prefix = p;
        break;
      }
      case 't': tagOpt = arg!; break;
      case 'v': break;
      default: fatal('usage: postlog [-c config_dir] [-i] [-p priority] [-t tag] [-v] [text]');
    }
  }
  const config = loadConfigOr(fatal);
  const tag = tagOpt !== undefined ? printable(tagOpt, '?') : `${config.get('syslog_name')}/postlog`;
  setProgName(tag);
  const opened = openLogSink(logSettingsFrom((n) => config.get(n)));
  if ('error' in opened) fatal(opened.error);
  const logger = createLogger(opened.sink, tag, process.pid, config.getBool('smtputf8_enable'));
  const echo = isatty(2);
  const log = (text: string) => {
    logger.info(prefix + text);
    if (echo) process.stderr.write(`${tag}: ${prefix}${printable(text, '?')}\n`);
  };
  const words = argv.slice(getopt.optind);
  if (words.length > 0) log(words.join(' '));
  else {
    let input = '';
    try {
      input = fs.readFileSync(0, 'latin1');
    } catch {
      input = '';
    }
    const lines = input.split('\n');
    if (lines[lines.length - 1] === '') lines.pop();
    for (const l of lines) log(l);
  }
  opened.close();
  return 0;
}

void runMain('postlog', main);
