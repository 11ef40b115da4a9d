// The one seam a command's edge offers to a runner that executes commands
// inside its own process instead of as a fresh one (test/lib/inproc.ts): such
// a runner registers a function under this global symbol and learns of each
// run of runMain, to await its end. From bin/ nothing is registered and this
// does nothing.
const KEY = Symbol.for('postfix-ts.runMain');

export function reportRun(run: Promise<void>): void {
  const hook = (globalThis as { [KEY]?: (run: Promise<void>) => void })[KEY];
  if (hook) hook(run);
}
