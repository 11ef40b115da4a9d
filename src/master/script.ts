// Mirrors Postfix's conf/postfix-script, the program behind `postfix
// start|stop|abort|reload|status|check|flush|start-fg`: each command's
// checks, its messages (logged as "<syslog_name>/postfix-script", shown on
// a terminal too) and its exit status, with the master started, signalled
// or tested through its pid/master.pid lock. Runs in the queue directory.
// Touches the queue's directories (creating missing ones) and signals the
// master; nothing else.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { type Config, ConfigError } from '../config/config.js';
import { parseMasterFile } from '../config/mastercf.js';
import type { MailLogger } from '../log/logger.js';
import { syslogUnavailable } from '../log/syslog.js';
import { checkWarnings } from './check.js';
import { checkDaemonParams } from './daemon-params.js';
import { createMissingDirectories } from './dirs.js';
import { masterRunning, readMasterPid } from './lock.js';
import { runMaster } from './master.js';
import { DAEMON_ALLOCATOR_ENV, MASTER_ENV } from './protocol.js';
import { type Ownership, resolveOwnership } from './users.js';

export interface ScriptContext {
  config: Config;
  configDir: string;
  queueDir: string;
  /** Lines tagged "<syslog_name>/postfix-script". */
  log: MailLogger;
  /** This program's launcher, to start the master and its workers with. */
  launcher: string;
  /** The environment the master gets (import_environment applied). */
  masterEnv: NodeJS.ProcessEnv;
}

/** master -w's generous limit for the master to report a finished start-up. */
const MASTER_INIT_TIMEOUT_MS = 100_000;
const PID_FILE = 'pid/master.pid';
/** How often Debian's post-install create-missing runs postconf (each one warns about a missing master.cf). */
const POSTCONF_RUNS_WITHOUT_MASTER_CF = 19;

const USAGE = "Usage: postfix start (or stop, reload, abort, flush, check, status, set-permissions, upgrade-configuration, logrotate)";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function running(): boolean {
  return masterRunning(PID_FILE);
}

function signalMaster(signal: NodeJS.Signals | number, group = false): void {
  const pid = readMasterPid(PID_FILE);
  if (pid === null) return;
  try {
    process.kill(group ? -pid : pid, signal);
  } catch {
    // gone meanwhile: the next test of the lock tells
  }
}

function ownership(ctx: ScriptContext): Ownership | string {
  const r = resolveOwnership(ctx.configDir, ctx.config.get('mail_owner'), ctx.config.get('setgid_group'));
  return r.ok ? r.owners : r.error;
}

/** check-fatal: missing directories, master.cf, the postlog service. Returns false after logging a fatal line. */
function checkFatal(ctx: ScriptContext): boolean {
  const owners = ownership(ctx);
  if (typeof owners === 'string') {
    ctx.log.fatal(owners);
    return false;
  }
  const made = createMissingDirectories(ctx.queueDir, ctx.config.get('data_directory'), owners);
  if (made !== null) {
    ctx.log.warning(made);
    ctx.log.fatal('unable to create missing queue directories');
    return false;
  }
  const masterCf = `${ctx.configDir}/master.cf`;
  if (!fs.existsSync(masterCf)) {
    // Postfix's post-install runs postconf this many times before the
    // script notices, and each complains on stderr: shown as Postfix shows it.
    const complaint = `${ctx.config.get('command_directory')}/postconf: warning: open ${masterCf}: No such file or directory\n`;
    process.stderr.write(complaint.repeat(POSTCONF_RUNS_WITHOUT_MASTER_CF));
    ctx.log.fatal(`no ${masterCf} file found`);
    return false;
  }
  if (ctx.config.get('maillog_file') !== '' && !hasPostlogService(masterCf)) {
    ctx.log.fatal("missing 'postlog' service in master.cf - run 'postfix upgrade-configuration'");
    return false;
  }
  return true;
}

/** `postconf -M postlog/unix-dgram` finds an entry. */
function hasPostlogService(masterCf: string): boolean {
  const parsed = parseMasterFile(fs.readFileSync(masterCf, 'latin1'), masterCf, () => undefined);
  return parsed.ok && parsed.entries.some((e) => e.service === 'postlog' && e.type === 'unix-dgram');
}

/** check-warn: the warnings, logged one by one. */
function checkWarn(ctx: ScriptContext): void {
  const owners = ownership(ctx);
  if (typeof owners === 'string') return;
  const paths = {
    queueDir: ctx.queueDir,
    dataDir: ctx.config.get('data_directory'),
    configDir: ctx.configDir,
    daemonDir: ctx.config.get('daemon_directory'),
    metaDir: ctx.config.get('meta_directory'),
  };
  for (const w of checkWarnings(paths, owners)) ctx.log.warning(w);
}

/** The checks start runs unless a quick-start file says the last stop was a quick one. */
function startChecks(ctx: ScriptContext): boolean {
  if (fs.existsSync('quick-start')) {
    fs.rmSync('quick-start', { force: true });
    return true;
  }
  if (!checkFatal(ctx)) {
    ctx.log.fatal('Postfix integrity check failed!');
    return false;
  }
  checkWarn(ctx);
  return true;
}

/** A line for the operator when the daemon's log lines would have nowhere to go. */
function warnAboutLogging(ctx: ScriptContext): void {
  if (ctx.config.get('maillog_file') !== '') return;
  const why = syslogUnavailable();
  if (why) ctx.log.warning(`maillog_file is empty and ${why}: the mail system's log lines will be written to nowhere; set maillog_file to keep them`);
}

