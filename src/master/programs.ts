// The registry of master.cf commands: for each command Postfix's master(8)
// would exec from $daemon_directory, how this project runs it.
//  - "workers": worker processes behind shared listeners (smtpd): one per
//    core at most, the service's process_limit shared out between them;
//    an entry's maxProcesses caps that count further (the delivery agents,
//    which wait on disks and peers rather than on the CPU, run one process
//    whose concurrent deliveries are the whole process_limit, started
//    when qmgr first connects, as Postfix's master starts a service);
//  - "single": exactly one process (qmgr, pickup), on its FIFO or socket;
//  - "in-process": no service of its own; its work is done inside the
//    processes that need it (cleanup, trivial-rewrite, postlogd, proxymap,
//    anvil, bounce (notices are made in qmgr's process, status logs are
//    appended by the agents), showq (mailq reads the queue itself):
//    src/cleanup, src/address, src/log, src/dict, ./anvil.ts, src/bounce);
//  - "master": a unix service the master serves itself, on its own
//    endpoint (flush: a few small file operations per request, see
//    ./flush-host.ts);
//  - "missing": not built yet. Such a service is reported once, by name,
//    when the master starts (and when a reload adds it); the rest runs.
// A command known to be "single" or "workers" but without a program module
// yet is "missing" too. Worker processes load their program from here.
import type { ProgramModule } from './program.js';
import { discardProgram, errorProgram } from './agent-programs.js';
import { smtpdProgram } from './smtpd-program.js';
import { qmgrProgram } from './qmgr-program.js';
import { localProgram } from './local-program.js';
import { virtualProgram } from './virtual-program.js';
import { pickupProgram } from './pickup-program.js';
import { smtpProgram } from './smtp-program.js';
import { pipeProgram } from './pipe-program.js';

export type ProgramKind = 'workers' | 'single' | 'in-process' | 'master' | 'missing';

/** The service types the master can create endpoints for. */
export const LISTENER_TYPES: readonly string[] = ['inet', 'unix', 'fifo'];

interface RunEntry {
  kind: 'workers' | 'single';
  /** The master.cf service types the program serves. */
  types: readonly string[];
  /** Absent: not built yet. */
  module?: ProgramModule;
  /** "workers" only: at most this many processes, whatever the core count. */
  maxProcesses?: number;
  /**
   * libuv threads for this program's processes, when not the master's
   * default. local and virtual: one per concurrent delivery of the default
   * local_destination_concurrency_limit, so that each delivery's fsync has
   * a thread (their credential switches touch the main thread only, see
   * util/thread-creds.ts, so the pool's size costs nothing there).
   */
  threadPool?: number;
  /**
   * Started when its first client connects, as Postfix's master starts
   * every service (the delivery agents: a daemon that delivers only
   * locally never runs an smtp or pipe process).
   */
  onDemand?: boolean;
}

type Entry = RunEntry | { kind: 'in-process' } | { kind: 'master'; types: readonly string[] };

const REGISTRY = new Map<string, Entry>([
  ['smtpd', { kind: 'workers', types: ['inet'], module: smtpdProgram }],
  ['qmgr', { kind: 'single', types: ['unix', 'fifo'], module: qmgrProgram }],
  ['local', { kind: 'workers', types: ['unix'], module: localProgram, maxProcesses: 1, onDemand: true, threadPool: 20 }],
  ['virtual', { kind: 'workers', types: ['unix'], module: virtualProgram, maxProcesses: 1, onDemand: true, threadPool: 20 }],
  ['error', { kind: 'workers', types: ['unix'], module: errorProgram, maxProcesses: 1, onDemand: true }],
  ['discard', { kind: 'workers', types: ['unix'], module: discardProgram, maxProcesses: 1, onDemand: true }],
  ['pipe', { kind: 'workers', types: ['unix'], module: pipeProgram, maxProcesses: 1, onDemand: true }],
  ['pickup', { kind: 'single', types: ['unix', 'fifo'], module: pickupProgram }],
  ['smtp', { kind: 'workers', types: ['unix'], module: smtpProgram, maxProcesses: 1, onDemand: true }],
  ['lmtp', { kind: 'workers', types: ['unix'], module: smtpProgram, maxProcesses: 1, onDemand: true }],
  ['cleanup', { kind: 'in-process' }],
  ['bounce', { kind: 'in-process' }],
  ['showq', { kind: 'in-process' }],
  ['trivial-rewrite', { kind: 'in-process' }],
  ['postlogd', { kind: 'in-process' }],
  ['proxymap', { kind: 'in-process' }],
  ['anvil', { kind: 'in-process' }],
  ['flush', { kind: 'master', types: ['unix'] }],
]);

