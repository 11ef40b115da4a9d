// Deliveries for another user, as root: mailbox, Maildir and command run
// with that user's uid and gid (the files they create belong to the user),
// and the process is root again afterwards. Uses a throw-away Unix user,
// removed at the end; skipped when the tests do not run as root.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { encodeRecord } from '../../src/queue/record.js';
import { REC_TYPE } from '../../src/queue/rec-type.js';
import { MAIL_COPY_FROM, MAIL_COPY_MBOX, MAIL_COPY_RETURN, MAIL_COPY_TOFILE } from '../../src/delivery/local/mail-copy.js';
import { deliverMboxFile } from '../../src/delivery/local/mailbox-file.js';
import { deliverMaildir } from '../../src/delivery/local/maildir.js';
import { deliverCommand } from '../../src/delivery/local/command.js';
import type { RunAs } from '../../src/delivery/local/privs.js';
import { tempDir } from '../lib/tmp.js';

const PRIVATE_FS_EXT = '/tmp/fsext/node_modules/fs-ext';
if (process.env.POSTFIX_FS_EXT === undefined && fs.existsSync(PRIVATE_FS_EXT)) process.env.POSTFIX_FS_EXT = PRIVATE_FS_EXT;
const isRoot = process.geteuid?.() === 0;
const skip = isRoot ? false : 'needs root: deliveries as another uid';
const NAME = `pflp${process.pid % 100000}`;
let user: RunAs | null = null;

function theUser(): RunAs {
  if (user) return user;
  execFileSync('useradd', ['-M', '-U', '-d', '/nonexistent', '-s', '/bin/sh', '-c', 'postfix-ts local-prims test', NAME]);
  const uid = Number(execFileSync('id', ['-u', NAME]).toString().trim());
  const gid = Number(execFileSync('id', ['-g', NAME]).toString().trim());
  user = { uid, gid, name: NAME, home: '/nonexistent' };
  return user;
}

after(() => {
  if (user) execFileSync('userdel', [NAME]);
});

function source(dir: string) {
  const head = Buffer.concat([encodeRecord(REC_TYPE.FROM, 's@example.com'), encodeRecord(REC_TYPE.MESG, '')]);
  const file = path.join(dir, 'queuefile');
  fs.writeFileSync(file, Buffer.concat([head, encodeRecord(REC_TYPE.NORM, 'Subject: x'), encodeRecord(REC_TYPE.NORM, ''),
    encodeRecord(REC_TYPE.NORM, 'body'), encodeRecord(REC_TYPE.XTRA, ''), encodeRecord(REC_TYPE.END, '')]), { mode: 0o600 });
  return { fd: fs.openSync(file, 'r'), dataOffset: head.length, sender: 's@example.com', deliveredTo: `${NAME}@example.com`, origRcpt: '' };
}

function owner(p: string): string {
  const st = fs.statSync(p);
  return `${st.uid}:${st.gid}:${(st.mode & 0o7777).toString(8)}`;
}

