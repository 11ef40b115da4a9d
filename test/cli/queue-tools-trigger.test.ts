// postqueue -f/-s/-i and postkick against a "running daemon" played by the
// test: FIFOs read by the test (the qmgr and pickup endpoints) and a flush
// service on a UNIX socket that speaks Postfix's attribute protocol. Checks
// the request bytes Postfix's commands send and the exit statuses.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { makeTempDir, repoRoot } from '../lib/cases.js';
import { runInProcess } from '../lib/inproc.js';

const root = repoRoot();

async function run(cmd: string, dir: string, args: string[]): Promise<{ stdout: string; stderr: string; status: number }> {
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', TZ: 'UTC', LANG: 'C', MAIL_CONFIG: `${dir}/conf` };
  const r = await runInProcess({ bundle: path.join(root, 'dist/bin', `${cmd}.cjs`), launcher: path.join(root, 'bin', cmd), args, env, cwd: dir, input: '' });
  if ('needsProcess' in r) throw new Error(`${cmd} needs a process: ${r.needsProcess}`);
  return { stdout: r.stdout.toString(), stderr: r.stderr.toString(), status: r.status };
}

function setup(extra = ''): string {
  const dir = makeTempDir();
  fs.mkdirSync(`${dir}/conf`);
  fs.mkdirSync(`${dir}/spool/public`, { recursive: true });
  fs.writeFileSync(`${dir}/conf/main.cf`, `queue_directory = ${dir}/spool\nfast_flush_domains = example.test\n${extra}`);
  fs.writeFileSync(`${dir}/conf/master.cf`, '');
  return dir;
}

function fifoReader(file: string): number {
  assert.equal(spawnSync('mkfifo', [file]).status, 0);
  return fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
}

function drain(fd: number): string {
  const buf = Buffer.alloc(64);
  try {
    const n = fs.readSync(fd, buf);
    return buf.subarray(0, n).toString('latin1');
  } catch {
    return '';
  }
}

/** A flush service: announces its protocol, records each request, answers with status. */
function flushService(file: string, status: number, requests: string[]): Promise<net.Server> {
  const server = net.createServer((sock) => {
    let data = '';
    sock.write('protocol\0queue_flush_protocol\0\0');
    sock.on('data', (b) => {
      data += b.toString('latin1');
      if (data.endsWith('\0\0')) {
        requests.push(data);
        sock.end(`status\0${status}\0\0`);
      }
    });
    sock.on('error', () => {});
  });
  return new Promise((resolve) => server.listen(file, () => resolve(server)));
}

