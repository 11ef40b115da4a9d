// The sendmail command (Postfix's sendmail/sendmail.c): Sendmail's command
// line on top of this project. The default mode submits a message: the
// envelope and standard input become postdrop records (src/pickup/enqueue.ts)
// written into maildrop/ (src/pickup/maildrop.ts), and pickup is woken; with
// the daemon down the file waits there silently. Other modes hand over to
// the command that does the work, as Postfix execs it: -bp and -q to
// postqueue, -bi/-I to postalias (newaliases), -bd to "postfix start".
// Every fatal error exits with EX_TEMPFAIL (75), as Postfix's does.
import { loadConfigOr } from './load-config.js';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Config, CONF_ENV_PATH } from '../config/config.js';
import { dsnNotifyMask, dsnRetCode } from '../mail/dsn.js';
import { DEL_REQ_FLAG_RECORD, DEL_REQ_FLAG_USR_VRFY } from '../delivery/api.js';
import { cleanupStatDetail } from '../cleanup/api.js';
import { layoutFromConfig } from '../queue/layout.js';
import { MemoryInput } from '../queue/record.js';
import { buildSubmission } from './sendmail-enqueue.js';
import { writeMaildrop } from '../pickup/maildrop.js';
import { fullName, getpwuid } from '../pickup/passwd.js';
import { checkUserAclByUid } from '../pickup/user-acl.js';
import { runMain } from '../util/main.js';
import { FatalExit, getProgName, msgInfo, msgWarn, setProgName, type MsgLog } from '../util/msg.js';
import { printable } from '../util/printable.js';

const EX_TEMPFAIL = 75;
const GETOPT_LIST = 'A:B:C:F:GIL:N:O:R:UV:X:b:ce:f:h:imno:p:r:q:tvx';

const enum Mode { Enqueue, NewAlias, Mailq, Daemon, User, FlushQ, Ignore }

/** Every sendmail fatal ends the same way: msg_cleanup's tempfail(). */
function fatal(text: string): never {
  process.stderr.write(`${getProgName()}: fatal: ${printable(text)}\n`);
  throw new FatalExit(EX_TEMPFAIL);
}

/** glibc getopt(3) with a leading '+', one option at a time, so the caller can look at argv between calls. */
class OptionScanner {
  optind = 0;
  private inWord = 0;

  constructor(readonly argv: string[]) {}

  /** At a word boundary: the word getopt would look at next. */
  get current(): string | undefined {
    return this.inWord === 0 ? this.argv[this.optind] : undefined;
  }

  next(): { opt: string; arg?: string } | null {
    if (this.inWord === 0) {
      const word = this.argv[this.optind];
      if (word === undefined || word.length < 2 || word[0] !== '-') return null;
      if (word === '--') {
        this.optind++;
        return null;
      }
      this.inWord = 1;
    }
    const word = this.argv[this.optind]!;
    const c = word[this.inWord++]!;
    const endOfWord = () => {
      if (this.inWord >= word.length) {
        this.inWord = 0;
        this.optind++;
      }
    };
    const at = c === ':' ? -1 : GETOPT_LIST.indexOf(c);
    if (at < 0) {
      process.stderr.write(`${getProgName()}: invalid option -- '${c}'\n`);
      endOfWord();
      return { opt: '?' };
    }
    if (GETOPT_LIST[at + 1] !== ':') {
      endOfWord();
      return { opt: c };
    }
    let arg: string | undefined;
    if (this.inWord < word.length) arg = word.slice(this.inWord);
    this.inWord = 0;
    this.optind++;
    if (arg === undefined) {
      arg = this.argv[this.optind];
      if (arg === undefined) {
        process.stderr.write(`${getProgName()}: option requires an argument -- '${c}'\n`);
        return { opt: '?' };
      }
      this.optind++;
    }
    return { opt: c, arg };
  }
}

/** Command-line text as bytes (latin1), as a C program sees argv. */
const bytes = (s: string): string => Buffer.from(s, 'utf8').toString('latin1');
const allPrint = (s: string): boolean => /^[\x20-\x7e]*$/.test(s);

