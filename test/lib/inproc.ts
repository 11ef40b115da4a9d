// Runs one of this project's commands inside the test process instead of as a
// fresh `node` process: a process start plus bundle load costs ~150 ms here,
// an in-process run a few milliseconds, and the fixture suites run thousands.
//
// Each run evaluates the command's bundle (dist/bin/NAME.cjs) afresh, so every
// module of src/ starts with fresh state, exactly as in a new process. The
// bundle is compiled once (a vm.Script, so the functions V8 compiles lazily are
// compiled once too) and its module wrapper called anew for each run: ~1 ms,
// where require() after clearing the cache recompiles it all each time. What a
// process shares beyond its modules is set up as the subprocess would see it
// and put back afterwards: argv, environment, working directory, umask, exit
// code, listeners on `process`, globals. The command's standard streams are
// captured for the run's asynchronous context only (AsyncLocalStorage), so the
// test runner's own output is never mixed in: fd 1/2 writes (fs.writeSync,
// process.stdout/stderr.write), whole-stdin reads (fs.readFileSync(0)), and
// isatty() answers false as for the pipes a subprocess gets.
//
// Anything a run cannot do faithfully inside another process makes the run
// report `needsProcess` (the caller then runs the case as a real process, from
// a fresh copy of its inputs): signals and exits (process.kill/exit/abort),
// other access to descriptors 0-2 (fstat/read of stdin, /dev/stdin), an error
// escaping the command's edge (Node would print it), a command that never
// reaches runMain, and handles (timers, sockets) still open after it ended,
// since a process would stay alive for them.

import { AsyncLocalStorage, createHook } from 'node:async_hooks';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import tty from 'node:tty';
import vm from 'node:vm';

export interface InProcessRun {
  /** The bundle to evaluate (dist/bin/NAME.cjs). */
  bundle: string;
  /** process.argv[1] as the launcher would see it (bin/NAME). */
  launcher: string;
  args: string[];
  env: Record<string, string>;
  cwd: string;
  input: string;
  timeoutMs?: number;
}

export type InProcessResult =
  | { stdout: Buffer; stderr: Buffer; status: number }
  | { needsProcess: string };

interface Capture {
  out: Buffer[];
  err: Buffer[];
  stdin: Buffer;
  /** How much of stdin read(2) calls on descriptor 0 have consumed. */
  stdinPos: number;
  /** Asynchronous resources the run created and that are not yet destroyed. */
  resources: Map<number, { type: string; resource: WeakRef<object> }>;
  /** Listeners the run added to `process`: removed afterwards ('exit' ones run first, as at exit). */
  listeners: [string | symbol, (...a: unknown[]) => void][];
  needsProcess?: string;
}

const RUN_KEY = Symbol.for('postfix-ts.runMain');
const als = new AsyncLocalStorage<Capture>();

/** Thrown inside a run to stop it when it needs a real process; the flag on the capture is what counts. */
class NeedsProcess extends Error {}

function needProcess(cap: Capture, why: string): never {
  cap.needsProcess ??= why;
  throw new NeedsProcess(why);
}

