// The local delivery primitives (src/delivery/local/): mail_copy's bytes
// against the mbox and Maildir files recorded from Postfix 3.7.11
// (fixtures/delivery/03-mbox, 04-maildir), locks held by someone else,
// the size limit, safe_open's refusals, and commands (environment, exit
// codes, output, time limit). Deliveries as another uid: local-root.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { unquote822Local } from '../../src/address/quote.js';
import { encodeRecord } from '../../src/queue/record.js';
import { REC_TYPE } from '../../src/queue/rec-type.js';
import {
  MAIL_COPY_DELIVERED, MAIL_COPY_FROM, MAIL_COPY_MBOX, MAIL_COPY_ORIG_RCPT, MAIL_COPY_RETURN, MAIL_COPY_TOFILE,
  asctime, buildMessageCopy, type CopySource,
} from '../../src/delivery/local/mail-copy.js';
import { deliverMboxFile } from '../../src/delivery/local/mailbox-file.js';
import { deliverMaildir } from '../../src/delivery/local/maildir.js';
import { deliverCommand, commandArgv } from '../../src/delivery/local/command.js';
import { kernelLocksAvailable, loadFsExt, type LockTiming } from '../../src/delivery/local/mbox-lock.js';
import type { RunAs } from '../../src/delivery/local/privs.js';
import { tempDir } from '../lib/tmp.js';

const FIXTURES = path.resolve('fixtures/delivery');
const PRIVATE_FS_EXT = '/tmp/fsext/node_modules/fs-ext';
if (process.env.POSTFIX_FS_EXT === undefined && fs.existsSync(PRIVATE_FS_EXT)) process.env.POSTFIX_FS_EXT = PRIVATE_FS_EXT;

const me: RunAs = { uid: process.getuid!(), gid: process.getgid!(), name: 'tester' };
const FAST: LockTiming = { attempts: 200, delayMs: 5, staleSec: 500 };
const NOW = new Date(2026, 11, 6, 2, 6, 0);

/** A queue file image: envelope, the content lines as N records, X, E; returns its fd and data offset. */
function queueFile(dir: string, lines: string[], sender = 'sender@example.com', end = true): { fd: number; dataOffset: number } {
  const head = Buffer.concat([
    encodeRecord(REC_TYPE.TIME, '1795303967 68429'),
    encodeRecord(REC_TYPE.FROM, sender),
    encodeRecord(REC_TYPE.MESG, ''),
  ]);
  const body = lines.map((l) => encodeRecord(REC_TYPE.NORM, Buffer.from(l, 'latin1')));
  const tail = end ? [encodeRecord(REC_TYPE.XTRA, ''), encodeRecord(REC_TYPE.END, '')] : [];
  const file = path.join(dir, `q${Math.random().toString(16).slice(2)}`);
  fs.writeFileSync(file, Buffer.concat([head, ...body, ...tail]));
  return { fd: fs.openSync(file, 'r'), dataOffset: head.length };
}

interface Recorded {
  sender: string;
  origRcpt: string;
  deliveredTo: string;
  lines: string[];
}

/** Splits a recorded mbox file back into the envelope and content each message was delivered from. */
function parseMbox(text: string): Recorded[] {
  const out: Recorded[] = [];
  const lines = text.split('\n');
  lines.pop();
  let cur: Recorded | null = null;
  let inHead = false;
  for (const line of lines) {
    if (line.startsWith('From ')) {
      if (cur) cur.lines.pop(); // the blank line mail_copy adds
      cur = { sender: '', origRcpt: '', deliveredTo: '', lines: [] };
      out.push(cur);
      inHead = true;
      continue;
    }
    if (!cur) throw new Error('no From_ line');
    if (inHead) {
      const m = /^(Return-Path|X-Original-To|Delivered-To): (.*)$/.exec(line);
      if (m) {
        if (m[1] === 'Return-Path') cur.sender = unquote822Local(m[2]!.slice(1, -1));
        else if (m[1] === 'X-Original-To') cur.origRcpt = unquote822Local(m[2]!);
        else cur.deliveredTo = unquote822Local(m[2]!);
        continue;
      }
      inHead = false;
    }
    cur.lines.push(line.startsWith('>From ') ? line.slice(1) : line);
  }
  if (cur) cur.lines.pop();
  return out;
}

