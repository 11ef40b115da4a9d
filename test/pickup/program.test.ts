// pickup(8) as the master runs it (src/master/pickup-program.ts): mail that
// sendmail dropped while the daemon was down is taken when the program
// starts, and a trigger request makes it take mail dropped later. Log lines
// go to memory; the queue directory is a scratch one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadServiceConfig } from '../../src/config/service-config.js';
import { createLogger, memorySink } from '../../src/log/logger.js';
import { pickupProgram } from '../../src/master/pickup-program.js';
import type { ProgramContext } from '../../src/master/program.js';
import type { WorkerInit } from '../../src/master/protocol.js';
import type { AnvilClient } from '../../src/smtpd/service.js';
import { makeSpool, runCommand, submissionEnv } from './submission-run.js';

const MSG = 'From: someone@example.test\nSubject: queued while down\n\nbody\n';

test('pickup takes mail queued while the daemon was down, then mail it is woken for', async () => {
  const spool = makeSpool();
  const env = submissionEnv(spool);
  // No public/pickup at all: sendmail says only what Postfix's postdrop says.
  const first = await runCommand('sendmail', ['-f', 'a@example.test', 'b@example.test'], MSG, env);
  assert.equal(first.status, 0);
  assert.equal(first.stderr, 'postdrop: warning: unable to look up public/pickup: No such file or directory\n');
  assert.equal(fs.readdirSync(path.join(spool.queueDir, 'maildrop')).length, 1);

  const lines: string[] = [];
  const sink = memorySink(lines);
  const init: WorkerInit = {
    configDir: spool.conf, service: 'pickup', type: 'unix', command: 'pickup', canonical: 'pickup', options: [], flags: [],
    unixOptions: {}, slots: 1, generation: 1, logFd: false, listeners: [{ kind: 'unix', path: 'public/pickup' }],
  };
  const ctx: ProgramContext = {
    init,
    config: () => loadServiceConfig(init.configDir, init.service, init.command, init.options),
    sink,
    log: createLogger(sink, 'postfix/pickup'),
    anvil: {} as AnvilClient,
    listeners: init.listeners,
  };
  const program = pickupProgram.start(ctx);
  try {
    await program.ready;
    await program.drain();
    assert.deepEqual(fs.readdirSync(path.join(spool.queueDir, 'maildrop')), []);
    assert.equal(fs.readdirSync(path.join(spool.queueDir, 'incoming')).length, 1);
    assert.ok(lines.some((l) => /^postfix\/pickup\[\d+\]: \w+: uid=\d+ from=<a@example\.test>$/.test(l)), lines.join('\n'));

    const second = await runCommand('sendmail', ['-f', 'c@example.test', 'd@example.test'], MSG, env);
    assert.equal(second.status, 0);
    program.trigger!(Buffer.from('W'), init.listeners[0]!);
    await program.drain();
    assert.deepEqual(fs.readdirSync(path.join(spool.queueDir, 'maildrop')), []);
    assert.equal(fs.readdirSync(path.join(spool.queueDir, 'incoming')).length, 2);
  } finally {
    await program.close();
  }
});