function bytes(data: unknown, encoding?: unknown): Buffer {
  if (typeof data === 'string') return Buffer.from(data, (typeof encoding === 'string' ? encoding : 'utf8') as BufferEncoding);
  if (ArrayBuffer.isView(data)) return Buffer.from(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  return Buffer.from(String(data));
}

let installed = false;

/** Wraps the process-wide functions once; outside a run they behave exactly as before. */
function install(): void {
  if (installed) return;
  installed = true;
  const f = fs as unknown as Record<string, (...a: unknown[]) => unknown>;
  const wrap = (obj: Record<string, unknown>, name: string, fn: (orig: (...a: unknown[]) => unknown, cap: Capture, a: unknown[]) => unknown) => {
    const orig = obj[name] as (...a: unknown[]) => unknown;
    obj[name] = function (this: unknown, ...a: unknown[]) {
      const cap = als.getStore();
      return cap ? fn.call(this, orig.bind(this), cap, a) : orig.apply(this, a);
    };
  };
  const isStdFd = (fd: unknown) => fd === 0 || fd === 1 || fd === 2;

  wrap(f, 'writeSync', (orig, cap, a) => {
    const [fd, data] = a;
    if (fd !== 1 && fd !== 2) return orig(...a);
    const sink = fd === 1 ? cap.out : cap.err;
    if (typeof data === 'string') {
      const b = bytes(data, a[3]);
      sink.push(b);
      return b.length;
    }
    const view = bytes(data);
    const off = typeof a[2] === 'number' ? a[2] : 0;
    const len = typeof a[3] === 'number' ? a[3] : view.length - off;
    sink.push(Buffer.from(view.subarray(off, off + len)));
    return len;
  });
  wrap(f, 'readFileSync', (orig, cap, a) => {
    const [file, opts] = a;
    if (file === 0) {
      const enc = typeof opts === 'string' ? opts : (opts as { encoding?: string } | undefined)?.encoding;
      return enc ? cap.stdin.toString(enc as BufferEncoding) : Buffer.from(cap.stdin);
    }
    if (isStdFd(file) || file === '/dev/stdin' || file === '/dev/stdout' || file === '/dev/stderr') needProcess(cap, `readFileSync(${String(file)})`);
    return orig(...a);
  });
  // Descriptor 0 is a pipe holding the case's input, as for a subprocess: fstat
  // says FIFO (size 0), reads consume the input, then return 0 (end of file).
  wrap(f, 'fstatSync', (orig, cap, a) => {
    if (!isStdFd(a[0])) return orig(...a);
    if (a[0] !== 0 || a[1] !== undefined) needProcess(cap, `fstatSync(${String(a[0])})`);
    return pipeStats();
  });
  wrap(f, 'readSync', (orig, cap, a) => {
    if (!isStdFd(a[0])) return orig(...a);
    const [fd, buf, offOrOpts, len, pos] = a;
    if (fd !== 0 || !ArrayBuffer.isView(buf) || typeof offOrOpts !== 'number' || typeof len !== 'number' || (pos !== null && pos !== undefined)) {
      needProcess(cap, `readSync(${String(fd)})`);
    }
    const view = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
    const n = Math.min(len, cap.stdin.length - cap.stdinPos);
    view.set(cap.stdin.subarray(cap.stdinPos, cap.stdinPos + n), offOrOpts);
    cap.stdinPos += n;
    return n;
  });
  for (const name of ['closeSync', 'ftruncateSync', 'fsyncSync', 'fdatasyncSync', 'fchmodSync', 'fchownSync', 'futimesSync']) {
    wrap(f, name, (orig, cap, a) => (isStdFd(a[0]) ? needProcess(cap, `${name}(${String(a[0])})`) : orig(...a)));
  }
  wrap(f, 'openSync', (orig, cap, a) => {
    if (typeof a[0] === 'string' && /^\/dev\/(std(in|out|err)|fd\/|tty$)|^\/proc\/self\/fd\//.test(a[0])) needProcess(cap, `openSync(${a[0]})`);
    return orig(...a);
  });
  wrap(tty as unknown as Record<string, unknown>, 'isatty', (orig, _cap, a) => (isStdFd(a[0]) ? false : orig(...a)));

  for (const [stream, fd] of [[process.stdout, 1], [process.stderr, 2]] as const) {
    wrap(stream as unknown as Record<string, unknown>, 'write', (_orig, cap, a) => {
      const [chunk, encOrCb, cb] = a;
      (fd === 1 ? cap.out : cap.err).push(bytes(chunk, encOrCb));
      const done = typeof encOrCb === 'function' ? encOrCb : cb;
      if (typeof done === 'function') process.nextTick(done as () => void);
      return true;
    });
    const own = Object.getOwnPropertyDescriptor(stream, 'isTTY');
    Object.defineProperty(stream, 'isTTY', {
      configurable: true,
      get: () => (als.getStore() ? false : own?.get ? own.get.call(stream) : own?.value),
    });
  }
  const p = process as unknown as Record<string, unknown>;
  // Node calls the loader option used for the bundles experimental, once: a
  // remark about this harness, not the command's, so it is not printed.
  const emitWarning = process.emitWarning;
  p.emitWarning = function (this: unknown, warning: unknown, ...rest: unknown[]) {
    if (String(warning).includes('USE_MAIN_CONTEXT_DEFAULT_LOADER')) return;
    return (emitWarning as (...a: unknown[]) => void).call(this, warning, ...rest);
  };
  for (const name of ['kill', 'exit', 'abort', 'reallyExit']) {
    wrap(p, name, (_orig, cap) => needProcess(cap, `process.${name}`));
  }
  for (const name of ['on', 'addListener', 'once', 'prependListener', 'prependOnceListener']) {
    wrap(p, name, (orig, cap, a) => {
      cap.listeners.push([a[0] as string | symbol, a[1] as (...a: unknown[]) => void]);
      return orig(...a);
    });
  }
}

let fifo: fs.Stats | undefined;

/** What fstat(2) reports for the read end of a pipe: a FIFO of size 0. */
function pipeStats(): fs.Stats {
  if (!fifo) {
    fifo = fs.statSync('/');
    Object.assign(fifo, { mode: fs.constants.S_IFIFO | 0o600, size: 0, nlink: 1, blocks: 0, blksize: 4096, rdev: 0, uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 });
  }
  return fifo;
}

let queue: Promise<unknown> = Promise.resolve();

/** Runs the command once in this process; runs are serialized (cwd and environment are process-wide). */
export function runInProcess(run: InProcessRun): Promise<InProcessResult> {
  const result = queue.then(() => runNow(run));
  queue = result.catch(() => undefined);
  return result;
}

// The asynchronous resources (timers, sockets, pending requests) each run
// creates, so that those still alive and keeping a process alive afterwards
// can be told apart from the test runner's own.
const resourceHook = createHook({
  init(asyncId, type, _trigger, resource) {
    if (type === 'PROMISE') return;
    als.getStore()?.resources.set(asyncId, { type, resource: new WeakRef(resource as object) });
  },
  destroy(asyncId) {
    for (const cap of running) cap.resources.delete(asyncId);
  },
});
const running = new Set<Capture>();

/** The run's resources that would keep a process from exiting. */
function leftOpen(cap: Capture): string[] {
  const left: string[] = [];
  for (const { type, resource } of cap.resources.values()) {
    const r = resource.deref() as { hasRef?: () => boolean } | undefined;
    if (r === undefined) continue;
    if (typeof r.hasRef === 'function' && !r.hasRef()) continue;
    if (type === 'Timeout' && (r as { _destroyed?: boolean })._destroyed) continue;
    // A directory handle (fs.opendirSync, which the queue commands use for
    // readdir order) never keeps a process alive; it lingers until collected.
    if (type === 'DIRHANDLE') continue;
    left.push(type);
  }
  return left;
}

async function runNow(run: InProcessRun): Promise<InProcessResult> {
  install();
  const cap: Capture = { out: [], err: [], stdin: Buffer.from(run.input, 'utf8'), stdinPos: 0, listeners: [], resources: new Map() };
  const g = globalThis as unknown as Record<string | symbol, unknown>;
  const saved = {
    cwd: process.cwd(),
    env: { ...process.env },
    argv: process.argv,
    exitCode: process.exitCode,
    umask: process.umask(0o022),
    globals: new Set(Reflect.ownKeys(g)),
  };
  process.umask(saved.umask);
  running.add(cap);
  resourceHook.enable();
  const runs: Promise<void>[] = [];
  let timer: NodeJS.Timeout | undefined;
  try {
    for (const k of Object.keys(process.env)) if (!(k in run.env)) delete process.env[k];
    Object.assign(process.env, run.env);
    process.chdir(run.cwd);
    process.argv = [process.execPath, run.launcher, ...run.args];
    process.exitCode = undefined;
    g[RUN_KEY] = (p: Promise<void>) => {
      p.catch(() => undefined); // a failure is looked at below, or the run is redone as a process
      runs.push(p);
    };
    try {
      als.run(cap, () => evaluate(run.bundle));
    } catch (e) {
      if (!cap.needsProcess) cap.needsProcess = `load failed: ${(e as Error).message}`;
    }
    const main = runs[0];
    if (cap.needsProcess === undefined && main === undefined) cap.needsProcess = 'runMain was not reached';
    const deadline = Date.now() + (run.timeoutMs ?? 30000);
    if (cap.needsProcess === undefined && main !== undefined) {
      const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), run.timeoutMs ?? 30000)));
      const outcome = await Promise.race([main.then(() => 'ok' as const, (e: unknown) => e), timeout]);
      clearTimeout(timer);
      if (outcome === 'timeout') cap.needsProcess = 'timed out';
      else if (outcome !== 'ok' && cap.needsProcess === undefined) cap.needsProcess = `runMain failed: ${String(outcome)}`;
    }
    // A process lives on while it has referenced handles, timers or requests
    // (and may write more); so does the run, within its time limit.
    for (let spins = 0; cap.needsProcess === undefined; spins++) {
      await new Promise((resolve) => (spins < 20 ? setImmediate(resolve) : setTimeout(resolve, 2)));
      const left = leftOpen(cap);
      if (left.length === 0) break;
      if (Date.now() > deadline) cap.needsProcess = `left open: ${left.join(', ')}`;
    }
    if (cap.needsProcess === undefined) {
      // The process would exit now: its 'exit' listeners run with the exit status.
      const code = Number(process.exitCode ?? 0);
      for (const [event, fn] of cap.listeners) {
        if (event !== 'exit') continue;
        try {
          als.run(cap, () => (fn as (c: number) => void)(code));
        } catch (e) {
          cap.needsProcess ??= `exit listener failed: ${(e as Error).message}`;
        }
      }
    }
    if (cap.needsProcess !== undefined) return { needsProcess: cap.needsProcess };
    return { stdout: Buffer.concat(cap.out), stderr: Buffer.concat(cap.err), status: Number(process.exitCode ?? 0) };
  } finally {
    clearTimeout(timer);
    running.delete(cap);
    resourceHook.disable();
    delete g[RUN_KEY];
    for (const k of Reflect.ownKeys(g)) if (!saved.globals.has(k)) delete g[k];
    for (const [event, fn] of cap.listeners) process.removeListener(event, fn);
    for (const k of Object.keys(process.env)) if (!(k in saved.env)) delete process.env[k];
    Object.assign(process.env, saved.env);
    process.chdir(saved.cwd);
    process.argv = saved.argv;
    process.exitCode = saved.exitCode;
    process.umask(saved.umask);
  }
}

