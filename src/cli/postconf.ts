// The postconf command (Postfix's postconf/postconf.c): option parsing with
// Postfix's exact checks and messages, then one of the modes: main.cf
// parameters (show, defaults, non-defaults, expand, edit), master.cf
// entries, fields and parameters, or the informational listings.
import { Getopt } from '../util/getopt.js';
import { runMain } from '../util/main.js';
import { getProgName, msgFatal, msgUsage, setVerbose, msgWarn } from '../util/msg.js';
import { loadNameValues, readConfigFile, splitNameValue } from '../config/maincf.js';
import { DEF_CONFIG_DIR, CONF_ENV_PATH } from '../config/config.js';
import * as M from './postconf/context.js';
import { ParamState, PCF_PARAM_MASK_CLASS, type MasterScope } from './postconf/params.js';
import { editMain } from './postconf/edit-main.js';
import { printLine } from './postconf/print.js';

const USAGE =
  ' [-a (server SASL types)] [-A (client SASL types)] [-b (bounce templates)] [-c config_dir] [-c param_class]' +
  ' [-d (parameter defaults)] [-e (edit configuration)] [-f (fold lines)] [-F (master.cf fields)] [-h (no names)]' +
  ' [-H (no values)] [-l (lock types)] [-m (map types)] [-M (master.cf)] [-n (non-default parameters)]' +
  ' [-o name=value (override parameter value)] [-p (main.cf, default)] [-P (master.cf parameters)]' +
  ' [-t (bounce templates)] [-T compile-version|run-version|public-key-algorithms] [-v (verbose)]' +
  ' [-x (expand parameter values)] [-X (exclude)] [-# (comment-out)] [name...]';

const MAJOR_MODES =
  M.PCF_SHOW_SASL_SERV | M.PCF_SHOW_SASL_CLNT | M.PCF_EXP_DSN_TEMPL | M.PCF_SHOW_LOCKS | M.PCF_SHOW_MAPS |
  M.PCF_DUMP_DSN_TEMPL | M.PCF_MAIN_PARAM | M.PCF_MASTER_ENTRY | M.PCF_MASTER_FLD | M.PCF_MASTER_PARAM | M.PCF_SHOW_TLS;
const EDITS = M.PCF_EDIT_CONF | M.PCF_COMMENT_OUT | M.PCF_EDIT_EXCL;

// Groups of options of which at most one may be given.
const INCOMPATIBLE = [
  MAJOR_MODES,
  M.PCF_SHOW_DEFS | M.PCF_EDIT_CONF | M.PCF_SHOW_NONDEF | M.PCF_COMMENT_OUT | M.PCF_EDIT_EXCL,
  M.PCF_FOLD_LINE | EDITS,
  M.PCF_SHOW_EVAL | EDITS,
  M.PCF_MAIN_OVER | M.PCF_SHOW_DEFS | EDITS,
  M.PCF_HIDE_NAME | EDITS | M.PCF_HIDE_VALUE,
];

// Each major mode (and -C) with the only modifiers it accepts.
const COMPATIBLE: Array<[number, number]> = [
  [M.PCF_SHOW_SASL_SERV, 0],
  [M.PCF_SHOW_SASL_CLNT, 0],
  [M.PCF_EXP_DSN_TEMPL, 0],
  [M.PCF_SHOW_LOCKS, 0],
  [M.PCF_SHOW_MAPS, 0],
  [M.PCF_SHOW_TLS, 0],
  [M.PCF_DUMP_DSN_TEMPL, 0],
  [M.PCF_MAIN_PARAM, EDITS | M.PCF_FOLD_LINE | M.PCF_HIDE_NAME | M.PCF_PARAM_CLASS | M.PCF_SHOW_EVAL | M.PCF_SHOW_DEFS | M.PCF_SHOW_NONDEF | M.PCF_MAIN_OVER | M.PCF_HIDE_VALUE],
  [M.PCF_MASTER_ENTRY, EDITS | M.PCF_FOLD_LINE | M.PCF_MAIN_OVER | M.PCF_SHOW_EVAL],
  [M.PCF_MASTER_FLD, M.PCF_EDIT_CONF | M.PCF_FOLD_LINE | M.PCF_HIDE_NAME | M.PCF_MAIN_OVER | M.PCF_SHOW_EVAL | M.PCF_HIDE_VALUE],
  [M.PCF_MASTER_PARAM, M.PCF_EDIT_CONF | M.PCF_EDIT_EXCL | M.PCF_FOLD_LINE | M.PCF_HIDE_NAME | M.PCF_MAIN_OVER | M.PCF_SHOW_EVAL | M.PCF_HIDE_VALUE],
  [M.PCF_PARAM_CLASS, M.PCF_MAIN_PARAM | M.PCF_SHOW_DEFS | M.PCF_SHOW_NONDEF],
];

