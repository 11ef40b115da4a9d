// The harness of the local(8) tests (test/delivery/local-agent*.test.ts):
// a temporary spool and configuration, this project's cleanup service to
// queue messages as smtpd would, the local agent built by localAgent(), the
// request qmgr would send for a queued message, throw-away Unix users
// (useradd; removed afterwards, and at the next start when a run was
// killed), and the normalisation of log lines and mailboxes to the forms of
// fixtures/delivery/*/expected. Alias tables are texthash (postmap format:
// "name value").
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as net from 'node:net';
import * as path from 'node:path';
import { Config } from '../../src/config/config.js';
import { AddressResolver } from '../../src/address/resolve.js';
import { TableCache } from '../../src/address/maps.js';
import { createCleanupService, type CleanupServiceHandle } from '../../src/cleanup/service.js';
import { CLEANUP_FLAG_MAP_OK } from '../../src/cleanup/api.js';
import { createLogger, memorySink } from '../../src/log/logger.js';
import { readQueueFile, attributeValue } from '../../src/queue/reader.js';
import { agentOptions, statusContext } from '../../src/delivery/agent.js';
import { NO_TIME, encodeRequest, type DeliveryReply, type DeliveryRequest } from '../../src/delivery/api.js';
import { type LocalAgent, localAgent } from '../../src/delivery/local/local.js';
import { tempDir } from '../lib/tmp.js';

export const isRoot = process.geteuid?.() === 0;
const QUEUES = ['incoming', 'active', 'deferred', 'hold', 'corrupt', 'defer', 'bounce', 'trace', 'maildrop', 'saved'];
export const COMMENT = 'postfix-ts local-agent test';

export interface User { name: string; uid: number; gid: number; home: string }

/** Throw-away accounts, removed in after(); ones a killed run left behind are removed at the next start. */
export class Users {
  readonly made: User[] = [];

  constructor() {
    for (const entry of fs.readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const f = entry.split(':');
      if (f[4] !== COMMENT || f[0] === undefined) continue;
      if (fs.existsSync(f[5] ?? '')) continue; // a run in progress
      this.made.push({ name: f[0], uid: 0, gid: 0, home: '' });
    }
    this.removeAll();
  }

  add(name: string, home: string): User {
    try {
      execFileSync('userdel', [name], { stdio: 'ignore' });
    } catch {
      // not there
    }
    // The home exists before the user does: another test file's constructor
    // removes users of this comment whose home is missing (left by a killed run).
    fs.mkdirSync(home, { recursive: true, mode: 0o755 });
    execFileSync('useradd', ['-M', '-U', '-d', home, '-s', '/bin/sh', '-c', COMMENT, name]);
    const uid = Number(execFileSync('id', ['-u', name]).toString().trim());
    const gid = Number(execFileSync('id', ['-g', name]).toString().trim());
    fs.chownSync(home, uid, gid);
    const u = { name, uid, gid, home };
    this.made.push(u);
    return u;
  }

  removeAll(): void {
    for (const u of this.made.splice(0)) {
      try {
        execFileSync('userdel', [u.name], { stdio: 'ignore' });
      } catch {
        // gone
      }
      try {
        execFileSync('groupdel', [u.name], { stdio: 'ignore' });
      } catch {
        // gone with the user
      }
    }
  }
}

/** A spool, a configuration, the cleanup service and the agent. */
export class Harness {
  readonly spool: string;
  readonly conf: string;
  readonly lines: string[] = [];
  config!: Config;
  cleanup!: CleanupServiceHandle;
  resolver!: AddressResolver;
  agent!: LocalAgent;
  passed: DeliveryRequest[] = [];
  passReply: DeliveryReply | null = null;

  constructor(readonly root: string, private readonly settings: Record<string, string>) {
    this.spool = path.join(root, 'spool');
    this.conf = path.join(root, 'conf');
  }