const scripts = new Map<string, vm.Script>();

function readCache(file: string): Buffer | undefined {
  try {
    return fs.readFileSync(file);
  } catch {
    return undefined;
  }
}

/** Runs a CommonJS bundle as a new module, as require() would the first time. */
function evaluate(launcherBundle: string): void {
  // dist/bin/NAME.cjs is a stub that compiles NAME.bundle.cjs with its code
  // cache; here the compiled script is kept across runs instead.
  const bundle = launcherBundle.replace(/\.cjs$/, '.bundle.cjs');
  let script = scripts.get(bundle);
  if (!script) {
    const source = fs.readFileSync(bundle, 'utf8');
    // The same wrapper as tools/bundle.ts's, so the code cache fits.
    script = new vm.Script(`(function (exports, require, module, __filename, __dirname) { ${source}\n});`, {
      filename: bundle,
      cachedData: readCache(`${bundle}.cache`),
      // import() in the bundle (of lmdb) loads what it would from dist/bin/.
      importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
    });
    scripts.set(bundle, script);
  }
  const module = { exports: {}, filename: bundle, id: bundle, loaded: false };
  const wrapper = script.runInThisContext() as (...a: unknown[]) => void;
  wrapper.call(module.exports, module.exports, createRequire(bundle), module, bundle, path.dirname(bundle));
  module.loaded = true;
}
