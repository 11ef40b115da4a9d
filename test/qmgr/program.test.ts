// qmgr(8) as the master runs it: the program module started with a
// configuration whose queue_directory is a temporary queue, the real
// in-process resolver (mydestination), a fake local agent on
// private/local, and a W trigger: the message is delivered and removed.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { Config } from '../../src/config/config.js';
import { DEL_STAT_DEFER, DEL_STAT_FINAL } from '../../src/delivery/api.js';
import { createLogger, memorySink } from '../../src/log/logger.js';
import { qmgrProgram } from '../../src/master/qmgr-program.js';
import type { Program, ProgramContext } from '../../src/master/program.js';
import { tempDir } from '../lib/tmp.js';
import { FakeAgent, queueId, queuePath, writeQueueFile } from './lib.js';

interface Running {
  dir: string;
  program: Program;
  lines: string[];
  /** Resolves when a log line (without its tag) satisfies the test. */
  logged(test: (text: string) => boolean): Promise<string>;
}

function startProgram(extra: string[] = []): Running {
  const dir = tempDir('qmgr-program-');
  fs.writeFileSync(path.join(dir, 'main.cf'), [
    `queue_directory = ${dir}`, 'myhostname = mx.example.com', 'mydomain = example.com',
    'mydestination = $myhostname, localhost', 'alias_maps =', 'alias_database =', 'transport_maps =', 'compatibility_level = 3.6',
    ...extra, '',
  ].join('\n'));
  const config = Config.load(dir);
  const lines: string[] = [];
  const listeners: Array<(text: string) => void> = [];
  const memory = memorySink(lines);
  const sink = { write: (tag: string, text: string) => {
    memory.write(tag, text);
    for (const l of listeners) l(text);
  } };
  const ctx = {
    init: { configDir: dir, service: 'qmgr', type: 'unix', command: 'qmgr', canonical: 'qmgr', options: [], flags: [], unixOptions: {},
      slots: 0, generation: 1, logFd: false, listeners: [] },
    config: () => config,
    sink,
    log: createLogger(sink, 'postfix/qmgr', 77),
    anvil: undefined,
    listeners: [],
  } as unknown as ProgramContext;
  const program = qmgrProgram.start(ctx);
  const logged = (t: (text: string) => boolean) => new Promise<string>((resolve) => listeners.push((text) => t(text) && resolve(text)));
  return { dir, program, lines, logged };
}

test('qmgr program: a W trigger delivers new mail through private/local', async () => {
  const { dir, program, logged } = startProgram();
  const agent = new FakeAgent(dir, 'local', () => ({ status: DEL_STAT_FINAL }));
  await agent.ready;
  await program.ready;
  const id = queueId(3);
  const removed = logged((text) => text === `${id}: removed`);
  writeQueueFile(dir, 'incoming', id, { recipients: ['alice@mx.example.com'], arrival: Math.floor(Date.now() / 1000) });
  program.trigger!(Buffer.from('W'), { kind: 'fifo' } as never);
  await removed;
  assert.equal(fs.existsSync(queuePath(dir, 'incoming', id)), false);
  assert.equal(agent.requests.length, 1);
  assert.equal(agent.requests[0]!.recipients[0]!.address, 'alice@mx.example.com');
  assert.equal(agent.requests[0]!.nexthop, 'mx.example.com');
  await program.close();
  await agent.close();
});

test('qmgr program: an unreachable agent, expiry, and the notice back to the sender', async () => {
  const { dir, program, logged, lines } = startProgram(['maximal_queue_lifetime = 60s', 'bounce_queue_lifetime = 60s']);
  const local = new FakeAgent(dir, 'local', () => ({ status: DEL_STAT_FINAL }));
  await local.ready;
  await program.ready;
  const id = queueId(4);
  const notice = logged((text) => text.startsWith(`${id}: sender non-delivery notification: `));
  const delivered = new Promise<void>((resolve) => {
    local.handler = (req) => {
      resolve();
      return { status: req.queueId === id ? DEL_STAT_DEFER : DEL_STAT_FINAL };
    };
  });
  writeQueueFile(dir, 'incoming', id, { sender: 'owner@mx.example.com', recipients: ['far@remote.example'], arrival: Math.floor(Date.now() / 1000) - 120 });
  program.trigger!(Buffer.from('W'), { kind: 'fifo' } as never);
  const text = await notice;
  await delivered;
  const want = [
    `warning: connect to transport private/smtp: No such file or directory`,
    `${id}: from=<owner@mx.example.com>, status=expired, returned to sender`,
  ];
  for (const w of want) assert.ok(lines.some((l) => l.endsWith(`: ${w}`)), `${w}\n${lines.join('\n')}`);
  assert.ok(lines.some((l) => /postfix\/qmgr\[\d+\]: [0-9A-Z]+A: to=<far@remote\.example>, relay=none, delay=\d+, delays=[\d.\/]+, dsn=4\.3\.0, status=deferred \(mail transport unavailable\)$/.test(l)), lines.join('\n'));
  const noticeId = text.slice(text.lastIndexOf(' ') + 1);
  assert.ok(local.requests.some((r) => r.queueId === noticeId && r.recipients[0]!.address === 'owner@mx.example.com'), lines.join('\n'));
  await program.close();
  await local.close();
});
