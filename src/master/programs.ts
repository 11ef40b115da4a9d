// Which master.cf commands this project runs, and how. Postfix's master(8)
// execs $daemon_directory/<command> for every service; here a command is
// either run in worker processes (smtpd), provided inside the processes
// that need it (cleanup, trivial-rewrite, postlogd, proxymap, anvil: their
// work is done in-process by src/cleanup, src/address, src/log, src/dict
// and smtpd's connection counter), or not implemented yet. A service whose
// command is not implemented is reported once, by name, when the master
// starts (and when a reload adds it); the other services keep running.

export type ProgramKind = 'worker' | 'in-process' | 'missing';

/** Commands whose work happens inside the processes that use them. */
const IN_PROCESS = new Set(['cleanup', 'trivial-rewrite', 'postlogd', 'proxymap', 'anvil']);

/** Commands run as worker processes, with the service types they can serve. */
const WORKERS: Record<string, readonly string[]> = {
  smtpd: ['inet'],
};

/** The basename of a master.cf command ("smtpd", "/usr/libexec/postfix/smtpd"). */
export function commandName(command: string): string {
  const slash = command.lastIndexOf('/');
  return slash < 0 ? command : command.slice(slash + 1);
}

export function programKind(command: string, type: string): ProgramKind {
  const name = commandName(command);
  if (WORKERS[name]?.includes(type)) return 'worker';
  if (IN_PROCESS.has(name)) return 'in-process';
  return 'missing';
}

/** The warning logged for a service that will not run. */
export function missingProgramWarning(service: string, type: string, command: string): string {
  const name = commandName(command);
  const why = WORKERS[name] ? `is implemented only for type ${WORKERS[name]!.map((t) => `"${t}"`).join(', ')}` : 'is not implemented by this Postfix replacement yet';
  return `master.cf service "${service}" (type ${type}): command "${name}" ${why}: service not started`;
}