const OPTION_NAMES: Array<[string, number]> = [
  ['-a', M.PCF_SHOW_SASL_SERV], ['-A', M.PCF_SHOW_SASL_CLNT], ['-b', M.PCF_EXP_DSN_TEMPL], ['-C', M.PCF_PARAM_CLASS],
  ['-d', M.PCF_SHOW_DEFS], ['-e', M.PCF_EDIT_CONF], ['-f', M.PCF_FOLD_LINE], ['-F', M.PCF_MASTER_FLD],
  ['-h', M.PCF_HIDE_NAME], ['-H', M.PCF_HIDE_VALUE], ['-l', M.PCF_SHOW_LOCKS], ['-m', M.PCF_SHOW_MAPS],
  ['-M', M.PCF_MASTER_ENTRY], ['-n', M.PCF_SHOW_NONDEF], ['-o', M.PCF_MAIN_OVER], ['-p', M.PCF_MAIN_PARAM],
  ['-P', M.PCF_MASTER_PARAM], ['-t', M.PCF_DUMP_DSN_TEMPL], ['-T', M.PCF_SHOW_TLS], ['-x', M.PCF_SHOW_EVAL],
  ['-X', M.PCF_EDIT_EXCL], ['-#', M.PCF_COMMENT_OUT],
];

/** Names the bits of mask as Postfix's str_name_mask does: "-e -n". */
function optionNames(mask: number): string {
  const words: string[] = [];
  for (const [name, bit] of OPTION_NAMES) {
    if (mask & bit) {
      words.push(name);
      mask &= ~bit;
    }
  }
  if (mask) words.push(`0x${mask.toString(16)}`);
  return words.join(' ');
}

function checkExclusive(mode: number): void {
  for (const group of INCOMPATIBLE) {
    const given = group & mode;
    if (given & (given - 1)) msgFatal(`specify one of ${optionNames(given)}`);
  }
}

function checkCompatible(mode: number): void {
  for (const [opt, allowed] of COMPATIBLE) {
    const excess = mode & ~(opt | allowed);
    if (mode & opt && excess) msgFatal(`with option ${optionNames(opt)}, do not specify ${optionNames(excess)}`);
  }
}

const PARAM_CLASSES: Record<string, number> = {
  builtin: M.PCF_PARAM_FLAG_BUILTIN,
  service: M.PCF_PARAM_FLAG_SERVICE,
  user: M.PCF_PARAM_FLAG_USER,
  all: PCF_PARAM_MASK_CLASS,
};

function parseParamClass(arg: string): number {
  let mask = 0;
  for (const word of arg.split(/[\s,|]+/).filter((w) => w !== '')) {
    const bit = PARAM_CLASSES[word.toLowerCase()];
    if (bit === undefined) msgFatal(`unknown -C option value "${word}" in "${arg}"`);
    mask |= bit;
  }
  return mask;
}

interface Options {
  mode: number;
  paramClass: number;
  overrides: string[];
  tlsArg?: string;
  templates?: 'expand' | 'dump';
  args: string[];
  configDirArg?: string;
}

