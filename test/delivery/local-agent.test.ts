// local(8)'s delivery logic (src/delivery/local) run in-process against
// queue files made by this project's cleanup service in a temporary spool:
// aliases (texthash tables), .forward files, :include: lists, files,
// commands, forwarding through cleanup, unknown users, loops, extensions,
// Maildir and the hand-over to mailbox_transport. Alias tables are texthash
// (postmap format: "name value"), mailboxes are dot-locked. Throw-away Unix users
// are created with useradd (root only; the tests are skipped otherwise)
// and removed afterwards. Mailbox bytes and log lines are compared with
// the forms of fixtures/delivery/*/expected after normalising times.
import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import * as path from 'node:path';
import { Config } from '../../src/config/config.js';
import { AddressResolver } from '../../src/address/resolve.js';
import { TableCache } from '../../src/address/maps.js';
import { createCleanupService, type CleanupServiceHandle } from '../../src/cleanup/service.js';
import { CLEANUP_FLAG_MAP_OK } from '../../src/cleanup/api.js';
import { createLogger, memorySink } from '../../src/log/logger.js';
import { readQueueFile, attributeValue } from '../../src/queue/reader.js';
import { agentOptions, serveAgentConnection, statusContext } from '../../src/delivery/agent.js';
import { NO_TIME, decodeRequest, encodeRequest, type DeliveryReply, type DeliveryRequest } from '../../src/delivery/api.js';
import { type LocalAgent, localAgent } from '../../src/delivery/local/local.js';
import { localProgram } from '../../src/master/local-program.js';
import { socketPass } from '../../src/delivery/local/pass.js';
import { mailDate } from '../../src/mail/mail-date.js';
import { tempDir } from '../lib/tmp.js';

const isRoot = process.geteuid?.() === 0;
const QUEUES = ['incoming', 'active', 'deferred', 'hold', 'corrupt', 'defer', 'bounce', 'trace', 'maildrop', 'saved'];
const COMMENT = 'postfix-ts local-agent test';

interface User { name: string; uid: number; gid: number; home: string }

