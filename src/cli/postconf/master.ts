// postconf's master.cf modes (Postfix's postconf/postconf_master.c, the
// master.cf half of postconf_edit.c and of postconf_unused.c): master.cf is
// read once per run; -M prints entries, -F fields (service/type/field =
// value), -P the -o settings (service/type/name = value); -Me, -M#, -MX, -Fe,
// -Pe and -PX rewrite the file the way Postfix's editor does, keeping every
// line they do not touch byte for byte.
//
// master.cf is handled as latin1 text so that lengths are byte counts, as in
// the C code; text goes back to UTF-8 only where it meets the terminal.
import { closeSync, openSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import {
  FLD_CMD,
  FLD_WILDCARD,
  MASTER_CONF_FILE,
  formatMasterEntry,
  formatMasterField,
  hasBlank,
  isSpace,
  matchServicePattern,
  optionTakesValue,
  parseFieldName,
  parseMasterEntry,
  parseMasterFile,
  parseServicePattern,
  splitNameValue,
  splitQuoted,
  normalizeDaemonArgs,
  checkMasterFields,
  masterOptionSettings,
} from '../../config/mastercf.js';
import { writeFileAtomic } from '../../util/atomic.js';
import { errnoText } from '../../util/errno.js';
import { msgFatal, msgWarn } from '../../util/msg.js';
import { flushOut, out } from '../../util/output.js';
import {
  PCF_COMMENT_OUT,
  PCF_EDIT_CONF,
  PCF_EDIT_EXCL,
  PCF_FOLD_LINE,
  PCF_HIDE_NAME,
  PCF_HIDE_VALUE,
  PCF_MASTER_ENTRY,
  PCF_MASTER_FLD,
  PCF_MASTER_PARAM,
  PCF_PARAM_FLAG_READONLY,
  PCF_SHOW_EVAL,
  type ParamNode,
  type PcfContext,
} from './context.js';

/**
 * One master.cf entry in a postconf run. Its shape is params.ts's
 * MasterScope (UTF-8 text), so the parameter logic takes these objects as
 * they are and fills allParams (the -o settings, read-only ones removed) and
 * validNames; bytes keeps the same words as byte strings for the layout.
 */
export interface PcfMasterEntry {
  /** "service/type". */
  nameSpace: string;
  /** The 8 fields, then the normalized daemon arguments. */
  argv: string[];
  /** process_name and service_name as this service sees them. */
  roParams: Map<string, string>;
  allParams?: Map<string, string>;
  validNames?: Map<string, ParamNode>;
  /** argv as latin1 text: one character per byte, so lengths are Postfix's. */
  bytes: string[];
}

const tables = new WeakMap<PcfContext, PcfMasterEntry[]>();

const toUtf8 = (s: string): string => (/[^\x00-\x7f]/.test(s) ? Buffer.from(s, 'latin1').toString('utf8') : s);
const toLatin1 = (s: string): string => (/[^\x00-\x7f]/.test(s) ? Buffer.from(s, 'utf8').toString('latin1') : s);
// Postfix's message layer shows control characters and, in postconf, every
// non-ASCII byte as "?" (msg_output.c's printable()).
const printable = (text: string): string => text.replace(/[^\x20-\x7e]/g, '?');
function warn(text: string): void {
  msgWarn(printable(text));
}
function fatal(text: string): never {
  return msgFatal(printable(text));
}

function masterPath(ctx: PcfContext): string {
  return `${ctx.configDir}/${MASTER_CONF_FILE}`;
}

/**
 * Reads $config_directory/master.cf for this run, once (pcf_read_master).
 * When the file cannot be opened this is fatal with failOnOpen (the -M, -F
 * and -P modes), else a warning and an empty table. A malformed entry is
 * fatal. In the -M/-F/-P modes call this before reading main.cf: Postfix
 * complains about a missing master.cf first. Pass the result back to
 * masterMode() once the parameter logic has filled allParams.
 */
export function readMasterTable(ctx: PcfContext, failOnOpen: boolean): PcfMasterEntry[] {
  const cached = tables.get(ctx);
  if (cached) return cached;
  const path = masterPath(ctx);
  let data: string | undefined;
  try {
    data = readFileSync(path, 'latin1');
  } catch (e) {
    const text = `open ${path}: ${errnoText(e as NodeJS.ErrnoException)}`;
    if (failOnOpen) msgFatal(text);
    msgWarn(text);
  }
  const entries: PcfMasterEntry[] = [];
  if (data !== undefined) {
    const parsed = parseMasterFile(data, path, warn);
    if (!parsed.ok) fatal(parsed.error);
    for (const e of parsed.entries) entries.push(makePcfEntry(e.argv));
  }
  tables.set(ctx, entries);
  return entries;
}

function makePcfEntry(bytes: string[]): PcfMasterEntry {
  const argv = bytes.map(toUtf8);
  const command = argv[FLD_CMD]!;
  const processName = command.slice(command.lastIndexOf('/') + 1);
  const roParams = new Map([
    ['process_name', processName],
    ['service_name', argv[0]!],
  ]);
  return { nameSpace: `${argv[0]}/${argv[1]}`, argv, roParams, bytes };
}

/** The entry's -o settings: allParams once the parameter logic filled it, else straight from the file. */
function entryParams(e: PcfMasterEntry): Map<string, string> | undefined {
  if (e.allParams) return e.allParams;
  const settings = masterOptionSettings(e.argv);
  return settings.length > 0 ? new Map(settings) : undefined;
}

/** $name expansion with the entry's settings before main.cf and the defaults (-x). */
function expandInScope(ctx: PcfContext, e: PcfMasterEntry, text: string): string {
  const local = new Map(entryParams(e) ?? []);
  for (const [n, v] of e.roParams) local.set(n, v);
  return ctx.expand(text, local);
}

/** The parts of params.ts's MasterScope that the printers read. */
export interface MasterScopeLike {
  nameSpace: string;
  argv: string[];
  roParams: Map<string, string>;
  allParams?: Map<string, string>;
  validNames?: Map<string, ParamNode>;
}

/** Adopts scopes made elsewhere (UTF-8 text) as this run's table, reading their allParams live. */
function fromScopes(ctx: PcfContext, masters: readonly MasterScopeLike[]): PcfMasterEntry[] {
  if (tables.get(ctx) === masters) return masters as PcfMasterEntry[];
  const table = masters.map(
    (m): PcfMasterEntry => ({
      nameSpace: m.nameSpace,
      argv: m.argv,
      roParams: m.roParams,
      bytes: m.argv.map(toLatin1),
      get allParams() {
        return m.allParams;
      },
      get validNames() {
        return m.validNames;
      },
    }),
  );
  tables.set(ctx, table);
  return table;
}

/**
 * Gives each scope its -o settings as Postfix's pcf_register_user_parameters()
 * does, for the caller's user-parameter scan: entries with the same
 * service/type share one settings map (Postfix keeps one dictionary per name
 * space), an entry gets the map only when its name space has settings by the
 * time it is visited, each gets its own empty validNames, and a "-" option
 * swallows the next word just as "-o" does.
 */
export function assignMasterParams(masters: MasterScopeLike[]): void {
  const spaces = new Map<string, Map<string, string>>();
  for (const m of masters) {
    const settings = masterOptionSettings(m.argv);
    let space = spaces.get(m.nameSpace);
    if (settings.length > 0 && !space) spaces.set(m.nameSpace, (space = new Map()));
    for (const [name, value] of settings) space!.set(name, value);
    if (space) {
      m.allParams = space;
      m.validNames = new Map();
    }
  }
}

/**
 * -M, -F, -P and their edits (-Me, -M#, -MX, -Fe, -Pe, -PX). The caller has
 * parsed the options and checked their combination. For the printing modes
 * it has filled ctx (main.cf, -o overrides, the parameter table with the
 * built-in, service and user names) and passes the master.cf scopes it
 * registered the user parameters on, so that -P shows allParams as the scan
 * left it (read-only names removed); without them master.cf is read here.
 * The "unused parameter" warnings that follow the output in Postfix are the
 * caller's (checkMasterParams or its own), after this returns.
 */
export function masterMode(ctx: PcfContext, masters?: readonly MasterScopeLike[]): void {
  const mode = ctx.cmdMode;
  if (mode & (PCF_EDIT_CONF | PCF_EDIT_EXCL | PCF_COMMENT_OUT)) {
    if (ctx.args.length === 0) msgFatal(mode & PCF_EDIT_CONF ? '-e requires name=value argument' : 'missing service argument');
    editMaster(ctx);
    return;
  }
  const table = masters ? fromScopes(ctx, masters) : ownTable(ctx);
  if (mode & PCF_MASTER_FLD) showMasterFields(ctx, table);
  else if (mode & PCF_MASTER_PARAM) showMasterParams(ctx, table);
  else showMasterEntries(ctx, table);
}

/**
 * Without the caller's scopes: this run's own reading, with the -o settings
 * grouped as Postfix groups them and the read-only names (process_name and
 * the like, which Postfix drops after warning) left out.
 */
function ownTable(ctx: PcfContext): PcfMasterEntry[] {
  const table = readMasterTable(ctx, true);
  // The caller may have grouped them already, with its user-parameter scan.
  if (table.some((e) => e.allParams)) return table;
  assignMasterParams(table);
  for (const map of new Set(table.map((e) => e.allParams))) {
    for (const name of map?.keys() ?? []) {
      if ((ctx.paramTable.get(name)?.flags ?? 0) & PCF_PARAM_FLAG_READONLY) map!.delete(name);
    }
  }
  return table;
}

interface Request {
  raw: string;
  pattern: string[];
  matches: number;
}

function parseRequests(args: readonly string[], max: number, usage: string): Request[] {
  return args.map(toLatin1).map((raw) => {
    const pattern = parseServicePattern(raw, 1, max);
    if (!pattern) msgFatal(usage);
    return { raw, pattern, matches: 0 };
  });
}

function warnUnmatched(reqs: readonly Request[]): void {
  for (const r of reqs) if (r.matches === 0) warn(`unmatched request: "${r.raw}"`);
}

/** Each request that matches prints the entry again, as Postfix does. */
function forEachMatch(table: readonly PcfMasterEntry[], reqs: Request[], fn: (e: PcfMasterEntry, r: Request | undefined) => void): void {
  for (const e of table) {
    if (reqs.length === 0) {
      fn(e, undefined);
      continue;
    }
    for (const r of reqs) {
      if (matchServicePattern(r.pattern, e.bytes[0]!, e.bytes[1]!)) fn(e, r);
    }
  }
  warnUnmatched(reqs);
}

function showMasterEntries(ctx: PcfContext, table: readonly PcfMasterEntry[]): void {
  const reqs = parseRequests(ctx.args, 2, '-M option requires service_name[/type]');
  const fold = (ctx.cmdMode & PCF_FOLD_LINE) !== 0;
  forEachMatch(table, reqs, (e, r) => {
    if (r) r.matches++;
    const map = ctx.cmdMode & PCF_SHOW_EVAL ? (v: string) => toLatin1(expandInScope(ctx, e, toUtf8(v))) : undefined;
    out(toUtf8(formatMasterEntry(e.bytes, fold, map)));
  });
}

function showMasterFields(ctx: PcfContext, table: readonly PcfMasterEntry[]): void {
  const reqs = parseRequests(ctx.args, 3, '-F option requires service_name[/type[/field]]');
  const fields = reqs.map((r) => {
    const f = parseFieldName(r.pattern[2]!);
    if (f === undefined) return fatal(`invalid service attribute name: "${r.pattern[2]}"`);
    return f;
  });
  const mode = ctx.cmdMode;
  forEachMatch(table, reqs, (e, r) => {
    let field = FLD_WILDCARD;
    if (r) {
      r.matches++;
      field = fields[reqs.indexOf(r)]!;
    }
    const opts = {
      hideName: (mode & PCF_HIDE_NAME) !== 0,
      hideValue: (mode & PCF_HIDE_VALUE) !== 0,
      fold: (mode & PCF_FOLD_LINE) !== 0,
      mapOptionValue: mode & PCF_SHOW_EVAL ? (v: string) => toLatin1(expandInScope(ctx, e, toUtf8(v))) : undefined,
    };
    const list = field === FLD_WILDCARD ? [0, 1, 2, 3, 4, 5, 6, 7] : [field];
    for (const f of list) out(toUtf8(formatMasterField(e.bytes, f, opts)));
  });
}

function showMasterParams(ctx: PcfContext, table: readonly PcfMasterEntry[]): void {
  const reqs = parseRequests(ctx.args, 3, '-P option requires service_name[/type[/parameter]]');
  for (const e of table) {
    const params = entryParams(e);
    if (!params) continue;
    if (reqs.length === 0) {
      showEntryParams(ctx, e, params);
      continue;
    }
    for (const r of reqs) {
      if (!matchServicePattern(r.pattern, e.bytes[0]!, e.bytes[1]!)) continue;
      const name = toUtf8(r.pattern[2]!);
      if (name === '*') {
        showEntryParams(ctx, e, params);
        r.matches++;
      } else if (params.has(name)) {
        printMasterParam(ctx, e, name, params.get(name)!);
        r.matches++;
      }
    }
  }
  warnUnmatched(reqs);
}

function showEntryParams(ctx: PcfContext, e: PcfMasterEntry, params: Map<string, string>): void {
  const names = [...params.keys()].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  for (const name of names) printMasterParam(ctx, e, name, params.get(name)!);
}

function printMasterParam(ctx: PcfContext, e: PcfMasterEntry, name: string, value: string): void {
  const mode = ctx.cmdMode;
  const ns = e.nameSpace;
  if (mode & PCF_HIDE_VALUE) {
    printLine(mode, `${ns}/${name}`);
    return;
  }
  const shown = mode & PCF_SHOW_EVAL ? expandInScope(ctx, e, value) : value;
  printLine(mode, mode & PCF_HIDE_NAME ? shown : `${ns}/${name} = ${shown}`);
}

/** Postfix's pcf_print_line: whitespace collapsed to single blanks, folded at 80 bytes with -f. */
function printLine(mode: number, text: string): void {
  let line = '';
  let col = 0;
  for (const word of text.split(/[ \t\r\n]+/)) {
    if (word === '') continue;
    const len = Buffer.byteLength(word);
    if (col > 0) {
      if ((mode & PCF_FOLD_LINE) === 0 || col + len < 80) {
        line += ' ';
        col += 1;
      } else {
        line += '\n    ';
        col = 4;
      }
    }
    line += word;
    col += len;
  }
  out(line + '\n');
}

/**
 * The "unused parameter" warnings for master.cf -o settings
 * (pcf_flag_unused_master_parameters), printed after the output (which is
 * flushed first, as Postfix does). Contract: run it after the user-parameter
 * scan has set each entry's allParams and validNames (params.ts's registerUser
 * on the objects from readMasterTable), with ctx.paramTable holding every
 * built-in (PCF_PARAM_FLAG_BUILTIN), legacy, service (PCF_PARAM_FLAG_SERVICE)
 * and user-defined (PCF_PARAM_FLAG_USER) name. A setting is reported when its
 * name is in neither ctx.paramTable nor the entry's validNames. Entries whose
 * allParams was never set are checked against ctx.paramTable alone.
 */
export function checkMasterParams(ctx: PcfContext): void {
  for (const e of readMasterTable(ctx, false)) {
    const params = entryParams(e);
    if (!params) continue;
    for (const [name, value] of params) {
      if (ctx.paramTable.has(name) || e.validNames?.has(name)) continue;
      flushOut();
      msgWarn(`${ctx.configDir}/${MASTER_CONF_FILE}: unused parameter: ${name}=${value}`);
    }
  }
}

// ---- Editing (postconf_edit.c's pcf_edit_master) ----

const EDIT_OPTS = '-Me, -Fe, -Pe, -X, or -#';
const MASTER_MASK = PCF_MASTER_ENTRY | PCF_MASTER_FLD | PCF_MASTER_PARAM;

interface EditRequest {
  raw: string;
  pattern: string[];
  field: number;
  param: string;
  value: string;
  matches: number;
}

function parseEditRequests(mode: number, args: readonly string[]): EditRequest[] {
  return args.map((raw) => {
    if (raw.includes('\n')) msgFatal(`${EDIT_OPTS} accept no multi-line input`);
    let start = 0;
    while (isSpace(raw[start])) start++;
    const cp = raw.slice(start);
    if (cp[0] === '#') msgFatal(`${EDIT_OPTS} accept no comment input`);
    let pattern = cp;
    let value = '';
    if (mode & PCF_EDIT_CONF) {
      const nv = splitNameValue(cp);
      if ('error' in nv) return fatal(`${nv.error}: "${raw}"`);
      pattern = nv.name;
      value = nv.value;
    } else if (cp.includes('=')) {
      // Trailing blanks stay in the pattern: Postfix 3.7 does not trim them.
      msgFatal('-X or -# requires names without value');
    }
    const req: EditRequest = { raw, pattern: [], field: 0, param: '', value, matches: 0 };
    switch (mode & MASTER_MASK) {
      case PCF_MASTER_ENTRY:
        req.pattern = parseServicePattern(pattern, 2, 2) ?? msgFatal('-Me, -MX or -M# requires service_name/type');
        break;
      case PCF_MASTER_FLD: {
        req.pattern = parseServicePattern(pattern, 3, 3) ?? msgFatal('-Fe or -FX requires service_name/type/field_name');
        const field = parseFieldName(req.pattern[2]!);
        if (field === undefined) return fatal(`invalid service attribute name: "${req.pattern[2]}"`);
        if (field === FLD_WILDCARD) msgFatal('-Fe does not accept wild-card field name');
        if (mode & PCF_EDIT_CONF && field < FLD_CMD && hasBlank(value)) msgFatal('-Fe does not accept whitespace in non-command field');
        req.field = field;
        break;
      }
      default:
        req.pattern = parseServicePattern(pattern, 3, 3) ?? msgFatal('-Pe or -PX requires service_name/type/parameter');
        req.param = req.pattern[2]!;
        if (req.param === '*') msgFatal('-Pe does not accept wild-card parameter name');
        if (mode & PCF_EDIT_CONF && hasBlank(value)) msgFatal('-Pe does not accept whitespace in parameter value');
    }
    return req;
  });
}

// Postfix's editor writes master.cf.tmp through a 4096-byte buffer and leaves
// the file behind when it stops on an error; a user finds what was flushed.
const EDIT_BUFFER = 4096;

/** Rewrites master.cf through master.cf.tmp; the temporary file exists before master.cf is read, as in Postfix. */
function editMaster(ctx: PcfContext): void {
  const mode = ctx.cmdMode;
  const reqs = parseEditRequests(mode, ctx.args.map(toLatin1));
  const path = masterPath(ctx);
  const tmp = `${path}.tmp`;
  try {
    closeSync(openSync(tmp, 'a', 0o600));
  } catch (e) {
    msgFatal(`open ${tmp}: ${errnoText(e as NodeJS.ErrnoException)}`);
  }
  let data: string;
  try {
    data = readFileSync(path, 'latin1');
  } catch (e) {
    unlinkQuietly(tmp);
    return msgFatal(`open ${path} for reading: ${errnoText(e as NodeJS.ErrnoException)}`);
  }
  const dst: string[] = [];
  try {
    rewriteMaster(data, path, mode, reqs, dst);
  } catch (e) {
    const done = Buffer.from(dst.join(''), 'latin1');
    writeFileSync(tmp, done.subarray(0, done.length - (done.length % EDIT_BUFFER)));
    throw e;
  }
  try {
    writeFileAtomic(path, Buffer.from(dst.join(''), 'latin1'), { mode: 0o644 });
  } catch (e) {
    unlinkQuietly(tmp);
    msgFatal(`close ${tmp}: ${errnoText(e as NodeJS.ErrnoException)}`);
  }
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // Already gone.
  }
}