function parseOptions(argv: string[]): Options {
  const o: Options = { mode: 0, paramClass: PCF_PARAM_MASK_CLASS, overrides: [], args: [] };
  const g = new Getopt(argv, 'aAbc:C:deEfFhHlmMno:pPtT:vxX#');
  let verbose = 0;
  const bits: Record<string, number> = {
    a: M.PCF_SHOW_SASL_SERV, A: M.PCF_SHOW_SASL_CLNT, d: M.PCF_SHOW_DEFS, e: M.PCF_EDIT_CONF, f: M.PCF_FOLD_LINE,
    F: M.PCF_MASTER_FLD, '#': M.PCF_COMMENT_OUT, h: M.PCF_HIDE_NAME, H: M.PCF_HIDE_VALUE, l: M.PCF_SHOW_LOCKS,
    m: M.PCF_SHOW_MAPS, M: M.PCF_MASTER_ENTRY, n: M.PCF_SHOW_NONDEF, p: M.PCF_MAIN_PARAM, P: M.PCF_MASTER_PARAM,
    x: M.PCF_SHOW_EVAL, X: M.PCF_EDIT_EXCL,
  };
  for (const { opt, arg } of g) {
    if (bits[opt] !== undefined) {
      o.mode |= bits[opt]!;
      continue;
    }
    switch (opt) {
      case 'b':
      case 't':
        o.mode |= opt === 'b' ? M.PCF_EXP_DSN_TEMPL : M.PCF_DUMP_DSN_TEMPL;
        if (o.templates) msgFatal('specify one of -b and -t');
        o.templates = opt === 'b' ? 'expand' : 'dump';
        break;
      case 'c':
        o.configDirArg = arg!;
        process.env[CONF_ENV_PATH] = arg!;
        break;
      case 'C':
        o.paramClass = parseParamClass(arg!);
        break;
      case 'o':
        o.mode |= M.PCF_MAIN_OVER;
        o.overrides.push(arg!);
        break;
      case 'T':
        if (o.mode & M.PCF_SHOW_TLS) msgFatal('At most one -T <mode> option may be specified');
        o.mode |= M.PCF_SHOW_TLS;
        o.tlsArg = arg!;
        break;
      case 'v':
        verbose++;
        break;
      default:
        msgUsage(`${getProgName()}${USAGE}`);
    }
  }
  setVerbose(verbose);
  o.args = argv.slice(g.optind);
  return o;
}

/** The config directory in use (pcf_set_config_dir). */
function configDirectory(): { dir: string; explicit: boolean } {
  const env = process.env[CONF_ENV_PATH];
  return env !== undefined ? { dir: env, explicit: true } : { dir: DEF_CONFIG_DIR, explicit: false };
}

/** Reads main.cf into a fresh map, config_directory first when -c or MAIL_CONFIG chose it. */
function readParameters(): Map<string, string> {
  const { dir, explicit } = configDirectory();
  const params = new Map<string, string>();
  if (explicit) params.set('config_directory', dir);
  const path = `${dir}/main.cf`;
  const file = readConfigFile(path);
  if ('error' in file) msgFatal(`open ${path}: ${file.error}`);
  loadNameValues(file.text, path, params, { warn: msgWarn, fatal: (m) => msgFatal(m) });
  return params;
}

function setOverrides(params: Map<string, string>, overrides: readonly string[]): void {
  for (const text of overrides) {
    const nv = splitNameValue(text);
    if ('error' in nv) msgFatal(`invalid parameter override: ${text}: ${nv.error}`);
    params.set(nv.name, nv.value);
  }
}

/** Reads master.cf once for this run (postconf/master.ts keeps the table per context). */
async function readMaster(ctx: M.PcfContext, failOnOpenError: boolean): Promise<MasterScope[]> {
  const { readMasterTable } = await import('./postconf/master.js');
  return readMasterTable(ctx, failOnOpenError);
}