/** Throw-away accounts, removed in after(); ones a killed run left behind are removed at the next start. */
class Users {
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
    execFileSync('useradd', ['-M', '-U', '-d', home, '-s', '/bin/sh', '-c', COMMENT, name]);
    const uid = Number(execFileSync('id', ['-u', name]).toString().trim());
    const gid = Number(execFileSync('id', ['-g', name]).toString().trim());
    fs.mkdirSync(home, { recursive: true, mode: 0o755 });
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
class Harness {
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
function normMbox(text: string, root: string, ids: string[] = []): string {
  let t = text.replace(/^(From \S+ {2}).*$/gm, '$1@CTIME@').replace(/; (Mon|Tue|Wed|Thu|Fri|Sat|Sun), .*$/gm, '; @DATE@')
    .replace(/^Date: .*$/gm, 'Date: @DATE@').replace(/<[0-9]+\.([0-9A-Za-z]+)@host.example.com>/g, '<@STAMP@.$1@host.example.com>');
  ids.forEach((id, i) => (t = t.split(id).join(`@QID${i + 1}@`)));
  return t.split(root).join('@ROOT@');
}

/** A temporary root (0755, real path) with these subdirectories open to all (1777, as /tmp). */
function makeRoot(prefix: string, open: string[]): string {
  const root = fs.realpathSync(tempDir(prefix));
  fs.chmodSync(root, 0o755);
  for (const d of open) {
    fs.mkdirSync(path.join(root, d), { recursive: true });
    fs.chmodSync(path.join(root, d), 0o1777);
  }
  return root;
}

/** One request line written to an agent's socket; the reply line. */
function requestOverSocket(sockPath: string, request: DeliveryRequest): Promise<string> {
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

const MSG = (to: string, subject: string) => `From: Sender <pfsender@host.example.com>\nTo: ${to}\nSubject: ${subject}\n\nbody\n`;

const line = (qid: string, to: string, tail: string, orig?: string) =>
  `postfix/local[@PID@]: ${qid}: to=<${to}>, ${orig ? `orig_to=<${orig}>, ` : ''}relay=local, delay=@D@, delays=@D@/@D@/@D@/@D@, ${tail}`;

describe('local(8) delivery logic', { skip: !isRoot && 'needs root (useradd, deliveries as other users)' }, () => {
  const users = new Users();
  let root = '';
  const pid = process.pid % 100000;
  const alice = `lta${pid}`;
  const bob = `ltb${pid}`;
  const carol = `ltc${pid}`;
  let h: Harness;
  let A: User;
  let B: User;
  let C: User;

  before(async () => {
    root = makeRoot('local-agent-', ['mail', 'out']);
    fs.mkdirSync(path.join(root, 'bin'));
    fs.writeFileSync(path.join(root, 'bin', 'capture'), [
      '#!/bin/sh',
      `out=${root}/out/$1.txt`,
      '{',
      '  echo "=== capture $1: uid=$(id -un) cwd=$(pwd)"',
      '  env | LC_ALL=C sort | grep -v "^_=\\|^SHLVL=\\|^PWD=\\|^OLDPWD="',
      '  echo "--- stdin"',
      '  cat',
      '} >> "$out"',
      '',
    ].join('\n'), { mode: 0o755 });
    A = users.add(alice, path.join(root, 'home', alice));
    B = users.add(bob, path.join(root, 'home', bob));
    C = users.add(carol, path.join(root, 'home', carol));
    fs.mkdirSync(path.join(root, 'conf'));
    fs.writeFileSync(path.join(root, 'conf', 'aliases'), [
      `team ${alice}, ${bob}`,
      'crew team',
      `archive ${root}/out/archive.mbox`,
      `logger "|${root}/bin/capture logger"`,
      `listx :include:${root}/home/${bob}/list.inc`,
      `owner-listx ${bob}`,
      `dup ${alice}, ${alice}, team, ${alice}@host.example.com`,
      'remote friend@remote.example',
      'loop1 loop2',
      'loop2 loop1',
      `broken nosuchuser, ${bob}`,
      '',
    ].join('\n'));
    fs.writeFileSync(path.join(root, 'home', bob, 'list.inc'), `${root}/out/list.mbox\n"|${root}/bin/capture list"\n${alice}\n`);
    fs.chownSync(path.join(root, 'home', bob, 'list.inc'), B.uid, B.gid);
    fs.writeFileSync(path.join(C.home, '.forward'), `\\${carol}, ${root}/out/carol.mbox\n`);
    fs.chownSync(path.join(C.home, '.forward'), C.uid, C.gid);
    h = new Harness(root, {
      expand_owner_alias: 'yes',
      allow_mail_to_commands: 'alias, forward, include',
      allow_mail_to_files: 'alias, forward, include',
      recipient_delimiter: '+',
    });
    await h.start();
  });

  after(async () => {
    await h?.stop();
    users.removeAll();
  });

  beforeEach(() => {
    for (const u of [alice, bob, carol]) fs.rmSync(path.join(root, 'mail', u), { force: true });
  });

  it('delivers to a user\'s mailbox in mail_spool_directory (From_, Return-Path, X-Original-To, Delivered-To)', async () => {
    const mark = h.lines.length;
    const id = await h.inject('pfsender@host.example.com', [`${alice}@host.example.com`], MSG(`${alice}@host.example.com`, 'plain'));
    const reply = await h.deliver(id);
    assert.deepEqual(reply, { status: 0 });
    assert.deepEqual(h.log(mark, [id]), [line('@QID1@', `${alice}@host.example.com`, 'dsn=2.0.0, status=sent (delivered to mailbox)')]);
    const box = path.join(root, 'mail', alice);
    const st = fs.statSync(box);
    assert.equal(st.uid, A.uid);
    assert.equal(st.mode & 0o777, 0o600);
    assert.equal(normMbox(fs.readFileSync(box, 'latin1'), root, [id]), [
      'From pfsender@host.example.com  @CTIME@',
      'Return-Path: <pfsender@host.example.com>',
      `X-Original-To: ${alice}@host.example.com`,
      `Delivered-To: ${alice}@host.example.com`,
      'Received: from client.example.com (localhost [127.0.0.1])',
      '\tby host.example.com (Postfix) with ESMTP id @QID1@',
      'From: Sender <pfsender@host.example.com>',
      `To: ${alice}@host.example.com`,
      'Subject: plain',
      'Message-Id: <@STAMP@.@QID1@@host.example.com>',
      'Date: @DATE@',
      '',
      'body',
      '',
      '',
    ].join('\n'));
    assert.deepEqual(await h.doneMarks(id), [`${alice}@host.example.com:done`]);
    fs.rmSync(box);
  });

  it('expands an alias of an alias in-process, logging orig_to', async () => {
    const mark = h.lines.length;
    const id = await h.inject('pfsender@host.example.com', ['crew@host.example.com'], MSG('crew@host.example.com', 'crew'));
    assert.deepEqual(await h.deliver(id), { status: 0 });
    assert.deepEqual(h.log(mark, [id]), [
      line('@QID1@', `${alice}@host.example.com`, 'dsn=2.0.0, status=sent (delivered to mailbox)', 'crew@host.example.com'),
      line('@QID1@', `${bob}@host.example.com`, 'dsn=2.0.0, status=sent (delivered to mailbox)', 'crew@host.example.com'),
    ]);
    const text = fs.readFileSync(path.join(root, 'mail', bob), 'latin1');
    // frozen_delivered_to = yes: Delivered-To: is the address the message came for.
    assert.match(text, /^X-Original-To: crew@host.example.com\nDelivered-To: crew@host.example.com\n/m);
    fs.rmSync(path.join(root, 'mail', alice));
    fs.rmSync(path.join(root, 'mail', bob));
  });

  it('delivers an alias file as default_privs and an alias command with its environment', async () => {
    const mark = h.lines.length;
    const id = await h.inject('pfsender@host.example.com', ['archive@host.example.com', 'logger@host.example.com'], MSG('archive@host.example.com', 'file and command'));
    assert.deepEqual(await h.deliver(id), { status: 0 });
    assert.deepEqual(h.log(mark, [id]), [
      line('@QID1@', 'archive@host.example.com', 'dsn=2.0.0, status=sent (delivered to file: @ROOT@/out/archive.mbox)'),
      line('@QID1@', 'logger@host.example.com', 'dsn=2.0.0, status=sent (delivered to command: @ROOT@/bin/capture logger)'),
    ]);
    const st = fs.statSync(path.join(root, 'out', 'archive.mbox'));
    assert.equal(st.uid, Number(execFileSync('id', ['-u', 'nobody']).toString().trim()));
    const cap = fs.readFileSync(path.join(root, 'out', 'logger.txt'), 'latin1');
    assert.match(cap, /^=== capture logger: uid=nobody cwd=/);
    for (const v of ['CLIENT_ADDRESS=127.0.0.1', 'CLIENT_HELO=client.example.com', 'CLIENT_HOSTNAME=localhost', 'CLIENT_PROTOCOL=ESMTP',
      'DOMAIN=host.example.com', 'LOCAL=logger', 'LOGNAME=logger', 'ORIGINAL_RECIPIENT=logger@host.example.com',
      'RECIPIENT=logger@host.example.com', 'SENDER=pfsender@host.example.com', 'USER=logger']) {
      assert.ok(cap.split('\n').includes(v), `${v} in ${cap}`);
    }
    assert.ok(!/^HOME=/m.test(cap));
    assert.match(cap, /--- stdin\nFrom pfsender@host.example.com {2}.*\nReturn-Path: <pfsender@host.example.com>\nX-Original-To: logger@host.example.com\nDelivered-To: logger@host.example.com\n/);
  });

  it('forwards the members of an :include: list with an owner- alias as a new message (sender: the owner\'s expansion)', async () => {
    const mark = h.lines.length;
    const before = h.newIds([]);
    const id = await h.inject('pfsender@host.example.com', ['listx@host.example.com'], MSG('listx@host.example.com', 'list'));
    assert.deepEqual(await h.deliver(id), { status: 0 });
    const [fwd] = h.newIds([...before, id]);
    assert.ok(fwd);
    assert.deepEqual(h.log(mark, [id, fwd]), [
      line('@QID1@', 'listx@host.example.com', 'dsn=2.0.0, status=sent (delivered to file: @ROOT@/out/list.mbox)'),
      line('@QID1@', 'listx@host.example.com', 'dsn=2.0.0, status=sent (delivered to command: @ROOT@/bin/capture list)'),
      line('@QID1@', 'listx@host.example.com', 'dsn=2.0.0, status=sent (forwarded as @QID2@)'),
    ]);
    assert.equal(fs.statSync(path.join(root, 'out', 'list.mbox')).uid, B.uid);
    const f = await readQueueFile(path.join(h.spool, 'incoming', fwd));
    assert.ok(f.ok);
    assert.equal(f.file.sender, `${bob}@host.example.com`);
    assert.deepEqual(f.file.recipients.map((r) => r.address), [`${alice}@host.example.com`]);
    const content = fs.readFileSync(path.join(h.spool, 'incoming', fwd), 'latin1');
    assert.ok(content.includes('Received: by host.example.com (Postfix)'));
    assert.ok(content.includes('Delivered-To: listx@host.example.com'));
    // The copy goes on as a message of its own: its recipient is delivered with the owner as sender.
    const mark2 = h.lines.length;
    assert.deepEqual(await h.deliver(fwd), { status: 0 });
    assert.deepEqual(h.log(mark2, [fwd]), [line('@QID1@', `${alice}@host.example.com`, 'dsn=2.0.0, status=sent (delivered to mailbox)')]);
    const box = normMbox(fs.readFileSync(path.join(root, 'mail', alice), 'latin1'), root, [id, fwd]);
    assert.ok(box.startsWith([
      `From ${bob}@host.example.com  @CTIME@`,
      `Return-Path: <${bob}@host.example.com>`,
      `X-Original-To: ${alice}@host.example.com`,
      `Delivered-To: ${alice}@host.example.com`,
      'Received: by host.example.com (Postfix)',
      '\tid @QID2@; @DATE@',
      'Delivered-To: listx@host.example.com',
      'Received: from client.example.com (localhost [127.0.0.1])',
    ].join('\n')), box);
    fs.rmSync(path.join(root, 'mail', alice));
  });

  it('forwards an alias to a remote address, keeping the original recipient', async () => {
    const mark = h.lines.length;
    const before = h.newIds([]);
    const id = await h.inject('pfsender@host.example.com', ['remote@host.example.com'], MSG('remote@host.example.com', 'remote'));
    assert.deepEqual(await h.deliver(id), { status: 0 });
    const [fwd] = h.newIds([...before, id]);
    assert.ok(fwd);
    assert.deepEqual(h.log(mark, [id, fwd]), [line('@QID1@', 'remote@host.example.com', 'dsn=2.0.0, status=sent (forwarded as @QID2@)')]);
    const f = await readQueueFile(path.join(h.spool, 'incoming', fwd));
    assert.equal(f.file.sender, 'pfsender@host.example.com');
    assert.deepEqual(f.file.recipients.map((r) => [r.address, r.orcpt]), [['friend@remote.example', 'remote@host.example.com']]);
  });

  it('delivers once per destination (duplicate elimination)', async () => {
    const mark = h.lines.length;
    const id = await h.inject('pfsender@host.example.com', ['dup@host.example.com'], MSG('dup@host.example.com', 'dup'));
    assert.deepEqual(await h.deliver(id), { status: 0 });
    assert.deepEqual(h.log(mark, [id]), [
      line('@QID1@', `${alice}@host.example.com`, 'dsn=2.0.0, status=sent (delivered to mailbox)', 'dup@host.example.com'),
      line('@QID1@', `${bob}@host.example.com`, 'dsn=2.0.0, status=sent (delivered to mailbox)', 'dup@host.example.com'),
    ]);
    assert.equal(fs.readFileSync(path.join(root, 'mail', alice), 'latin1').match(/^From /gm)?.length, 1);
    fs.rmSync(path.join(root, 'mail', alice));
    fs.rmSync(path.join(root, 'mail', bob));
  });

  it('bounces an unknown user (5.1.1) into the bounce log and marks it done', async () => {
    const mark = h.lines.length;
    const id = await h.inject('pfsender@host.example.com', ['nosuchuser@host.example.com'], MSG('nosuchuser@host.example.com', 'unknown'));
    assert.deepEqual(await h.deliver(id), { status: 0 });
    assert.deepEqual(h.log(mark, [id]), [line('@QID1@', 'nosuchuser@host.example.com', 'dsn=5.1.1, status=bounced (unknown user: "nosuchuser")')]);
    const bounce = fs.readFileSync(path.join(h.spool, 'bounce', id), 'latin1');
    assert.ok(bounce.includes('reason=unknown user: "nosuchuser"'), bounce);
    assert.deepEqual(await h.doneMarks(id), ['nosuchuser@host.example.com:done']);
  });

  it('stops an alias loop at 100 levels (alias database loop) with a warning', async () => {
    const mark = h.lines.length;
    const id = await h.inject('pfsender@host.example.com', ['loop1@host.example.com'], MSG('loop1@host.example.com', 'loop'));
    assert.deepEqual(await h.deliver(id), { status: 0 });
    assert.deepEqual(h.log(mark, [id]), [
      'postfix/local[@PID@]: warning: alias database loop for loop2',
      line('@QID1@', 'loop2@host.example.com', 'dsn=5.4.6, status=bounced (alias database loop for loop2)', 'loop1@host.example.com'),
    ]);
  });

  it('bounces a recipient already named in a Delivered-To: header (mail forwarding loop)', async () => {
    const mark = h.lines.length;
    const id = await h.inject('pfsender@host.example.com', [`${alice}@host.example.com`],
      `Delivered-To: ${alice}@host.example.com\n${MSG(`${alice}@host.example.com`, 'looping')}`);
    assert.deepEqual(await h.deliver(id), { status: 0 });
    assert.deepEqual(h.log(mark, [id]), [
      line('@QID1@', `${alice}@host.example.com`, `dsn=5.4.6, status=bounced (mail forwarding loop for ${alice}@host.example.com)`),
    ]);
    assert.ok(!fs.existsSync(path.join(root, 'mail', alice)));
  });

  it('follows a .forward with \\self and a file, as the user', async () => {
    const mark = h.lines.length;
    const id = await h.inject('pfsender@host.example.com', [`${carol}@host.example.com`], MSG(`${carol}@host.example.com`, 'dotforward'));
    assert.deepEqual(await h.deliver(id), { status: 0 });
    assert.deepEqual(h.log(mark, [id]), [
      line('@QID1@', `${carol}@host.example.com`, 'dsn=2.0.0, status=sent (delivered to mailbox)'),
      line('@QID1@', `${carol}@host.example.com`, 'dsn=2.0.0, status=sent (delivered to file: @ROOT@/out/carol.mbox)'),
    ]);
    assert.equal(fs.statSync(path.join(root, 'out', 'carol.mbox')).uid, C.uid);
    assert.equal(fs.statSync(path.join(root, 'mail', carol)).uid, C.uid);
  });

  it('keeps the extension for the mailbox and the command environment', async () => {
    const mark = h.lines.length;
    const id = await h.inject('pfsender@host.example.com', [`${alice}+tag@host.example.com`], MSG(`${alice}+tag@host.example.com`, 'extension'));
    assert.deepEqual(await h.deliver(id), { status: 0 });
    assert.deepEqual(h.log(mark, [id]), [line('@QID1@', `${alice}+tag@host.example.com`, 'dsn=2.0.0, status=sent (delivered to mailbox)')]);
    assert.match(fs.readFileSync(path.join(root, 'mail', alice), 'latin1'), new RegExp(`^Delivered-To: ${alice}\\+tag@host.example.com$`, 'm'));
    fs.rmSync(path.join(root, 'mail', alice));
  });

  it('writes one "alias expanded" trace record for a NOTIFY=SUCCESS alias, none for its members', async () => {
    const mark = h.lines.length;
    const id = await h.inject('pfsender@host.example.com', ['team@host.example.com'], MSG('team@host.example.com', 'notify'), [['A', 'notify_flags=2']]);
    assert.deepEqual(await h.deliver(id), { status: 0 });
    assert.equal(h.log(mark, [id]).length, 2);
    const trace = fs.readFileSync(path.join(h.spool, 'trace', id), 'latin1');
    assert.equal(trace.match(/^recipient=/gm)?.length, 1, trace);
    assert.match(trace, /^recipient=team@host.example.com$/m);
    assert.match(trace, /^action=expanded$/m);
    assert.match(trace, /^reason=delivery via local: alias expanded$/m);
  });

  it('bounces one member of a list and delivers the others', async () => {
    const mark = h.lines.length;
    const id = await h.inject('pfsender@host.example.com', ['broken@host.example.com'], MSG('broken@host.example.com', 'broken'));
    assert.deepEqual(await h.deliver(id), { status: 0 });
    assert.deepEqual(h.log(mark, [id]), [
      line('@QID1@', 'nosuchuser@host.example.com', 'dsn=5.1.1, status=bounced (unknown user: "nosuchuser")', 'broken@host.example.com'),
      line('@QID1@', `${bob}@host.example.com`, 'dsn=2.0.0, status=sent (delivered to mailbox)', 'broken@host.example.com'),
    ]);
    fs.rmSync(path.join(root, 'mail', bob));
  });
});

describe('local(8) settings', { skip: !isRoot && 'needs root (useradd, deliveries as other users)' }, () => {
  const users = new Users();
  const pid = process.pid % 100000;
  const dave = `ltd${pid}`;
  let root = '';
  let D: User;
  const harnesses: Harness[] = [];

  const make = async (settings: Record<string, string>, aliases = ''): Promise<Harness> => {
    const dir = makeRoot('local-agent-', ['mail']);
    fs.mkdirSync(path.join(dir, 'conf'));
    fs.writeFileSync(path.join(dir, 'conf', 'aliases'), aliases);
    const h = new Harness(dir, settings);
    await h.start();
    harnesses.push(h);
    return h;
  };

  before(() => {
    root = fs.realpathSync(tempDir('local-agent-home-'));
    fs.chmodSync(root, 0o755);
    D = users.add(dave, path.join(root, dave));
  });

  after(async () => {
    for (const h of harnesses) await h.stop();
    users.removeAll();
  });

  it('home_mailbox = Maildir/ delivers into new/ of the user\'s Maildir', async () => {
    const h = await make({ home_mailbox: 'Maildir/' });
    const mark = h.lines.length;
    const id = await h.inject('pfsender@host.example.com', [`${dave}@host.example.com`], MSG(`${dave}@host.example.com`, 'maildir'));
    assert.deepEqual(await h.deliver(id), { status: 0 });
    assert.deepEqual(h.log(mark, [id]), [line('@QID1@', `${dave}@host.example.com`, 'dsn=2.0.0, status=sent (delivered to maildir)')]);
    const files = fs.readdirSync(path.join(D.home, 'Maildir', 'new'));
    assert.equal(files.length, 1);
    const text = fs.readFileSync(path.join(D.home, 'Maildir', 'new', files[0]!), 'latin1');
    assert.ok(text.startsWith(`Return-Path: <pfsender@host.example.com>\nX-Original-To: ${dave}@host.example.com\nDelivered-To: ${dave}@host.example.com\n`), text);
  });

  it('luser_relay takes mail for unknown users', async () => {
    const h = await make({ luser_relay: `${dave}` });
    const mark = h.lines.length;
    const id = await h.inject('pfsender@host.example.com', ['stranger@host.example.com'], MSG('stranger@host.example.com', 'luser'));
    assert.deepEqual(await h.deliver(id), { status: 0 });
    assert.deepEqual(h.log(mark, [id]), [
      line('@QID1@', `${dave}@host.example.com`, 'dsn=2.0.0, status=sent (delivered to mailbox)', 'stranger@host.example.com'),
    ]);
  });

  it('allow_mail_to_files and allow_mail_to_commands refuse alias destinations (5.7.1)', async () => {
    const h = await make({ allow_mail_to_files: 'forward', allow_mail_to_commands: 'forward' },
      `tofile ${root}/refused.mbox\ntocmd "|/bin/cat"\n`);
    const mark = h.lines.length;
    const id = await h.inject('pfsender@host.example.com', ['tofile@host.example.com', 'tocmd@host.example.com'], MSG('tofile@host.example.com', 'refused'));
    assert.deepEqual(await h.deliver(id), { status: 0 });
    assert.deepEqual(h.log(mark, [id]), [
      line('@QID1@', 'tofile@host.example.com', 'dsn=5.7.1, status=bounced (mail to file is restricted)'),
      line('@QID1@', 'tocmd@host.example.com', 'dsn=5.7.1, status=bounced (mail to command is restricted)'),
    ]);
    assert.ok(!fs.existsSync(path.join(root, 'refused.mbox')));
  });

  it('mailbox_transport hands the recipient over; an unreachable service defers it', async () => {
    const h = await make({ mailbox_transport: 'lmtp:unix:/x' });
    h.passReply = { status: 0 };
    const id = await h.inject('pfsender@host.example.com', [`${dave}@host.example.com`], MSG(`${dave}@host.example.com`, 'pass'));
    const mark = h.lines.length;
    assert.deepEqual(await h.deliver(id), { status: 0 });
    assert.equal(h.passed.length, 1);
    assert.equal(h.passed[0]!.nexthop, 'unix:/x');
    assert.deepEqual(h.passed[0]!.recipients.map((r) => [r.address, r.offset]), [[`${dave}@host.example.com`, -1]]);
    assert.deepEqual(h.log(mark), []);
    h.passReply = null;
    const id2 = await h.inject('pfsender@host.example.com', [`${dave}@host.example.com`], MSG(`${dave}@host.example.com`, 'pass'));
    const mark2 = h.lines.length;
    assert.deepEqual(await h.deliver(id2), { status: 1 });
    assert.deepEqual(h.log(mark2, [id2]), [line('@QID1@', `${dave}@host.example.com`, 'dsn=4.3.0, status=deferred (mail transport unavailable)')]);
    assert.deepEqual(await h.doneMarks(id2), [`${dave}@host.example.com:pending`]);
  });

  it('socketPass writes the request to private/<transport> and reads the reply; null when nobody listens', async () => {
    const h = await make({});
    const id = await h.inject('pfsender@host.example.com', ['caf\u00e9@host.example.com'], MSG('x@host.example.com', 'socket pass'));
    const req = await h.request(id);
    fs.mkdirSync(path.join(h.spool, 'private'), { recursive: true });
    const got: string[] = [];
    const server = net.createServer((s) => {
      s.setEncoding('utf8');
      s.on('data', (d: string) => {
        got.push(d);
        s.end('{"status":1}\n');
      });
    });
    await new Promise<void>((r) => server.listen(path.join(h.spool, 'private', 'fake'), () => r()));
    try {
      assert.deepEqual(await socketPass(h.spool)('fake', 'hop', req), { status: 1 });
      assert.deepEqual(decodeRequest(got.join('').trim())?.recipients[0]?.address, 'caf\u00e9@host.example.com');
      assert.equal(await socketPass(h.spool)('absent', 'hop', req), null);
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it('biff = yes tells comsat (biff/udp on localhost) "user@offset"', async (t) => {
    const udp = dgram.createSocket('udp4');
    const bound = await new Promise<boolean>((resolve) => {
      udp.once('error', () => resolve(false));
      udp.bind(512, '127.0.0.1', () => resolve(true));
    });
    if (!bound) {
      udp.close();
      t.skip('udp port 512 is taken');
      return;
    }
    try {
      const h = await make({ biff: 'yes' });
      const got = new Promise<string>((resolve) => udp.once('message', (m) => resolve(m.toString('latin1'))));
      const id = await h.inject('pfsender@host.example.com', [`${dave}@host.example.com`], MSG(`${dave}@host.example.com`, 'biff'));
      assert.deepEqual(await h.deliver(id), { status: 0 });
      assert.equal(await got, `${dave}@0\0`);
    } finally {
      udp.close();
    }
  });

  it('require_home_directory defers a user whose home directory is missing', async () => {
    const h = await make({ require_home_directory: 'yes' });
    fs.renameSync(D.home, `${D.home}.away`);
    try {
      const mark = h.lines.length;
      const id = await h.inject('pfsender@host.example.com', [`${dave}@host.example.com`], MSG(`${dave}@host.example.com`, 'home'));
      assert.deepEqual(await h.deliver(id), { status: 1 });
      assert.deepEqual(h.log(mark, [id]), [line('@QID1@', `${dave}@host.example.com`,
        `dsn=4.3.0, status=deferred (cannot access home directory ${D.home.split(h.root).join('@ROOT@')}: No such file or directory)`)]);
    } finally {
      fs.renameSync(`${D.home}.away`, D.home);
    }
  });

  it('postmaster without an alias is discarded with a warning', async () => {
    const h = await make({});
    const mark = h.lines.length;
    const id = await h.inject('pfsender@host.example.com', ['postmaster@host.example.com'], MSG('postmaster@host.example.com', 'pm'));
    assert.deepEqual(await h.deliver(id), { status: 0 });
    assert.deepEqual(h.log(mark, [id]), [
      'postfix/local[@PID@]: warning: required alias not found: postmaster',
      line('@QID1@', 'postmaster@host.example.com', 'dsn=2.0.0, status=sent (discarded)'),
    ]);
  });
});

describe('local(8) .forward chains and the agent protocol', { skip: !isRoot && 'needs root (useradd, deliveries as other users)' }, () => {
  const users = new Users();
  const pid = process.pid % 100000;
  const ping = `ltp${pid}`;
  const pong = `lto${pid}`;
  const fw = `ltf${pid}`;
  let h: Harness;
  let root = '';

  const dotforward = (u: User, text: string) => {
    fs.writeFileSync(path.join(u.home, '.forward'), text);
    fs.chownSync(path.join(u.home, '.forward'), u.uid, u.gid);
  };

  before(async () => {
    root = makeRoot('local-agent-', ['mail']);
    const P = users.add(ping, path.join(root, 'home', ping));
    const O = users.add(pong, path.join(root, 'home', pong));
    const F = users.add(fw, path.join(root, 'home', fw));
    dotforward(P, `${pong}\n`);
    dotforward(O, `${ping}\n`);
    dotforward(F, `# a comment line\n${pong}@host.example.com, friend@remote.example\n`);
    h = new Harness(root, { recipient_delimiter: '+', propagate_unmatched_extensions: 'canonical, virtual, alias, forward, include' });
    await h.start();
  });

  after(async () => {
    await h?.stop();
    users.removeAll();
  });

  it('sends the local and remote addresses of a .forward on as one new message', async () => {
    const mark = h.lines.length;
    const before = h.newIds([]);
    const id = await h.inject('pfsender@host.example.com', [`${fw}@host.example.com`], MSG(`${fw}@host.example.com`, 'fw'));
    assert.deepEqual(await h.deliver(id), { status: 0 });
    const [fwd] = h.newIds([...before, id]);
    assert.ok(fwd);
    assert.deepEqual(h.log(mark, [id, fwd]), [line('@QID1@', `${fw}@host.example.com`, 'dsn=2.0.0, status=sent (forwarded as @QID2@)')]);
    const f = await readQueueFile(path.join(h.spool, 'incoming', fwd));
    assert.equal(f.file.sender, 'pfsender@host.example.com');
    assert.deepEqual(f.file.recipients.map((r) => [r.address, r.orcpt]).sort(), [
      ['friend@remote.example', `${fw}@host.example.com`], [`${pong}@host.example.com`, `${fw}@host.example.com`],
    ]);
    assert.ok(fs.readFileSync(path.join(h.spool, 'incoming', fwd), 'latin1').includes(`Delivered-To: ${fw}@host.example.com`));
  });

  it('ends a .forward ping-pong at the Delivered-To: header of the forwarded copy', async () => {
    const mark = h.lines.length;
    const before = h.newIds([]);
    const id = await h.inject('pfsender@host.example.com', [`${ping}@host.example.com`], MSG(`${ping}@host.example.com`, 'ping'));
    assert.deepEqual(await h.deliver(id), { status: 0 });
    const [fwd] = h.newIds([...before, id]);
    assert.ok(fwd);
    assert.deepEqual(await h.deliver(fwd), { status: 0 });
    assert.deepEqual(h.log(mark, [id, fwd]), [
      line('@QID1@', `${ping}@host.example.com`, 'dsn=2.0.0, status=sent (forwarded as @QID2@)'),
      line('@QID2@', `${ping}@host.example.com`, `dsn=5.4.6, status=bounced (mail forwarding loop for ${ping}@host.example.com)`),
    ]);
  });

  it('carries an unmatched extension through a .forward (propagate_unmatched_extensions = forward)', async () => {
    const before = h.newIds([]);
    const id = await h.inject('pfsender@host.example.com', [`${fw}+x@host.example.com`], MSG(`${fw}+x@host.example.com`, 'ext'));
    assert.deepEqual(await h.deliver(id), { status: 0 });
    const [fwd] = h.newIds([...before, id]);
    assert.ok(fwd);
    const f = await readQueueFile(path.join(h.spool, 'incoming', fwd));
    assert.deepEqual(f.file.recipients.map((r) => r.address).sort(), ['friend+x@remote.example', `${pong}+x@host.example.com`]);
  });

  it('serves a request line over a connection (delivery/agent.ts) and replies', async () => {
    const id = await h.inject('pfsender@host.example.com', ['nobody-here@host.example.com'], MSG('nobody-here@host.example.com', 'socket'));
    const request = await h.request(id);
    const sockPath = path.join(root, 'local.sock');
    const log = createLogger(memorySink(h.lines), 'postfix/local', 1);
    const opts = agentOptions(h.config, log);
    const server = net.createServer((s) => serveAgentConnection(s, h.agent.handle, opts));
    await new Promise<void>((r) => server.listen(sockPath, () => r()));
    try {
      const reply = await requestOverSocket(sockPath, request);
      assert.deepEqual(JSON.parse(reply), { status: 0 });
      assert.deepEqual(await h.doneMarks(id), ['nobody-here@host.example.com:done']);
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});

describe('local(8) mailbox_command', { skip: !isRoot && 'needs root (useradd, deliveries as other users)' }, () => {
  const users = new Users();
  const pid = process.pid % 100000;
  const ok = `ltm${pid}`;
  const temp = `ltn${pid}`;
  const gone = `ltq${pid}`;
  let h: Harness;
  let root = '';

  before(async () => {
    root = makeRoot('local-agent-', ['mail', 'out']);
    fs.mkdirSync(path.join(root, 'bin'));
    fs.writeFileSync(path.join(root, 'bin', 'mda'), [
      '#!/bin/sh',
      `out=${root}/out/mda-$USER.txt`,
      '{',
      '  echo "=== mda: uid=$(id -un) cwd=$(pwd) args=$*"',
      '  env | LC_ALL=C sort | grep -v "^_=\\|^SHLVL=\\|^PWD=\\|^OLDPWD="',
      '  echo "--- stdin"',
      '  cat',
      '} >> "$out"',
      'case $USER in',
      `${temp}) echo "mda: mailbox locked, try again later"; exit 75;;`,
      `${gone}) echo "mda: no such mailbox" >&2; exit 67;;`,
      'esac',
      'exit 0',
      '',
    ].join('\n'), { mode: 0o755 });
    for (const u of [ok, temp, gone]) users.add(u, path.join(root, 'home', u));
    h = new Harness(root, { recipient_delimiter: '+', mailbox_command: `${root}/bin/mda -x "$EXTENSION"` });
    await h.start();
  });

  after(async () => {
    await h?.stop();
    users.removeAll();
  });

  it('runs as the user with the delivery environment; exit 75 defers, 67 bounces', async () => {
    const mark = h.lines.length;
    const id = await h.inject('pfsender@host.example.com',
      [`${ok}+tag@host.example.com`, `${temp}@host.example.com`, `${gone}@host.example.com`], MSG(`${ok}@host.example.com`, 'mda'));
    assert.deepEqual(await h.deliver(id), { status: 1 });
    const cmd = '@ROOT@/bin/mda -x "$EXTENSION"';
    assert.deepEqual(h.log(mark, [id]), [
      line('@QID1@', `${ok}+tag@host.example.com`, `dsn=2.0.0, status=sent (delivered to command: ${cmd})`),
      line('@QID1@', `${temp}@host.example.com`, 'dsn=4.3.0, status=deferred (temporary failure. Command output: mda: mailbox locked, try again later )'),
      line('@QID1@', `${gone}@host.example.com`, 'dsn=5.1.1, status=bounced (user unknown. Command output: mda: no such mailbox )'),
    ]);
    assert.deepEqual(await h.doneMarks(id), [`${ok}+tag@host.example.com:done`, `${temp}@host.example.com:pending`, `${gone}@host.example.com:done`]);
    const out = fs.readFileSync(path.join(root, 'out', `mda-${ok}.txt`), 'latin1').split('\n');
    assert.equal(out[0], `=== mda: uid=${ok} cwd=${h.spool} args=-x tag`);
    const env = out.slice(1, out.indexOf('--- stdin'));
    assert.deepEqual(env.filter((v) => !/^(LANG|TZ|MAIL_CONFIG)=/.test(v)), [
      'CLIENT_ADDRESS=127.0.0.1',
      'CLIENT_HELO=client.example.com',
      'CLIENT_HOSTNAME=localhost',
      'CLIENT_PROTOCOL=ESMTP',
      'DOMAIN=host.example.com',
      'EXTENSION=tag',
      `HOME=${root}/home/${ok}`,
      `LOCAL=${ok}+tag`,
      `LOGNAME=${ok}`,
      `ORIGINAL_RECIPIENT=${ok}+tag@host.example.com`,
      'PATH=/usr/bin:/bin',
      `RECIPIENT=${ok}+tag@host.example.com`,
      'SENDER=pfsender@host.example.com',
      'SHELL=/bin/sh',
      `USER=${ok}`,
    ]);
    assert.ok(env.includes(`MAIL_CONFIG=${process.env.MAIL_CONFIG ?? h.conf}`), env.join('\n'));
  });
});

// ---------------------------------------------------------------------------
// The recorded delivery fixtures, as far as local(8) is concerned: each
// message sent by SMTP is queued through cleanup and delivered by the
// agent, and so are the copies it forwards (their local recipients only);
// the postfix/local lines, notices aside, must be Postfix's. User names
// get this process's prefix (pfalice -> lu<pid>alice) so that runs and the
// e2e replay never share accounts; tables become texthash: files.

const FIXTURES = path.resolve(import.meta.dirname, '../../../fixtures/delivery');
const REPLAYED = ['01-aliases', '02-forward', '03-mbox', '04-maildir', '05-mailbox-command', '07-extensions', '08-full-mailbox', '09-soft-bounce', '10-loops-refusals'];

interface FixtureMessage { name: string; from: string; to: string[]; text: string; via?: string; mailParams?: string; rcptParams?: string }

/** Postfix's local lines of each message section, notices' deliveries left out, queue IDs renumbered in order of appearance. */
function expectedLocalLines(maillog: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let name = '';
  let section: string[] = [];
  const flush = () => {
    if (name === '') return;
    const notices = new Set(section.filter((l) => /^postfix\/bounce\[.*notification: @QID\d+@$/.test(l)).map((l) => /(@QID\d+@)$/.exec(l)![1]!));
    const local = section.filter((l) => l.startsWith('postfix/local[') && !notices.has(/@QID\d+@/.exec(l)?.[0] ?? ''));
    out.set(name, renumber(local, /@QID\d+@/g));
  };
  for (const l of maillog.split('\n')) {
    const m = /^=== message \d+: (.*)$/.exec(l);
    if (m) {
      flush();
      name = m[1]!;
      section = [];
    } else if (l !== '') {
      section.push(l);
    }
  }
  flush();
  return out;
}

/** Queue IDs matched by re replaced by @Q1@, @Q2@... in order of first appearance; then sorted. */
function renumber(lines: string[], re: RegExp): string[] {
  const ids = new Map<string, string>();
  return lines.map((l) => l.replace(re, (id) => {
    if (!ids.has(id)) ids.set(id, `@Q${ids.size + 1}@`);
    return ids.get(id)!;
  })).sort();
}

function readMainCf(file: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const l of fs.readFileSync(file, 'utf8').split('\n')) {
    const m = /^([a-z_0-9]+)\s*=\s*(.*)$/.exec(l);
    if (m) out.push([m[1]!, m[2]!]);
  }
  return out;
}

describe('local(8) on the delivery fixtures', { skip: !isRoot && 'needs root (useradd, deliveries as other users)' }, () => {
  const users = new Users();
  const prefix = `lu${process.pid % 100000}`;
  const rename = (text: string) => text.replace(/\bpf([a-z0-9]+)/gi, (_m, rest: string) => `${prefix}${rest.toLowerCase()}`);
  const harnesses: Harness[] = [];

  after(async () => {
    for (const h of harnesses) await h.stop();
    users.removeAll();
  });

  for (const fixture of REPLAYED) {
    it(`replays ${fixture}`, async () => {
      const dir = path.join(FIXTURES, fixture);
      const root = makeRoot('local-fixture-', ['mail', 'out']);
      const sub = (text: string) => rename(text).split('@ROOT@').join(root);
      fs.mkdirSync(path.join(root, 'conf'));
      const accounts = (JSON.parse(fs.readFileSync(path.join(dir, 'users.json'), 'utf8')) as Array<{ name: string }>)
        .map((u) => users.add(rename(u.name), path.join(root, 'home', rename(u.name))));
      const copyTree = (from: string, to: string) => {
        if (!fs.existsSync(from)) return;
        for (const e of fs.readdirSync(from, { withFileTypes: true })) {
          const src = path.join(from, e.name);
          const dst = path.join(to, rename(e.name));
          if (e.isDirectory()) {
            fs.mkdirSync(dst, { recursive: true, mode: 0o755 });
            copyTree(src, dst);
          } else {
            fs.writeFileSync(dst, sub(fs.readFileSync(src, 'utf8')), { mode: fs.statSync(src).mode & 0o111 ? 0o755 : 0o644 });
            const owner = accounts.find((a) => dst.startsWith(`${a.home}/`));
            if (owner) fs.chownSync(dst, owner.uid, owner.gid);
          }
        }
      };
      copyTree(path.join(dir, 'root'), root);
      const settings: Record<string, string> = {};
      for (const [k, v] of readMainCf(path.join(dir, 'main.cf'))) settings[k] = sub(v);
      for (const table of ['aliases', 'transport']) {
        const src = path.join(dir, table);
        if (!fs.existsSync(src)) continue;
        const text = sub(fs.readFileSync(src, 'utf8'));
        fs.writeFileSync(path.join(root, 'conf', table), table === 'aliases' ? text.replace(/^([^#\s][^:\s]*):/gm, '$1') : text);
      }
      for (const [k, v] of Object.entries(settings)) {
        settings[k] = v.replace(/\bhash:\$config_directory\/([a-z]+)/g, `texthash:${root}/conf/$1`);
      }
      const h = new Harness(root, settings);
      await h.start();
      harnesses.push(h);
      const expected = expectedLocalLines(sub(fs.readFileSync(path.join(dir, 'expected', 'maillog'), 'utf8')));
      const messages = JSON.parse(fs.readFileSync(path.join(dir, 'messages.json'), 'utf8')) as FixtureMessage[];
      const problems: string[] = [];
      const allIds: string[] = [];
      for (const msg of messages) {
        if ((msg.via ?? 'smtp') !== 'smtp' || msg.mailParams || msg.rcptParams) continue;
        const mark = h.lines.length;
        const known = h.newIds([]);
        const to = msg.to.map(sub);
        const first = await h.inject(sub(msg.from), to, sub(msg.text), [], (qid) => [
          'Received: from client.example.com (localhost [127.0.0.1])',
          `\tby host.example.com (Postfix) with ESMTP id ${qid}${to.length === 1 ? '' : `; ${mailDate(Math.floor(Date.now() / 1000))}`}`,
          ...(to.length === 1 ? [`\tfor <${to[0]}>; ${mailDate(Math.floor(Date.now() / 1000))}`] : []),
        ]);
        allIds.push(first);
        const todo = [first];
        const seen = [...known, first];
        const ids: string[] = [];
        for (let id = todo.shift(); id !== undefined; id = todo.shift()) {
          ids.push(id);
          if (id !== first) allIds.push(id);
          await h.deliverLocal(id);
          for (const n of h.newIds(seen)) {
            seen.push(n);
            todo.push(n);
          }
        }
        const ours = renumber(h.lines.slice(mark).filter((l) => l.startsWith('postfix/local[')).map((l) =>
          l.replace(/delay=[0-9.]+, delays=[0-9.]+\/[0-9.]+\/[0-9.]+\/[0-9.]+/, 'delay=@D@, delays=@D@/@D@/@D@/@D@').replace('[1]', '[@PID@]')),
        new RegExp(ids.join('|') || 'x', 'g'));
        const want = renumber(expected.get(msg.name) ?? [], /@Q\d+@/g);
        if (JSON.stringify(ours) !== JSON.stringify(want)) {
          problems.push(`message ${msg.name}:\n  ours:\n    ${ours.join('\n    ')}\n  postfix:\n    ${want.join('\n    ')}`);
        }
      }
      // Files written through aliases, .forward and :include: (mbox form): byte for byte, times and IDs aside,
      // where every message that reaches them came by SMTP (01-aliases: its one sendmail message goes to mailboxes).
      const compared: string[] = [];
      const onlySmtp = messages.every((m) => (m.via ?? 'smtp') === 'smtp' && !m.mailParams && !m.rcptParams);
      const outDir = path.join(dir, 'expected', 'files', 'out');
      if ((onlySmtp || fixture === '01-aliases') && fs.existsSync(outDir)) {
        const norm = (text: string, ids: string[]) => {
          let t = normMbox(text, root, []);
          for (const id of ids) t = t.split(id).join('@QID@');
          return t.replace(/@QID\d+@/g, '@QID@');
        };
        for (const name of fs.readdirSync(outDir).filter((n) => n.endsWith('.mbox'))) {
          const want = norm(sub(fs.readFileSync(path.join(outDir, name), 'utf8')), []);
          const oursFile = path.join(root, 'out', rename(name));
          const ours = fs.existsSync(oursFile) ? norm(fs.readFileSync(oursFile, 'latin1'), allIds) : '(missing)';
          if (ours !== want) problems.push(`out/${name}:\n--- ours\n${ours}\n--- postfix\n${want}`);
          compared.push(name);
        }
      }
      assert.deepEqual(problems, []);
      if (['01-aliases', '07-extensions', '08-full-mailbox', '10-loops-refusals'].includes(fixture)) assert.ok(compared.length > 0);
    });
  }
});

describe('master/local-program.ts', () => {
  it('serves qmgr connections once ready, with relay= the service name', async () => {
    const root = fs.realpathSync(tempDir('local-program-'));
    const h = new Harness(root, {});
    await h.start();
    const lines: string[] = [];
    const sink = memorySink(lines);
    const program = localProgram.start({
      init: {
        configDir: h.conf, service: 'mylocal', type: 'unix', command: 'local', canonical: 'private/mylocal', options: [], flags: [],
        unixOptions: {}, slots: 0, generation: 1, logFd: false, listeners: [],
      },
      config: () => h.config,
      sink,
      log: createLogger(sink, 'postfix/local', 1),
      anvil: undefined as never,
      listeners: [],
    });
    await program.ready;
    const id = await h.inject('pfsender@host.example.com', ['nosuchuser@host.example.com'], MSG('nosuchuser@host.example.com', 'program'));
    const request = await h.request(id);
    const sockPath = path.join(root, 'mylocal.sock');
    const server = net.createServer((s) => program.connection!(s, { index: 0 } as never));
    await new Promise<void>((r) => server.listen(sockPath, () => r()));
    try {
      const reply = await requestOverSocket(sockPath, request);
      assert.deepEqual(JSON.parse(reply), { status: 0 });
      assert.ok(lines.some((l) => l.includes(`${id}: to=<nosuchuser@host.example.com>, relay=mylocal, `)
        && l.endsWith('dsn=5.1.1, status=bounced (unknown user: "nosuchuser")')), lines.join('\n'));
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
      await program.drain();
      await program.close();
      await h.stop();
    }
  });
});
