// virtual(8) (src/delivery/virtual/): one request with recipients of
// every kind, as in fixtures/delivery/06-virtual: mbox and Maildir entries,
// the recipient_delimiter, an @domain catch-all, an unknown user, a full
// mailbox, a uid below virtual_minimum_uid; the log lines as Postfix
// writes them, the mailbox bytes, done marks, bounce and defer logs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Config, ConfigError } from '../../src/config/config.js';
import { TableCache } from '../../src/address/maps.js';
import * as api from '../../src/delivery/api.js';
import { statusContext, type AgentOptions } from '../../src/delivery/agent.js';
import { virtualAgent, openVirtual } from '../../src/delivery/virtual/virtual.js';
import { createLogger, memorySink } from '../../src/log/logger.js';
import { DEFAULT_LAYOUT } from '../../src/queue/layout.js';
import { asctime } from '../../src/delivery/local/mail-copy.js';
import { virtualProgram } from '../../src/master/virtual-program.js';
import type { ProgramContext } from '../../src/master/program.js';
import * as net from 'node:net';
import { tempDir } from '../lib/tmp.js';
import { writeQueueFile } from './agent-harness.js';

const QID = '4F2A81C0D3E';
const NOW = { sec: 1003, usec: 250000 };
const STATS: api.MsgStats = {
  incomingArrival: { sec: 1000, usec: 0 }, activeArrival: { sec: 1000, usec: 500000 }, agentHandoff: { sec: 1001, usec: 0 },
  connSetupDone: api.NO_TIME, deliverDone: api.NO_TIME, reuseCount: 0,
};
const TIMES = 'delay=3.3, delays=0.5/0.5/0/2.3';
const isRoot = process.geteuid?.() === 0;
const PRIVATE_FS_EXT = '/tmp/fsext/node_modules/fs-ext';
if (process.env.POSTFIX_FS_EXT === undefined && fs.existsSync(PRIVATE_FS_EXT)) process.env.POSTFIX_FS_EXT = PRIVATE_FS_EXT;

interface Setup {
  root: string;
  base: string;
  queueDir: string;
  file: string;
  request: api.DeliveryRequest;
}

/** A queue directory with one message in active/ for the given recipients. */
function setup(rcpts: string[], body: string[], sender = 'sender@vd.example'): Setup {
  const root = tempDir('virtual-');
  fs.chmodSync(root, 0o755);
  const base = path.join(root, 'vmail');
  fs.mkdirSync(base, { mode: 0o1777 });
  fs.chmodSync(base, 0o1777);
  const queueDir = path.join(root, 'queue');
  const { file, dataOffset, recipients } = writeQueueFile(queueDir, rcpts, body, sender, QID);
  const request: api.DeliveryRequest = {
    flags: api.DEL_REQ_FLAG_DEFLT, queueName: 'active', queueId: QID, dataOffset, dataSize: 0, nexthop: 'vd.example',
    encoding: '7bit', smtputf8: 0, sender, stats: STATS, recipients,
    clientName: 'localhost', clientAddr: '127.0.0.1', clientPort: '12345', clientProto: 'ESMTP', clientHelo: 'client.example.com',
    saslMethod: '', saslUsername: '', saslSender: '', logIdent: QID, rewriteContext: 'remote', dsnEnvid: '', dsnRet: 0,
  };
  return { root, base, queueDir, file, request };
}

function config(s: Setup, extra: Array<[string, string]> = []): Config {
  const vmailbox = path.join(s.root, 'vmailbox');
  fs.writeFileSync(vmailbox, [
    'a@vd.example     vd.example/a', 'b@vd.example     vd.example/b/', 'c@vd.example     vd.example/c/',
    'full@vd.example  vd.example/full', 'low@vd.example   vd.example/low', '@vm.example      vm.example/catchall/', '',
  ].join('\n'));
  return Config.fromEntries(s.root, [
    ['myhostname', 'host.example.com'], ['mydomain', 'example.com'], ['mydestination', 'host.example.com'],
    ['virtual_mailbox_domains', 'vd.example, vm.example'], ['virtual_mailbox_base', s.base],
    ['virtual_mailbox_maps', `texthash:${vmailbox}`],
    ['virtual_uid_maps', 'inline:{ c@vd.example=6000, low@vd.example=42 }, static:5000'],
    ['virtual_gid_maps', 'static:5000'], ['virtual_minimum_uid', '100'],
    ['message_size_limit', '4000'], ['virtual_mailbox_limit', '6000'], ['recipient_delimiter', '+'],
    ['queue_directory', s.queueDir], ['deliver_lock_delay', '1s'],
    ...extra,
  ]);
}

