// qmgr(8) as the master runs it: the program module started with a
// configuration whose queue_directory is a temporary queue, the real
// in-process resolver (mydestination), a fake local agent on
// private/local, and a W trigger: the message is delivered and removed.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { test } from 'node:test';
import { Config } from '../../src/config/config.js';
import { DEL_STAT_FINAL } from '../../src/delivery/api.js';
import { createLogger, memorySink } from '../../src/log/logger.js';
import { qmgrProgram } from '../../src/master/qmgr-program.js';
import type { ProgramContext } from '../../src/master/program.js';
import { tempDir } from '../lib/tmp.js';
import { FakeAgent, queueId, queuePath, writeQueueFile } from './lib.js';

test('qmgr program: a W trigger delivers new mail through private/local', async () => {
  const dir = tempDir('qmgr-program-');
  const config = Config.fromEntries(dir, [
    ['queue_directory', dir], ['myhostname', 'mx.example.com'], ['mydomain', 'example.com'],
    ['mydestination', '$myhostname, localhost'], ['alias_maps', ''], ['transport_maps', ''],
  ]);
  const lines: string[] = [];
  const listeners: Array<(line: string) => void> = [];
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
  const agent = new FakeAgent(dir, 'local', () => ({ status: DEL_STAT_FINAL }));
  await agent.ready;
  const program = qmgrProgram.start(ctx);
  await program.ready;
  const id = queueId(3);
  const removed = new Promise<void>((resolve) => listeners.push((text) => text === `${id}: removed` && resolve()));
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