interface Options {
  mode: Mode;
  verbose: number;
  flags: { aeof: boolean; xrcpt: boolean; trace: number };
  fullName: string | null;
  sender: string | null;
  encoding: string | null;
  rewriteContext: string;
  dsnNotify: number;
  dsnRet: number;
  dsnEnvid: string | null;
  verpDelims: string | null;
  siteToFlush: string | null;
  idToFlush: string | null;
  qtime: string | null;
  aliasMapFromArgs: string | null;
  operands: string[];
}

/** The pre-scan: only -C matters, and it must be known before main.cf is read. */
function prescanConfigDir(argv: string[]): void {
  const scan = new OptionScanner(argv);
  for (;;) {
    if (scan.current === '-q') {
      scan.optind++;
      continue;
    }
    const o = scan.next();
    if (o === null) break;
    if (o.opt === 'C') {
      const dir = path.basename(o.arg!) === 'main.cf' ? path.dirname(o.arg!) : o.arg!;
      process.env[CONF_ENV_PATH] = dir;
    }
  }
}

function parseOptions(argv: string[], verpDefault: string, verpFilter: string, invokedAs: string): Options {
  const o: Options = {
    mode: invokedAs === 'mailq' ? Mode.Mailq : invokedAs === 'newaliases' ? Mode.NewAlias : invokedAs === 'smtpd' ? Mode.Daemon : Mode.Enqueue,
    verbose: 0,
    flags: { aeof: true, xrcpt: false, trace: 0 },
    fullName: null, sender: null, encoding: null, rewriteContext: 'local', dsnNotify: 0, dsnRet: 0, dsnEnvid: null,
    verpDelims: null, siteToFlush: null, idToFlush: null, qtime: null, aliasMapFromArgs: null, operands: [],
  };
  const scan = new OptionScanner(argv);
  const info = (text: string) => {
    if (o.verbose) msgInfo(text);
  };
  for (;;) {
    const word = scan.current;
    if (word === '-q') {
      if (o.mode === Mode.Daemon) msgWarn('ignoring -q option in daemon mode');
      else o.mode = Mode.FlushQ;
      scan.optind++;
      continue;
    }
    if (word === '-V' && argv[scan.optind + 1] !== undefined && argv[scan.optind + 1]!.length === 2) {
      msgWarn('option -V is deprecated with Postfix 2.3; specify -XV instead');
      argv[scan.optind] = '-XV';
    }
    const w = argv[scan.optind];
    if (scan.current !== undefined && w !== undefined && w.startsWith('-V') && w.length === 4) {
      msgWarn(`option ${w} is deprecated with Postfix 2.3; specify -X${w.slice(1)} instead`);
      argv[scan.optind] = `-X${w.slice(1)}`;
    }
    if (scan.current === '-XV') {
      o.verpDelims = verpDefault;
      scan.optind++;
      continue;
    }
    const opt = scan.next();
    if (opt === null) break;
    const arg = opt.arg ?? '';
    switch (opt.opt) {
      default:
        info(`-${opt.opt} option ignored`);
        break;
      case 'n':
        fatal(`-${opt.opt} option not supported`);
      // falls through (fatal does not return)
      case 'B':
        if (arg === '8BITMIME') o.encoding = '8bit';
        else if (arg === '7BIT') o.encoding = '7bit';
        else fatal('-B option needs 8BITMIME or 7BIT');
        break;
      case 'F':
        o.fullName = bytes(arg);
        break;
      case 'G':
        o.rewriteContext = 'remote';
        break;
      case 'I':
        o.mode = Mode.NewAlias;
        break;
      case 'N':
        if ((o.dsnNotify = dsnNotifyMask(arg, msgWarn)) === 0) msgWarn('bad -N option value -- ignored');
        break;
      case 'R':
        if ((o.dsnRet = dsnRetCode(arg)) === 0) msgWarn('bad -R option value -- ignored');
        break;
      case 'V':
        if (bytes(arg).length > 100) msgWarn('too long -V option value -- ignored');
        else if (!allPrint(arg)) msgWarn('bad syntax in -V option value -- ignored');
        else o.dsnEnvid = arg;
        break;
      case 'X':
        if (arg[0] !== 'V') fatal(`unsupported: -${opt.opt}${arg[0] ?? ''}`);
        if (!verpDelimsOk(arg.slice(1), verpFilter)) fatal(`-V requires two characters from ${verpFilter}`);
        o.verpDelims = arg.slice(1);
        break;
      case 'b':
        switch (arg[0]) {
          case 'd':
          case 'l':
            if (o.mode === Mode.FlushQ) msgWarn('ignoring -q option in daemon mode');
            o.mode = Mode.Daemon;
            break;
          case 'h':
          case 'H':
            o.mode = Mode.Ignore;
            break;
          case 'i':
            o.mode = Mode.NewAlias;
            break;
          case 'm':
            o.mode = Mode.Enqueue;
            break;
          case 'p':
            o.mode = Mode.Mailq;
            break;
          case 's':
            o.mode = Mode.User;
            break;
          case 'v':
            o.flags.trace |= DEL_REQ_FLAG_USR_VRFY;
            break;
          default:
            fatal(`unsupported: -${opt.opt}${arg[0] ?? ''}`);
        }
        break;
      case 'f':
      case 'r':
        o.sender = bytes(arg);
        break;
      case 'i':
        o.flags.aeof = false;
        break;
      case 'o':
        switch (arg[0]) {
          case 'A':
            if (arg.length === 1) fatal('-oA requires pathname');
            o.aliasMapFromArgs = arg.slice(1);
            break;
          case '7':
          case '8':
          case 'm':
            break;
          case 'i':
            o.flags.aeof = false;
            break;
          default:
            info(`-${opt.opt}${arg[0] ?? ''} option ignored`);
        }
        break;
      case 'q':
        if (/^[0-9]/.test(arg)) o.qtime = arg;
        else if (arg[0] === 'R') {
          o.siteToFlush = arg.slice(1);
          if (o.siteToFlush === '') fatal('specify: -qRsitename');
        } else if (arg[0] === 'I') {
          o.idToFlush = arg.slice(1);
          if (o.idToFlush === '') fatal('specify: -qIqueueid');
        } else fatal(`-q${arg[0] ?? ''} is not implemented`);
        break;
      case 't':
        o.flags.xrcpt = true;
        break;
      case 'v':
        o.verbose++;
        break;
      case '?':
        fatal(`usage: ${getProgName()} [options]`);
    }
  }
  o.operands = argv.slice(scan.optind);
  return o;
}

