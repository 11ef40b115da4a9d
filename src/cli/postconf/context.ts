// Shared state of one postconf run (Postfix's postconf/postconf.h): the mode
// bits chosen by the command line, the config directory, and the parameter
// table that main.cf and master.cf printing both consult.

export const PCF_SHOW_NONDEF = 1 << 0; // -n
export const PCF_SHOW_DEFS = 1 << 1; // -d
export const PCF_HIDE_NAME = 1 << 2; // -h
export const PCF_SHOW_MAPS = 1 << 3; // -m
export const PCF_EDIT_CONF = 1 << 4; // -e
export const PCF_SHOW_LOCKS = 1 << 5; // -l
export const PCF_SHOW_EVAL = 1 << 6; // -x
export const PCF_SHOW_SASL_SERV = 1 << 7; // -a
export const PCF_SHOW_SASL_CLNT = 1 << 8; // -A
export const PCF_COMMENT_OUT = 1 << 9; // -#
export const PCF_MASTER_ENTRY = 1 << 10; // -M
export const PCF_FOLD_LINE = 1 << 11; // -f
export const PCF_EDIT_EXCL = 1 << 12; // -X
export const PCF_MASTER_FLD = 1 << 13; // -F
export const PCF_MAIN_PARAM = 1 << 14; // main.cf (the default)
export const PCF_EXP_DSN_TEMPL = 1 << 15; // -t
export const PCF_PARAM_CLASS = 1 << 16; // -C
export const PCF_MAIN_OVER = 1 << 17; // -o
export const PCF_DUMP_DSN_TEMPL = 1 << 18; // -b
export const PCF_MASTER_PARAM = 1 << 19; // -P
export const PCF_HIDE_VALUE = 1 << 20; // -H
export const PCF_SHOW_TLS = 1 << 21; // -T

/** What a parameter name is known as (postconf.h PCF_PARAM_FLAG_*). */
export const PCF_PARAM_FLAG_RAW = 1 << 0;
export const PCF_PARAM_FLAG_BUILTIN = 1 << 1;
export const PCF_PARAM_FLAG_SERVICE = 1 << 2;
export const PCF_PARAM_FLAG_USER = 1 << 3;
export const PCF_PARAM_FLAG_LEGACY = 1 << 4;
export const PCF_PARAM_FLAG_READONLY = 1 << 5;
export const PCF_PARAM_FLAG_DBMS = 1 << 6;

export interface ParamNode {
  flags: number;
  /** The default as `postconf -d` prints it (may be computed on this host). */
  defaultValue(): string;
}

export interface PcfContext {
  /** The mode bits (PCF_*). */
  cmdMode: number;
  /** The config directory in use (-c DIR, $MAIL_CONFIG or the built-in default). */
  configDir: string;
  /** True when -c or MAIL_CONFIG chose the directory (then config_directory counts as set). */
  configDirExplicit: boolean;
  /** Non-option arguments. */
  args: string[];
  /** -o name=value overrides, in command-line order. */
  overrides: Array<[string, string]>;
  /** -v count. */
  verbose: number;
  /** Every parameter name postconf knows in this run, with its class. Filled by the lead's code. */
  paramTable: Map<string, ParamNode>;
  /** main.cf settings (after -o overrides), name -> raw value. */
  mainParams: Map<string, string>;
  /**
   * Expands $name references in text the way `postconf -x` does for main.cf,
   * with `local` (a service's -o settings) consulted before main.cf and the defaults.
   */
  expand(text: string, local?: Map<string, string>): string;
}
