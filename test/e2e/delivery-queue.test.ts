// The queue end to end, on the running daemon (fixtures/e2e/delivery-queue:
// local delivery to a Maildir, a destination behind a deferred transport,
// retry and lifetime settings of seconds):
//  - a deferred message: its log line, its back-off in the file's mtime, a
//    delay warning once delay_warning_time has passed, and its return to the
//    sender after maximal_queue_lifetime, both notices found in the sender's
//    Maildir;
//  - SIGKILL of every daemon process in the middle of a load of local
//    deliveries: after a restart every acknowledged message is delivered;
//    duplicates are counted and reported;
//  - pflogsumm (Debian's; skipped when absent) on the maillog of a load with
//    deliveries, a deferral, bounces and rejects reports the counts the test
//    produced.
// DELIVERY_QUEUE_KIND=postfix runs the same against Postfix 3.7.11 (how the
// expectations were checked). Root only: a throw-away user receives the mail,
// and daemons run in a private network namespace.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { repoRoot } from '../lib/cases.js';
import { type Daemon, type DaemonKind, programPath, startDaemon } from '../lib/daemon.js';
import { namespaceReady, whyNoNamespace } from '../lib/netns.js';
import { testInNamespace } from '../lib/netns-test.js';
import { ReplyReader, runLoad } from '../master/smtp-load.js';

const FIXTURE = path.join(repoRoot(), 'fixtures', 'e2e', 'delivery-queue');
const KIND = (process.env.DELIVERY_QUEUE_KIND ?? 'ours') as DaemonKind;
const USER = 'pfqueue';
const MARKER = 'postfix-ts delivery-queue test';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface User {
  home: string;
  uid: number;
  gid: number;
}

let base = '';
let user: User;

function resetHome(): void {
  fs.rmSync(user.home, { recursive: true, force: true });
  fs.mkdirSync(user.home, { mode: 0o755 });
  fs.chownSync(user.home, user.uid, user.gid);
}

/** The messages in the user's Maildir/new, by content. */
function maildir(): string[] {
  const dir = path.join(user.home, 'Maildir', 'new');
  try {
    return fs.readdirSync(dir).map((f) => fs.readFileSync(path.join(dir, f), 'latin1'));
  } catch {
    return [];
  }
}

/** Polls cond every 50 ms until it holds (the daemon gives no other event to wait on); fails after ms. */
async function until(what: string, ms: number, cond: () => boolean, detail: () => string = () => ''): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`${what}: not after ${ms / 1000}s\n${detail()}`);
    await sleep(50);
  }
}

/** Files under the queue directories (name and full path). */
function queued(d: Daemon, queues = ['incoming', 'active', 'deferred', 'hold', 'maildrop']): Array<{ queue: string; id: string; file: string }> {
  const out: Array<{ queue: string; id: string; file: string }> = [];
  const walk = (queue: string, dir: string) => {
    let entries: fs.Dirent[] = [];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (e.isDirectory()) walk(queue, path.join(dir, e.name));
      else out.push({ queue, id: e.name, file: path.join(dir, e.name) });
    }
  };
  for (const q of queues) walk(q, path.join(d.dir, 'spool', q));
  return out;
}

/** One message over SMTP; returns every reply line. */
async function smtp(port: number, from: string, rcpts: string[], text: string): Promise<string[]> {
  const socket = net.connect({ host: '127.0.0.1', port });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('error', reject);
  });
  const reader = new ReplyReader(socket);
  const replies: string[] = [];
  const say = async (line: string | null) => {
    if (line !== null) socket.write(`${line}\r\n`);
    const r = await reader.next();
    replies.push(r ?? '[closed]');
    return r ?? '';
  };
  try {
    await say(null);
    await say('EHLO client.example.com');
    await say(`MAIL FROM:<${from}>`);
    let ok = 0;
    for (const r of rcpts) if ((await say(`RCPT TO:<${r}>`)).startsWith('250')) ok++;
    if (ok && (await say('DATA')).startsWith('354')) await say(`${text.replace(/\n/g, '\r\n')}\r\n.`);
    await say('QUIT');
  } finally {
    socket.destroy();
  }
  return replies;
}

function restart(d: Daemon): void {
  const r = spawnSync(programPath(d.kind, 'postfix'), ['-c', d.configDir, 'start'], { encoding: 'utf8', cwd: d.dir });
  assert.equal(r.status, 0, `restart: ${r.stdout}${r.stderr}`);
}