/** verp_delims_verify(): two characters, both from verp_delimiter_filter. */
function verpDelimsOk(delims: string, filter: string): boolean {
  return delims.length === 2 && filter.includes(delims[0]!) && filter.includes(delims[1]!);
}

function checkConflicts(o: Options): void {
  if (o.flags.xrcpt && o.mode !== Mode.Enqueue) fatal('-t can be used only in delivery mode');
  if (o.siteToFlush !== null && o.mode !== Mode.Enqueue) fatal('-qR can be used only in delivery mode');
  if (o.idToFlush !== null && o.mode !== Mode.Enqueue) fatal('-qI can be used only in delivery mode');
  if (o.flags.trace & DEL_REQ_FLAG_USR_VRFY) {
    if (o.flags.xrcpt) fatal('-t option cannot be used with -bv');
    if (o.dsnNotify) fatal('-N option cannot be used with -bv');
    if (o.dsnRet) fatal('-R option cannot be used with -bv');
    if (o.verbose === 1) fatal('-v option cannot be used with -bv');
  }
  if (o.verbose === 1 && o.mode === Mode.Enqueue) {
    o.verbose = 0;
    o.flags.trace |= DEL_REQ_FLAG_RECORD;
  }
}

/** Where this project's other commands are: beside this one. */
function commandPath(name: string): string {
  return path.join(path.dirname(process.argv[1] ?? '.'), name);
}

