// Mirrors Postfix's global/cfg_parser.c: where the settings of a table type
// with its own configuration (memcache:, and the SQL/LDAP types Postfix has)
// come from. A table name that starts with "/" or "." is a file of main.cf
// style "name = value" lines; any other name is a prefix, and the setting
// "ttl" of memcache:foo is main.cf's "foo_ttl" (with $name expansion).
// Bad settings end a Postfix program; here they throw CfgError carrying
// Postfix's text, and the table type turns that into a surrogate table.
// Reads the named file; main.cf comes from the configuration the command
// loaded (setDictMainConfig) or, failing that, from $MAIL_CONFIG.
import { Config, ConfigError } from '../config/config.js';
import { loadNameValues, readConfigFile } from '../config/maincf.js';
import { stderrLog, type MsgLog } from '../util/msg.js';

/** A setting that Postfix rejects with a fatal error; the message is Postfix's text. */
export class CfgError extends Error {}

let mainConfig: Config | undefined;

/** The main.cf that prefix-style table settings are read from (set by commands after loading it). */
export function setDictMainConfig(config: Config | undefined): void {
  mainConfig = config;
}

function currentMainConfig(): Config {
  if (!mainConfig) {
    try {
      mainConfig = Config.load();
    } catch (e) {
      if (e instanceof ConfigError) throw new CfgError(e.message);
      throw e;
    }
  }
  return mainConfig;
}

/** strtol() over the whole text, as cfg_parser and mail_conf_int accept an int. */
function parseCInt(text: string): number | undefined {
  const m = /^[ \t\n\r\v\f]*([+-]?[0-9]+)$/.exec(text);
  if (!m) return undefined;
  const n = Number(m[1]);
  return n >= -2147483648 && n <= 2147483647 ? n : undefined;
}

export class CfgParser {
  private constructor(
    /** The table name: a file path, or the main.cf parameter prefix. */
    readonly name: string,
    private readonly lookupRaw: (name: string) => string | undefined,
    /** "FILE: " in front of complaints about a file's settings; "" for main.cf ones. */
    private readonly prefix: string,
  ) {}

  /**
   * cfg_parser_alloc(): reads the file (warnings for its odd lines as
   * Postfix prints them); null with the errno text when it cannot be opened.
   * A malformed line throws CfgError.
   */
  static open(name: string, log: MsgLog = stderrLog): CfgParser | { error: string } {
    if (name.startsWith('/') || name.startsWith('.')) {
      const file = readConfigFile(name);
      if ('error' in file) return { error: file.error };
      const values = new Map<string, string>();
      loadNameValues(file.text, name, values, {
        warn: (text) => log.warning(text),
        fatal: (msg) => {
          throw new CfgError(msg);
        },
      });
      return new CfgParser(name, (n) => values.get(n), `${name}: `);
    }
    const config = currentMainConfig();
    return new CfgParser(name, (n) => {
      const full = `${name}_${n}`;
      if (!config.isSet(full)) return undefined;
      try {
        return config.get(full);
      } catch (e) {
        if (e instanceof ConfigError) throw new CfgError(e.message);
        throw e;
      }
    }, '');
  }

  /** The setting as written, undefined when absent. */
  private raw(name: string): string | undefined {
    return this.lookupRaw(name);
  }

  /** The parameter name as Postfix shows it in a complaint. */
  private shown(name: string): string {
    return this.prefix ? name : `${this.name}_${name}`;
  }

  /** cfg_get_str(); null (as Postfix's NULL) when defval is null and the value is empty. */
  getStr(name: string, defval: string | null, min = 0, max = 0): string | null {
    const value = this.raw(name) ?? defval ?? '';
    const len = Buffer.byteLength(value);
    if (min && len < min) throw new CfgError(`${this.prefix}bad string length ${len} < ${min}: ${this.shown(name)} = ${value}`);
    if (max && len > max) throw new CfgError(`${this.prefix}bad string length ${len} > ${max}: ${this.shown(name)} = ${value}`);
    return defval === null && value === '' ? null : value;
  }

  /** cfg_get_int(): a decimal int with optional bounds (0 means none). */
  getInt(name: string, defval: number, min = 0, max = 0): number {
    const text = this.raw(name);
    let value = defval;
    if (text !== undefined) {
      const n = parseCInt(text);
      if (n === undefined) throw new CfgError(`${this.prefix}bad numerical configuration: ${this.shown(name)} = ${text}`);
      value = n;
    }
    if (min && value < min) throw new CfgError(`${this.prefix}invalid ${this.shown(name)} parameter value ${value} < ${min}`);
    if (max && value > max) throw new CfgError(`${this.prefix}invalid ${this.shown(name)} parameter value ${value} > ${max}`);
    return value;
  }

  /** cfg_get_bool(): "yes" or "no", any case. */
  getBool(name: string, defval: boolean): boolean {
    const text = this.raw(name);
    if (text === undefined) return defval;
    if (text.toLowerCase() === 'yes') return true;
    if (text.toLowerCase() === 'no') return false;
    throw new CfgError(`${this.prefix}bad boolean configuration: ${this.shown(name)} = ${text}`);
  }
}
