// Mirrors Postfix's postqueue/postqueue.c, the body of postqueue and mailq:
// -p and -j list the queue (read here directly, in showq's order and with
// showq's content, see ./queue-showq.ts), -f wakes qmgr and pickup, -s and
// -i ask the flush service. When the daemon is down, the messages and exit
// statuses are Postfix's: root still gets the listing after a warning,
// others are refused, and a flush says the mail system is down. Every fatal
// error exits with EX_UNAVAILABLE (Postfix's msg_cleanup handler).
import { writeAllStdout } from '../util/output.js';
import { loadConfigOr } from './load-config.js';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { Config, ConfigError, CONF_ENV_PATH } from '../config/config.js';
import { layoutFromConfig } from '../queue/layout.js';
import { mailQueueIdOk } from '../queue/queue-id.js';
import { validHostname, validMailhostLiteral } from '../address/resolve-local.js';
import { Getopt } from '../util/getopt.js';
import { msgFatal, msgWarn, setVerbose } from '../util/msg.js';
import { TRIGGER_REQ } from '../master/program.js';
import { MATCH_FLAG_NONE, type MatchResult, MatchList } from '../address/match-list.js';
import { lookupUid, lookupUser } from '../master/users.js';
import { CompatListing, jsonLine, showqScan } from './queue-showq.js';
import { errText, mailTrigger } from './queue-trigger.js';
import { FLUSH_STAT_BAD, FLUSH_STAT_DENY, FLUSH_STAT_FAIL, FLUSH_STAT_OK, FlushClient } from '../queue/flush-client.js';

const EX_UNAVAILABLE = 69;
const USAGE = 'usage: postqueue -f | postqueue -i queueid | postqueue -j | postqueue -p | postqueue -s site';

type Mode = 'default' | 'flush' | 'file' | 'json' | 'list' | 'site';

function fatal(text: string): never {
  msgFatal(text, EX_UNAVAILABLE);
}

/** Standard output for byte strings: one write at the end, or per message batch. */
class ByteOut {
  private parts: string[] = [];
  private size = 0;
  write = (s: string): void => {
    this.parts.push(s);
    this.size += s.length;
    // Small batches: parts held longer would survive into the old generation.
    if (this.size > 1 << 16) this.flush();
  };
  flush(): void {
    if (this.parts.length === 0) return;
    const data = Buffer.from(this.parts.join(''), 'latin1');
    this.parts = [];
    this.size = 0;
    writeAllStdout(data);
  }
}

/** Can the showq endpoint be reached? null when yes, else the connect error. */
function probeShowq(path: string): Promise<NodeJS.ErrnoException | null> {
  return new Promise((resolve) => {
    const sock = net.connect({ path });
    sock.on('connect', () => {
      sock.destroy();
      resolve(null);
    });
    sock.on('error', (e) => {
      sock.destroy();
      resolve(e as NodeJS.ErrnoException);
    });
  });
}

async function showQueue(config: Config, queueDir: string, json: boolean): Promise<void> {
  await checkUserAcl(config, 'authorized_mailq_users', 'view the mail queue');
  const service = config.get('showq_service_name');
  const err = await probeShowq(`${queueDir}/public/${service}`);
  const mailName = config.get('mail_name');
  if (err) {
    if (err.code === 'EACCES' || err.code === 'EPERM') fatal(`Connect to the ${mailName} ${service} service: ${errText(err)}`);
    if (process.geteuid?.() !== 0) {
      fatal(`Queue report unavailable - mail system is down (Connect to the ${mailName} ${service} service: ${errText(err)})`);
    }
    msgWarn(`Mail system is down -- accessing queue directly (Connect to the ${mailName} ${service} service: ${errText(err)})`);
  }
  const layout = layoutFromConfig(config);
  if ('error' in layout) fatal(layout.error);
  const utf8 = config.getBool('smtputf8_enable');
  const out = new ByteOut();
  const scan = showqScan({
    queueDir, layout, utf8,
    emptyAddress: config.get('empty_address_recipient'),
    dupFilterLimit: Number(config.get('duplicate_filter_limit')) || 0,
    warn: (t) => msgWarn(t),
  });
  if (json) {
    for (const m of scan) out.write(jsonLine(m, utf8));
  } else {
    const listing = new CompatListing(config.getBool('enable_long_queue_ids'), out.write);
    for (const m of scan) listing.add(m);
    listing.finish();
  }
  out.flush();
}

async function flushQueue(config: Config, queueDir: string): Promise<void> {
  await checkUserAcl(config, 'authorized_flush_users', 'flush the mail queue');
  const req = TRIGGER_REQ.FLUSH_DEAD + TRIGGER_REQ.SCAN_ALL + TRIGGER_REQ.SCAN_DEFERRED + TRIGGER_REQ.SCAN_INCOMING;
  if (!(await mailTrigger(queueDir, 'public', config.get('queue_service_name'), req, msgWarn))) fatal('Cannot flush mail queue - mail system is down');
  if (!(await mailTrigger(queueDir, 'public', config.get('pickup_service_name'), TRIGGER_REQ.WAKEUP, msgWarn))) {
    fatal('Cannot flush mail queue - mail system is down');
  }
}

