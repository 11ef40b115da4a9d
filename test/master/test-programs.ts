// Stand-in programs for the master's tests, registered from test code only
// (no master.cf outside the tests can name them): "test-trigger" logs each
// trigger request it gets, as qmgr or pickup would act on one; "test-echo"
// greets each stream connection and echoes one line back. Both log through
// the logger the skeleton hands them, so a test reads what they got in the
// maillog. Importing this file registers them.
import { registerProgram } from '../../src/master/programs.js';
import type { ProgramContext } from '../../src/master/program.js';

function where(l: ProgramContext['listeners'][number]): string {
  return l.kind === 'inet' ? `${l.address}:${l.port}` : l.path;
}

registerProgram('test-trigger', 'single', ['unix', 'fifo'], {
  skeleton: 'trigger',
  start(ctx) {
    const log = ctx.log;
    log.info(`started: service ${ctx.init.service} type ${ctx.init.type} slots ${ctx.init.slots} myhostname ${ctx.config().get('myhostname')}`);
    return {
      ready: Promise.resolve(),
      trigger: (request, listener) => log.info(`trigger ${where(listener)}: ${request.toString('latin1')}`),
      drain: () => Promise.resolve(),
      close: () => Promise.resolve(),
    };
  },
});

registerProgram('test-echo', 'workers', ['unix'], {
  skeleton: 'stream',
  start(ctx) {
    return {
      ready: Promise.resolve(),
      connection: (socket, listener) => {
        socket.write(`hello from ${ctx.init.service} at ${where(listener)} pid ${process.pid}\n`);
        socket.once('data', (line: Buffer) => socket.end(line));
      },
      drain: () => Promise.resolve(),
      close: () => Promise.resolve(),
    };
  },
});
