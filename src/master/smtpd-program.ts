// smtpd(8) as a program of the master's registry: the receive stack of
// ./smtpd-stack.ts (smtpd with cleanup and trivial-rewrite in-process)
// behind the Program interface, one stream connection per SMTP session.
// Opens what the stack opens; listens on nothing.
import type { ProgramModule } from './program.js';
import { buildReceiveStack } from './smtpd-stack.js';

export const smtpdProgram: ProgramModule = {
  skeleton: 'stream',
  start(ctx) {
    const stack = buildReceiveStack(ctx.init, ctx.sink, ctx.anvil);
    return {
      ready: stack.ready,
      connection: (socket) => stack.handle(socket),
      drain: () => stack.commitsDone(),
      close: () => stack.close(),
    };
  },
};