function source(q: { fd: number; dataOffset: number }, m: Omit<Recorded, 'lines'>): CopySource {
  return { fd: q.fd, dataOffset: q.dataOffset, sender: m.sender, deliveredTo: m.deliveredTo, origRcpt: m.origRcpt };
}

test('asctime: the From_ line date', () => {
  assert.equal(asctime(new Date(2026, 11, 6, 2, 6, 0)), 'Sun Dec  6 02:06:00 2026');
  assert.equal(asctime(new Date(2024, 0, 31, 23, 59, 9)), 'Wed Jan 31 23:59:09 2024');
});

/** Every mbox file the recorded deliveries wrote: mailboxes and /file destinations. */
function recordedMboxes(): string[] {
  const out: string[] = [];
  for (const fixture of fs.readdirSync(FIXTURES).sort()) {
    for (const sub of ['mail', 'out']) {
      const dir = path.join(FIXTURES, fixture, 'expected/files', sub);
      if (!fs.existsSync(dir)) continue;
      for (const name of fs.readdirSync(dir).sort()) {
        if (sub === 'mail' || name.endsWith('.mbox')) out.push(path.join(fixture, 'expected/files', sub, name));
      }
    }
  }
  return out;
}

for (const rel of recordedMboxes()) {
  test(`mbox bytes as Postfix wrote ${rel}`, async () => {
    const expected = fs.readFileSync(path.join(FIXTURES, rel), 'latin1');
    const dir = tempDir('mbox-');
    const mbox = path.join(dir, 'mbox');
    const kind = rel.includes('/out/') ? 'file' : 'mailbox';
    for (const m of parseMbox(expected)) {
      const q = queueFile(dir, m.lines, m.sender);
      const r = await deliverMboxFile(mbox, me, {
        source: source(q, m), copyFlags: MAIL_COPY_MBOX, locks: ['fcntl', 'dotlock'], sizeLimit: 51200000,
        kind, timing: FAST, now: NOW, strictOwner: true,
      });
      fs.closeSync(q.fd);
      assert.deepEqual(r, { ok: true, reason: kind === 'file' ? `delivered to file: ${mbox}` : 'delivered to mailbox' });
    }
    const got = fs.readFileSync(mbox, 'latin1').replaceAll(asctime(NOW), '@CTIME@');
    assert.equal(got, expected);
    assert.equal(fs.statSync(mbox).mode & 0o777, 0o600);
    assert.equal(fs.existsSync(`${mbox}.lock`), false);
  });
}

test('mail_copy: null sender, From_ quoting, a final L record, no X record', () => {
  const dir = tempDir('copy-');
  const q = queueFile(dir, ['From me', ' From x', 'From:y', '>From z', ''], '');
  const src: CopySource = { fd: q.fd, dataOffset: q.dataOffset, sender: '', deliveredTo: 'a b@example.com', origRcpt: '' };
  const r = buildMessageCopy(src, MAIL_COPY_MBOX, '\n', NOW);
  assert.ok(r.ok);
  assert.equal(r.data.toString('latin1'),
    'From MAILER-DAEMON  Sun Dec  6 02:06:00 2026\nReturn-Path: <>\nDelivered-To: "a b"@example.com\n'
    + '>From me\n From x\nFrom:y\n>From z\n\n\n');
  const crlf = buildMessageCopy(src, MAIL_COPY_RETURN | MAIL_COPY_DELIVERED, '\r\n');
  assert.ok(crlf.ok);
  assert.equal(crlf.data.toString('latin1'), 'Return-Path: <>\r\nDelivered-To: "a b"@example.com\r\nFrom me\r\n From x\r\nFrom:y\r\n>From z\r\n\r\n');
  fs.closeSync(q.fd);

  // An unterminated line (L record) gets its line end; content without the X record is corrupt.
  const file = path.join(dir, 'partial');
  const head = Buffer.concat([encodeRecord(REC_TYPE.MESG, '')]);
  fs.writeFileSync(file, Buffer.concat([head, encodeRecord(REC_TYPE.CONT, 'abc'), encodeRecord(REC_TYPE.CONT, 'def'), encodeRecord(REC_TYPE.END, '')]));
  const fd = fs.openSync(file, 'r');
  const bad = buildMessageCopy({ fd, dataOffset: head.length, sender: 's', deliveredTo: 'd', origRcpt: '' }, 0, '\n');
  fs.closeSync(fd);
  assert.equal(bad.ok, false);
  assert.ok(!bad.ok && bad.corrupt);
  assert.ok(!bad.ok && bad.corrupt && bad.data.toString() === 'abcdef\n');
  assert.ok(!bad.ok && bad.corrupt && bad.warning === 'bad record type: 69 in message content');
});