/** flush_init(): the client with fast_flush_domains; a bad list is fatal. */
async function flushClient(config: Config): Promise<FlushClient> {
  try {
    return await FlushClient.fromConfig(config, msgWarn);
  } catch (e) {
    if (e instanceof ConfigError) fatal(e.message);
    throw e;
  }
}

/**
 * check_user_acl_byuid(): root and mail_owner may always; others must be
 * in the list (by login name, "unknown" without a passwd entry).
 */
async function checkUserAcl(config: Config, param: string, what: string): Promise<void> {
  const uid = process.getuid?.() ?? 0;
  if (uid === 0 || uid === lookupUser(config.get('mail_owner'))?.uid) return;
  const acl = config.get(param);
  if (acl.startsWith('static:')) return;
  const name = lookupUid(uid)?.name ?? 'unknown';
  let matched: MatchResult;
  try {
    matched = await (await MatchList.stringList(param, MATCH_FLAG_NONE, acl)).match(name);
  } catch (e) {
    if (e instanceof ConfigError) fatal(e.message);
    throw e;
  }
  if (matched !== 'match') fatal(`User ${name}(${uid}) is not allowed to ${what}`);
}

async function flushSite(config: Config, site: string): Promise<never> {
  await checkUserAcl(config, 'authorized_flush_users', 'flush the mail queue');
  const status = await (await flushClient(config)).sendSite(site);
  switch (status) {
    case FLUSH_STAT_OK: throw new FlushDone();
    case FLUSH_STAT_BAD: fatal(`Invalid request: "${site}"`);
    case FLUSH_STAT_FAIL: fatal('Cannot flush mail queue - mail system is down');
    case FLUSH_STAT_DENY: fatal(`Flush service is not configured for destination "${site}"`);
    default: fatal(`Unknown flush server reply status ${status}`);
  }
}

async function flushFile(config: Config, id: string): Promise<never> {
  await checkUserAcl(config, 'authorized_flush_users', 'flush the mail queue');
  const status = await (await flushClient(config)).sendFile(id);
  switch (status) {
    case FLUSH_STAT_OK: throw new FlushDone();
    case FLUSH_STAT_BAD: fatal(`Invalid request: "${id}"`);
    case FLUSH_STAT_FAIL: fatal('Cannot flush mail queue - mail system is down');
    default: fatal(`Unexpected flush server reply status ${status}`);
  }
}

class FlushDone extends Error {}

const cut100 = (s: string) => `${s.slice(0, 100)}${s.length > 100 ? '...' : ''}`;

/** postqueue's main(); mailq calls it with ["-p"]. */
export async function postqueueMain(argv: string[]): Promise<number> {
  let mode = 'default' as Mode;
  let site = '';
  let id = '';
  let verbose = 0;
  const usage = () => fatal(USAGE);
  const set = (m: Mode) => {
    if (mode !== 'default') usage();
    mode = m;
  };
  const getopt = new Getopt(argv, 'c:fi:jps:v');
  for (const { opt, arg } of getopt) {
    switch (opt) {
      case 'c': process.env[CONF_ENV_PATH] = arg!; break;
      case 'f': set('flush'); break;
      case 'i': set('file'); id = arg!; break;
      case 'j': set('json'); break;
      case 'p': set('list'); break;
      case 's': set('site'); site = arg!; break;
      case 'v': if (process.geteuid?.() === 0) verbose++; break;
      default: usage();
    }
  }
  if (argv.length > getopt.optind) usage();
  setVerbose(verbose);
  const config = loadConfigOr(fatal);
  const queueDir = config.get('queue_directory');
  try {
    fs.accessSync(queueDir, fs.constants.X_OK);
    if (!fs.statSync(queueDir).isDirectory()) throw Object.assign(new Error(), { code: 'ENOTDIR' });
  } catch (e) {
    fatal(`chdir ${queueDir}: ${errText(e)}`);
  }
  if (mode === 'site') {
    const bad = site.startsWith('[') ? !validMailhostLiteral(site) : !validHostname(site);
    if (bad) msgFatal(`Cannot flush mail queue - invalid destination: "${cut100(site)}"`, EX_UNAVAILABLE);
  }
  if (mode === 'file' && !mailQueueIdOk(id)) fatal(`Cannot flush queue ID - invalid name: "${cut100(id)}"`);
  try {
    switch (mode) {
      case 'list': case 'json': await showQueue(config, queueDir, mode === 'json'); break;
      case 'site': await flushSite(config, site); break;
      case 'file': await flushFile(config, id); break;
      case 'flush': await flushQueue(config, queueDir); break;
      default: usage();
    }
  } catch (e) {
    if (!(e instanceof FlushDone)) throw e;
  }
  return 0;
}
