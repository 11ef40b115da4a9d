// What a daemon program is to the process that runs it: the part of
// Postfix's server skeletons (master/single_server.c, multi_server.c,
// trigger_server.c) that a daemon fills in. A program module is started
// once per process with its service description, its configuration, its
// listeners and a logger; the skeleton (./worker.ts) accepts on the
// listeners and hands each stream connection or each trigger request to
// the program. Types only, apart from the trigger request bytes.
import type { Socket } from 'node:net';
import type { Config } from '../config/config.js';
import type { LogSink, MailLogger } from '../log/logger.js';
import type { AnvilClient } from '../smtpd/service.js';
import type { ListenerInfo, WorkerInit } from './protocol.js';

/** The single-byte requests written to a qmgr or pickup service (global/mail_proto.h, qmgr.h). */
export const TRIGGER_REQ = {
  /** Wake up and look for work. */
  WAKEUP: 'W',
  /** qmgr: scan the deferred queue. */
  SCAN_DEFERRED: 'D',
  /** qmgr: scan the incoming queue. */
  SCAN_INCOMING: 'I',
  /** qmgr: forget which destinations are dead (postqueue -f). */
  FLUSH_DEAD: 'F',
  /** qmgr: ignore the deferred queue's time stamps. */
  SCAN_ALL: 'A',
} as const;

/** What a program gets when its process starts. */
export interface ProgramContext {
  /** The service description the master sent (service, type, command, -o settings, flags). */
  readonly init: WorkerInit;
  /** main.cf with the service's -o settings, as Postfix gives a daemon its configuration (loaded on first use). */
  config(): Config;
  /** Where the process's log lines go (maillog_file or syslog). */
  readonly sink: LogSink;
  /** A logger tagged "postfix/<command>". */
  readonly log: MailLogger;
  /** The master's anvil. */
  readonly anvil: AnvilClient;
  /** The service's endpoints, in master.cf's order. */
  readonly listeners: readonly ListenerInfo[];
}

/** A running program. Every method is called by the skeleton only. */
export interface Program {
  /** Resolves when it can serve; rejects (a ConfigError for a bad configuration) when it cannot. */
  readonly ready: Promise<void>;
  /** A stream connection (single_server, multi_server); the program ends the socket. */
  connection?(socket: Socket, listener: ListenerInfo): void;
  /** The bytes of one trigger request (trigger_server): from a FIFO, or one read of a short connection. */
  trigger?(request: Buffer, listener: ListenerInfo): void;
  /** Resolves when work that must not be cut short (a message being committed) is done; used by a fast stop. */
  drain(): Promise<void>;
  /** Retire: called once every connection has ended; releases tables and files. */
  close(): Promise<void>;
}

/** How a program's service is served: stream connections, or trigger requests. */
export type Skeleton = 'stream' | 'trigger';

/** A program module: what the registry names for a master.cf command. */
export interface ProgramModule {
  readonly skeleton: Skeleton;
  /** Builds the program; throws ConfigError for a configuration it cannot run with. */
  start(ctx: ProgramContext): Program;
}