/** Every Maildir message the recorded deliveries wrote (local and virtual). */
function recordedMaildirFiles(): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (path.basename(dir) === 'new') out.push(p);
    }
  };
  walk(FIXTURES);
  return out.sort();
}

test('Maildir bytes as Postfix wrote them (04-maildir, 06-virtual, 08-full-mailbox), names, modes', async () => {
  const files = recordedMaildirFiles();
  assert.ok(files.length >= 10);
  const dir = tempDir('maildir-');
  const maildir = path.join(dir, 'home', 'Maildir') + '/';
  for (const file of files) {
    const expected = fs.readFileSync(file, 'latin1');
    // Maildir content is not quoted: only the three prepended headers are envelope.
    const lines = expected.split('\n').slice(0, -1);
    const m: Recorded = { sender: '', origRcpt: '', deliveredTo: '', lines: [] };
    for (const line of lines) {
      const h = m.lines.length === 0 ? /^(Return-Path|X-Original-To|Delivered-To): (.*)$/.exec(line) : null;
      if (h?.[1] === 'Return-Path') m.sender = unquote822Local(h[2]!.slice(1, -1));
      else if (h?.[1] === 'X-Original-To') m.origRcpt = unquote822Local(h[2]!);
      else if (h?.[1] === 'Delivered-To') m.deliveredTo = unquote822Local(h[2]!);
      else m.lines.push(line);
    }
    const q = queueFile(dir, m.lines, m.sender);
    const r = await deliverMaildir(maildir, me, {
      source: source(q, m), copyFlags: MAIL_COPY_TOFILE | MAIL_COPY_RETURN | MAIL_COPY_ORIG_RCPT | MAIL_COPY_DELIVERED,
      sizeLimit: 0, kind: 'mailbox', hostname: 'host.example.com',
    });
    fs.closeSync(q.fd);
    assert.deepEqual(r, { ok: true, reason: 'delivered to maildir' });
    const made = fs.readdirSync(`${maildir}new`);
    assert.equal(made.length, 1);
    assert.match(made[0]!, /^\d+\.V[0-9a-f]+I[0-9a-f]+M\d+\.host\.example\.com$/);
    const written = `${maildir}new/${made[0]}`;
    assert.equal(fs.readFileSync(written, 'latin1'), expected, file);
    assert.equal(fs.statSync(written).mode & 0o777, 0o600);
    fs.unlinkSync(written);
  }
  for (const sub of ['', 'tmp', 'new', 'cur']) assert.equal(fs.statSync(maildir + sub).mode & 0o777, 0o700, sub);
  assert.deepEqual(fs.readdirSync(`${maildir}tmp`), []);
});

test('Maildir: a message over the limit is refused, tmp/ left empty', async () => {
  const dir = tempDir('maildir-');
  const q = queueFile(dir, ['Subject: big', '', 'x'.repeat(500)]);
  const r = await deliverMaildir(`${dir}/Maildir/`, me, {
    source: { fd: q.fd, dataOffset: q.dataOffset, sender: 's@x', deliveredTo: 'u@x', origRcpt: '' },
    copyFlags: MAIL_COPY_TOFILE | MAIL_COPY_RETURN, sizeLimit: 100, kind: 'virtual',
  });
  fs.closeSync(q.fd);
  assert.deepEqual(r, { ok: false, soft: false, dsn: '5.2.2', reason: 'maildir delivery failed: error writing message: File too large' });
  assert.deepEqual(fs.readdirSync(`${dir}/Maildir/tmp`), []);
  assert.equal(fs.existsSync(`${dir}/Maildir/new`), false);
});

async function deliverOne(mbox: string, extra: Partial<Parameters<typeof deliverMboxFile>[2]> = {}, lines = ['Subject: t', '', 'body']) {
  const q = queueFile(tempDir('q-'), lines);
  try {
    return await deliverMboxFile(mbox, { ...me, name: 'pfuser' }, {
      source: { fd: q.fd, dataOffset: q.dataOffset, sender: 'sender@example.com', deliveredTo: 'pfuser@example.com', origRcpt: 'pfuser@example.com' },
      copyFlags: MAIL_COPY_MBOX, locks: ['fcntl', 'dotlock'], sizeLimit: 0, kind: 'mailbox', timing: FAST, now: NOW,
      ...extra,
    });
  } finally {
    fs.closeSync(q.fd);
  }
}

