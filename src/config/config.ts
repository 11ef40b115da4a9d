// Mirrors Postfix's global/mail_conf.c and mail_params.c for programs other
// than postconf: find the config directory, read main.cf, apply -o
// overrides, and hand out parameter values with $name expanded recursively
// and built-in defaults filled in from the registry.
import { loadNameValues, readConfigFile } from './maincf.js';
import { macExpand, MAC_EXP_FLAG_RECURSE, MAC_PARSE_ERROR } from './expand.js';
import { getParam, paramBounds, timeUnit } from './registry.js';
import { checkStrLength, convBool, convInt, convLong, convTime, NO_BOUNDS, type Bounds, type Converted } from './conf-values.js';
import { computedDefault, isComputed, type ConfigView } from './computed.js';
import { stderrLog, type MsgLog } from '../util/msg.js';
import { ConfigError } from './config-error.js';

export { ConfigError } from './config-error.js';

/** Where Postfix looks when neither -c nor MAIL_CONFIG says otherwise. */
export const DEF_CONFIG_DIR = '/etc/postfix';
export const CONF_ENV_PATH = 'MAIL_CONFIG';

/** The directory chosen by -c DIR, else $MAIL_CONFIG, else the built-in default. */
export function resolveConfigDir(explicit?: string): string {
  if (explicit !== undefined) return explicit;
  const env = process.env[CONF_ENV_PATH];
  return env !== undefined && env !== '' ? env : DEF_CONFIG_DIR;
}

export type { Bounds } from './conf-values.js';

/**
 * The bounds the registry records for name: numeric bounds for numeric
 * parameters, length bounds for strings; none for names it does not know.
 */
export function registryBounds(name: string, kind: 'number' | 'string' = 'number'): Bounds {
  const type = getParam(name)?.type;
  const isString = type === 'str' || type === 'raw';
  if (type === undefined || isString !== (kind === 'string')) return NO_BOUNDS;
  return paramBounds(name) ?? NO_BOUNDS;
}

export class Config {
  private readonly cache = new Map<string, string>();

  private constructor(
    readonly configDir: string,
    private readonly params: Map<string, string>,
    /** Where main.cf and $name expansion warnings go: the program's logger. */
    private readonly log: MsgLog = stderrLog,
  ) {}

  /**
   * Reads DIR/main.cf. A missing file or a malformed entry is a ConfigError
   * carrying Postfix's fatal text ("open /x/main.cf: No such file or directory").
   */
  static load(configDir?: string, overrides: Array<[string, string]> = [], log: MsgLog = stderrLog): Config {
    const dir = resolveConfigDir(configDir);
    const path = `${dir}/main.cf`;
    const file = readConfigFile(path);
    if ('error' in file) throw new ConfigError(`open ${path}: ${file.error}`);
    const params = new Map<string, string>();
    loadNameValues(file.text, path, params, {
      warn: (text) => log.warning(text),
      fatal: (msg) => {
        throw new ConfigError(msg);
      },
    });
    if (configDir !== undefined || process.env[CONF_ENV_PATH]) params.set('config_directory', dir);
    for (const [name, value] of overrides) params.set(name, value);
    return new Config(dir, params, log);
  }

  /** A configuration from explicit settings only (tests, built-in defaults). */
  static fromEntries(configDir: string, entries: Iterable<[string, string]>): Config {
    return new Config(configDir, new Map(entries));
  }

  /** The value as written in main.cf or -o, else the built-in default text; unexpanded. */
  raw(name: string): string | undefined {
    const v = this.params.get(name);
    if (v !== undefined) return v;
    if (isComputed(name)) return computedDefault(name, this.view());
    return getParam(name)?.defaultValue();
  }

  /** What host-computed defaults consult: mydomain follows a myhostname set in main.cf. */
  private view(): ConfigView {
    return {
      mainValue: (n) => (this.params.has(n) ? this.get(n) : undefined),
      expandedDefault: (n) => this.expand(getParam(n)?.defaultValue() ?? '', n),
    };
  }

  /** True when main.cf or -o sets the parameter. */
  isSet(name: string): boolean {
    return this.params.has(name);
  }

  /** The value with every $name expanded; '' for a name nobody defines. */
  get(name: string): string {
    const hit = this.cache.get(name);
    if (hit !== undefined) return hit;
    const raw = this.raw(name);
    if (raw === undefined) return '';
    const def = getParam(name);
    const value = def && def.flags & 1 /* raw: never expanded */ ? raw : this.expand(raw, name);
    this.cache.set(name, value);
    return value;
  }

  /** Expands $name references in text against this configuration. */
  expand(text: string, context = 'text'): string {
    const r = macExpand(text, (n) => this.raw(n), MAC_EXP_FLAG_RECURSE, (text) => this.log.warning(text));
    if (r.status & MAC_PARSE_ERROR) throw new ConfigError(`dictionary mail_dict: macro processing error in ${context}`);
    return r.result;
  }

  // The typed getters below mirror get_mail_conf_int() and friends: the
  // value is converted, then checked against the bounds the registry
  // records for the parameter (explicit bounds win, for lookups such as
  // TRANSPORT_destination_concurrency_limit that carry their own). A bad
  // value is a ConfigError with Postfix's fatal text (conf-values.ts).

  /** A bool or nbool parameter: "yes" or "no", any case. */
  getBool(name: string): boolean {
    return this.must(convBool(name, this.get(name)));
  }

  /** An int or nint parameter within its bounds. */
  getInt(name: string, bounds?: Bounds): number {
    return this.must(convInt(name, this.get(name), bounds ?? registryBounds(name)));
  }

  /** A long parameter (sizes such as message_size_limit) within its bounds. */
  getLong(name: string, bounds?: Bounds): number {
    return this.must(convLong(name, this.get(name), bounds ?? registryBounds(name)));
  }

  /**
   * A time parameter in seconds within its bounds; a bare number is taken
   * in the parameter's default unit (maximal_queue_lifetime: days), or in
   * unit when given.
   */
  getTime(name: string, unit?: string, bounds?: Bounds): number {
    return this.must(convTime(name, this.get(name), unit ?? timeUnit(name) ?? 's', bounds ?? registryBounds(name)));
  }

  /** A string parameter whose length the registry bounds (default_verp_delimiters: exactly 2). */
  getStr(name: string, bounds?: Bounds): string {
    return this.must(checkStrLength(name, this.get(name), bounds ?? registryBounds(name, 'string')));
  }

  private must<T>(r: Converted<T>): T {
    if (!r.ok) throw new ConfigError(r.error);
    return r.value;
  }

  /** A list parameter split on commas and whitespace, as most Postfix lists are. */
  getList(name: string): string[] {
    return this.get(name).split(/[\s,]+/).filter((w) => w.length > 0);
  }
}
