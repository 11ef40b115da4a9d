// Stand-in programs for the master's tests, registered from test code only
// (no master.cf outside the tests can name them): "test-trigger" logs each
// trigger request it gets, as qmgr or pickup would act on one; "test-echo"
// greets each stream connection and echoes one line back; "test-slow" is
// started on demand as a delivery agent is, takes a while to get ready (as
// local opens its tables) and, like local, cannot serve a connection before
// then. They log through the logger the skeleton hands them, so a test reads
// what they got in the maillog. Importing this file registers them.
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

/** How long test-slow's start takes. */
export const SLOW_START_MS = 400;

registerProgram('test-slow', 'workers', ['unix'], {
  skeleton: 'stream',
  start(ctx) {
    let ready = false;
    return {
      ready: new Promise<void>((r) => setTimeout(r, SLOW_START_MS)).then(() => void (ready = true)),
      connection: (socket, listener) => {
        if (!ready) return void socket.destroy();
        socket.write(`hello from ${ctx.init.service} at ${where(listener)} pid ${process.pid}\n`);
        socket.once('data', (line: Buffer) => socket.end(line));
      },
      drain: () => Promise.resolve(),
      close: () => Promise.resolve(),
    };
  },
}, 1, true);