test('postqueue -f writes FADI to qmgr and W to pickup', async () => {
  const dir = setup();
  try {
    const qmgr = fifoReader(`${dir}/spool/public/qmgr`);
    const pickup = fifoReader(`${dir}/spool/public/pickup`);
    const r = await run('postqueue', dir, ['-f']);
    assert.deepEqual(r, { stdout: '', stderr: '', status: 0 });
    assert.equal(drain(qmgr), 'FADI');
    assert.equal(drain(pickup), 'W');
    fs.closeSync(qmgr);
    fs.closeSync(pickup);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('postqueue -i and -s ask the flush service', async () => {
  const dir = setup();
  const requests: string[] = [];
  const server = await flushService(`${dir}/spool/public/flush`, 0, requests);
  try {
    assert.deepEqual(await run('postqueue', dir, ['-i', 'ABCDEF123']), { stdout: '', stderr: '', status: 0 });
    assert.deepEqual(await run('postqueue', dir, ['-s', 'mx.example.test']), { stdout: '', stderr: '', status: 0 });
    const denied = await run('postqueue', dir, ['-s', 'other.example']);
    assert.equal(denied.stderr, 'postqueue: fatal: Flush service is not configured for destination "other.example"\n');
    assert.equal(denied.status, 69);
    assert.deepEqual(requests, ['request\0send_file\0queue_id\0ABCDEF123\0\0', 'request\0send_site\0site\0mx.example.test\0\0']);
  } finally {
    await new Promise((r) => server.close(r));
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('postqueue -i with a flush service that refuses the request', async () => {
  const dir = setup();
  const server = await flushService(`${dir}/spool/public/flush`, 3, []);
  try {
    const r = await run('postqueue', dir, ['-i', 'ABCDEF123']);
    assert.equal(r.stderr, 'postqueue: fatal: Invalid request: "ABCDEF123"\n');
    assert.equal(r.status, 69);
    const s = await run('postqueue', dir, ['-s', 'mx.example.test']);
    assert.equal(s.stderr, 'postqueue: fatal: Invalid request: "mx.example.test"\n');
  } finally {
    await new Promise((r) => server.close(r));
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('postkick writes its request; warns when nobody listens', async () => {
  const dir = setup();
  try {
    const pickup = fifoReader(`${dir}/spool/public/pickup`);
    assert.deepEqual(await run('postkick', dir, ['public', 'pickup', 'W']), { stdout: '', stderr: '', status: 0 });
    assert.equal(drain(pickup), 'W');
    fs.closeSync(pickup);
    const r = await run('postkick', dir, ['public', 'pickup', 'W']);
    assert.equal(r.stderr, 'postkick: warning: Cannot contact class public service pickup - perhaps the mail system is down\n');
    assert.equal(r.status, 1);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('postqueue -p with a showq endpoint that answers: no warning', { skip: process.getuid?.() === 0 ? false : 'needs root' }, async () => {
  const dir = setup();
  const server = net.createServer((s) => s.end());
  await new Promise<void>((r) => server.listen(`${dir}/spool/public/showq`, r));
  try {
    fs.mkdirSync(`${dir}/spool/deferred`);
    assert.deepEqual(await run('postqueue', dir, ['-p']), { stdout: 'Mail queue is empty\n', stderr: '', status: 0 });
  } finally {
    await new Promise((r) => server.close(r));
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('authorized_mailq_users and authorized_flush_users refuse other users (as Postfix 3.7.11)', { skip: process.getuid?.() === 0 ? false : 'needs root' }, () => {
  const dir = setup('authorized_mailq_users = root\nauthorized_flush_users = !nobody, static:anyone\n');
  try {
    fs.chmodSync(dir, 0o755);
    const run = (args: string[]) => spawnSync(path.join(root, 'bin/postqueue'), ['-c', `${dir}/conf`, ...args], { uid: 65534, gid: 65534, env: { PATH: '/usr/bin:/bin' } });
    const p = run(['-p']);
    assert.equal(p.stderr.toString(), 'postqueue: fatal: User nobody(65534) is not allowed to view the mail queue\n');
    assert.equal(p.status, 69);
    for (const args of [['-f'], ['-i', 'ABC123'], ['-s', 'example.test']]) {
      const r = run(args);
      assert.equal(r.stderr.toString(), 'postqueue: fatal: User nobody(65534) is not allowed to flush the mail queue\n');
      assert.equal(r.status, 69);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('mailq with a main.cf it cannot read: sendmail\'s own fatal error and EX_TEMPFAIL, as Postfix 3.7.11', async () => {
  // Recorded: /usr/bin/mailq -C /nonexistent
  //   mailq: fatal: open /nonexistent/main.cf: No such file or directory   (exit 75)
  const dir = setup();
  try {
    const r = await run('mailq', dir, ['-C', `${dir}/nonexistent`]);
    assert.equal(r.stderr, `mailq: fatal: open ${dir}/nonexistent/main.cf: No such file or directory\n`);
    assert.equal(r.stdout, '');
    assert.equal(r.status, 75);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('postqueue -s under compatibility_level 0 with the old relay_domains default (as Postfix 3.7.11)', async () => {
  const dir = setup();
  fs.writeFileSync(`${dir}/conf/main.cf`, `queue_directory = ${dir}/spool\ncompatibility_level = 0\nmydestination = flush.example\n`);
  try {
    assert.deepEqual(await run('postqueue', dir, ['-s', 'flush.example']), {
      stdout: '',
      stderr: 'postqueue: using backwards-compatible default setting relay_domains=$mydestination to flush mail for domain "flush.example"\n'
        + 'postqueue: warning: connect to public/flush: No such file or directory\n'
        + 'postqueue: fatal: Cannot flush mail queue - mail system is down\n',
      status: 69,
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