/** Every process of the daemon: the master and everything below it. */
function daemonPids(d: Daemon): number[] {
  const master = Number(fs.readFileSync(path.join(d.dir, 'spool', 'pid', 'master.pid'), 'utf8').trim());
  const parent = new Map<number, number>();
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const text = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
      parent.set(Number(name), Number(text.slice(text.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone
    }
  }
  const out = [master];
  for (let i = 0; i < out.length; i++) for (const [pid, ppid] of parent) if (ppid === out[i]) out.push(pid);
  return out;
}

if (namespaceReady()) {
  before(() => {
    base = fs.mkdtempSync(path.join(os.tmpdir(), 'delivery-queue-'));
    fs.chmodSync(base, 0o755);
    spawnSync('/usr/sbin/userdel', [USER]);
    const home = path.join(base, 'home');
    const r = spawnSync('/usr/sbin/useradd', ['-M', '-U', '-d', home, '-s', '/bin/sh', '-c', MARKER, USER], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const f = fs.readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith(`${USER}:`))!.split(':');
    user = { home, uid: Number(f[2]), gid: Number(f[3]) };
  });
  after(() => {
    spawnSync('/usr/sbin/userdel', [USER]);
    fs.rmSync(base, { recursive: true, force: true });
  });

  test(`${KIND}: deferral, back-off, delay warning, expiry`, async () => {
    resetHome();
    const d = await startDaemon(KIND, FIXTURE);
    try {
      const replies = await smtp(d.ports[0]!, `${USER}@mx.example.com`, ['someone@slow.example'], 'Subject: slow\n\nwaiting\n');
      const qid = /^250 2\.0\.0 Ok: queued as (\w+)/m.exec(replies.join('\n'))?.[1];
      assert.ok(qid, replies.join('\n'));
      const deferredLine = new RegExp(`postfix/(?:error|qmgr)\\[\\d+\\]: ${qid}: to=<someone@slow\\.example>, relay=none, delay=[\\d.]+, delays=[\\d./]+, dsn=4\\.3\\.2, status=deferred \\(deferred transport\\)`);
      await until("the deferral", 10_000, () => deferredLine.test(d.log()), () => `${replies.join("")}\n${d.log()}`);
      // The next attempt is scheduled through the file's mtime: in the future, within the back-off bounds.
      let entry: { file: string } | undefined;
      await until('the file in deferred/', 5_000, () => (entry = queued(d, ['deferred']).find((e) => e.id === qid)) !== undefined);
      const ahead = fs.statSync(entry!.file).mtimeMs - Date.now();
      assert.ok(ahead > 0 && ahead <= 4_000 + 1_000, `next attempt ${ahead} ms ahead`);
      // The delay warning, then the return to sender.
      const warned = new RegExp(`postfix/bounce\\[\\d+\\]: ${qid}: sender delay notification: \\w+`);
      await until('the delay warning', 15_000, () => warned.test(d.log()), d.log);
      const expired = new RegExp(`postfix/qmgr\\[\\d+\\]: ${qid}: from=<${USER}@mx\\.example\\.com>, status=expired, returned to sender`);
      await until('the expiry', 20_000, () => expired.test(d.log()), d.log);
      await until('both notices delivered', 10_000, () => maildir().length === 2, d.log);
      const subjects = maildir().map((m) => /^Subject: (.*)$/m.exec(m)?.[1]).sort();
      assert.deepEqual(subjects, ['Delayed Mail (still being retried)', 'Undelivered Mail Returned to Sender']);
      await until('an empty queue', 10_000, () => queued(d).length === 0, d.log);
      assert.match(d.log(), new RegExp(`postfix/qmgr\\[\\d+\\]: ${qid}: removed`));
    } finally {
      await d.stop();
    }
  });

  test(`${KIND}: SIGKILL during local deliveries loses no acknowledged message`, async () => {
    resetHome();
    const d = await startDaemon(KIND, FIXTURE);
    try {
      let stop = false;
      const load = runLoad({ port: d.ports[0]!, sessions: 10, messagesPerSession: Infinity, size: 1024, to: `${USER}@mx.example.com`, stop: () => stop });
      await until('the first deliveries', 20_000, () => maildir().length >= 50, d.log);
      for (const pid of daemonPids(d)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      stop = true;
      const result = await load;
      assert.ok(result.acked.length >= 50, `${result.acked.length} acknowledged`);
      restart(d);
      const tokens = result.acked.map((a) => a.token);
      const count = () => {
        const seen = new Map<string, number>();
        for (const m of maildir()) {
          const t = /^Subject: (.*)$/m.exec(m)?.[1];
          if (t) seen.set(t, (seen.get(t) ?? 0) + 1);
        }
        return seen;
      };
      await until('every acknowledged message delivered', 120_000, () => tokens.every((t) => count().has(t)), () => `${tokens.filter((t) => !count().has(t)).length} missing; queue: ${JSON.stringify(queued(d).map((e) => `${e.queue}/${e.id}`).slice(0, 20))}\n${d.log().split('\n').filter((l) => /warning|fatal|panic|status=(?:bounced|deferred)|postfix\/(?:master|postfix-script)/.test(l) && !/to=<load@example\.org>/.test(l)).slice(0, 40).join('\n')}`);
      const duplicates = [...count().values()].reduce((n, c) => n + (c - 1), 0);
      console.log(`# ${KIND}: ${tokens.length} acknowledged, all delivered, ${duplicates} delivered twice`);
      // Duplicates are allowed (a delivery whose done mark did not reach the disk), losses are not.
      assert.ok(duplicates <= 20, `${duplicates} duplicates`);
    } finally {
      await d.stop();
    }
  });

  test(`${KIND}: pflogsumm reads the maillog`, async (t) => {
    if (!fs.existsSync('/usr/sbin/pflogsumm')) {
      t.skip('pflogsumm not installed (Debian package pflogsumm)');
      return;
    }
    resetHome();
    // No delay warning during this test: its notice would be one more delivery.
    const fixture = fs.mkdtempSync(path.join(os.tmpdir(), 'delivery-queue-fixture-'));
    for (const f of fs.readdirSync(FIXTURE)) fs.copyFileSync(path.join(FIXTURE, f), path.join(fixture, f));
    fs.appendFileSync(path.join(fixture, 'main.cf'), '\ndelay_warning_time = 0h\nmaximal_queue_lifetime = 1d\n');
    const d = await startDaemon(KIND, fixture);
    try {
      const port = d.ports[0]!;
      for (let i = 0; i < 5; i++) await smtp(port, 'sender@example.org', [`${USER}@mx.example.com`], `Subject: ok ${i}\n\nhello\n`);
      // A bounce (an alias to an unknown local user: the notice goes back to the user) and a deferral.
      await smtp(port, `${USER}@mx.example.com`, ['broken@mx.example.com'], 'Subject: bounce\n\nx\n');
      await smtp(port, `${USER}@mx.example.com`, ['someone@slow.example'], 'Subject: defer\n\nx\n');
      // Three recipients refused at RCPT: two unknown local users, one address routed to error:.
      await smtp(port, 'sender@example.org', ['nosuchuser@mx.example.com'], 'Subject: reject\n\nx\n');
      await smtp(port, 'sender@example.org', ['nobody-here@mx.example.com'], 'Subject: reject\n\nx\n');
      await smtp(port, 'sender@example.org', ['someone@elsewhere.example'], 'Subject: reject\n\nx\n');
      await until('deliveries and the notice', 20_000, () => maildir().length === 6, d.log);
      await until('the deferral', 10_000, () => /status=deferred \(deferred transport\)/.test(d.log()), d.log);
      const r = spawnSync('/usr/sbin/pflogsumm', [path.join(d.dir, 'maillog')], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      const totals = r.stdout.slice(r.stdout.indexOf('Grand Totals'), r.stdout.indexOf('bytes received'));
      const count = (label: string) => Number(new RegExp(`^\\s*(\\d+)\\s+${label}`, 'm').exec(totals)?.[1] ?? NaN);
      assert.equal(count('received'), 7, totals);
      assert.equal(count('delivered'), 6, totals);
      assert.equal(count('deferred'), 1, totals);
      assert.equal(count('bounced'), 1, totals);
      assert.equal(count('rejected'), 3, totals);
    } finally {
      await d.stop();
      fs.rmSync(fixture, { recursive: true, force: true });
    }
  });
} else {
  testInNamespace('delivery queue end to end (retry, SIGKILL, pflogsumm)', import.meta.url, whyNoNamespace);
}