function showParameters(state: ParamState, mode: number, paramClass: number, names: readonly string[]): void {
  const show = (name: string, node: M.ParamNode) => {
    let value = state.lookupValue(mode, name, undefined, node);
    if (value === undefined) return;
    if (mode & M.PCF_HIDE_VALUE) return printLine(mode, name);
    if (mode & M.PCF_SHOW_EVAL && (node.flags & M.PCF_PARAM_FLAG_RAW) === 0) value = state.expand(mode, value);
    printLine(mode, mode & M.PCF_HIDE_NAME ? value : `${name} = ${value}`);
  };
  if (names.length === 0) {
    const all = [...state.table.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    for (const name of all) {
      const node = state.table.get(name)!;
      if (paramClass & node.flags) show(name, node);
    }
    return;
  }
  for (const name of names) {
    const node = state.table.get(name);
    if (!node) msgWarn(`${name}: unknown parameter`);
    else show(name, node);
  }
}

function makeContext(o: Options, state: ParamState): M.PcfContext {
  const { dir, explicit } = configDirectory();
  return {
    cmdMode: o.mode,
    configDir: dir,
    configDirExplicit: explicit,
    args: o.args,
    overrides: o.overrides.map((t) => {
      const nv = splitNameValue(t);
      return 'error' in nv ? [t, ''] : [nv.name, nv.value];
    }),
    verbose: 0,
    paramTable: state.table,
    mainParams: state.main,
    expand: (text, local) =>
      state.expand(o.mode, text, local ? { nameSpace: '', argv: [], roParams: new Map(), allParams: local } : undefined),
  };
}

async function masterModes(o: Options): Promise<void> {
  const main = new Map<string, string>();
  const state = new ParamState(configDirectory().dir, main);
  const ctx = makeContext(o, state);
  const masters = await readMaster(ctx, true);
  for (const [k, v] of readParameters()) main.set(k, v);
  setOverrides(main, o.overrides);
  state.cmdMode = o.mode;
  state.masters = masters;
  state.registerBuiltin(getProgName(), process.pid);
  state.registerService();
  state.registerUser();
  const { masterMode } = await import('./postconf/master.js');
  masterMode(ctx, masters);
  state.flagUnusedMaster();
}

async function otherModes(o: Options): Promise<boolean> {
  const other = await import('./postconf/other.js');
  const ctx = () => makeContext(o, new ParamState(configDirectory().dir, new Map()));
  if (o.templates) other.showBounceTemplates(ctx(), o.templates, o.args);
  else if (o.mode & M.PCF_SHOW_MAPS) other.showMaps();
  else if (o.mode & M.PCF_SHOW_LOCKS) other.showLocks();
  else if (o.mode & M.PCF_SHOW_SASL_SERV) other.showSasl('server');
  else if (o.mode & M.PCF_SHOW_SASL_CLNT) other.showSasl('client');
  else if (o.mode & M.PCF_SHOW_TLS) other.showTls(o.tlsArg!);
  else return false;
  return true;
}

async function postconf(argv: string[]): Promise<void> {
  const o = parseOptions(argv);
  if ((o.mode & MAJOR_MODES) === 0) o.mode |= M.PCF_MAIN_PARAM;
  const mainOrMaster = M.PCF_MAIN_PARAM | M.PCF_MASTER_ENTRY | M.PCF_MASTER_FLD | M.PCF_MASTER_PARAM;
  if (o.mode & mainOrMaster && o.args[0]?.includes('=')) o.mode |= M.PCF_EDIT_CONF;
  checkExclusive(o.mode);
  checkCompatible(o.mode);
  if (o.mode & M.PCF_EDIT_CONF && o.args.length === 0) msgFatal('-e requires name=value argument');
  if (o.templates && o.args.length > 1) msgFatal('options -b and -t require at most one template file');
  const masterModesMask = M.PCF_MASTER_ENTRY | M.PCF_MASTER_FLD | M.PCF_MASTER_PARAM;
  if (o.templates || o.mode & (M.PCF_SHOW_MAPS | M.PCF_SHOW_LOCKS)) {
    await otherModes(o);
  } else if (o.mode & masterModesMask && !(o.mode & EDITS)) {
    await masterModes(o);
  } else if (o.mode & (M.PCF_SHOW_SASL_SERV | M.PCF_SHOW_SASL_CLNT | M.PCF_SHOW_TLS)) {
    await otherModes(o);
  } else if (o.mode & EDITS) {
    if (o.args.length === 0) msgFatal('missing service argument');
    if (o.mode & masterModesMask) {
      const { masterMode } = await import('./postconf/master.js');
      masterMode(makeContext(o, new ParamState(configDirectory().dir, new Map())));
    } else {
      editMain(o.mode, configDirectory().dir, o.args);
    }
  } else {
    await mainModes(o);
  }
}

async function mainModes(o: Options): Promise<void> {
  const showDefs = (o.mode & M.PCF_SHOW_DEFS) !== 0;
  let main = new Map<string, string>();
  if (!showDefs) {
    main = readParameters();
    setOverrides(main, o.overrides);
  }
  const state = new ParamState(configDirectory().dir, main);
  state.cmdMode = o.mode;
  state.registerBuiltin(getProgName(), process.pid);
  state.masters = await readMaster(makeContext(o, state), false);
  state.registerService();
  if (!showDefs) state.registerUser();
  showParameters(state, o.mode, o.paramClass, o.args);
  if (!showDefs) {
    state.flagUnusedMain();
    state.flagUnusedMaster();
  }
}

void runMain('postconf', postconf);

