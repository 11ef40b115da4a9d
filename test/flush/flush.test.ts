// The fast flush service in-process against fixtures/flush/flush.json
// (recorded from Postfix 3.7.11 by tools/record-flush.ts): this project's
// flush server on a temporary public/flush, told of the deferred
// recipients of the recorded messages as the delivery agents tell it, and
// postqueue -s/-i (in-process) asking it. The flush/ logfiles after each
// step, the commands' output and exit status, and the warnings must be
// Postfix's. Where Postfix's qmgr would take the moved messages and defer
// them again, the test moves them back and tells the service again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { makeTempDir, repoRoot } from '../lib/cases.js';
import { runInProcess } from '../lib/inproc.js';
import { Config } from '../../src/config/config.js';
import { createLogger, memorySink } from '../../src/log/logger.js';
import { FlushServer, createFlushService } from '../../src/flush/api.js';
import { FlushClient } from '../../src/queue/flush-client.js';
import type { FlushFile, FlushFixture } from '../../tools/record-flush.js';

const root = repoRoot();
const FX = JSON.parse(fs.readFileSync(path.join(root, 'fixtures/flush/flush.json'), 'utf8')) as FlushFixture;
/** Made-up queue IDs for the recorded messages M1 and M2 (hash directories 1 and 2). */
const IDS: Record<string, string> = { M1: '1A2B3C4D5E', M2: '2F3A4B5C6D' };

interface Env {
  dir: string;
  spool: string;
  server: net.Server;
  triggers: string[];
  log: string[];
  client: FlushClient;
}

async function setup(): Promise<Env> {
  const dir = makeTempDir();
  const spool = `${dir}/spool`;
  fs.mkdirSync(`${dir}/conf`);
  fs.mkdirSync(`${spool}/public`, { recursive: true });
  fs.writeFileSync(`${dir}/conf/main.cf`, [
    `queue_directory = ${spool}`, 'compatibility_level = 3.6', 'relay_domains = flush.example, [127.0.0.9]', 'fast_flush_domains = $relay_domains', '',
  ].join('\n'));
  fs.writeFileSync(`${dir}/conf/master.cf`, '');
  for (const [label, id] of Object.entries(IDS)) {
    fs.mkdirSync(`${spool}/deferred/${id[0]}`, { recursive: true });
    fs.writeFileSync(`${spool}/deferred/${id[0]}/${id}`, `message ${label}`, { mode: 0o700 });
  }
  const config = Config.load(`${dir}/conf`);
  const log: string[] = [];
  const triggers: string[] = [];
  const logger = createLogger(memorySink(log), 'postfix/flush', 1);
  const service = await createFlushService(config, logger, (r) => triggers.push(r));
  const flush = new FlushServer(service, logger);
  const server = net.createServer({ allowHalfOpen: true }, (s) => flush.connection(s));
  await new Promise<void>((r) => server.listen(`${spool}/public/flush`, r));
  const client = await FlushClient.fromConfig(config, (t) => log.push(`client: warning: ${t}`));
  return { dir, spool, server, triggers, log, client };
}

/** flush/ as the fixture lists it: names, modes, and the IDs as labels, sorted. */
function flushFiles(spool: string): FlushFile[] {
  const dir = `${spool}/flush`;
  const labels = new Map(Object.entries(IDS).map(([l, id]) => [id, l]));
  return fs.readdirSync(dir).sort().map((name) => ({
    name,
    mode: (fs.statSync(`${dir}/${name}`).mode & 0o7777).toString(8),
    lines: fs.readFileSync(`${dir}/${name}`, 'latin1').split('\n').filter(Boolean).map((id) => labels.get(id) ?? id).sort(),
  }));
}

/** Every recipient of the message deferred again: flush_add for its domain, as an agent does. */
async function deferAll(env: Env, label: string): Promise<void> {
  const rcpts = FX.messages[Number(label.slice(1)) - 1]!;
  for (const r of rcpts) await env.client.add(r.slice(r.lastIndexOf('@') + 1), IDS[label]!);
}

/** qmgr's part: the messages flushed into incoming/ go back to deferred/ and are deferred again. */
async function redeliver(env: Env): Promise<string[]> {
  const moved: string[] = [];
  for (const [label, id] of Object.entries(IDS)) {
    const incoming = `${env.spool}/incoming/${id}`;
    if (!fs.existsSync(incoming)) continue;
    moved.push(label);
    fs.renameSync(incoming, `${env.spool}/deferred/${id[0]}/${id}`);
    await deferAll(env, label);
  }
  return moved;
}

async function postqueue(env: Env, args: string[]): Promise<{ args: string[]; stdout: string; stderr: string; status: number }> {
  const real = args.map((a) => IDS[a] ?? a);
  const r = await runInProcess({
    bundle: path.join(root, 'dist/bin/postqueue.cjs'), launcher: path.join(root, 'bin/postqueue'),
    args: ['-c', `${env.dir}/conf`, ...real], env: { PATH: process.env.PATH ?? '/usr/bin:/bin', TZ: 'UTC', LANG: 'C' }, cwd: env.dir, input: '',
  });
  if ('needsProcess' in r) throw new Error(`postqueue needs a process: ${r.needsProcess}`);
  return { args, stdout: r.stdout.toString(), stderr: r.stderr.toString(), status: r.status };
}

