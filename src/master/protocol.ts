// The conversation between the master and its worker processes, in the
// place of Postfix's master status pipe (master/master_status.c) and the
// listen descriptors a child inherits (master/master_spawn.c). A worker is
// forked with its WorkerInit in the environment, receives its listening
// sockets as handles over the IPC channel, and reports when it is ready,
// when it has taken its first connection or trigger (master's use count: a process
// that dies before that one throttles the service), and trades session
// slots of the service's process_limit with the master (./slots.ts,
// ./slot-pool.ts). Workers also ask the master's anvil (the
// "anvil" and "anvil-reply" messages, in the place of anvil(8)'s socket).
// Types only.

import type { AnvilRequest } from '../smtpd/anvil.js';

/** Set in a forked worker's environment: its WorkerInit as JSON. */
export const WORKER_ENV = 'POSTFIX_TS_WORKER';
/** Set in the master's environment by `postfix start`: the master role. */
export const MASTER_ENV = 'POSTFIX_TS_MASTER';
/**
 * Set for the master and every worker: glibc's allocator keeps one arena.
 * By default each thread that allocates (V8's helper threads, libuv's pool)
 * gets an arena of its own, whose pages stay with the process. Measured on
 * the delivery benchmark in three interleaved pairs: summed PSS fell from
 * 197-200 MiB to 173-176 MiB, with no loss of rate.
 */
export const DAEMON_ALLOCATOR_ENV = { MALLOC_ARENA_MAX: '1' } as const;
/** The descriptor a worker finds the open maillog_file on (after stdin, stdout, stderr and the IPC channel). */
export const WORKER_LOG_FD = 4;
/** The descriptor of a service's first FIFO; further ones follow. */
export const WORKER_FIFO_FD = 5;

/**
 * One endpoint of a service as its process sees it. inet and unix ones
 * arrive as handles in "listen" messages, in index order; a FIFO is open
 * on descriptor fd from the start.
 */
export type ListenerInfo =
  | { kind: 'inet'; address: string; port: number }
  | { kind: 'unix'; path: string }
  | { kind: 'fifo'; path: string; fd: number };

export interface WorkerInit {
  configDir: string;
  /** The master.cf service name as written. */
  service: string;
  type: string;
  /** The command's basename ("smtpd"). */
  command: string;
  /** master's internal name ("[127.0.0.1]:25", "25"). */
  canonical: string;
  options: Array<[string, string]>;
  flags: string[];
  /** The arguments after the options (pipe's attributes); absent: none. */
  args?: string[];
  /** master.cf's unprivileged column (Postfix's master passes -u): pipe refuses to run so. */
  unprivileged?: boolean;
  /** The -o settings of the unix services a worker uses in-process (cleanup, rewrite), by service name. */
  unixOptions: Record<string, Array<[string, string]>>;
  /** The service's session slots this process starts with (more on request); with slotLimited false, no limit. */
  slots: number;
  /** process_limit is not 0: sessions beyond the slots held wait. */
  slotLimited?: boolean;
  generation: number;
  /** True when WORKER_LOG_FD holds the open maillog_file. */
  logFd: boolean;
  /** The service's endpoints; those that are not FIFOs follow as handles. */
  listeners: ListenerInfo[];
}

export type MasterMessage =
  /** A listening socket for init.listeners[index] (the handle comes with the message). */
  | { type: 'listen'; index: number }
  /** A client of init.listeners[index] the master accepted before this process listened (the handle comes with the message). */
  | { type: 'accept'; index: number }
  /** Stop accepting, finish the sessions in progress, exit (reload, removed service, master gone). */
  | { type: 'retire' }
  /** Stop accepting, let messages being committed get their reply, close the rest, exit (postfix stop). */
  | { type: 'stop' }
  /** master.cf's wakeup timer: a "W" request for a trigger program. */
  | { type: 'wakeup' }
  /** anvil's answer to the worker's request number id. */
  | { type: 'anvil-reply'; id: number; count: number; rate: number }
  /** count more session slots for the worker's waiting clients. */
  | { type: 'slot-grant'; count: number }
  /** on: give idle slots back now (always answered) and as they become idle; off: keep them. */
  | { type: 'slot-lend'; on: boolean };

export type WorkerMessage =
  | { type: 'ready' }
  | { type: 'taken' }
  /** A client waits: one more session slot, please. */
  | { type: 'slot-want' }
  /** count slots given back; answer: in reply to "slot-lend" on. */
  | { type: 'slot-return'; count: number; answer: boolean }
  /** listen() failed: libuv reports bind errors such as EADDRINUSE only here. */
  | { type: 'listen-error'; index: number; code: string }
  /** Already logged by the worker; the master decides what follows. */
  | { type: 'fatal'; text: string }
  /** An anvil request ("service:addr" ident); id 0 wants no reply (disconnect). */
  | { type: 'anvil'; id: number; req: AnvilRequest; ident: string };