test('mailbox_size_limit: File too large, the mailbox cut back to its size', async () => {
  const dir = tempDir('full-');
  const mbox = path.join(dir, 'pfuser');
  fs.writeFileSync(mbox, 'x'.repeat(300), { mode: 0o600 });
  const r = await deliverOne(mbox, { sizeLimit: 400 });
  assert.deepEqual(r, {
    ok: false, soft: false, dsn: '5.2.2',
    reason: `cannot update mailbox ${mbox} for user pfuser. error writing message: File too large`,
    dtext: 'input/output error',
  });
  assert.equal(fs.statSync(mbox).size, 300);
  assert.equal(fs.existsSync(`${mbox}.lock`), false);
  const f = await deliverOne(mbox, { sizeLimit: 400, kind: 'file' });
  assert.equal(f.ok ? '' : f.reason, `cannot append message to file ${mbox}: error writing message: File too large`);
  const ok = await deliverOne(mbox, { sizeLimit: 2000 });
  assert.equal(ok.ok, true);
  assert.ok(fs.statSync(mbox).size > 300);
});

test('safe_open: symlinks, hard links and directories are refused', async () => {
  const dir = tempDir('safe-');
  fs.chmodSync(dir, 0o1777); // not a trusted parent, even for a root-owned link
  const target = path.join(dir, 'target');
  fs.writeFileSync(target, '', { mode: 0o600 });
  const link = path.join(dir, 'link');
  fs.symlinkSync(target, link);
  const r = await deliverOne(link, { locks: ['fcntl'] });
  assert.deepEqual(r, { ok: false, soft: false, dsn: '5.2.0', reason: `cannot update mailbox ${link} for user pfuser. file is a symbolic link` });
  const hard = path.join(dir, 'hard');
  fs.linkSync(target, hard);
  const h = await deliverOne(hard, { locks: ['fcntl'] });
  assert.equal(h.ok ? '' : h.reason, `cannot update mailbox ${hard} for user pfuser. file has 2 hard links`);
  const sub = path.join(dir, 'sub');
  fs.mkdirSync(sub);
  const d = await deliverOne(sub, { locks: ['fcntl'] });
  assert.equal(d.ok ? '' : d.reason, `cannot update mailbox ${sub} for user pfuser. cannot open file: Is a directory`);
  assert.equal(fs.statSync(target).size, 0);
  const missing = path.join(dir, 'nodir', 'file');
  const warnings: string[] = [];
  const n = await deliverOne(missing, { kind: 'file', locks: ['dotlock'], warn: (w) => warnings.push(w) });
  assert.equal(n.ok ? '' : n.reason, `cannot append message to file ${missing}: cannot create file exclusively: No such file or directory`);
  assert.deepEqual(warnings, [`unable to create lock file ${missing}.lock: No such file or directory`]);
});

test('dotlock held by another: delivery waits, then succeeds', async () => {
  const dir = tempDir('dot-');
  const mbox = path.join(dir, 'pfuser');
  fs.writeFileSync(`${mbox}.lock`, '');
  let waits = 0;
  const r = await deliverOne(mbox, {
    locks: ['dotlock'],
    timing: { ...FAST, onWait: () => { if (waits++ === 0) fs.unlinkSync(`${mbox}.lock`); } },
  });
  assert.equal(r.ok, true);
  assert.ok(waits >= 1);
  assert.equal(fs.existsSync(`${mbox}.lock`), false);
  // Still held after all attempts: a soft failure.
  fs.writeFileSync(`${mbox}.lock`, '');
  const t = await deliverOne(mbox, { locks: ['dotlock'], timing: { attempts: 2, delayMs: 1, staleSec: 500 } });
  assert.deepEqual(t, { ok: false, soft: true, dsn: '4.2.0', reason: `cannot update mailbox ${mbox} for user pfuser. unable to create lock file ${mbox}.lock: File exists` });
  // A stale lock is broken.
  const old = new Date(Date.now() - 1000 * 1000);
  fs.utimesSync(`${mbox}.lock`, old, old);
  const s = await deliverOne(mbox, { locks: ['dotlock'], timing: { attempts: 3, delayMs: 1, staleSec: 0 } });
  assert.equal(s.ok, true);
});