/** master -w: start the master detached and wait until it reports that it is up. */
async function spawnMaster(ctx: ScriptContext): Promise<boolean> {
  const child = spawn(process.execPath, [ctx.launcher], {
    detached: true,
    stdio: ['ignore', 'ignore', 'ignore', 'pipe'],
    env: { ...ctx.masterEnv, ...DAEMON_ALLOCATOR_ENV, [MASTER_ENV]: '1' },
    cwd: ctx.queueDir,
  });
  const status = child.stdio[3] as NodeJS.ReadableStream & { destroy(): void };
  const ok = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), MASTER_INIT_TIMEOUT_MS);
    status.once('data', () => {
      clearTimeout(timer);
      resolve(true);
    });
    status.once('end', () => {
      clearTimeout(timer);
      resolve(false);
    });
    child.once('error', () => resolve(false));
  });
  status.destroy();
  child.unref();
  return ok;
}

async function start(ctx: ScriptContext, foreground: boolean): Promise<number> {
  if (running()) {
    ctx.log.fatal('the Postfix mail system is already running');
    return 1;
  }
  if (!startChecks(ctx)) return 1;
  warnAboutLogging(ctx);
  ctx.log.info('starting the Postfix mail system');
  if (foreground) {
    try {
      await runMaster({ configDir: ctx.configDir, workerScript: ctx.launcher });
    } catch {
      return 1;
    }
    return new Promise<number>(() => undefined);
  }
  if (!(await spawnMaster(ctx))) {
    ctx.log.fatal('mail system startup failed');
    return 1;
  }
  return 0;
}

async function stop(ctx: ScriptContext): Promise<number> {
  if (!running()) {
    ctx.log.fatal('the Postfix mail system is not running');
    return 1;
  }
  ctx.log.info('stopping the Postfix mail system');
  signalMaster('SIGTERM');
  for (let i = 0; i < 5; i++) {
    if (!running()) return 0;
    ctx.log.info('waiting for the Postfix mail system to terminate');
    await sleep(1000);
  }
  ctx.log.warning('stopping the Postfix mail system with force');
  signalMaster('SIGKILL', true);
  return 0;
}

/** The commands that need a running master and only signal it. */
function signalCommand(ctx: ScriptContext, text: string, signal: NodeJS.Signals, group = false): number {
  if (!running()) {
    ctx.log.fatal('the Postfix mail system is not running');
    return 1;
  }
  ctx.log.info(text);
  signalMaster(signal, group);
  return 0;
}

/**
 * reload: postfix-script logs through postlog and runs `postsuper active`
 * before it signals the master; both read main.cf as every Postfix program
 * does, so a bad setting ends the reload with status 1 before anything is
 * logged (their fatal lines appear only on a terminal) and the master keeps
 * its processes.
 */
function reload(ctx: ScriptContext): number {
  if (running()) {
    try {
      checkDaemonParams(ctx.config);
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      if (process.stderr.isTTY) process.stderr.write(`postlog: fatal: ${e.message}\npostsuper: fatal: ${e.message}\n`);
      return 1;
    }
  }
  return signalCommand(ctx, 'refreshing the Postfix mail system', 'SIGHUP');
}

function status(ctx: ScriptContext): number {
  if (!running()) {
    ctx.log.info('the Postfix mail system is not running');
    return 1;
  }
  ctx.log.info(`the Postfix mail system is running: PID: ${readMasterPid(PID_FILE) ?? ''}`);
  return 0;
}

/** postqueue -f: without a running master there is no queue manager to ask. */
function flush(): number {
  if (!running()) {
    process.stderr.write('postqueue: warning: unable to look up public/qmgr: No such file or directory\n');
    process.stderr.write('postqueue: fatal: Cannot flush mail queue - mail system is down\n');
    return 69;
  }
  process.stderr.write('postqueue: warning: the queue manager is not implemented by this Postfix replacement yet: there is no deferred mail to deliver\n');
  return 0;
}

function check(ctx: ScriptContext): number {
  if (!checkFatal(ctx)) return 1;
  checkWarn(ctx);
  return 0;
}

/** Runs one postfix-script command; returns the exit status. */
export async function runScript(ctx: ScriptContext, command: string): Promise<number> {
  switch (command) {
    case 'start_msg':
      process.stdout.write('Start postfix\n');
      return 0;
    case 'stop_msg':
      process.stdout.write('Stop postfix\n');
      return 0;
    case 'start':
      return start(ctx, false);
    case 'start-fg':
      return start(ctx, true);
    case 'stop':
      return stop(ctx);
    case 'quick-stop': {
      const r = await stop(ctx);
      fs.writeFileSync('quick-start', '');
      return r;
    }
    case 'drain':
      return signalCommand(ctx, 'stopping the Postfix mail system', 'SIGKILL');
    case 'abort':
      return signalCommand(ctx, 'aborting the Postfix mail system', 'SIGQUIT');
    case 'reload':
      return reload(ctx);
    case 'status':
      return status(ctx);
    case 'flush':
      return flush();
    case 'check':
      return check(ctx);
    case 'set-permissions':
    case 'upgrade-configuration':
    case 'post-install':
    case 'tls':
    case 'logrotate':
      ctx.log.fatal(`'${command}' is not implemented by this Postfix replacement yet`);
      return 1;
    default:
      ctx.log.fatal(`unknown command: '${command}'. ${USAGE}`);
      return 1;
  }
}
