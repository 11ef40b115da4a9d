// The running master: reload without dropping sessions, a killed worker
// replaced with Postfix's log line, workers running as mail_owner when
// started by root, one warning per master.cf service not run, a port that
// is taken, and process_limit holding clients back until a session ends.
// Each test starts bin/postfix on a copy of fixtures/smtpd/01-defaults
// (test/lib/daemon.ts). Starts daemons: outside a private network
// namespace this file re-runs itself under `unshare -n` (root only).
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { repoRoot } from '../lib/cases.js';
import { type Daemon, startDaemon } from '../lib/daemon.js';
import { namespaceReady, whyNoNamespace } from '../lib/netns.js';
import { testInNamespace } from '../lib/netns-test.js';
import { body, connect, ReplyReader, runLoad } from './smtp-load.js';
import { workerProcesses } from '../../src/master/supervisor.js';

const root = repoRoot();
const FIXTURE = path.join(root, 'fixtures', 'smtpd', '01-defaults');
const POSTFIX = path.join(root, 'bin', 'postfix');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A copy of the fixture with master.cf edited. */
function fixtureWith(edit: (masterCf: string) => string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'master-fixture-'));
  for (const f of fs.readdirSync(FIXTURE)) fs.copyFileSync(path.join(FIXTURE, f), path.join(dir, f));
  const file = path.join(dir, 'master.cf');
  fs.writeFileSync(file, edit(fs.readFileSync(file, 'utf8')));
  return dir;
}

function postfix(d: Daemon, command: string): { status: number; output: string } {
  const r = spawnSync(POSTFIX, ['-c', d.configDir, command], { encoding: 'utf8', env: { PATH: process.env.PATH, TZ: 'UTC' } });
  return { status: r.status ?? -1, output: `${r.stdout}${r.stderr}` };
}

function masterPid(d: Daemon): number {
  return Number(fs.readFileSync(path.join(d.dir, 'spool', 'pid', 'master.pid'), 'utf8').trim());
}

/** Live children of pid (zombies excluded). */
/** The live worker processes of the master running `command` (its other services' processes are left out). */
function children(pid: number, command = 'smtpd'): number[] {
  const out: number[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) !== pid || fields[0] === 'Z') continue;
      const env = fs.readFileSync(`/proc/${name}/environ`, 'latin1');
      if (env.includes(`"command":"${command}"`)) out.push(Number(name));
    } catch {
      // gone
    }
  }
  return out;
}

function uidOf(pid: number): number {
  const m = /^Uid:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m![1]);
}