/**
 * mail_run_replace(): the other command takes over; its exit status is
 * ours. A command this project does not have yet is a clear fatal error.
 * The queue listing falls back on this project's mailq.
 */
function runReplace(args: string[]): number {
  let cmd = commandPath(args[0]!);
  if (!fs.existsSync(cmd) && args[0] === 'postqueue' && args[1] === '-p' && fs.existsSync(commandPath('mailq'))) {
    cmd = commandPath('mailq');
    args = ['mailq', ...args.slice(2)];
  }
  if (!fs.existsSync(cmd)) fatal(`${args.join(' ')}: the ${args[0]} command is not available in this installation (looked for ${cmd})`);
  const r = spawnSync(cmd, args.slice(1), { stdio: 'inherit' });
  if (r.error) fatal(`execvp ${cmd}: ${r.error.message}`);
  return r.status ?? EX_TEMPFAIL;
}

function verboseArgs(n: number): string[] {
  return Array.from({ length: n }, () => '-v');
}

async function sendmailMain(argv: string[]): Promise<number> {
  // The mode follows the name the command was called by (mailq, newaliases), as argv[0] in Postfix.
  if (!process.env.POSTFIX_TS_ARGV0 && process.argv[1]) setProgName(path.basename(process.argv[1]));
  const invokedAs = getProgName();
  prescanConfigDir([...argv]);
  const config = loadConfigOr(fatal);
  const queueDir = config.get('queue_directory');
  try {
    if (!fs.statSync(queueDir).isDirectory()) fatal(`chdir ${queueDir}: Not a directory`);
  } catch (e) {
    if (e instanceof FatalExit) throw e;
    fatal(`chdir ${queueDir}: No such file or directory`);
  }
  const o = parseOptions([...argv], config.get('default_verp_delimiters'), config.get('verp_delimiter_filter'), invokedAs);
  checkConflicts(o);
  if (o.qtime !== null && o.mode !== Mode.Daemon) return 0;
  const rest = o.operands;
  switch (o.mode) {
    case Mode.Enqueue:
      if (o.siteToFlush !== null) {
        if (rest.length) fatal('flush site requires no recipient');
        return runReplace(['postqueue', '-s', o.siteToFlush, ...verboseArgs(o.verbose)]);
      }
      if (o.idToFlush !== null) {
        if (rest.length) fatal('flush queue_id requires no recipient');
        return runReplace(['postqueue', '-i', o.idToFlush, ...verboseArgs(o.verbose)]);
      }
      return enqueue(config, o);
    case Mode.Mailq:
      if (rest.length) fatal('display queue mode requires no recipient');
      return runReplace(['postqueue', '-p', ...verboseArgs(o.verbose)]);
    case Mode.FlushQ:
      if (rest.length) fatal('flush queue mode requires no recipient');
      return runReplace(['postqueue', '-f', ...verboseArgs(o.verbose)]);
    case Mode.Daemon: {
      if (rest.length) fatal('daemon mode requires no recipient');
      const cmd = commandPath('postfix');
      const child = spawn(cmd, [...verboseArgs(o.verbose), 'start'], { detached: true, stdio: 'ignore' });
      child.unref();
      return 0;
    }
    case Mode.NewAlias: {
      if (rest.length) fatal('alias initialization mode requires no recipient');
      const maps = o.aliasMapFromArgs !== null ? [o.aliasMapFromArgs] : config.get('alias_database').split(/[, \t\r\n]+/).filter((w) => w !== '');
      if (maps.length === 0) return 0;
      return runReplace(['postalias', ...verboseArgs(o.verbose), '--', ...maps]);
    }
    case Mode.User: {
      if (rest.length) fatal('stand-alone mode requires no recipient');
      const uid = process.getuid?.() ?? 0;
      const refused = await checkUserAclByUid('authorized_submit_users', config.get('authorized_submit_users'), uid);
      if (refused !== null) fatal(`User ${refused}(${uid}) is not allowed to submit mail`);
      // Postfix passes -v on to smtpd -S, whose verbose logging this smtpd does not have.
      if (o.verbose) fatal('verbose logging (-v) is not available with stand-alone mode (-bs) in this Postfix replacement');
      // Loaded only here: smtpd's modules are not for the plain submission's start-up.
      const { runStandAloneSmtpd } = await import('../master/standalone-smtpd.js');
      return runStandAloneSmtpd({
        configDir: config.configDir,
        input: process.stdin,
        outFd: 1,
        stderr: (t) => process.stderr.write(t),
      });
    }
    // falls through (fatal does not return)
    case Mode.Ignore:
      return 0;
  }
}