async function run(s: Setup, conf: Config, lines: string[], over: Partial<api.DeliveryRequest> = {}): Promise<api.DeliveryReply> {
  const log = createLogger(memorySink(lines), 'postfix/virtual', 42);
  const opts: AgentOptions = {
    log, queueDir: s.queueDir, layout: DEFAULT_LAYOUT, softBounce: conf.getBool('soft_bounce'), oldlogCompat: true,
    delayMaxRes: 2, infoLogAddressFormat: 'external', now: () => NOW,
  };
  const handler = virtualAgent(conf, new TableCache(log, false), 'virtual');
  await handler.ready;
  const request = { ...s.request, ...over };
  const fh = await fs.promises.open(s.file, 'r+');
  try {
    return await handler({ request, status: statusContext(opts, request, fh), fh, log });
  } finally {
    await fh.close();
  }
}

function line(rcpt: string, dsn: string, status: string, reason: string): string {
  return `postfix/virtual[42]: ${QID}: to=<${rcpt}>, relay=virtual, ${TIMES}, dsn=${dsn}, status=${status} (${reason})`;
}

const BODY = ['Subject: hello', '', 'From the body', '.dot'];

test('virtual: mbox, Maildir, extension, catch-all, unknown, full, bad uid', async () => {
  const rcpts = ['a@vd.example', 'B+tag@VD.example', 'c@vd.example', 'x@vm.example', 'nobody@vd.example', 'full@vd.example', 'low@vd.example'];
  const s = setup(rcpts, BODY);
  const full = path.join(s.base, 'vd.example', 'full');
  fs.mkdirSync(path.dirname(full), { mode: 0o1777 });
  fs.chmodSync(path.dirname(full), 0o1777);
  fs.writeFileSync(full, 'x'.repeat(5950), { mode: 0o600 });
  if (isRoot) fs.chownSync(full, 5000, 5000);
  const lines: string[] = [];
  const before = asctime(new Date());
  const reply = await run(s, config(s), lines);
  assert.deepEqual(reply, { status: api.DEL_STAT_DEFER });
  assert.deepEqual(lines.filter((l) => !l.includes('fs-ext')), [
    line('a@vd.example', '2.0.0', 'sent', 'delivered to mailbox'),
    line('B+tag@VD.example', '2.0.0', 'sent', 'delivered to maildir'),
    line('c@vd.example', '2.0.0', 'sent', 'delivered to maildir'),
    line('x@vm.example', '2.0.0', 'sent', 'delivered to maildir'),
    line('nobody@vd.example', '5.1.1', 'bounced', 'unknown user: "nobody@vd.example"'),
    line('full@vd.example', '5.2.2', 'bounced', `delivery failed to mailbox ${full}: error writing message: File too large`),
    'postfix/virtual[42]: warning: recipient low@vd.example: bad uid 42 in virtual_uid_maps',
    line('low@vd.example', '4.3.5', 'deferred', 'mail system configuration error'),
  ]);
  // The mbox: From_ line, Return-Path, X-Original-To, Delivered-To, >From quoting, the blank line.
  const mbox = fs.readFileSync(path.join(s.base, 'vd.example', 'a'), 'latin1');
  const from = /^From sender@vd.example {2}(.{24})\n/.exec(mbox);
  assert.ok(from && (from[1] === before || from[1] === asctime(new Date())), mbox);
  assert.equal(mbox.slice(from![0].length),
    'Return-Path: <sender@vd.example>\nX-Original-To: a@vd.example\nDelivered-To: a@vd.example\nSubject: hello\n\n>From the body\n.dot\n\n');
  // Maildirs: Delivered-To keeps the recipient's case; no quoting.
  const one = (dir: string): string => {
    const names = fs.readdirSync(path.join(s.base, dir, 'new'));
    assert.equal(names.length, 1, dir);
    return fs.readFileSync(path.join(s.base, dir, 'new', names[0]!), 'latin1');
  };
  assert.equal(one('vd.example/b'),
    'Return-Path: <sender@vd.example>\nX-Original-To: B+tag@VD.example\nDelivered-To: B+tag@VD.example\nSubject: hello\n\nFrom the body\n.dot\n');
  assert.match(one('vm.example/catchall'), /^Return-Path: <sender@vd.example>\nX-Original-To: x@vm.example\nDelivered-To: x@vm.example\n/);
  assert.equal(fs.statSync(full).size, 5950);
  if (isRoot) {
    assert.equal(fs.statSync(path.join(s.base, 'vd.example', 'a')).uid, 5000);
    assert.equal(fs.statSync(path.join(s.base, 'vd.example', 'c', 'new')).uid, 6000);
    assert.equal(fs.statSync(path.join(s.base, 'vd.example', 'c', 'new')).gid, 5000);
  }
  // Done marks for everyone but the deferred recipient; the bounce and defer logs.
  const qf = fs.readFileSync(s.file);
  assert.equal(s.request.recipients.map((r) => String.fromCharCode(qf[r.offset]!)).join(''), 'DDDDDDR');
  const bounceLog = fs.readFileSync(path.join(s.queueDir, 'bounce', QID), 'latin1');
  assert.match(bounceLog, /recipient=nobody@vd.example\n[^]*status=5.1.1\n[^]*recipient=full@vd.example/);
  const deferDir = path.join(s.queueDir, 'defer');
  const deferLog = fs.readFileSync(path.join(deferDir, fs.readdirSync(deferDir)[0]!, QID), 'latin1');
  assert.match(deferLog, /recipient=low@vd.example\n[^]*status=4.3.5\n/);
});

