// Mirrors the per-transport lookups of Postfix's qmgr/qmgr_transport.c,
// qmgr_feedback.c, pipe/pipe.c and spawn/spawn.c (get_mail_conf_int2(),
// get_mail_conf_time2()): TRANSPORT_destination_concurrency_limit when
// main.cf or -o sets it, else the global default_destination_concurrency_limit.
// The suffixes, their global parameters and bounds are in transport-table.ts,
// which service-params.ts (postconf's service-defined parameters) shares.
import { ConfigError, type Config } from './config.js';
import { convInt, convTime, checkStrLength, type Converted } from './conf-values.js';
import { isBuiltinParam } from './registry.js';
import { DELIVERY_PARAMS, TIME_LIMIT_PARAMS, type TransportParam, type TransportParamKind } from './transport-table.js';

export { DELIVERY_PARAMS, TIME_LIMIT_PARAMS, type TransportParam, type TransportParamKind };

const BY_SUFFIX = new Map([...TIME_LIMIT_PARAMS, ...DELIVERY_PARAMS].map((p) => [p.suffix, p]));

/** The table row of a suffix, or undefined. */
export function transportParam(suffix: string): TransportParam | undefined {
  return BY_SUFFIX.get(suffix);
}

function rowOf(suffix: string, kind: TransportParamKind): TransportParam {
  const p = BY_SUFFIX.get(suffix);
  if (!p || p.kind !== kind) throw new Error(`no per-transport ${kind} parameter with suffix ${suffix}`);
  return p;
}

/**
 * The per-transport name when it has a value of its own: set in main.cf or
 * by -o, or built in (local_destination_concurrency_limit = 2 is registered
 * by qmgr's own table); undefined when the global parameter applies.
 */
function ownName(config: Config, transport: string, suffix: string): string | undefined {
  const name = transport + suffix;
  return config.isSet(name) || isBuiltinParam(name) ? name : undefined;
}

function must<T>(r: Converted<T>): T {
  if (!r.ok) throw new ConfigError(r.error);
  return r.value;
}

/** An int such as TRANSPORT_destination_concurrency_limit; ConfigError with Postfix's text when bad. */
export function transportInt(config: Config, transport: string, suffix: string): number {
  const p = rowOf(suffix, 'int');
  const name = ownName(config, transport, suffix);
  return name === undefined ? config.getInt(p.global) : must(convInt(name, config.get(name), p.bounds));
}

/** A time in seconds such as TRANSPORT_destination_rate_delay (a bare number is seconds). */
export function transportTime(config: Config, transport: string, suffix: string): number {
  const p = rowOf(suffix, 'time');
  const name = ownName(config, transport, suffix);
  return name === undefined ? config.getTime(p.global) : must(convTime(name, config.get(name), 's', p.bounds));
}

/** A string such as TRANSPORT_destination_concurrency_positive_feedback, and the name it came from. */
export function transportStr(config: Config, transport: string, suffix: string): { name: string; value: string } {
  const p = rowOf(suffix, 'str');
  const name = ownName(config, transport, suffix) ?? p.global;
  const bounds = name === p.global ? undefined : p.bounds;
  return { name, value: bounds ? must(checkStrLength(name, config.get(name), bounds)) : config.getStr(name) };
}