test('mbox, Maildir and command as another uid', { skip }, async () => {
  const u = theUser();
  const dir = tempDir('asuser-');
  fs.chmodSync(dir, 0o755);
  const src = source(dir);
  const open = path.join(dir, 'open');
  fs.mkdirSync(open, { mode: 0o1777 });
  fs.chmodSync(open, 0o1777);

  const mbox = path.join(open, NAME);
  const r = await deliverMboxFile(mbox, u, { source: src, copyFlags: MAIL_COPY_MBOX, locks: ['fcntl', 'dotlock'], sizeLimit: 0, kind: 'mailbox' });
  assert.deepEqual(r, { ok: true, reason: 'delivered to mailbox' });
  assert.equal(owner(mbox), `${u.uid}:${u.gid}:600`);
  assert.equal(process.geteuid!(), 0);
  assert.equal(process.getegid!(), 0);

  const md = path.join(open, 'Maildir') + '/';
  const m = await deliverMaildir(md, u, { source: src, copyFlags: MAIL_COPY_TOFILE | MAIL_COPY_RETURN, sizeLimit: 0, kind: 'mailbox' });
  assert.deepEqual(m, { ok: true, reason: 'delivered to maildir' });
  for (const sub of ['', 'tmp', 'new', 'cur']) assert.equal(owner(md + sub), `${u.uid}:${u.gid}:700`);
  const [file] = fs.readdirSync(`${md}new`);
  assert.equal(owner(`${md}new/${file}`), `${u.uid}:${u.gid}:600`);

  const out = path.join(open, 'cmd.out');
  const c = await deliverCommand(`id -u > ${out}; id -g >> ${out}; cat >> ${out}`, u, {
    source: src, copyFlags: MAIL_COPY_FROM, env: { USER: NAME }, cwd: open, shell: '', timeLimit: 100,
  });
  assert.equal(c.ok, true);
  assert.equal(owner(out), `${u.uid}:${u.gid}:600`);
  assert.match(fs.readFileSync(out, 'latin1'), new RegExp(`^${u.uid}\n${u.gid}\nFrom s@example.com  .*\nSubject: x\n\nbody\n$`));

  // A file the user may not write: the open runs as the user, so it fails.
  const rootOnly = path.join(dir, 'rootonly');
  fs.mkdirSync(rootOnly, { mode: 0o755 });
  const f = await deliverMboxFile(path.join(rootOnly, 'f'), u, { source: src, copyFlags: MAIL_COPY_MBOX, locks: ['fcntl'], sizeLimit: 0, kind: 'file' });
  assert.deepEqual(f, { ok: false, soft: false, dsn: '5.2.0', reason: `cannot append message to file ${rootOnly}/f: cannot create file exclusively: Permission denied` });
  fs.closeSync(src.fd);
});

test('mail_spool_directory permissions decide the credentials', { skip }, async () => {
  const u = theUser();
  const dir = tempDir('spool-');
  fs.chmodSync(dir, 0o755);
  const src = source(dir);
  // Group-writable spool (Debian's root:mail 2775): the user's uid with the spool's group.
  const grp = path.join(dir, 'grp');
  fs.mkdirSync(grp);
  fs.chownSync(grp, 0, 12345);
  fs.chmodSync(grp, 0o2775);
  const a = path.join(grp, NAME);
  assert.equal((await deliverMboxFile(a, u, { source: src, copyFlags: MAIL_COPY_MBOX, locks: ['fcntl', 'dotlock'], sizeLimit: 0, kind: 'mailbox', spoolDir: true })).ok, true);
  assert.equal(owner(a), `${u.uid}:12345:600`);
  // A spool only root can write: root creates the file and gives it to the user.
  const priv = path.join(dir, 'priv');
  fs.mkdirSync(priv, { mode: 0o755 });
  const b = path.join(priv, NAME);
  assert.equal((await deliverMboxFile(b, u, { source: src, copyFlags: MAIL_COPY_MBOX, locks: ['fcntl', 'dotlock'], sizeLimit: 0, kind: 'mailbox', spoolDir: true })).ok, true);
  assert.equal(owner(b), `${u.uid}:${u.gid}:600`);
  // strict_mailbox_ownership: a mailbox owned by someone else is deferred.
  const c = path.join(priv, 'other');
  fs.writeFileSync(c, '', { mode: 0o600 });
  const r = await deliverMboxFile(c, u, { source: src, copyFlags: MAIL_COPY_MBOX, locks: ['fcntl'], sizeLimit: 0, kind: 'mailbox', spoolDir: true });
  assert.deepEqual(r, { ok: false, soft: true, dsn: '4.2.0', reason: `cannot update mailbox ${c} for user ${NAME}. destination ${c} is not owned by recipient` });
  fs.closeSync(src.fd);
});
