// Durability: a message that got "250 2.0.0 Ok: queued as QID" survives the
// daemon being killed. Starts this project's daemon (bin/postfix start) on
// the 01-defaults fixture, drives concurrent SMTP sessions at it, kills the
// master and every worker with SIGKILL in the middle of the load, then
// checks each acknowledged message in the queue: its file exists in
// incoming/ (or a later queue), has mode 0700 (Postfix's "complete" mark),
// reads as records up to the END record without error and holds the
// message's own Subject. Then the daemon must start again and take mail.
// Runs in a private network namespace (re-runs itself under unshare as
// root; skips otherwise).
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { repoRoot } from '../lib/cases.js';
import { startDaemon } from '../lib/daemon.js';
import { namespaceReady, runInNamespace, whyNoNamespace } from '../lib/netns.js';
import { DEFAULT_LAYOUT, mailQueuePath } from '../../src/queue/layout.js';
import { REC_TYPE, REC_TYPE_EOF } from '../../src/queue/rec-type.js';
import { openInput, recGetRaw } from '../../src/queue/record.js';
import { type Acked, runLoad } from '../master/smtp-load.js';

const root = repoRoot();
const FIXTURE = path.join(root, 'fixtures', 'smtpd', '01-defaults');
const SESSIONS = Number(process.env.DURABILITY_SESSIONS ?? 20);
const KILL_AFTER_MS = Number(process.env.DURABILITY_KILL_AFTER_MS ?? 2000);
const QUEUES = ['incoming', 'active', 'deferred', 'hold'];
const SHOW = 12000;

/** The PIDs of a process and all its descendants (from /proc). */
function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(name)]);
    } catch {
      // gone meanwhile
    }
  }
  const out: number[] = [];
  const walk = (p: number) => {
    out.push(p);
    for (const c of children.get(p) ?? []) walk(c);
  };
  walk(pid);
  return out;
}

/** Why an acknowledged message is not safely in the queue, or null. */
function checkQueued(spool: string, m: Acked): string | null {
  const file = QUEUES.map((q) => path.join(spool, mailQueuePath(DEFAULT_LAYOUT, q, m.queueId))).find((f) => fs.existsSync(f));
  if (!file) return `${m.queueId} (${m.token}): no queue file`;
  const mode = fs.statSync(file).mode & 0o777;
  if (mode !== 0o700) return `${m.queueId}: mode ${mode.toString(8)}, not 700`;
  const opened = openInput(file);
  if ('error' in opened) return `${m.queueId}: ${opened.error.message}`;
  try {
    let last = -1;
    let subject = false;
    for (;;) {
      const r = recGetRaw(opened.input);
      if (r.type === REC_TYPE_EOF) break;
      if ('warning' in r) return `${m.queueId}: ${r.warning}`;
      last = r.type;
      if (r.type === REC_TYPE.NORM && r.data.toString('latin1') === `Subject: ${m.token}`) subject = true;
      if (r.type === REC_TYPE.END) break;
    }
    if (last !== REC_TYPE.END) return `${m.queueId}: no END record`;
    if (!subject) return `${m.queueId}: Subject ${m.token} not found`;
    return null;
  } finally {
    fs.closeSync(opened.fd);
  }
}

if (!namespaceReady()) {
  test('durability under SIGKILL (in a private network namespace)', async (t) => {
    const why = whyNoNamespace() ?? (fs.existsSync(path.join(root, 'bin', 'postfix')) ? null : 'bin/postfix does not exist');
    if (why) {
      t.skip(why);
      return;
    }
    const r = await runInNamespace([process.execPath, '--test', '--test-reporter=spec', fileURLToPath(import.meta.url)]);
    const output = `${r.stdout}${r.stderr}`;
    for (const line of output.split('\n')) {
      const m = /((killed|stopped) .* problems)/.exec(line);
      if (m) t.diagnostic(m[1]!);
    }
    assert.equal(r.status, 0, output.length > SHOW ? `...${output.slice(-SHOW)}` : output);
  });
} else {
  test('every acknowledged message survives SIGKILL of the master and its workers', async (t) => {
    const daemon = await startDaemon('ours', FIXTURE, { keep: true });
    const spool = path.join(daemon.dir, 'spool');
    try {
      const load = runLoad({ port: daemon.ports[0]!, sessions: SESSIONS, messagesPerSession: Infinity, size: 1024 });
      await new Promise((r) => setTimeout(r, KILL_AFTER_MS));
      const masterPid = Number(fs.readFileSync(path.join(spool, 'pid', 'master.pid'), 'utf8').trim());
      const victims = processTree(masterPid);
      for (const pid of victims) process.kill(pid, 'SIGKILL');
      const result = await load;
      const problems = result.acked.map((m) => checkQueued(spool, m)).filter((p): p is string => p !== null);
      const files = QUEUES.flatMap((q) => (fs.existsSync(path.join(spool, q)) ? fs.readdirSync(path.join(spool, q)) : []));
      t.diagnostic(`killed ${victims.length} processes after ${KILL_AFTER_MS} ms; ${result.acked.length} messages acknowledged, ${files.length} queue files, ${problems.length} problems`);
      assert.ok(result.acked.length >= SESSIONS, `only ${result.acked.length} messages were acknowledged before the kill`);
      assert.deepEqual(problems, []);

      // The daemon starts again on the same queue and takes mail.
      const restart = spawnSync(path.join(root, 'bin', 'postfix'), ['-c', daemon.configDir, 'start'], { encoding: 'utf8', env: { PATH: process.env.PATH, TZ: 'UTC' } });
      assert.equal(restart.status, 0, `${restart.stdout}${restart.stderr}`);
      const again = await runLoad({ port: daemon.ports[0]!, sessions: 1, messagesPerSession: 1, size: 1024 });
      assert.equal(again.acked.length, 1, 'no message accepted after the restart');
      assert.equal(checkQueued(spool, again.acked[0]!), null);
    } finally {
      // Stops the restarted master (or finds the killed one gone) and waits for it to exit, then removes the run directory.
      await daemon.stop();
      fs.rmSync(daemon.dir, { recursive: true, force: true });
    }
  });

  test('postfix stop in the middle of a load: every acknowledged message is complete', async (t) => {
    const daemon = await startDaemon('ours', FIXTURE, { keep: true });
    const spool = path.join(daemon.dir, 'spool');
    try {
      const load = runLoad({ port: daemon.ports[0]!, sessions: SESSIONS, messagesPerSession: Infinity, size: 1024 });
      await new Promise((r) => setTimeout(r, KILL_AFTER_MS));
      const stop = spawnSync(path.join(root, 'bin', 'postfix'), ['-c', daemon.configDir, 'stop'], { encoding: 'utf8', env: { PATH: process.env.PATH, TZ: 'UTC' } });
      assert.equal(stop.status, 0, `${stop.stdout}${stop.stderr}`);
      const result = await load;
      const problems = result.acked.map((m) => checkQueued(spool, m)).filter((p): p is string => p !== null);
      t.diagnostic(`stopped after ${KILL_AFTER_MS} ms; ${result.acked.length} messages acknowledged, ${problems.length} problems`);
      assert.ok(result.acked.length >= SESSIONS);
      assert.deepEqual(problems, []);
      assert.match(daemon.log(), /postfix\/master\[\d+\]: terminating on signal 15/);
      const status = spawnSync(path.join(root, 'bin', 'postfix'), ['-c', daemon.configDir, 'status'], { encoding: 'utf8' });
      assert.equal(status.status, 1);
    } finally {
      await daemon.stop();
      fs.rmSync(daemon.dir, { recursive: true, force: true });
    }
  });
}
