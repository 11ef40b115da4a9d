// The postfix command (Postfix's postfix/postfix.c): options -c, -D and -v,
// main.cf read, the compatibility notice, the environment cleaned by
// import_environment, then the postfix-script command (src/master/script.ts).
// Messages go where Postfix sends them: to the maillog (or syslog), and to
// standard error only when that is a terminal.
// The same program is also the master daemon and its worker processes:
// `postfix start` starts it detached with the master role in its
// environment, and the master forks it with a worker's description (so
// one bundled file serves all three roles).
// Unlike Postfix, an ordinary user may run it: the whole mail system then
// runs as that user (tests, benchmarks, the quick start).
import { Config, ConfigError, CONF_ENV_PATH } from '../config/config.js';
import { parseCompatLevel } from '../config/expand.js';
import { createLogger, type LogSink, type MailLogger } from '../log/logger.js';
import { logSettingsFrom, openLogSink, stderrSink, teeSink } from '../log/sink.js';
import { syslogSink } from '../log/syslog.js';
import { runMaster } from '../master/master.js';
import { MASTER_ENV, WORKER_ENV } from '../master/protocol.js';
import { runScript } from '../master/script.js';
import { runWorker } from '../master/worker.js';
import { Getopt } from '../util/getopt.js';
import { runMain } from '../util/main.js';
import { FatalExit } from '../util/msg.js';

/** LAST_COMPAT_LEVEL of Postfix 3.7. */
const LAST_COMPAT_LEVEL = '3.6';
/** ROOT_PATH of sys_defs.h on Linux: the PATH the scripts and the master run with. */
const ROOT_PATH = '/bin:/usr/bin:/sbin:/usr/sbin';

/** A sink for lines before main.cf is read: syslog when it is there (postfix.c's first maillog_client_init). */
function earlySink(): LogSink {
  return syslogSink({ facility: 'mail', trouble: () => undefined });
}

/** Logs to sink, and to standard error when it is a terminal (msg_vstream_init on isatty). */
function withTerminal(sink: LogSink): LogSink {
  return process.stderr.isTTY ? teeSink(sink, stderrSink()) : sink;
}

function fatal(log: MailLogger, text: string): never {
  log.fatal(text);
  throw new FatalExit(1);
}

/** clean_env(): keep the import_environment names (NAME=value sets one), then PATH and MAIL_CONFIG. */
export function importEnvironment(spec: string, configDir: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const item of spec.split(/[\s,]+/).filter(Boolean)) {
    const eq = item.indexOf('=');
    if (eq > 0) env[item.slice(0, eq)] = item.slice(eq + 1);
    else if (process.env[item] !== undefined) env[item] = process.env[item];
  }
  env.PATH = ROOT_PATH;
  env[CONF_ENV_PATH] = configDir;
  return env;
}

/** compat_level < LAST_COMPAT_LEVEL: the three notices postfix.c prints. */
function compatibilityNotice(config: Config, log: MailLogger): void {
  const level = parseCompatLevel(config.get('compatibility_level'), () => undefined);
  const last = parseCompatLevel(LAST_COMPAT_LEVEL, () => undefined)!;
  if (!level) return;
  const older = level[0] !== last[0] ? level[0] < last[0] : level[1] !== last[1] ? level[1] < last[1] : level[2] < last[2];
  if (!older) return;
  log.info('Postfix is using backwards-compatible default settings');
  log.info('See http://www.postfix.org/COMPATIBILITY_README.html for details');
  log.info(`To disable backwards compatibility use "postconf compatibility_level=${LAST_COMPAT_LEVEL}" and "postfix reload"`);
}

async function main(argv: string[]): Promise<number> {
  let log = createLogger(withTerminal(earlySink()), 'postfix');
  let configDir: string | undefined;
  const getopt = new Getopt(argv, 'c:Dv');
  for (const { opt, arg } of getopt) {
    if (opt === 'c') {
      if (!arg!.startsWith('/')) fatal(log, '-c requires absolute pathname');
      configDir = arg!;
    } else if (opt === 'D') process.env.MAIL_DEBUG = '';
    else if (opt === 'v') process.env.MAIL_VERBOSE = '';
    else fatal(log, 'usage: postfix [-c config_dir] [-Dv] command');
  }
  if (configDir !== undefined) process.env[CONF_ENV_PATH] = configDir;
  let config: Config;
  try {
    config = Config.load(configDir);
  } catch (e) {
    if (e instanceof ConfigError) fatal(log, e.message);
    throw e;
  }
  const settings = logSettingsFrom((n) => config.get(n));
  const opened = openLogSink(settings, { trouble: () => undefined });
  if ('error' in opened) fatal(log, opened.error);
  const sink = withTerminal(opened.sink);
  log = createLogger(sink, 'postfix');
  compatibilityNotice(config, log);
  const queueDir = config.get('queue_directory');
  try {
    process.chdir(queueDir);
  } catch (e) {
    fatal(log, `chdir(${queueDir}): ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'No such file or directory' : (e as Error).message}`);
  }
  const dir = config.get('config_directory');
  const script = createLogger(sink, `${config.get('syslog_name')}/postfix-script`);
  try {
    return await runScript(
      {
        config,
        configDir: dir,
        queueDir,
        log: script,
        launcher: process.argv[1]!,
        masterEnv: importEnvironment(config.get('import_environment'), dir),
      },
      argv[getopt.optind] ?? '',
    );
  } finally {
    opened.close();
  }
}

/** The master role: started by `postfix start` with the status pipe on descriptor 3. */
function masterProcess(): void {
  delete process.env[MASTER_ENV];
  const configDir = process.env[CONF_ENV_PATH] ?? '/etc/postfix';
  runMaster({ configDir, statusFd: 3, workerScript: process.argv[1]! }).catch(() => process.exit(1));
}

if (process.env[WORKER_ENV]) void runWorker();
else if (process.env[MASTER_ENV]) masterProcess();
else void runMain('postfix', main);
