// Service-defined parameters: Postfix's postconf/postconf_service.c. A
// master.cf service that runs a delivery agent (local, error, virtual, smtp,
// lmtp, pipe) or spawn gets per-service main.cf names, built by appending a
// fixed suffix to the service name; each defaults to "$" + the global
// parameter it refines (relay_destination_concurrency_limit defaults to
// $default_destination_concurrency_limit).
import { getParam } from './registry.js';
import { DELIVERY_PARAMS, TIME_LIMIT_PARAMS, type TransportParam } from './transport-table.js';

export interface ServiceParam {
  name: string;
  /** What `postconf -d` prints: "$global_name", or the built-in default when the name is also built in. */
  defaultValue: string;
  /**
   * True when the name is also a built-in parameter with its own default
   * (local_destination_concurrency_limit and the like). Postfix keeps that
   * default and only relabels the name as service-defined.
   */
  builtin: boolean;
}

// [suffix, global parameter whose value is the default], in Postfix's order.
const pairs = (rows: readonly TransportParam[]): Array<[string, string]> => rows.map((p) => [p.suffix, p.global]);
const TIME_LIMIT = pairs(TIME_LIMIT_PARAMS);
const DELIVERY = pairs(DELIVERY_PARAMS);

// Keyed by the command's program name (master.cf's command field, argv[0]).
// Only pipe(8) runs external commands with a time limit, so only pipe and
// spawn get _time_limit; the other agents get the scheduler suffixes.
const BY_PROGRAM: Record<string, Array<[string, string]>> = {
  local: DELIVERY,
  error: DELIVERY,
  virtual: DELIVERY,
  smtp: DELIVERY,
  lmtp: DELIVERY,
  pipe: [...TIME_LIMIT, ...DELIVERY],
  spawn: TIME_LIMIT,
};

/**
 * The per-service parameters that a master.cf entry registers: service is
 * the entry's service name (first field), command the program name of its
 * command (argv[0] of the last field, e.g. "smtp" or "pipe"). Other
 * programs register none.
 */
export function serviceParams(service: string, command: string): ServiceParam[] {
  const suffixes = Object.prototype.hasOwnProperty.call(BY_PROGRAM, command) ? BY_PROGRAM[command]! : [];
  return suffixes.map(([suffix, global]) => {
    const name = service + suffix;
    const own = getParam(name);
    return own
      ? { name, defaultValue: own.defaultValue(), builtin: true }
      : { name, defaultValue: `$${global}`, builtin: false };
  });
}

/** The program names that register service-defined parameters. */
export function serviceParamPrograms(): string[] {
  return Object.keys(BY_PROGRAM);
}