test('flock held by another descriptor: delivery waits, then succeeds', { skip: !kernelLocksAvailable() && 'fs-ext is not installed' }, async () => {
  const fsx = loadFsExt()!;
  const dir = tempDir('flock-');
  const mbox = path.join(dir, 'pfuser');
  fs.writeFileSync(mbox, '', { mode: 0o600 });
  const holder = fs.openSync(mbox, 'r+');
  await new Promise<void>((resolve, reject) => fsx.flock(holder, 'exnb', (e) => (e ? reject(e) : resolve())));
  let waits = 0;
  const r = await deliverOne(mbox, {
    locks: ['flock'],
    timing: { ...FAST, onWait: (what) => { assert.equal(what, 'flock'); if (waits++ === 0) fs.closeSync(holder); } },
  });
  assert.equal(r.ok, true);
  assert.ok(waits >= 1);
  assert.match(fs.readFileSync(mbox, 'latin1'), /^From sender@example.com {2}/);
});

test('fcntl lock held by another process: delivery waits, then succeeds', { skip: !kernelLocksAvailable() && 'fs-ext is not installed' }, async () => {
  const dir = tempDir('fcntl-');
  const mbox = path.join(dir, 'pfuser');
  fs.writeFileSync(mbox, '', { mode: 0o600 });
  const script = `
    const fsx = require(${JSON.stringify(process.env.POSTFIX_FS_EXT ?? 'fs-ext')});
    const fd = require('fs').openSync(${JSON.stringify(mbox)}, 'r+');
    fsx.fcntl(fd, 'setlk', fsx.constants.F_WRLCK, (e) => {
      if (e) { console.log('error ' + e.code); process.exit(1); }
      console.log('locked');
      process.stdin.once('data', () => fsx.fcntl(fd, 'setlk', fsx.constants.F_UNLCK, () => { console.log('unlocked'); process.exit(0); }));
    });`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  assert.equal((await lines.next()).value, 'locked');
  let waits = 0;
  const r = await deliverOne(mbox, {
    locks: ['fcntl'],
    timing: { ...FAST, onWait: () => { if (waits++ === 0) child.stdin!.write('go\n'); } },
  });
  assert.equal(r.ok, true);
  assert.ok(waits >= 1);
  assert.equal((await lines.next()).value, 'unlocked');
});

test('deliveries of one process to one mailbox do not interleave', async () => {
  const dir = tempDir('conc-');
  const mbox = path.join(dir, 'pfuser');
  const bodies = Array.from({ length: 8 }, (_, i) => ['Subject: ' + i, '', String(i).repeat(20000)]);
  const rs = await Promise.all(bodies.map((b) => deliverOne(mbox, { locks: ['fcntl'] }, b)));
  assert.ok(rs.every((r) => r.ok));
  const text = fs.readFileSync(mbox, 'latin1');
  for (let i = 0; i < 8; i++) assert.ok(text.includes(`Subject: ${i}\n\n${String(i).repeat(20000)}\n\n`));
});

test('a queue file whose content does not end in X is marked corrupt', async () => {
  const dir = tempDir('corrupt-');
  const q = queueFile(dir, ['Subject: t', '', 'body'], 's@example.com', false);
  const mbox = path.join(dir, 'pfuser');
  fs.writeFileSync(mbox, 'old\n', { mode: 0o600 });
  const warnings: string[] = [];
  const r = await deliverMboxFile(mbox, me, {
    source: { fd: q.fd, dataOffset: q.dataOffset, sender: 's@example.com', deliveredTo: 'u@x', origRcpt: '', path: 'active/ABC' },
    copyFlags: MAIL_COPY_MBOX, locks: ['dotlock'], sizeLimit: 0, kind: 'mailbox', warn: (w) => warnings.push(w),
  });
  assert.deepEqual(r, { ok: false, soft: true, dsn: '4.3.0', reason: 'corrupted queue file', corrupt: true });
  assert.deepEqual(warnings, ['bad record type: -1 in message content', 'corrupted queue file: active/ABC']);
  assert.equal(fs.fstatSync(q.fd).mode & 0o777, 0o400);
  assert.equal(fs.readFileSync(mbox, 'latin1'), 'old\n');
  fs.closeSync(q.fd);
});

