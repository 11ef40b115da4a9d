// The master's endpoints and process kinds, with stand-in programs
// (./test-programs.ts) in the place of qmgr and pickup: a FIFO and unix
// sockets are created under public/ and private/ with Postfix's file type,
// mode and owner; trigger requests written to them (and the master.cf
// wakeup timer's) reach the one process of a "single" service; stream
// connections reach a "workers" service; a single process that dies is
// replaced and no trigger written meanwhile is lost; a reload replaces it
// only once the old one has gone. Runs ServiceSupervisor in this process
// with test/master/test-worker.ts as the worker script; no network.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import './test-programs.js';
import { AnvilServer } from '../../src/master/anvil.js';
import { lookupProgram } from '../../src/master/programs.js';
import { readServices, type ServiceSpec } from '../../src/master/services.js';
import { ServiceSupervisor, type SupervisorEnv, workerProcesses } from '../../src/master/supervisor.js';
import { resolveOwnership } from '../../src/master/users.js';
import { createLogger, memorySink } from '../../src/log/logger.js';

const WORKER = fileURLToPath(new URL('./test-worker.js', import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, check: () => boolean, ms = 10000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

const MASTER_CF = [
  'tfifo     fifo  n - n 1 1 test-trigger',
  'tsock     unix  - - n - 1 test-trigger',
  'techo     unix  n - n - 3 test-echo',
  'tslow     unix  - - n - 5 test-slow',
  'qmgr      unix  n - n 300 1 qmgr',
  'cleanup   unix  n - n - 0 cleanup',
].join('\n');

interface Setup {
  dir: string;
  spool: string;
  maillog: string;
  masterLog: string[];
  env: SupervisorEnv;
  specs: ServiceSpec[];
  close(): void;
}

async function setup(): Promise<Setup> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'master-services-'));
  fs.chmodSync(dir, 0o755);
  const conf = path.join(dir, 'conf');
  const spool = path.join(dir, 'spool');
  const maillog = path.join(dir, 'maillog');
  for (const d of [conf, spool, path.join(spool, 'public'), path.join(spool, 'private')]) fs.mkdirSync(d, { mode: 0o755 });
  fs.writeFileSync(path.join(conf, 'main.cf'), `queue_directory = ${spool}\nmyhostname = mx.example.test\nmaillog_file = ${maillog}\nmaillog_file_prefixes = ${dir}\n`);
  fs.writeFileSync(path.join(conf, 'master.cf'), `${MASTER_CF}\n`);
  const logFd = fs.openSync(maillog, 'a', 0o644);
  const masterLog: string[] = [];
  const log = createLogger(memorySink(masterLog), 'postfix/master');
  const owners = resolveOwnership(conf, 'postfix', 'postdrop');
  assert.ok(owners.ok);
  const anvil = new AnvilServer(log, 60, 600);
  const env: SupervisorEnv = {
    log,
    configDir: conf,
    daemonDir: '/usr/lib/postfix/sbin',
    queueDir: spool,
    throttleSeconds: 1,
    workerScript: WORKER,
    logFd: () => logFd,
    ownership: owners.owners,
    unixOptions: () => ({}),
    anvil,
  };
  const r = await readServices({ configDir: conf, defaultProcessLimit: 100, compatibilityLevel: '3.6', masterServiceDisable: '', families: [4], bareAddresses: [] });
  assert.ok(r.ok);
  const cwd = process.cwd();
  process.chdir(spool);
  return {
    dir,
    spool,
    maillog,
    masterLog,
    env,
    specs: r.services,
    close() {
      process.chdir(cwd);
      anvil.close();
      fs.closeSync(logFd);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Every live process whose parent is this one and whose title names the service. */
function processesOf(service: string): number[] {
  const out: number[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const cmdline = fs.readFileSync(`/proc/${name}/cmdline`, 'utf8');
      if (Number(fields[1]) === process.pid && fields[0] !== 'Z' && cmdline.includes(`-n ${service} `)) out.push(Number(name));
    } catch {
      // gone
    }
  }
  return out;
}

function writeFifo(file: string, bytes: string): void {
  const fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
  fs.writeSync(fd, bytes);
  fs.closeSync(fd);
}

/** unix_trigger(): connect, write the request, wait for the server to close. */
function unixTrigger(file: string, bytes: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = net.connect(file, () => s.write(bytes));
    s.on('error', reject);
    s.on('close', () => resolve());
    s.resume();
  });
}

function exchange(file: string, line: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    const s = net.connect(file, () => s.write(line));
    s.on('error', reject);
    s.on('data', (b: Buffer) => (got += b.toString()));
    s.on('close', () => resolve(got));
  });
}

test('master.cf commands of each kind, with the registry\'s answers for the stand-ins', () => {
  assert.equal(lookupProgram('test-trigger', 'fifo').kind, 'single');
  assert.equal(lookupProgram('test-trigger', 'unix').kind, 'single');
  assert.equal(lookupProgram('test-trigger', 'inet').kind, 'missing');
  assert.equal(lookupProgram('test-echo', 'unix').kind, 'workers');
});

