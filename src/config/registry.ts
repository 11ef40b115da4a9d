// The built-in parameter registry: Postfix's postconf/postconf_builtin.c, which
// knows every main.cf parameter of 3.7.11 with its type, bounds and default.
// The rows live in params.ts as two long strings, split on first use; a row
// becomes a ParamDef only when someone asks for it, because `postconf -n`
// imports this module and must start about as fast as a bare `node`.
import { PARAM_DESC, PARAM_ROWS } from './params.js';
import { computedDefault, isComputed } from './computed.js';

export type ParamType = 'str' | 'int' | 'long' | 'bool' | 'time' | 'size' | 'raw' | 'nint' | 'nbool';

// Same bit values as PCF_PARAM_FLAG_* in src/cli/postconf/context.ts (and
// Postfix's postconf.h); repeated here because config/ must not import cli/.
export const PARAM_FLAG_RAW = 1 << 0;
export const PARAM_FLAG_BUILTIN = 1 << 1;
export const PARAM_FLAG_READONLY = 1 << 5;

export interface ParamDef {
  name: string;
  type: ParamType;
  /** PCF_PARAM_FLAG_BUILTIN, plus RAW (never $-expanded) and READONLY where they apply. */
  flags: number;
  /** The default as `postconf -d` prints it; host-computed ones are worked out on first use. */
  defaultValue(): string;
  /** One line of plain English. */
  desc: string;
  /** Time parameters: the unit a bare number is taken in (s, m, h, d or w). */
  timeUnit?: string;
  /** Lower bound from the daemon's table (0: none); for str it bounds the length. */
  min?: number;
  /** Upper bound from the daemon's table (0: none). */
  max?: number;
  /** True when the default is computed on this host (myhostname, mynetworks, ...). */
  computed: boolean;
}

/**
 * Names that Postfix still accepts in main.cf for backwards compatibility but
 * that have no built-in meaning of their own (postconf_builtin.c's legacy
 * table). They are not part of `postconf -d`; set in main.cf they are shown
 * by `postconf -n` like user-defined names instead of drawing an "unused
 * parameter" warning.
 */
export const LEGACY_PARAMS: readonly string[] = [
  'virtual_maps',
  'fallback_relay',
  'authorized_verp_clients',
  'smtpd_client_connection_limit_exceptions',
  'postscreen_dnsbl_ttl',
  'postscreen_blacklist_action',
  'postscreen_dnsbl_whitelist_threshold',
  'postscreen_whitelist_interfaces',
  'lmtp_per_record_deadline',
  'smtp_per_record_deadline',
  'smtpd_per_record_deadline',
  'tlsproxy_client_level',
  'tlsproxy_client_policy',
];

// Only name, type and flags are cut out eagerly (postconf walks all 831 rows
// for those); the rest of a row is split the first time it is needed.
class Param implements ParamDef {
  readonly name: string;
  readonly type: ParamType;
  readonly flags: number;
  private readonly row: string;
  private readonly index: number;
  private fields: string[] | undefined;

  constructor(index: number) {
    const row = rows()[index]!;
    const t1 = row.indexOf('\t');
    const t2 = row.indexOf('\t', t1 + 1);
    const t3 = row.indexOf('\t', t2 + 1);
    this.name = row.slice(0, t1);
    this.type = row.slice(t1 + 1, t2) as ParamType;
    this.flags = Number(row.slice(t2 + 1, t3));
    this.row = row;
    this.index = index;
    this.fields = undefined;
  }

  private field(i: number): string {
    this.fields ??= this.row.split('\t');
    // The default is the rest of the row, should it ever contain a tab.
    return i === 6 ? this.fields.slice(6).join('\t') : (this.fields[i] ?? '');
  }

  get computed(): boolean {
    return isComputed(this.name);
  }

  get timeUnit(): string | undefined {
    return this.field(3) || undefined;
  }

  get min(): number | undefined {
    const v = this.field(4);
    return v === '' ? undefined : Number(v);
  }

  get max(): number | undefined {
    const v = this.field(5);
    return v === '' ? undefined : Number(v);
  }

  defaultValue(): string {
    return this.computed ? computedDefault(this.name) : this.field(6);
  }

  get desc(): string {
    descRows ??= PARAM_DESC.split('\n');
    const row = descRows[this.index] ?? '';
    return row.slice(row.indexOf('\t') + 1);
  }
}

let rowList: string[] | undefined;
let descRows: string[] | undefined;
let cache: Array<Param | undefined> = [];
let all: ParamDef[] | undefined;

function rows(): string[] {
  if (!rowList) {
    rowList = PARAM_ROWS.split('\n');
    cache = new Array(rowList.length);
  }
  return rowList;
}

function at(index: number): Param {
  rows();
  return (cache[index] ??= new Param(index));
}

function rowName(index: number): string {
  const row = rows()[index]!;
  return row.slice(0, row.indexOf('\t'));
}

let byName: Map<string, number> | undefined;

/** Index of name in the rows, or -1 (one pass builds the map; daemons and postconf look up hundreds of names). */
function indexOf(name: string): number {
  if (!byName) {
    byName = new Map();
    const list = rows();
    for (let i = 0; i < list.length; i++) byName.set(rowName(i), i);
  }
  return byName.get(name) ?? -1;
}

/** The built-in parameter called name, or undefined. */
export function getParam(name: string): ParamDef | undefined {
  const i = indexOf(name);
  return i < 0 ? undefined : at(i);
}

/** True when name is a built-in parameter; cheaper than getParam when no details are needed. */
export function isBuiltinParam(name: string): boolean {
  return indexOf(name) >= 0;
}

/** Every built-in parameter, sorted by name in byte order (as `postconf -d` lists them). */
export function allParams(): ParamDef[] {
  if (!all) {
    all = [];
    for (let i = 0; i < rows().length; i++) all.push(at(i));
  }
  return all.slice();
}

/** Every built-in parameter name, sorted in byte order. */
export function paramNames(): string[] {
  const out: string[] = [];
  for (let i = 0; i < rows().length; i++) out.push(rowName(i));
  return out;
}

/** The unit a bare number means for a time parameter (e.g. 'd' for maximal_queue_lifetime). */
export function timeUnit(name: string): string | undefined {
  return getParam(name)?.timeUnit;
}

/** The bounds a daemon enforces on a numeric parameter (0: no bound), or undefined. */
export function paramBounds(name: string): { min: number; max: number } | undefined {
  const p = getParam(name);
  if (!p || p.min === undefined || p.max === undefined) return undefined;
  return { min: p.min, max: p.max };
}

/** True for parameters whose value is used as written, without $name expansion. */
export function isRawParam(name: string): boolean {
  return ((getParam(name)?.flags ?? 0) & PARAM_FLAG_RAW) !== 0;
}

/** True for parameters that main.cf cannot set (process_id, process_name, service_name). */
export function isReadonlyParam(name: string): boolean {
  return ((getParam(name)?.flags ?? 0) & PARAM_FLAG_READONLY) !== 0;
}