/** Physical lines with their newlines (the last may have none). */
function physicalLines(data: string): string[] {
  const lines = data.split('\n').map((l) => l + '\n');
  const last = lines.pop()!.slice(0, -1);
  if (last !== '') lines.push(last);
  return lines;
}

/** Offset of a line's first content byte, or -1 for a blank or comment line. */
function contentStart(line: string): number {
  let i = 0;
  while (i < line.length && isSpace(line[i])) i++;
  return i === line.length || line[i] === '#' ? -1 : i;
}

function parseEditValue(req: EditRequest): string[] {
  const parsed = parseMasterEntry(req.value, warn);
  if (!parsed.ok) return fatal(parsed.kind === 'count' ? `${parsed.error}: "${req.raw}"` : parsed.error);
  return parsed.argv;
}

/** The copy loop: untouched lines pass through, matched entries are replaced, commented out or dropped. */
function rewriteMaster(data: string, path: string, mode: number, reqs: EditRequest[], dst: string[]): void {
  const src = physicalLines(data);
  let pos = 0;
  let lineno = 0;
  const nextContentLine = (): [string, number] | undefined => {
    while (pos < src.length) {
      const line = src[pos++]!;
      lineno++;
      const cp = contentStart(line);
      if (cp >= 0) return [line, cp];
      dst.push(line);
    }
    return undefined;
  };
  // Collects an entry's continuation lines; comments among them are written out
  // at once, so they end up above the rewritten entry. Postfix does not count
  // these lines, so later line numbers in its messages run short: so do ours.
  const gobble = (first: string): string => {
    let full = first;
    while (pos < src.length && (src[pos]![0] === '#' || isSpace(src[pos]![0]))) {
      const line = src[pos++]!;
      if (contentStart(line) < 0) dst.push(line);
      else full += line;
    }
    return full;
  };
  const rewriting = (mode & PCF_EDIT_CONF) !== 0 || ((mode & PCF_MASTER_PARAM) !== 0 && (mode & PCF_EDIT_EXCL) !== 0);
  let matched = false;
  for (let cur = nextContentLine(); cur; cur = nextContentLine()) {
    const [line, cp] = cur;
    if (cp > 0) {
      if (!matched) dst.push(line);
      else if (mode & PCF_COMMENT_OUT) dst.push('#' + line);
      continue;
    }
    matched = false;
    const [name, type] = line.split(/[ \t\r\n]+/).filter((w) => w !== '');
    if (type === undefined) fatal(`file ${path}: line ${lineno}: specify service name and type on the same line`);
    if (name!.includes('=')) fatal(`file ${path}: line ${lineno}: service name syntax "${name}" is unsupported with ${EDIT_OPTS}`);
    if (/[=/]/.test(type!)) fatal(`file ${path}: line ${lineno}: service type syntax "${type}" is unsupported with ${EDIT_OPTS}`);
    let newArgv: string[] | undefined;
    for (const req of reqs) {
      const tentative = mode & PCF_MASTER_ENTRY && mode & PCF_EDIT_CONF ? parseEditValue(req) : undefined;
      let useTentative = false;
      if (matchServicePattern(req.pattern, name!, type!)) {
        matched = true;
        req.matches++;
        if (rewriting && mode & (PCF_MASTER_FLD | PCF_MASTER_PARAM)) {
          if (!newArgv) newArgv = parseGobbled(gobble(line), path, lineno);
          if (mode & PCF_MASTER_FLD) editField(newArgv, req.field, req.value);
          else editParam(newArgv, mode, req.param, req.value);
        } else if (rewriting && req.matches === 1) {
          useTentative = true;
        }
      } else if (tentative && matchServicePattern(tentative, name!, type!)) {
        // The new entry's own name/type replaces an entry too.
        matched = true;
        req.matches++;
        if (req.matches === 1) useTentative = true;
      }
      if (tentative && useTentative) newArgv = tentative;
    }
    if (newArgv) dst.push(formatMasterEntry(newArgv, true));
    else if (!matched) dst.push(line);
    else if (mode & PCF_COMMENT_OUT) dst.push('#' + line);
  }
  for (const req of reqs) {
    if (req.matches > 0) continue;
    if (mode & PCF_MASTER_ENTRY && mode & PCF_EDIT_CONF) dst.push(formatMasterEntry(parseEditValue(req), true));
    else if ((mode & PCF_MASTER_ENTRY) === 0) warn(`unmatched service_name/type: "${req.raw}"`);
  }
}

