// Mirrors master/master_listen.c with util/inet_listen.c, unix_listen.c and
// fifo_listen.c: the endpoints the master creates for a service before it
// starts the service's processes. inet: a bound socket per address (the
// master binds, so root can take port 25 and the processes run as
// mail_owner); unix: a socket at public/NAME or private/NAME, mode 0666;
// fifo: a FIFO there, mode 0622, held open read-write so that writers never
// block and no trigger is lost while a process restarts. Sockets and FIFOs
// belong to mail_owner, as the master creates them with mail_owner's uid
// and gid. Processes listen and read; the master only creates and closes.
// Touches the service's socket or FIFO file.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { getSystemErrorName } from 'node:util';
import { errnoText } from '../util/errno.js';
import type { Endpoint } from './endpoints.js';
import { type ListenerInfo, WORKER_FIFO_FD } from './protocol.js';
import type { ServiceSpec } from './services.js';
import type { Account } from './users.js';

/** Texts of the errors a bind or listen can give. */
export const NET_ERRNO_TEXT: Record<string, string> = {
  EADDRINUSE: 'Address already in use',
  EADDRNOTAVAIL: 'Cannot assign requested address',
  EACCES: 'Permission denied',
  EAFNOSUPPORT: 'Address family not supported by protocol',
  EINVAL: 'Invalid argument',
  ENOENT: 'No such file or directory',
};

/** libuv's flag for a "::" socket that takes IPv6 only (IPV6_V6ONLY), as Postfix sets it. */
const UV_TCP_IPV6ONLY = 1;
const UNIX_MODE = 0o666;
const FIFO_MODE = 0o622;

export type ServerHandle = { close(): void; getsockname?(out: { address?: string; port?: number }): number };
type CreateHandle = (address: string, port: number, addressType: number, fd: undefined, flags: number) => ServerHandle | number;

/** One endpoint as the master holds it. */
export interface MasterListener {
  readonly info: ListenerInfo;
  /** inet and unix: the bound socket, sent to each process. */
  readonly handle?: ServerHandle;
  /** fifo: the open descriptor, given to each process at info.fd. */
  readonly fd?: number;
  close(): void;
}

export type Created = { ok: true; listeners: MasterListener[] } | { ok: false; error: string };

const createHandle = (net as unknown as { _createServerHandle: CreateHandle })._createServerHandle;

function netError(code: number | string): string {
  const name = typeof code === 'number' ? getSystemErrorName(code) : code;
  return NET_ERRNO_TEXT[name] ?? name;
}

/** inet_listen() for every address of the endpoint; the error is master's fatal text. */
function bindInet(ep: Endpoint): Created {
  const out: MasterListener[] = [];
  for (const a of ep.addresses) {
    const r = createHandle(a.address, ep.port, a.family, undefined, a.family === 6 ? UV_TCP_IPV6ONLY : 0);
    // libuv keeps EADDRINUSE from bind() for a later listen(), which only a
    // process does, on a copy of the descriptor that knows nothing of it (and
    // would listen on a random port): an unbound socket tells the same.
    const bound: { address?: string; port?: number } = {};
    const code = typeof r === 'number' ? r : r.getsockname?.(bound) !== 0 || bound.port !== ep.port ? 'EADDRINUSE' : null;
    if (code !== null || typeof r === 'number') {
      if (typeof r !== 'number') r.close();
      for (const l of out) l.close();
      return { ok: false, error: `bind ${a.address} port ${ep.port}: ${netError(code ?? r as number)}` };
    }
    out.push({ info: { kind: 'inet', address: a.address, port: ep.port }, handle: r, close: () => r.close() });
  }
  return { ok: true, listeners: out };
}

function chown(path: string, owner: Account | null): void {
  if (owner) fs.chownSync(path, owner.uid, owner.gid);
}

/** unix_listen(): a fresh socket file, mode 0666, mail_owner's. */
function bindUnix(path: string, owner: Account | null): Created {
  try {
    fs.rmSync(path, { force: true });
  } catch (e) {
    return { ok: false, error: `remove ${path}: ${errnoText(e as NodeJS.ErrnoException)}` };
  }
  // Bound under a temporary name, then renamed into place: libuv removes
  // the name a socket was bound to when the master closes its copy, and the
  // master lets go of an on-demand service's socket while its process
  // goes on listening there (./supervisor.ts).
  const tmp = `${path}.${process.pid}.bind`;
  const r = createHandle(tmp, -1, -1, undefined, 0);
  if (typeof r === 'number') return { ok: false, error: `bind: ${path}: ${netError(r)}` };
  try {
    fs.chmodSync(tmp, UNIX_MODE);
    chown(tmp, owner);
    fs.renameSync(tmp, path);
  } catch (e) {
    r.close();
    return { ok: false, error: `chmod socket ${path}: ${errnoText(e as NodeJS.ErrnoException)}` };
  }
  return { ok: true, listeners: [{ info: { kind: 'unix', path }, handle: r, close: () => r.close() }] };
}

/** fifo_listen(): the FIFO (made when missing), open read-write and non-blocking, mode 0622, mail_owner's. */
function openFifo(path: string, owner: Account | null, fdInChild: number): Created {
  let stat: fs.Stats | undefined;
  try {
    stat = fs.lstatSync(path);
    if (!stat.isFIFO()) fs.rmSync(path, { force: true });
  } catch {
    stat = undefined;
  }
  if (!stat?.isFIFO()) {
    // Node has no mkfifo(); coreutils' does the one system call.
    const r = spawnSync('mkfifo', ['-m', FIFO_MODE.toString(8), '--', path], { encoding: 'utf8' });
    if (r.status !== 0) {
      const why = (r.stderr ?? '').trim().split(': ').pop() || (r.error?.message ?? 'mkfifo failed');
      return { ok: false, error: `fifo_listen: mkfifo ${path}: ${why}` };
    }
  }
  let fd: number;
  try {
    fd = fs.openSync(path, fs.constants.O_RDWR | fs.constants.O_NONBLOCK);
  } catch (e) {
    return { ok: false, error: `fifo_listen: open ${path}: ${errnoText(e as NodeJS.ErrnoException)}` };
  }
  try {
    fs.fchmodSync(fd, FIFO_MODE);
    if (owner) fs.fchownSync(fd, owner.uid, owner.gid);
  } catch (e) {
    fs.closeSync(fd);
    return { ok: false, error: `fifo_listen: fchmod ${path}: ${errnoText(e as NodeJS.ErrnoException)}` };
  }
  let open = true;
  const close = () => {
    if (open) fs.closeSync(fd);
    open = false;
  };
  return { ok: true, listeners: [{ info: { kind: 'fifo', path, fd: fdInChild }, fd, close }] };
}

/**
 * The endpoints of one service, for the types LISTENER_TYPES names.
 * owner: mail_owner when the master runs as root, else null (files stay the caller's).
 */
export function createListeners(spec: ServiceSpec, owner: Account | null): Created {
  if (spec.type === 'inet' && spec.endpoint) return bindInet(spec.endpoint);
  if (spec.type === 'unix' && spec.path) return bindUnix(spec.path, owner);
  if (spec.type === 'fifo' && spec.path) return openFifo(spec.path, owner, WORKER_FIFO_FD);
  return { ok: false, error: `unsupported service type: ${spec.type}` };
}