test('a file destination: executable files refused, /dev/null accepted', async () => {
  const dir = tempDir('file-');
  const exe = path.join(dir, 'exe');
  fs.writeFileSync(exe, '', { mode: 0o700 });
  const r = await deliverOne(exe, { kind: 'file' });
  assert.deepEqual(r, { ok: false, soft: false, dsn: '5.7.1', reason: `cannot append message to file ${exe}: file is executable` });
  const n = await deliverOne('/dev/null', { kind: 'file' });
  assert.deepEqual(n, { ok: true, reason: 'delivered to file: /dev/null' });
});

async function runCommand(command: string, extra: Partial<Parameters<typeof deliverCommand>[2]> = {}) {
  const dir = tempDir('cmd-');
  const q = queueFile(dir, ['Subject: cmd', '', 'From the body']);
  try {
    return await deliverCommand(command, me, {
      source: { fd: q.fd, dataOffset: q.dataOffset, sender: 'sender@example.com', deliveredTo: 'pfuser@example.com', origRcpt: 'PFUSER' },
      copyFlags: MAIL_COPY_FROM | MAIL_COPY_RETURN | MAIL_COPY_ORIG_RCPT | MAIL_COPY_DELIVERED,
      env: { USER: 'pfuser', EXTENSION: 'ext' }, cwd: dir, shell: '', timeLimit: 1000, exportEnv: ['TZ', 'MAIL_CONFIG=/etc/x', 'LANG'],
      ...extra,
    });
  } finally {
    fs.closeSync(q.fd);
  }
}

test('command: environment, cwd, umask, standard input', async () => {
  const dir = tempDir('cmdout-');
  const out = path.join(dir, 'out');
  const r = await runCommand(`{ env | LC_ALL=C sort; pwd; umask; cat; } > ${out}`, { cwd: dir });
  assert.deepEqual(r, { ok: true, reason: `delivered to command: { env | LC_ALL=C sort; pwd; umask; cat; } > ${out}` });
  const text = fs.readFileSync(out, 'latin1');
  const env = text.split('\n').filter((l) => /^[A-Z_]+=/.test(l) && !l.startsWith('PWD=') && !l.startsWith('SHLVL=') && !l.startsWith('_='));
  const want = ['EXTENSION=ext', 'MAIL_CONFIG=/etc/x', 'PATH=/usr/bin:/bin', 'USER=pfuser'];
  if (process.env.LANG !== undefined) want.push(`LANG=${process.env.LANG}`);
  if (process.env.TZ !== undefined) want.push(`TZ=${process.env.TZ}`);
  assert.deepEqual(env, want.sort());
  assert.ok(text.includes(`\n${dir}\n0077\nFrom sender@example.com  `), text);
  assert.ok(text.endsWith('\nReturn-Path: <sender@example.com>\nX-Original-To: PFUSER\nDelivered-To: pfuser@example.com\nSubject: cmd\n\nFrom the body\n'), text);
});

test('command: sysexits codes, output in the reason, signals, other codes', async () => {
  assert.deepEqual(await runCommand('echo "mda: mailbox locked, try again later"; exit 75'),
    { ok: false, soft: true, dsn: '4.3.0', reason: 'temporary failure. Command output: mda: mailbox locked, try again later ', dtext: 'mda: mailbox locked, try again later ' });
  assert.deepEqual(await runCommand('echo "mda: no such mailbox" >&2; exit 67'),
    { ok: false, soft: false, dsn: '5.1.1', reason: 'user unknown. Command output: mda: no such mailbox ', dtext: 'mda: no such mailbox ' });
  assert.deepEqual(await runCommand('exit 67'), { ok: false, soft: false, dsn: '5.1.1', reason: 'user unknown', dtext: 'user unknown' });
  assert.deepEqual(await runCommand('exit 3'), { ok: false, soft: false, dsn: '5.3.0', reason: 'Command died with status 3: "exit 3"', dtext: 'unknown mail system error 3' });
  assert.deepEqual(await runCommand('printf "4.2.2 over quota\\tnow"; exit 1'), { ok: false, soft: true, dsn: '4.2.2', reason: 'over quota now', dtext: 'over quota now' });
  assert.deepEqual(await runCommand('printf "a\\001b"; kill -9 $$'), { ok: false, soft: true, dsn: '4.3.0', reason: 'Command died with signal 9: "printf "a\\001b"; kill -9 $$". Command output: a_b', dtext: 'a_b' });
  assert.deepEqual(await runCommand('exec true'), { ok: true, reason: 'delivered to command: exec true' });
});