test('flush logfiles, postqueue -s/-i and the service protocol, as Postfix 3.7.11', async () => {
  const env = await setup();
  try {
    const want = (args: string[]) => FX.commands.find((c) => JSON.stringify(c.args) === JSON.stringify(args))!;
    await deferAll(env, 'M1');
    await deferAll(env, 'M2');
    assert.deepEqual(flushFiles(env.spool), FX.files.deferred);
    // The address literal has no ASCII form for a file name: refused, with ICU's complaint.
    assert.deepEqual(env.log, ['postfix/flush[1]: warning: midna_domain_to_ascii_create: Problem translating domain "[127.0.0.9]" to ASCII form: malformed ASCII label(s)']);

    assert.deepEqual(await postqueue(env, ['-s', 'flush.example']), want(['-s', 'flush.example']));
    // Dead destinations forgotten first, then the incoming queue scanned; the logfile is emptied.
    assert.deepEqual(env.triggers.splice(0), ['F', 'I']);
    assert.equal(fs.statSync(`${env.spool}/flush/flush_example`).size, 0);
    assert.deepEqual(await redeliver(env), ['M1', 'M2']);
    assert.deepEqual(flushFiles(env.spool), FX.files.send_site);

    for (const args of [['-s', 'other.example'], ['-s', 'nothing.flush.example'], ['-s', 'bad..name']]) {
      assert.deepEqual(await postqueue(env, args), want(args));
    }
    assert.deepEqual(env.triggers.splice(0), [], 'an unlisted site and a site without a logfile move nothing');
    assert.deepEqual(await postqueue(env, ['-s', 'FLUSH.Example']), want(['-s', 'FLUSH.Example']));
    await redeliver(env);
    assert.deepEqual(flushFiles(env.spool), FX.files.send_site_upper);

    env.triggers.splice(0);
    assert.deepEqual(await postqueue(env, ['-i', 'M2']), want(['-i', 'M2']));
    // One message: marked so that qmgr ignores dead destinations for it (group read bit).
    assert.equal(fs.statSync(`${env.spool}/incoming/${IDS.M2}`).mode & 0o777, 0o740);
    assert.deepEqual(env.triggers.splice(0), ['I']);
    await redeliver(env);
    assert.deepEqual(flushFiles(env.spool), FX.files.send_file);
    for (const args of [['-i', 'NOSUCH12345'], ['-i', 'bad/id']]) assert.deepEqual(await postqueue(env, args), want(args));
    assert.deepEqual(env.triggers, []);

    // The daemon stopped: the socket is still there, nobody listens.
    await new Promise((r) => env.server.close(r));
    const down = net.createServer();
    await new Promise<void>((r) => down.listen(`${env.spool}/public/flush2`, r));
    fs.renameSync(`${env.spool}/public/flush2`, `${env.spool}/public/flush`);
    await new Promise((r) => down.close(r));
    const last = FX.commands[FX.commands.length - 1]!;
    assert.deepEqual(await postqueue(env, last.args), last);
    assert.equal(env.log.length, 1);
  } finally {
    env.server.close();
    fs.rmSync(env.dir, { recursive: true, force: true });
  }
});

test('the flush server: requests it refuses, the refresh and purge of old logfiles', async () => {
  const env = await setup();
  const ask = (bytes: string) => new Promise<string>((resolve) => {
    const s = net.connect(`${env.spool}/public/flush`);
    let got = '';
    s.on('data', (b) => (got += b.toString('latin1')));
    s.on('close', () => resolve(got));
    s.on('connect', () => s.end(bytes));
    s.on('error', () => undefined);
  });
  const hello = 'protocol\0queue_flush_protocol\0\0';
  try {
    // A bad queue ID, a missing attribute, an extra one: status 3 (FLUSH_STAT_BAD).
    assert.equal(await ask('request\0add\0site\0flush.example\0queue_id\0bad/id\0\0'), `${hello}status\x003\0\0`);
    assert.equal(await ask('request\0send_site\0\0'), `${hello}status\x003\0\0`);
    assert.equal(await ask('request\0send_file\0queue_id\0ABC\0site\0x\0\0'), `${hello}status\x003\0\0`);
    assert.equal(await ask('site\0flush.example\0\0'), `${hello}status\x003\0\0`);
    // A site outside fast_flush_domains: 4 (FLUSH_STAT_DENY); an unknown request: no answer.
    assert.equal(await ask('request\0add\0site\0other.example\0queue_id\0ABC\0\0'), `${hello}status\x004\0\0`);
    assert.equal(await ask('request\0frobnicate\0\0'), hello);
    // Refresh: a logfile unread for longer than fast_flush_refresh_time (12h) is flushed; an
    // empty one unchanged for longer than fast_flush_purge_time (7d) is removed; purge flushes all.
    await env.client.add('flush.example', IDS.M1!);
    await env.client.add('sub.flush.example', IDS.M2!);
    fs.writeFileSync(`${env.spool}/flush/old_empty_example`, '');
    const day = 86400;
    const now = Date.now() / 1000;
    fs.utimesSync(`${env.spool}/flush/flush_example`, now - day, now - day);
    fs.utimesSync(`${env.spool}/flush/old_empty_example`, now - 8 * day, now - 8 * day);
    assert.equal(await ask('W'), `${hello}status\x000\0\0`);
    assert.deepEqual(env.triggers.splice(0), ['I'], 'a refresh does not forget dead destinations');
    assert.ok(fs.existsSync(`${env.spool}/incoming/${IDS.M1}`));
    assert.ok(fs.existsSync(`${env.spool}/deferred/2/${IDS.M2}`), 'a recently read logfile waits');
    assert.deepEqual(fs.readdirSync(`${env.spool}/flush`).sort(), ['flush_example', 'sub_flush_example']);
    fs.utimesSync(`${env.spool}/flush/sub_flush_example`, now - 10, now - 10);
    assert.equal(await env.client.purge(), 0);
    assert.ok(fs.existsSync(`${env.spool}/incoming/${IDS.M2}`));
    assert.equal(fs.statSync(`${env.spool}/flush/sub_flush_example`).size, 0);
  } finally {
    env.server.close();
    fs.rmSync(env.dir, { recursive: true, force: true });
  }
});