/** postdrop's messages, as the postdrop process would print them. */
const postdropLog: MsgLog = {
  info: (t) => process.stderr.write(`postdrop: ${printable(t)}\n`),
  warning: (t) => process.stderr.write(`postdrop: warning: ${printable(t)}\n`),
  error: (t) => process.stderr.write(`postdrop: error: ${printable(t)}\n`),
};

async function enqueue(config: Config, o: Options): Promise<number> {
  const uid = process.getuid?.() ?? 0;
  const refused = await checkUserAclByUid('authorized_submit_users', config.get('authorized_submit_users'), uid);
  if (refused !== null) fatal(`User ${refused}(${uid}) is not allowed to submit mail`);
  const pw = getpwuid(uid);
  const traceOnly = (o.flags.trace & DEL_REQ_FLAG_USR_VRFY) !== 0;
  const input = traceOnly ? Buffer.alloc(0) : readStdin();
  const built = await buildSubmission({
    archaicEof: o.flags.aeof,
    extractRecipients: o.flags.xrcpt,
    traceFlags: o.flags.trace,
    encoding: o.encoding,
    dsnEnvid: o.dsnEnvid,
    dsnRet: o.dsnRet,
    dsnNotify: o.dsnNotify,
    rewriteContext: o.rewriteContext,
    sender: o.sender,
    loginName: pw?.name ?? null,
    fullName: o.fullName ?? fullName(pw),
    recipients: o.operands.map(bytes),
    verpDelims: o.verpDelims,
    uid,
    input,
    lineLimit: config.getInt('line_length_limit'),
    headerLimit: config.getInt('header_size_limit'),
    mimeBoundLimit: config.getInt('mime_boundary_length_limit'),
    mimeNestingLimit: config.getInt('mime_nesting_limit'),
    fixEol: config.get('sendmail_fix_line_endings'),
    warn: msgWarn,
  });
  if (!built.ok) fatal(built.text);
  const layout = layoutFromConfig(config);
  if ('error' in layout) fatal(layout.error);
  const who = `${built.sender}(${uid})`;
  const result = await writeMaildrop(new MemoryInput(built.records, 'stdin', false), {
    queueDir: config.get('queue_directory'),
    layout,
    longIds: config.getBool('enable_long_queue_ids'),
    uid,
    lineLimit: config.getInt('line_length_limit'),
    log: postdropLog,
    pickupService: config.get('pickup_service_name'),
    triggerTimeoutMs: config.getTime('trigger_timeout', 's') * 1000,
    messageSizeLimit: config.getInt('message_size_limit'),
  });
  if (result.kind === 'fatal') {
    postdropLog.warning(result.text);
    fatal(`${who}: ${cleanupStatDetail(1 << 1)!.text}`);
  }
  if (result.kind === 'canceled') fatal(`${who}: ${cleanupStatDetail(1 << 1)!.text}`);
  if (result.status !== 0) fatal(`${who}: ${result.reason || (cleanupStatDetail(result.status)?.text ?? 'unknown cleanup error')}`);
  if (o.flags.trace) {
    process.stdout.write(`Mail Delivery Status Report will be mailed to <${built.sender}>.\n`);
  }
  return 0;
}

function readStdin(): Buffer {
  try {
    return fs.readFileSync(0);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'EAGAIN' || err.code === 'EISDIR' || err.code === 'EBADF') return Buffer.alloc(0);
    fatal(`error reading input: ${err.message}`);
  }
}

void runMain('sendmail', sendmailMain);
