// local(8)'s delivery logic (src/delivery/local) run in-process against
// queue files made by this project's cleanup service in a temporary spool
// (./local-agent-harness.ts): aliases, .forward files, :include: lists,
// files, commands, forwarding through cleanup, unknown users, loops,
// extensions, Maildir, mailbox_command, the hand-over to mailbox_transport,
// biff, and master/local-program.ts serving a connection. Throw-away Unix
// users are created with useradd (root only; those tests are skipped
// otherwise). Mailbox bytes and log lines are compared with the forms of
// fixtures/delivery/*/expected after normalising times.
import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { createLogger, memorySink } from '../../src/log/logger.js';
import { readQueueFile } from '../../src/queue/reader.js';
import { agentOptions, serveAgentConnection } from '../../src/delivery/agent.js';
import { decodeRequest } from '../../src/delivery/api.js';
import { localProgram } from '../../src/master/local-program.js';
import { socketPass } from '../../src/delivery/local/pass.js';
import { tempDir } from '../lib/tmp.js';
import { Harness, MSG, type User, Users, isRoot, line, makeRoot, normMbox, requestOverSocket } from './local-agent-harness.js';

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

describe('local(8) configuration refusals', () => {
  for (const [settings, text] of [
    [{ mailbox_size_limit: '1000', message_size_limit: '2000' }, 'configuration error: mailbox_size_limit is smaller than message_size_limit'],
    [{ mailbox_size_limit: '1000', message_size_limit: '0' }, 'configuration error: mailbox_size_limit is limited but message_size_limit is unlimited'],
    [{ allow_mail_to_files: 'alias, everything' }, 'unknown allow_mail_to_files value "everything" in "alias, everything"'],
  ] as Array<[Record<string, string>, string]>) {
    it(`refuses ${JSON.stringify(settings)}`, async () => {
      const h = new Harness(makeRoot('local-refusal-', []), settings);
      await assert.rejects(h.start(), (e: Error) => e.message === text);
      await h.cleanup.close();
      await h.resolver.close();
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
