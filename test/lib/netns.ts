// Private network namespaces for everything that starts a mail daemon.
// This machine's resolver points off the machine, so a daemon (real Postfix or
// ours) must never run in the host's namespace: tests and the recorder re-run
// themselves under `unshare -n -m --pid` with only loopback up, and with fixed
// /etc/hosts and /etc/resolv.conf bind-mounted from fixtures/smtpd/netns/ (the
// mount namespace keeps that private) so that client name lookups give the
// same answers on every machine and DNS fails at once (nameserver 127.0.0.1,
// nothing listening on port 53).

import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { repoRoot } from './cases.js';

/** Set (to "1") in the environment of a process started by runInNamespace(). */
export const NETNS_ENV = 'POSTFIX_TS_NETNS';

/** The files bind-mounted over /etc/hosts and /etc/resolv.conf inside the namespace. */
export function namespaceFiles(root = repoRoot()): { hosts: string; resolv: string } {
  const dir = path.join(root, 'fixtures', 'smtpd', 'netns');
  return { hosts: path.join(dir, 'hosts'), resolv: path.join(dir, 'resolv.conf') };
}

/** Network interfaces of the current namespace (from /proc/net/dev). */
export function interfaces(): string[] {
  try {
    return fs
      .readFileSync('/proc/net/dev', 'utf8')
      .split('\n')
      .slice(2)
      .map((l) => l.split(':')[0]!.trim())
      .filter((n) => n !== '');
  } catch {
    return [];
  }
}

/** True when this process sees no network interface but loopback. */
export function inNamespace(): boolean {
  const names = interfaces();
  return names.length > 0 && names.every((n) => n === 'lo');
}

/** True when this process runs in a namespace prepared by runInNamespace() (loopback only, fixed hosts). */
export function namespaceReady(): boolean {
  if (process.env[NETNS_ENV] !== '1' || !inNamespace()) return false;
  try {
    const { hosts } = namespaceFiles();
    return fs.readFileSync('/etc/hosts', 'utf8') === fs.readFileSync(hosts, 'utf8');
  } catch {
    return false;
  }
}

function onPath(cmd: string): boolean {
  return (process.env.PATH ?? '/usr/bin:/bin:/usr/sbin:/sbin')
    .split(':')
    .concat(['/usr/sbin', '/sbin', '/usr/bin', '/bin'])
    .some((d) => fs.existsSync(path.join(d, cmd)));
}

/** null when this process can create a private namespace, else why not. */
export function whyNoNamespace(): string | null {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
    return 'not root: cannot create a private network namespace (unshare -n), and daemons must not run on the real network';
  }
  for (const cmd of ['unshare', 'ip', 'mount']) if (!onPath(cmd)) return `${cmd} not found`;
  return null;
}

/** The command line that runs argv in a fresh namespace: lo up, fixed hosts and resolv.conf. */
export function namespaceCommand(argv: string[]): { file: string; args: string[]; env: NodeJS.ProcessEnv } {
  const { hosts, resolv } = namespaceFiles();
  const script = [
    'set -e',
    'ip link set lo up',
    `mount --bind '${hosts}' /etc/hosts`,
    `mount --bind '${resolv}' /etc/resolv.conf`,
    'exec "$@"',
  ].join('\n');
  const env: NodeJS.ProcessEnv = { ...process.env, [NETNS_ENV]: '1' };
  // A child of `node --test` would otherwise talk the runner's private protocol.
  delete env.NODE_TEST_CONTEXT;
  // A PID namespace too: when argv (its init) exits, the kernel ends every
  // daemon it left behind, so a failed test cannot leak a running master.
  const args = ['-n', '-m', '--propagation', 'private', '--pid', '--fork', '--mount-proc', 'sh', '-c', script, 'sh', ...argv];
  return { file: 'unshare', args, env };
}

export interface NamespaceRun {
  status: number;
  stdout: string;
  stderr: string;
}

/** Run argv inside a fresh private namespace and wait for it, collecting its output. */
export function runInNamespace(argv: string[], opts: { echo?: boolean; cwd?: string } = {}): Promise<NamespaceRun> {
  const why = whyNoNamespace();
  if (why) return Promise.reject(new Error(why));
  const cmd = namespaceCommand(argv);
  return new Promise((resolve) => {
    const child = spawn(cmd.file, cmd.args, { env: cmd.env, cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => {
      out.push(b);
      if (opts.echo) process.stdout.write(b);
    });
    child.stderr.on('data', (b: Buffer) => {
      err.push(b);
      if (opts.echo) process.stderr.write(b);
    });
    child.on('error', (e) => err.push(Buffer.from(`[netns: ${e.message}]\n`)));
    child.on('close', (status, signal) => {
      resolve({
        status: status ?? (signal ? 128 : 1),
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8') + (signal ? `[netns: killed by ${signal}]\n` : ''),
      });
    });
  });
}

/** Synchronous variant with inherited stdio, for a program that re-runs itself (the recorder). */
export function execInNamespaceSync(argv: string[]): number {
  const why = whyNoNamespace();
  if (why) throw new Error(why);
  const cmd = namespaceCommand(argv);
  const r = spawnSync(cmd.file, cmd.args, { env: cmd.env, stdio: 'inherit' });
  if (r.error) throw r.error;
  return r.status ?? 1;
}

/** Throws unless this process is inside a prepared private namespace: the guard before starting any daemon. */
export function assertNamespace(what: string): void {
  if (!namespaceReady()) {
    throw new Error(`${what}: refusing to start a daemon outside a private network namespace (see test/lib/netns.ts)`);
  }
}
