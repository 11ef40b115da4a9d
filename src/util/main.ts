// The edge of every command: run the body, flush buffered output, turn a
// FatalExit into the process exit status. Nothing below cli/ calls exit.
import { FatalError, FatalExit, msgFatal, setProgName } from './msg.js';
import { flushOut } from './output.js';
import { reportRun } from './run-hook.js';

export function runMain(defaultName: string, body: (argv: string[]) => void | number | Promise<void | number>): Promise<void> {
  const run = runBody(defaultName, body);
  reportRun(run);
  return run;
}

async function runBody(defaultName: string, body: (argv: string[]) => void | number | Promise<void | number>): Promise<void> {
  const invoked = process.env.POSTFIX_TS_ARGV0 || defaultName;
  setProgName(invoked);
  let status = 0;
  try {
    const r = await body(process.argv.slice(2));
    if (typeof r === 'number') status = r;
  } catch (caught) {
    let e = caught;
    flushOut();
    if (e instanceof FatalError) {
      try {
        msgFatal(e.message);
      } catch (exit) {
        e = exit;
      }
    }
    if (e instanceof FatalExit) {
      process.exitCode = e.status;
      return;
    }
    throw e;
  }
  flushOut();
  process.exitCode = status;
}