/** The registry's answer for one master.cf service. */
export type ProgramAnswer =
  | { kind: 'workers' | 'single'; name: string; module: ProgramModule }
  | { kind: 'in-process' | 'master' | 'missing'; name: string };

/** The basename of a master.cf command ("smtpd", "/usr/libexec/postfix/smtpd"). */
export function commandName(command: string): string {
  const slash = command.lastIndexOf('/');
  return slash < 0 ? command : command.slice(slash + 1);
}

/** How the service of this command and type runs. */
export function lookupProgram(command: string, type: string): ProgramAnswer {
  const name = commandName(command);
  const entry = REGISTRY.get(name);
  if (!entry) return { kind: 'missing', name };
  if (entry.kind === 'in-process') return { kind: 'in-process', name };
  if (entry.kind === 'master') return entry.types.includes(type) ? { kind: 'master', name } : { kind: 'missing', name };
  if (!entry.module || !entry.types.includes(type) || !LISTENER_TYPES.includes(type)) return { kind: 'missing', name };
  return { kind: entry.kind, name, module: entry.module };
}

export function programKind(command: string, type: string): ProgramKind {
  return lookupProgram(command, type).kind;
}

/** A worker's program, by command basename; undefined when none is built. */
export function programModule(name: string): ProgramModule | undefined {
  const entry = REGISTRY.get(name);
  return entry && entry.kind !== 'in-process' && entry.kind !== 'master' ? entry.module : undefined;
}

/** The registry's cap on a command's process count; undefined when it has none. */
/** The libuv thread pool size for a command's processes; undefined: the master's default. */
export function threadPoolSize(command: string): number | undefined {
  const entry = REGISTRY.get(commandName(command));
  return entry && entry.kind !== 'in-process' && entry.kind !== 'master' ? entry.threadPool : undefined;
}

/** Is the command's process started by its first client rather than at start-up? */
export function startsOnDemand(command: string): boolean {
  const entry = REGISTRY.get(commandName(command));
  return entry !== undefined && entry.kind !== 'in-process' && entry.kind !== 'master' && entry.onDemand === true;
}

export function processCap(command: string): number | undefined {
  const entry = REGISTRY.get(commandName(command));
  return entry && entry.kind !== 'in-process' && entry.kind !== 'master' ? entry.maxProcesses : undefined;
}

/**
 * Adds a program under a new name (the tests' stand-in programs; the
 * daemon's own programs are in the table above). False when the name is taken.
 */
export function registerProgram(
  name: string, kind: 'workers' | 'single', types: readonly string[], module: ProgramModule, maxProcesses?: number, onDemand?: boolean,
): boolean {
  if (REGISTRY.has(name)) return false;
  REGISTRY.set(name, { kind, types, module, ...(maxProcesses === undefined ? {} : { maxProcesses }), ...(onDemand ? { onDemand } : {}) });
  return true;
}

/** The warning logged for a service that will not run. */
export function missingProgramWarning(service: string, type: string, command: string): string {
  const name = commandName(command);
  const entry = REGISTRY.get(name);
  const types = entry && entry.kind === 'master' ? entry.types : entry && entry.kind !== 'in-process' && entry.module ? entry.types.filter((t) => LISTENER_TYPES.includes(t)) : [];
  const why = types.length ? `is implemented only for type ${types.map((t) => `"${t}"`).join(', ')}` : 'is not implemented by this Postfix replacement yet';
  return `master.cf service "${service}" (type ${type}): command "${name}" ${why}: service not started`;
}