test('command: time limit kills the process group', async () => {
  const r = await runCommand('echo started; sleep 60 & sleep 60', { timeLimit: 1 });
  assert.deepEqual(r, { ok: false, soft: false, dsn: '5.3.0', reason: 'Command time limit exceeded: "echo started; sleep 60 & sleep 60". Command output: started ', dtext: 'started ' });
});

test('command: mailbox_size_limit applies to what the command writes', { skip: !fs.existsSync('/usr/bin/prlimit') && 'no prlimit' }, async () => {
  const dir = tempDir('fsize-');
  const big = path.join(dir, 'big');
  const r = await runCommand(`exec head -c 5000 /dev/zero > ${big}`, { fileSizeLimit: 1000 });
  assert.deepEqual(r, { ok: false, soft: true, dsn: '4.3.0', reason: `Command died with signal 25: "exec head -c 5000 /dev/zero > ${big}"`, dtext: 'internal software error' });
  assert.equal(fs.statSync(big).size, 1000);
});

/** The standard input of every recorded command run: what Postfix piped into mailbox_command and |command destinations. */
function recordedCommandInputs(): Array<{ rel: string; input: string }> {
  const out: Array<{ rel: string; input: string }> = [];
  for (const fixture of fs.readdirSync(FIXTURES).sort()) {
    const dir = path.join(FIXTURES, fixture, 'expected/files/out');
    if (!fs.existsSync(dir)) continue;
    for (const name of fs.readdirSync(dir).filter((n) => n.endsWith('.txt')).sort()) {
      const text = fs.readFileSync(path.join(dir, name), 'latin1');
      text.split(/^(?==== (?:mda|capture)\b)/m).forEach((run, i) => {
        const at = run.indexOf('\n--- stdin\n');
        if (at >= 0) out.push({ rel: `${fixture}/out/${name}#${i + 1}`, input: run.slice(at + '\n--- stdin\n'.length) });
      });
    }
  }
  return out;
}

test('command input as Postfix piped it (01, 02, 05, 10 fixtures)', async () => {
  const inputs = recordedCommandInputs();
  assert.ok(inputs.length >= 10);
  const dir = tempDir('cmdin-');
  const out = path.join(dir, 'stdin');
  for (const { rel, input } of inputs) {
    const lines = input.split('\n').slice(0, -1);
    assert.match(lines[0]!, /^From \S+ {2}@CTIME@$/, rel);
    const m: Recorded = { sender: '', origRcpt: '', deliveredTo: '', lines: [] };
    for (const line of lines.slice(1)) {
      const h = m.lines.length === 0 ? /^(Return-Path|X-Original-To|Delivered-To): (.*)$/.exec(line) : null;
      if (h?.[1] === 'Return-Path') m.sender = unquote822Local(h[2]!.slice(1, -1));
      else if (h?.[1] === 'X-Original-To') m.origRcpt = unquote822Local(h[2]!);
      else if (h?.[1] === 'Delivered-To') m.deliveredTo = unquote822Local(h[2]!);
      else m.lines.push(line);
    }
    const q = queueFile(dir, m.lines, m.sender);
    const r = await deliverCommand(`cat > ${out}`, me, {
      source: source(q, m), copyFlags: MAIL_COPY_FROM | MAIL_COPY_RETURN | MAIL_COPY_ORIG_RCPT | MAIL_COPY_DELIVERED,
      env: {}, cwd: dir, shell: '', timeLimit: 100,
    });
    fs.closeSync(q.fd);
    assert.equal(r.ok, true, rel);
    const got = fs.readFileSync(out, 'latin1').replace(/^(From \S+ {2}).{24}\n/, '$1@CTIME@\n');
    assert.equal(got, input, rel);
  }
});

test('command: how it is executed', () => {
  assert.deepEqual(commandArgv('/usr/bin/procmail -a x', ''), { file: '/usr/bin/procmail', args: ['-a', 'x'], plain: true });
  assert.deepEqual(commandArgv('/bin/mda -x "$EXTENSION"', ''), { file: '/bin/sh', args: ['-c', '/bin/mda -x "$EXTENSION"'], argv0: 'sh', plain: false });
  assert.deepEqual(commandArgv('mda x', '/bin/bash -c'), { file: '/bin/bash', args: ['-c', 'mda x'], plain: false });
});