function parseGobbled(text: string, path: string, lineno: number): string[] {
  const parsed = parseMasterEntry(text, warn);
  if (!parsed.ok) return fatal(parsed.kind === 'count' ? `file ${path}: line ${lineno}: ${parsed.error}` : parsed.error);
  return parsed.argv;
}

/** -Fe: a single field, or the whole command with its arguments (pcf_edit_master_field). */
function editField(argv: string[], field: number, value: string): void {
  if (field === FLD_CMD) {
    const words = splitQuoted(value);
    // Postfix 3.7 crashes on an empty command; refuse it instead.
    if (words.length === 0) fatal(`invalid command field "" in "${value}"`);
    argv.length = FLD_CMD;
    argv.push(...words);
    normalizeDaemonArgs(argv, warn);
  } else {
    argv[field] = value;
  }
  const error = checkMasterFields(argv, value);
  if (error) fatal(error);
}

/** -Pe and -PX on the "-o name=value" daemon options (pcf_edit_master_param). */
function editParam(argv: string[], mode: number, name: string, value: string): void {
  let found = false;
  let field = 8;
  for (; field < argv.length; field++) {
    const arg = argv[field]!;
    if (arg[0] !== '-' || arg === '--') break;
    if (!optionTakesValue(arg) || field + 1 >= argv.length) continue;
    const setting = argv[field + 1]!;
    if (arg === '-o' && setting.startsWith(name) && setting[name.length] === '=') {
      found = true;
      if (mode & PCF_EDIT_CONF) {
        argv[field + 1] = `${name}=${value}`;
      } else {
        argv.splice(field, 2);
        field -= 2;
      }
    }
    field += 1;
  }
  if (mode & PCF_EDIT_CONF && !found) argv.splice(field, 0, '-o', `${name}=${value}`);
}