  async start(): Promise<void> {
    for (const q of QUEUES) fs.mkdirSync(path.join(this.spool, q), { recursive: true, mode: 0o700 });
    fs.mkdirSync(this.conf, { recursive: true });
    const main: Record<string, string> = {
      compatibility_level: '3.6',
      myhostname: 'host.example.com',
      mydomain: 'example.com',
      myorigin: '$myhostname',
      mydestination: '$myhostname, localhost.$mydomain, localhost, $mydomain',
      inet_interfaces: '127.0.0.1',
      inet_protocols: 'ipv4',
      biff: 'no',
      default_transport: 'error:5.7.1 mail for other domains does not leave the fixture',
      relay_transport: '$default_transport',
      alias_maps: `texthash:${this.conf}/aliases`,
      mail_spool_directory: `${this.root}/mail`,
      queue_directory: this.spool,
      mailbox_delivery_lock: 'dotlock',
      ...this.settings,
    };
    fs.writeFileSync(path.join(this.conf, 'main.cf'), Object.entries(main).map(([k, v]) => `${k} = ${v}\n`).join(''));
    if (!fs.existsSync(path.join(this.conf, 'aliases'))) fs.writeFileSync(path.join(this.conf, 'aliases'), '');
    this.config = Config.load(this.conf);
    const sink = memorySink(this.lines);
    const localLog = createLogger(sink, 'postfix/local', 1);
    const cleanupLog = createLogger(sink, 'postfix/cleanup', 1);
    this.resolver = new AddressResolver(this.config, { cache: new TableCache(localLog), log: localLog });
    const cleanupResolver = new AddressResolver(this.config, { cache: new TableCache(cleanupLog), log: cleanupLog });
    this.cleanup = createCleanupService({ config: this.config, resolver: cleanupResolver, logger: cleanupLog, queueDir: this.spool });
    await this.cleanup.ready;
    this.agent = await localAgent({
      config: this.config, log: localLog, cleanup: this.cleanup, resolver: this.resolver,
      pass: async (_transport, _nexthop, req) => {
        this.passed.push(req);
        return this.passReply;
      },
    });
  }

  async stop(): Promise<void> {
    await this.agent.close();
    await this.cleanup.close();
    await this.resolver.close();
  }

  /** A message queued as smtpd would queue it; its queue ID. */
  async inject(sender: string, rcpts: string[], text: string, extra: Array<[string, string]> = [], received?: (id: string) => string[]): Promise<string> {
    const s = await this.cleanup.open(CLEANUP_FLAG_MAP_OK);
    const now = Date.now();
    s.record('T', `${Math.floor(now / 1000)} ${(now % 1000) * 1000}`);
    s.record('A', 'rewrite_context=local');
    s.record('S', sender);
    s.record('A', 'log_client_name=localhost');
    s.record('A', 'log_client_address=127.0.0.1');
    s.record('A', 'log_helo_name=client.example.com');
    s.record('A', 'log_protocol_name=ESMTP');
    for (const [t, d] of extra) s.record(t, d);
    for (const r of rcpts) s.record('R', r);
    s.record('M', '');
    const head = received?.(s.queueId) ?? ['Received: from client.example.com (localhost [127.0.0.1])', `\tby host.example.com (Postfix) with ESMTP id ${s.queueId}`];
    for (const l of head) s.record('N', l);
    for (const line of text.replace(/\n$/, '').split('\n')) s.record('N', line);
    s.record('X', '');
    s.record('E', '');
    const r = await s.finish();
    assert.equal(r.status, 0, `cleanup: ${r.reason} ${this.lines.join("\n")}`);
    return s.queueId;
  }

  /** The request qmgr would send for the pending recipients of a queued message. */
  async request(id: string): Promise<DeliveryRequest> {
    const file = path.join(this.spool, 'incoming', id);
    const r = await readQueueFile(file);
    assert.ok(r.ok, r.ok ? '' : r.error);
    const f = r.file;
    return {
      flags: 3, queueName: 'incoming', queueId: id, dataOffset: f.contentOffset, dataSize: f.size?.contentSize ?? 0,
      nexthop: 'host.example.com', encoding: '', smtputf8: 0, sender: f.sender ?? '',
      stats: { incomingArrival: { sec: f.arrival?.sec ?? 0, usec: 0 }, activeArrival: NO_TIME, agentHandoff: NO_TIME, connSetupDone: NO_TIME, deliverDone: NO_TIME, reuseCount: 0 },
      recipients: f.recipients.filter((x) => x.status === 'pending').map((x) => ({
        address: x.address, orcpt: x.orcpt ?? '', dsnOrcpt: x.dsnOrcpt ?? '', notify: x.notify, offset: x.offset,
      })),
      clientName: attributeValue(f, 'log_client_name') ?? '', clientAddr: attributeValue(f, 'log_client_address') ?? '',
      clientPort: '', clientProto: attributeValue(f, 'log_protocol_name') ?? '', clientHelo: attributeValue(f, 'log_helo_name') ?? '',
      saslMethod: '', saslUsername: '', saslSender: '', logIdent: id, rewriteContext: 'local', dsnEnvid: f.dsnEnvid ?? '', dsnRet: f.dsnRet,
    };
  }