test('FIFO and unix-socket services: file types, modes, triggers, connections, restarts', async () => {
  const s = await setup();
  const sups: ServiceSupervisor[] = [];
  try {
    for (const spec of s.specs) {
      const { kind } = lookupProgram(spec.entry.command, spec.type);
      if (kind !== 'workers' && kind !== 'single') continue;
      if (!spec.entry.command.startsWith('test-') || spec.entry.command === 'test-slow') continue;
      const sup = new ServiceSupervisor(s.env, spec, kind);
      assert.equal(sup.bind(), null);
      sups.push(sup);
    }
    assert.deepEqual(sups.map((x) => `${x.spec.path} ${x.kind}`), ['public/tfifo single', 'private/tsock single', 'public/techo workers']);
    const outcomes = await Promise.all(sups.map((x) => x.start()));
    assert.deepEqual(outcomes, [{ ok: true }, { ok: true }, { ok: true }]);

    // Postfix's master: FIFOs prw--w--w-, sockets srw-rw-rw-, both mail_owner's (when run by root).
    const owner = s.env.ownership.privileged ? s.env.ownership.mailOwner : { uid: process.getuid!(), gid: process.getgid!() };
    const fifo = fs.lstatSync(path.join(s.spool, 'public/tfifo'));
    assert.ok(fifo.isFIFO());
    assert.equal(fifo.mode & 0o7777, 0o622);
    for (const sock of ['private/tsock', 'public/techo']) {
      const st = fs.lstatSync(path.join(s.spool, sock));
      assert.ok(st.isSocket(), sock);
      assert.equal(st.mode & 0o7777, 0o666, sock);
      assert.deepEqual([st.uid, st.gid], [owner.uid, owner.gid], sock);
    }
    assert.deepEqual([fifo.uid, fifo.gid], [owner.uid, owner.gid]);
    assert.ok(!fs.existsSync(path.join(s.spool, 'public/qmgr')), 'a service not built gets no socket');

    // Exactly one process for a single service; process_limit 3 over the cores for workers.
    assert.equal(processesOf('tfifo').length, 1);
    assert.equal(processesOf('tsock').length, 1);
    assert.equal(processesOf('techo').length, Math.min(3, workerProcesses()));
    const log = () => fs.readFileSync(s.maillog, 'utf8');
    assert.match(log(), /postfix\/test-trigger\[\d+\]: started: service tfifo type fifo slots 1 myhostname mx\.example\.test/);

    writeFifo('public/tfifo', 'D');
    await until('the FIFO trigger', () => log().includes('trigger public/tfifo: D'));
    await unixTrigger('private/tsock', 'F');
    await until('the socket trigger', () => log().includes('trigger private/tsock: F'));
    // master.cf wakeup 1: the master's own "W" request.
    await until('the wakeup', () => log().includes('trigger public/tfifo: W'), 5000);
    const reply = await exchange('public/techo', 'ping\n');
    assert.match(reply, /^hello from techo at public\/techo pid \d+\nping\n$/);

    // The single process dies: one replacement, and a trigger written meanwhile still arrives.
    const [victim] = processesOf('tfifo');
    process.kill(victim!, 'SIGKILL');
    writeFifo('public/tfifo', 'I');
    await until('the warning', () => s.masterLog.some((l) => l.includes(`warning: process /usr/lib/postfix/sbin/test-trigger pid ${victim} killed by signal 9`)));
    await until('the trigger after the restart', () => log().includes('trigger public/tfifo: I'));
    assert.equal(processesOf('tfifo').length, 1);
    assert.ok(!processesOf('tfifo').includes(victim!));

    // Reload: the new process starts only after the old one has left (never two at once).
    const old = processesOf('tsock');
    const tsock = sups[1]!;
    tsock.update(tsock.spec);
    let most = 0;
    await until('the replacement', () => {
      const now = processesOf('tsock');
      most = Math.max(most, now.length);
      return now.length === 1 && !now.includes(old[0]!);
    });
    assert.equal(most, 1);
    await unixTrigger('private/tsock', 'A');
    await until('a trigger to the new process', () => log().includes('trigger private/tsock: A'));
  } finally {
    await Promise.all(sups.map((x) => x.stop(false)));
    s.close();
  }
});

test('an on-demand service: clients that arrive while its process gets ready are served, not dropped', { timeout: 30000 }, async () => {
  const s = await setup();
  const spec = s.specs.find((x) => x.entry.command === 'test-slow')!;
  const sup = new ServiceSupervisor(s.env, spec, 'workers');
  try {
    assert.equal(sup.bind(), null);
    assert.deepEqual(await sup.start(), { ok: true });
    // Nothing runs until the first client; the master holds the socket.
    assert.equal(processesOf('tslow').length, 0);
    // The process takes SLOW_START_MS to get ready: these clients queue at
    // the master, then in the listen queue the process shares, and each
    // must reach a program that is ready for it (qmgr saw ECONNRESET here
    // when local was handed a client before its tables were open).
    const early = await Promise.all([0, 1, 2, 3, 4].map((i) => exchange('private/tslow', `ping ${i}\n`)));
    early.forEach((reply, i) => assert.match(reply, new RegExp(`^hello from tslow at private/tslow pid \\d+\nping ${i}\n$`)));
    assert.equal(processesOf('tslow').length, 1);
  } finally {
    await sup.stop(false);
    s.close();
  }
});