async function until(what: string, check: () => boolean | Promise<boolean>, ms = 10000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** A client session that has read the greeting. */
async function session(port: number): Promise<{ socket: net.Socket; reader: ReplyReader; banner: string | null }> {
  const socket = await connect('127.0.0.1', port);
  assert.ok(socket, 'connect failed');
  socket.on('error', () => undefined);
  const reader = new ReplyReader(socket);
  return { socket, reader, banner: await reader.next() };
}

async function sendMessage(s: { socket: net.Socket; reader: ReplyReader }, token: string): Promise<string | null> {
  s.socket.write('MAIL FROM:<a@example.org>\r\nRCPT TO:<root@mx.example.com>\r\nDATA\r\n');
  await s.reader.next();
  await s.reader.next();
  await s.reader.next();
  s.socket.write(body(token, 500));
  return s.reader.next();
}

if (!namespaceReady()) {
  testInNamespace('master daemon behaviour (in a private network namespace)', import.meta.url, whyNoNamespace);
} else {
  test('reload applies a changed main.cf without dropping the session in progress', async () => {
    const d = await startDaemon('ours', FIXTURE);
    try {
      const port = d.ports[0]!;
      const a = await session(port);
      assert.equal(a.banner, '220 mx.example.com ESMTP Postfix\r\n');
      a.socket.write('EHLO client.example\r\n');
      assert.match((await a.reader.next())!, /^250-mx\.example\.com/);
      const before = children(masterPid(d));
      fs.appendFileSync(path.join(d.configDir, 'main.cf'), 'smtpd_banner = $myhostname ESMTP reloaded\n');
      assert.equal(postfix(d, 'reload').status, 0);
      await until('the new banner', async () => {
        const b = await session(port);
        b.socket.destroy();
        return b.banner === '220 mx.example.com ESMTP reloaded\r\n';
      });
      assert.match((await sendMessage(a, 'before-reload-session'))!, /^250 2\.0\.0 Ok: queued as \S+\r\n$/);
      a.socket.write('QUIT\r\n');
      assert.equal(await a.reader.next(), '221 2.0.0 Bye\r\n');
      await until('the old workers to leave', () => before.every((p) => !children(masterPid(d)).includes(p)));
      assert.match(d.log(), /postfix\/master\[\d+\]: reload -- version 3\.7\.11, configuration /);
    } finally {
      await d.stop();
    }
  });

  test('a killed worker is logged as Postfix logs it and replaced', async () => {
    const d = await startDaemon('ours', FIXTURE);
    try {
      const master = masterPid(d);
      const workers = children(master);
      assert.equal(workers.length, Math.min(workerProcesses(), 100));
      // A worker that served a connection dies: no throttling, a new one at once.
      await runLoad({ port: d.ports[0]!, sessions: 4, messagesPerSession: 2 });
      process.kill(workers[0]!, 'SIGKILL');
      await until('the warning', () => d.log().includes(`postfix/master[${master}]: warning: process /usr/lib/postfix/sbin/smtpd pid ${workers[0]} killed by signal 9`));
      await until('a replacement', () => children(master).length === workers.length && !children(master).includes(workers[0]!));
      const r = await runLoad({ port: d.ports[0]!, sessions: 4, messagesPerSession: 3 });
      assert.equal(r.acked.length, 12);
    } finally {
      await d.stop();
    }
  });

  test('started by root, the master stays root and the workers run as mail_owner', { skip: process.getuid?.() !== 0 }, async () => {
    const d = await startDaemon('ours', FIXTURE);
    try {
      const master = masterPid(d);
      const postfixUid = Number(fs.readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('postfix:'))!.split(':')[2]);
      assert.equal(uidOf(master), 0);
      for (const w of children(master)) assert.equal(uidOf(w), postfixUid);
      const incoming = fs.statSync(path.join(d.dir, 'spool', 'incoming'));
      assert.equal(incoming.uid, postfixUid);
    } finally {
      await d.stop();
    }
  });

  test('the master and its workers run with one malloc arena', async () => {
    const d = await startDaemon('ours', FIXTURE);
    try {
      const master = masterPid(d);
      const workers = children(master);
      assert.ok(workers.length > 0);
      for (const pid of [master, ...workers]) {
        const environ = fs.readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0');
        assert.ok(environ.includes('MALLOC_ARENA_MAX=1'), `process ${pid}`);
      }
    } finally {
      await d.stop();
    }
  });

  test('each master.cf service that is not run is named once, the rest runs', async () => {
    const d = await startDaemon('ours', FIXTURE);
    try {
      const log = d.log();
      for (const service of ['verify', 'tlsmgr', 'scache']) {
        const lines = log.split('\n').filter((l) => l.includes(`warning: master.cf service "${service}" (type unix):`));
        assert.equal(lines.length, 1, `${service}: ${lines.length} warnings`);
      }
      for (const service of ['cleanup', 'rewrite', 'postlog', 'anvil', 'proxymap', 'pickup', 'qmgr', 'local', 'virtual', 'bounce', 'defer', 'trace', 'showq', 'error', 'retry', 'discard', 'smtp', 'relay', 'lmtp', 'flush']) assert.ok(!log.includes(`service "${service}"`), service);
      // flush runs inside the master, on its own socket.
      assert.ok(fs.statSync(path.join(d.dir, 'spool', 'public', 'flush')).isSocket());
      assert.ok(log.indexOf('not implemented') < log.indexOf('daemon started'));
    } finally {
      await d.stop();
    }
  });

  test('a port that is taken ends the start with bind\'s error', async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(10125, '127.0.0.1', () => r()));
    try {
      await assert.rejects(startDaemon('ours', FIXTURE, { timeoutMs: 5000 }), (e: Error) => {
        assert.match(e.message, /exit status 1/);
        assert.match(e.message, /postfix\/master\[\d+\]: fatal: bind 127\.0\.0\.1 port 10125: Address already in use/);
        assert.match(e.message, /postfix\/postfix-script\[\d+\]: fatal: mail system startup failed/);
        return true;
      });
    } finally {
      blocker.close();
    }
  });

  test('process_limit 1: a second client waits for the greeting until the first leaves', async () => {
    const fixture = fixtureWith((m) => m.replace(/^(127\.0\.0\.1:\d+\s+inet\s+n\s+-\s+n\s+-\s+)-/m, '$11'));
    const d = await startDaemon('ours', fixture);
    try {
      assert.equal(children(masterPid(d)).length, 1);
      const a = await session(d.ports[0]!);
      assert.match(a.banner!, /^220 /);
      const socket = await connect('127.0.0.1', d.ports[0]!);
      const b = new ReplyReader(socket!);
      assert.equal(await b.within(700), 'timeout');
      a.socket.write('QUIT\r\n');
      assert.equal(await a.reader.next(), '221 2.0.0 Bye\r\n');
      assert.match((await b.within(5000)) as string, /^220 mx\.example\.com ESMTP Postfix/);
      socket!.destroy();
    } finally {
      await d.stop();
      fs.rmSync(fixture, { recursive: true, force: true });
    }
  });
}