  /** Delivers the pending recipients of a queued message; the reply. */
  async deliver(id: string): Promise<DeliveryReply> {
    const request = await this.request(id);
    const fh = await fsp.open(path.join(this.spool, 'incoming', id), 'r+');
    try {
      const log = createLogger(memorySink(this.lines), 'postfix/local', 1);
      const opts = agentOptions(this.config, log);
      return await this.agent.handle({ request, status: statusContext(opts, request, fh), fh, log });
    } finally {
      await fh.close();
    }
  }

  /** Delivers the recipients of a queued message that resolve to the local transport (as qmgr would hand them over). */
  async deliverLocal(id: string): Promise<DeliveryReply | null> {
    const request = await this.request(id);
    const local = [];
    for (const r of request.recipients) if ((await this.resolver.resolve(r.address)).transport === 'local') local.push(r);
    if (local.length === 0) return null;
    const fh = await fsp.open(path.join(this.spool, 'incoming', id), 'r+');
    try {
      const log = createLogger(memorySink(this.lines), 'postfix/local', 1);
      const opts = agentOptions(this.config, log);
      const req = { ...request, recipients: local };
      return await this.agent.handle({ request: req, status: statusContext(opts, req, fh), fh, log });
    } finally {
      await fh.close();
    }
  }

  /** Log lines since mark, with times, pids and queue IDs normalised. */
  log(mark = 0, ids: string[] = []): string[] {
    return this.lines.slice(mark).map((l) => {
      let t = l.replace(/delay=[0-9.]+, delays=[0-9.]+\/[0-9.]+\/[0-9.]+\/[0-9.]+/, 'delay=@D@, delays=@D@/@D@/@D@/@D@').replace(/\[1\]/, '[@PID@]');
      ids.forEach((id, i) => (t = t.split(id).join(`@QID${i + 1}@`)));
      return t.split(this.root).join('@ROOT@');
    }).filter((l) => !l.includes('message-id=<'));
  }

  /** The newest queue files in incoming/ other than these. */
  newIds(known: string[]): string[] {
    return fs.readdirSync(path.join(this.spool, 'incoming')).filter((n) => !known.includes(n));
  }

  /** Whether the recipient record at this index is marked done. */
  async doneMarks(id: string): Promise<string[]> {
    const r = await readQueueFile(path.join(this.spool, 'incoming', id));
    return r.file.recipients.map((x) => `${x.address}:${x.status}`);
  }
}

/** Mailbox text with the From_ line's date and the headers' dates and IDs normalised. */
export function normMbox(text: string, root: string, ids: string[] = []): string {
  let t = text.replace(/^(From \S+ {2}).*$/gm, '$1@CTIME@').replace(/; (Mon|Tue|Wed|Thu|Fri|Sat|Sun), .*$/gm, '; @DATE@')
    .replace(/^Date: .*$/gm, 'Date: @DATE@').replace(/<[0-9]+\.([0-9A-Za-z]+)@host.example.com>/g, '<@STAMP@.$1@host.example.com>');
  ids.forEach((id, i) => (t = t.split(id).join(`@QID${i + 1}@`)));
  return t.split(root).join('@ROOT@');
}

/** A temporary root (0755, real path) with these subdirectories open to all (1777, as /tmp). */
export function makeRoot(prefix: string, open: string[]): string {
  const root = fs.realpathSync(tempDir(prefix));
  fs.chmodSync(root, 0o755);
  for (const d of open) {
    fs.mkdirSync(path.join(root, d), { recursive: true });
    fs.chmodSync(path.join(root, d), 0o1777);
  }
  return root;
}

/** One request line written to an agent's socket; the reply line. */
export function requestOverSocket(sockPath: string, request: DeliveryRequest): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const c = net.createConnection(sockPath, () => c.write(`${encodeRequest(request)}\n`));
    let buf = '';
    c.setEncoding('utf8');
    c.on('data', (d: string) => {
      buf += d;
      if (buf.includes('\n')) {
        c.end();
        resolve(buf.slice(0, buf.indexOf('\n')));
      }
    });
    c.on('error', reject);
  });
}

export const MSG = (to: string, subject: string) => `From: Sender <pfsender@host.example.com>\nTo: ${to}\nSubject: ${subject}\n\nbody\n`;

export const line = (qid: string, to: string, tail: string, orig?: string) =>
  `postfix/local[@PID@]: ${qid}: to=<${to}>, ${orig ? `orig_to=<${orig}>, ` : ''}relay=local, delay=@D@, delays=@D@/@D@/@D@/@D@, ${tail}`;