test('virtual: trace-only requests, soft_bounce, a table that fails', async () => {
  const s = setup(['a@vd.example', 'b@vd.example', 'nobody@vd.example'], BODY);
  const lines: string[] = [];
  const reply = await run(s, config(s), lines, { flags: api.DEL_REQ_FLAG_MTA_VRFY });
  assert.deepEqual(reply, { status: api.DEL_STAT_FINAL });
  assert.equal(fs.existsSync(path.join(s.base, 'vd.example')), false);
  assert.match(lines[0]!, /to=<a@vd.example>, .*dsn=2.0.0, status=deliverable \(delivers to mailbox\)$/);
  assert.match(lines[1]!, /to=<b@vd.example>, .*dsn=2.0.0, status=deliverable \(delivers to maildir\)$/);
  assert.match(lines[2]!, /to=<nobody@vd.example>, .*dsn=5.1.1, status=undeliverable \(unknown user: "nobody@vd.example"\)$/);

  const s2 = setup(['nobody@vd.example', 'a@vd.example'], BODY);
  const soft: string[] = [];
  assert.deepEqual(await run(s2, config(s2, [['soft_bounce', 'yes'], ['virtual_mailbox_maps', `texthash:${s2.root}/missing`]]), soft), { status: api.DEL_STAT_DEFER });
  assert.ok(soft.some((l) => l.includes('to=<nobody@vd.example>') && l.includes('status=deferred (mail system configuration error)')), soft.join('\n'));
});

test('virtual: configuration refused as virtual(8) refuses it', async () => {
  const s = setup(['a@vd.example'], BODY);
  await assert.rejects(openVirtual(config(s, [['virtual_mailbox_limit', '1000']])),
    (e: Error) => e instanceof ConfigError && e.message === 'configuration error: virtual_mailbox_limit is smaller than message_size_limit');
  await assert.rejects(openVirtual(config(s, [['virtual_mailbox_base', 'relative']])),
    (e: Error) => e.message === 'do not specify relative pathname: virtual_mailbox_base = relative');
  await assert.rejects(openVirtual(config(s, [['virtual_mailbox_lock', 'fcntl, bogus']])),
    (e: Error) => e.message === 'unknown mailbox_delivery_lock value "bogus" in "fcntl, bogus"');
});

test('virtual as a master program: one request over a unix socket, one reply', async () => {
  const s = setup(['a@vd.example', 'nobody@vd.example'], BODY);
  // virtual(8) makes Maildir directories, never the directory of an mbox file.
  fs.mkdirSync(path.join(s.base, 'vd.example'), { mode: 0o1777 });
  fs.chmodSync(path.join(s.base, 'vd.example'), 0o1777);
  const conf = config(s);
  const lines: string[] = [];
  const sink = memorySink(lines);
  const ctx = {
    init: { service: 'myvirtual' }, config: () => conf, sink, log: createLogger(sink, 'postfix/virtual', 42),
    anvil: {}, listeners: [],
  } as unknown as ProgramContext;
  const program = virtualProgram.start(ctx);
  await program.ready;
  const sock = path.join(s.root, 'virtual.sock');
  const server = net.createServer((c) => program.connection!(c, {} as never));
  await new Promise<void>((r) => server.listen(sock, r));
  const client = net.connect(sock);
  const reply = await new Promise<string>((resolve) => {
    let buf = '';
    client.on('data', (b) => {
      buf += b.toString();
      if (buf.includes('\n')) resolve(buf);
    });
    client.write(`${api.encodeRequest(s.request)}\n`);
  });
  client.end();
  server.close();
  await program.close();
  assert.deepEqual(api.decodeReply(reply.trim()), { status: api.DEL_STAT_FINAL }, lines.join('\n'));
  const relays = lines.filter((l) => l.includes(' to=<')).map((l) => /to=<([^>]*)>, relay=([^,]*),.*status=(\w+)/.exec(l)!.slice(1).join(' '));
  assert.deepEqual(relays, ['a@vd.example myvirtual sent', 'nobody@vd.example myvirtual bounced']);
});
