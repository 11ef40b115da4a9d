// master.cf, as Postfix 3.7 reads it: util/readlline.c (logical lines),
// postconf/postconf_master.c (postconf's view of an entry: the raw fields,
// daemon arguments brought into one canonical form, the field checks, the
// column layout it prints and writes back) and master/master_ent.c (the
// daemon's view: "-" defaults and its own error wording). Pure functions on
// text: failures come back as values, the callers word the fatal exits.
//
// Strings are treated as byte strings: postconf reads files as latin1 so that
// every length and column below counts bytes, exactly as the C code does.

export const MASTER_CONF_FILE = 'master.cf';

/** Field names, as postconf -F prints them and as service/type/field patterns name them. */
export const MASTER_FIELD_NAMES = ['service', 'type', 'private', 'unprivileged', 'chroot', 'wakeup', 'process_limit', 'command'] as const;

export const FLD_SERVICE = 0;
export const FLD_TYPE = 1;
export const FLD_PRIVATE = 2;
export const FLD_CHROOT = 4;
export const FLD_WAKEUP = 5;
export const FLD_MAXPROC = 6;
export const FLD_CMD = 7;
/** A "*" field pattern. */
export const FLD_WILDCARD = -1;
export const MASTER_MIN_FIELDS = 8;

/** Service types master(8) knows. */
export const MASTER_SERVICE_TYPES = ['unix', 'fifo', 'inet', 'pass', 'unix-dgram'] as const;

const BLANKS = ' \t\r\n';
const LINE_LIMIT = 80;
const INDENT = '    ';
// Daemon options whose value is the next word: only -o in Postfix 3.7.
const OPTIONS_WITH_VALUE = 'o';

/** isspace() in the C locale. */
export function isSpace(ch: string | undefined): boolean {
  return ch === ' ' || ch === '\t' || ch === '\n' || ch === '\r' || ch === '\v' || ch === '\f';
}

export function hasBlank(text: string): boolean {
  for (const ch of text) if (BLANKS.includes(ch)) return true;
  return false;
}

export interface LogicalLine {
  text: string;
  /** Number of the physical line where the logical line starts (1-based). */
  firstLine: number;
  /** Number of its last physical line with content. */
  lastLine: number;
}

/**
 * Splits file text into logical lines: comment and blank lines vanish (also
 * between continuation lines), a line starting with whitespace continues the
 * previous one. Text that would begin with whitespace is reported through
 * warn and skipped, as readllines() does.
 */
export function readLogicalLines(data: string, path: string, warn: (text: string) => void): LogicalLine[] {
  const result: LogicalLine[] = [];
  const physical = data.split('\n');
  // A final line without newline counts; the empty string after a final newline does not.
  if (physical[physical.length - 1] === '') physical.pop();
  let pending: LogicalLine | null = null;
  for (let i = 0; i < physical.length; i++) {
    const line = physical[i]!;
    let p = 0;
    while (p < line.length && isSpace(line[p])) p++;
    if (p === line.length || line[p] === '#') continue;
    const continues = isSpace(line[0]);
    if (pending && continues) {
      pending.text += line;
      pending.lastLine = i + 1;
      continue;
    }
    if (pending) result.push(pending);
    pending = { text: line, firstLine: i + 1, lastLine: i + 1 };
  }
  if (pending) result.push(pending);
  return result.filter((l) => {
    if (!isSpace(l.text[0])) return true;
    warn(`${path}: logical line must not start with whitespace: "${l.text.slice(0, 30)}${l.text.length > 30 ? '...' : ''}"`);
    return false;
  });
}

/** Splits text at blanks; "{...}" groups (nesting counted) stay one word (mystrtokq). */
export function splitQuoted(text: string, delims = BLANKS, open = '{', close = '}'): string[] {
  const words: string[] = [];
  let i = 0;
  for (;;) {
    while (i < text.length && delims.includes(text[i]!)) i++;
    if (i >= text.length) return words;
    const start = i;
    let level = 0;
    for (; i < text.length; i++) {
      const ch = text[i]!;
      if (ch === open) level++;
      else if (level > 0 && ch === close) level--;
      else if (level === 0 && delims.includes(ch)) break;
    }
    words.push(text.slice(start, i));
    if (i < text.length) i++;
  }
}

function trimSpace(text: string): string {
  let a = 0;
  let b = text.length;
  while (a < b && isSpace(text[a])) a++;
  while (b > a && isSpace(text[b - 1])) b--;
  return text.slice(a, b);
}

/** Length of the balanced "{...}" group at the start of text, 0 when unbalanced (balpar). */
function balancedLength(text: string): number {
  if (text[0] !== '{') return 0;
  let level = 1;
  for (let i = 1; i < text.length; i++) {
    if (text[i] === '}') {
      if (--level === 0) return i + 1;
    } else if (text[i] === '{') level++;
  }
  return 0;
}

/**
 * Takes the text out of a "{ ... }" word, blanks around it removed (extpar
 * with EXTPAR_FLAG_STRIP). On a syntax problem the error is set and the value
 * is what Postfix keeps anyway.
 */
export function extractBraced(word: string): { value: string; error?: string } {
  if (word[0] !== '{') return { value: trimSpace(word), error: `no '{' at start of text in "${word}"` };
  const len = balancedLength(word);
  if (len === 0) return { value: trimSpace(word.slice(1)), error: `missing '}' in "${word}"` };
  // Postfix cuts the text at the closing brace, so trailing junk is dropped.
  const value = trimSpace(word.slice(1, len - 1));
  return len < word.length ? { value, error: `syntax error after '}' in "${word}"` } : { value };
}

/** name = value with blanks around both trimmed (split_nameval). */
export function splitNameValue(text: string): { name: string; value: string } | { error: string } {
  let np = 0;
  while (np < text.length && isSpace(text[np])) np++;
  if (np === text.length || text[np] === '=') return { error: 'missing attribute name' };
  let ep = np;
  while (ep < text.length && !isSpace(text[ep]) && text[ep] !== '=') ep++;
  let cp = ep;
  while (cp < text.length && isSpace(text[cp])) cp++;
  if (text[cp] !== '=') return { error: "missing '=' after attribute name" };
  return { name: text.slice(np, ep), value: trimSpace(text.slice(cp + 1)) };
}

/** True for a daemon option that takes the next word as its value ("-o", and "-" by accident of strchr). */
export function optionTakesValue(arg: string): boolean {
  return arg.length === 1 || OPTIONS_WITH_VALUE.includes(arg[1]!);
}

function isOption(arg: string): boolean {
  return arg[0] === '-' && arg !== '--';
}

/** Why a raw entry's fields 1-6 are unacceptable to postconf, or undefined. */
export function checkMasterFields(argv: readonly string[], rawText: string): string | undefined {
  const fail = (field: number) => `invalid ${MASTER_FIELD_NAMES[field]} field "${argv[field]}" in "${rawText}"`.replace(/\n/g, ' ');
  if (!(MASTER_SERVICE_TYPES as readonly string[]).includes(argv[1]!)) return fail(1);
  for (let f = FLD_PRIVATE; f <= FLD_CHROOT; f++) {
    const v = argv[f]!;
    if (v.length !== 1 || !'yn-'.includes(v)) return fail(f);
  }
  const wakeup = argv[FLD_WAKEUP]!;
  const len = wakeup.endsWith('?') ? wakeup.length - 1 : wakeup.length;
  if (!(wakeup[0] === '-' && len === 1) && digitSpan(wakeup) !== len) return fail(FLD_WAKEUP);
  const maxproc = argv[FLD_MAXPROC]!;
  if (maxproc !== '-' && digitSpan(maxproc) !== maxproc.length) return fail(FLD_MAXPROC);
  return undefined;
}

function digitSpan(text: string): number {
  let n = 0;
  while (n < text.length && text[n]! >= '0' && text[n]! <= '9') n++;
  return n;
}

/**
 * Brings the daemon arguments (argv[8...]) into one form, in place: "-vo x"
 * becomes "-v" "-o" "x", "-oname=value" becomes "-o" "name=value",
 * "-o { name = value }" becomes "-o" "name=value", and "{ text }" arguments
 * lose their braces. The "-o" split looks for an "o" anywhere after the first
 * option letter, so "-osmtpd_tls_wrappermode=yes" splits inside the name:
 * that is what Postfix 3.7 does, and what its users see.
 */
export function normalizeDaemonArgs(argv: string[], warn: (text: string) => void): void {
  let field = MASTER_MIN_FIELDS;
  for (; field < argv.length; field++) {
    let arg = argv[field]!;
    if (!isOption(arg)) break;
    for (let c = 2; c < arg.length; c++) {
      if (OPTIONS_WITH_VALUE.includes(arg[c]!)) {
        argv.splice(field + 1, 0, '-' + arg.slice(c));
        arg = argv[field] = arg.slice(0, c);
        break;
      }
    }
    if (!optionTakesValue(arg)) continue;
    let extract = false;
    if (arg.length > 2) {
      argv.splice(field + 1, 0, arg.slice(2));
      argv[field] = arg.slice(0, 2);
      field += 1;
      extract = argv[field]![0] === '{';
    } else if (field + 1 < argv.length) {
      field += 1;
      extract = argv[field]![0] === '{';
    }
    if (extract) {
      extractField(argv, field, warn);
      if (argv[field - 1]![1] === 'o') normalizeNameValue(argv, field, warn);
    }
  }
  for (; field < argv.length; field++) {
    if (argv[field]![0] === '{') extractField(argv, field, warn);
  }
}

function extractField(argv: string[], field: number, warn: (text: string) => void): void {
  const { value, error } = extractBraced(argv[field]!);
  if (error) warn(`${MASTER_CONF_FILE}: ${error}`);
  argv[field] = value;
}

function normalizeNameValue(argv: string[], field: number, warn: (text: string) => void): void {
  const nv = splitNameValue(argv[field]!);
  if ('error' in nv) warn(`${MASTER_CONF_FILE}: ${nv.error}: "${argv[field]}"`);
  else argv[field] = `${nv.name}=${nv.value}`;
}

export type ParsedEntry =
  | { ok: true; argv: string[] }
  /** kind "count": too few fields (callers add file and line); kind "field": a complete message. */
  | { ok: false; kind: 'count' | 'field'; error: string };

/** Parses one complete (possibly multi-line) entry the way postconf does (pcf_parse_master_entry). */
export function parseMasterEntry(text: string, warn: (text: string) => void): ParsedEntry {
  const argv = splitQuoted(text);
  if (argv.length < MASTER_MIN_FIELDS) return { ok: false, kind: 'count', error: 'bad field count' };
  const error = checkMasterFields(argv, text);
  if (error) return { ok: false, kind: 'field', error };
  normalizeDaemonArgs(argv, warn);
  return { ok: true, argv };
}

/** The "-o name=value" settings among the daemon options, in order (later ones win). */
export function masterOptionSettings(argv: readonly string[]): Array<[string, string]> {
  const settings: Array<[string, string]> = [];
  for (let field = MASTER_MIN_FIELDS; field < argv.length; field++) {
    const arg = argv[field]!;
    if (!isOption(arg)) break;
    if (!optionTakesValue(arg) || field + 1 >= argv.length) continue;
    if (arg === '-o') {
      const nv = splitNameValue(argv[field + 1]!);
      if (!('error' in nv)) settings.push([nv.name, nv.value]);
    }
    field += 1;
  }
  return settings;
}

/** One master.cf service as postconf and the tools see it. */
export interface MasterEntry {
  service: string;
  type: string;
  /** The 8 fields as written ("-" for a default), the command's name last. */
  fields: string[];
  /** All words after normalization: the 8 fields, then the daemon arguments. */
  argv: string[];
  /** The -o settings, in order. */
  options: Array<[string, string]>;
  /** The logical line's text and where it was. */
  text: string;
  firstLine: number;
  lastLine: number;
}

export type MasterFile = { ok: true; entries: MasterEntry[] } | { ok: false; error: string };

/**
 * Parses master.cf text. The first bad entry ends the parse with the message
 * postconf prints for it (callers make it fatal); warnings go to warn.
 */
export function parseMasterFile(data: string, path: string, warn: (text: string) => void): MasterFile {
  const entries: MasterEntry[] = [];
  for (const line of readLogicalLines(data, path, warn)) {
    const parsed = parseMasterEntry(line.text, warn);
    if (!parsed.ok) {
      return { ok: false, error: parsed.kind === 'count' ? `file ${path}: line ${line.firstLine}: ${parsed.error}` : parsed.error };
    }
    entries.push(makeEntry(parsed.argv, line));
  }
  return { ok: true, entries };
}

export function makeEntry(argv: string[], line: LogicalLine): MasterEntry {
  return {
    service: argv[0]!,
    type: argv[1]!,
    fields: argv.slice(0, MASTER_MIN_FIELDS),
    argv,
    options: masterOptionSettings(argv),
    text: line.text,
    firstLine: line.firstLine,
    lastLine: line.lastLine,
  };
}

/** Output state while laying out a line: the text so far and its current column. */
interface Layout {
  text: string;
  col: number;
}

function add(l: Layout, text: string): void {
  l.text += text;
  l.col += text.length;
}

/**
 * Lays out the daemon arguments from argv[from] on, as postconf does after the
 * command: an option with a value sits on a line of its own when folding, a
 * value or later argument with blanks gets braces back. optionExtra is the
 * width postconf reserves around "-o value" (3 for -M, 1 for -F).
 */
export function layoutDaemonArgs(
  l: Layout,
  argv: readonly string[],
  from: number,
  fold: boolean,
  optionExtra: number,
  mapOptionValue?: (value: string) => string,
): void {
  let inOptions = true;
  for (let field = from; field < argv.length; field++) {
    const arg = argv[field]!;
    let argLen = arg.length;
    let value: string | undefined;
    let braces = false;
    if (inOptions) {
      if (!isOption(arg)) {
        // The first plain argument never gets braces back (Postfix 3.7 behaviour).
        inOptions = false;
      } else if (optionTakesValue(arg) && field + 1 < argv.length) {
        value = argv[field + 1]!;
        l.col = LINE_LIMIT;
        if (arg === '-o' && mapOptionValue) value = mapOptionValue(value);
        argLen += value.length + optionExtra;
        braces = hasBlank(value);
        if (braces) argLen += 2;
      }
    } else {
      braces = hasBlank(arg);
    }
    if (l.col > INDENT.length) {
      if (!fold || l.col + 1 + argLen < LINE_LIMIT) {
        add(l, ' ');
      } else {
        l.text += '\n' + INDENT;
        l.col = INDENT.length;
      }
    }
    const wrap = !inOptions && braces;
    add(l, wrap ? `{${arg}}` : arg);
    if (value !== undefined) {
      add(l, ' ');
      add(l, braces ? `{${value}}` : value);
      field += 1;
      l.col = LINE_LIMIT;
    }
  }
}

// Columns where postconf starts each of the 8 fields.
const COLUMN_GOAL = [0, 11, 17, 25, 33, 41, 49, 57];

/** One entry as `postconf -M` prints it (and as postconf writes an edited entry, folded). */
export function formatMasterEntry(argv: readonly string[], fold: boolean, mapOptionValue?: (value: string) => string): string {
  const l: Layout = { text: '', col: 0 };
  for (let field = 0; field < MASTER_MIN_FIELDS; field++) {
    if (l.col > 0) {
      do add(l, ' ');
      while (l.col < COLUMN_GOAL[field]!);
    }
    add(l, argv[field] ?? '');
  }
  layoutDaemonArgs(l, argv, MASTER_MIN_FIELDS, fold, 3, mapOptionValue);
  return l.text + '\n';
}

/** One field as `postconf -F` prints it; for the command, its arguments follow. */
export function formatMasterField(
  argv: readonly string[],
  field: number,
  opts: { hideName: boolean; hideValue: boolean; fold: boolean; mapOptionValue?: (value: string) => string },
): string {
  const l: Layout = { text: '', col: 0 };
  if (!opts.hideName) add(l, `${argv[0]}/${argv[1]}/${MASTER_FIELD_NAMES[field]}`);
  if (!opts.hideName && !opts.hideValue) add(l, ' = ');
  if (!opts.hideValue) {
    const value = argv[field] ?? '';
    // This break ignores -f: a long first word moves to an indented line.
    if (l.col > 0 && l.col + value.length > LINE_LIMIT) {
      l.text += '\n' + INDENT;
      l.col = INDENT.length;
    }
    add(l, value);
    if (field === FLD_CMD) layoutDaemonArgs(l, argv, FLD_CMD + 1, opts.fold, 1, opts.mapOptionValue);
  }
  return l.text + '\n';
}

/**
 * Parses "name", "name/type" or "name/type/x" into exactly max parts ("*"
 * fills the missing ones), or null when the pattern has fewer than min or
 * more than max parts, starts with "/", or has "*" inside a part. Empty parts
 * vanish ("a//b" is "a/b"), as Postfix's splitting does.
 */
export function parseServicePattern(pattern: string, min: number, max: number): string[] | null {
  if (pattern[0] === '/') return null;
  const parts = pattern.split('/').filter((p) => p !== '');
  if (parts.length < min || parts.length > max) return null;
  if (parts.some((p) => p !== '*' && p.includes('*'))) return null;
  while (parts.length < max) parts.push('*');
  return parts;
}

export function matchPatternPart(pattern: string, value: string): boolean {
  return pattern === '*' || pattern === value;
}

export function matchServicePattern(pattern: readonly string[], service: string, type: string): boolean {
  return matchPatternPart(pattern[0]!, service) && matchPatternPart(pattern[1]!, type);
}

/** Field index for a field name, FLD_WILDCARD for "*", undefined for anything else (case matters). */
export function parseFieldName(name: string): number | undefined {
  if (name === '*') return FLD_WILDCARD;
  const i = (MASTER_FIELD_NAMES as readonly string[]).indexOf(name);
  return i < 0 ? undefined : i;
}

/** One service as master(8) starts it: defaults applied, booleans and numbers decoded. */
export interface DaemonEntry {
  service: string;
  type: string;
  private: boolean;
  unprivileged: boolean;
  chroot: boolean;
  /** True when the chroot field was "-" (master logs the compatibility default). */
  chrootDefaulted: boolean;
  wakeup: number;
  /** A wakeup written as "60?": only after the service was used. */
  wakeupConditional: boolean;
  maxProc: number;
  command: string;
  /** The arguments after the command, "{...}" unwrapped; no -o rewriting, as master_ent.c does. */
  args: string[];
}

/**
 * Reads one logical line the way master(8) does (master_ent.c). Errors are
 * worded as master prints them after "<path>: line <n>: ".
 */
export function parseDaemonEntry(text: string, defaults: { processLimit: number; chroot: boolean }): DaemonEntry | { error: string } {
  const words = splitQuoted(text);
  let next = 0;
  const take = (name: string, def: string | undefined): string => {
    const value = words[next++];
    if (value === undefined) throw new EntryError(`missing "${name}" field`);
    if (value !== '-') return value;
    if (def === undefined) throw new EntryError(`field "${name}" has no default value`);
    return def;
  };
  const bool = (name: string, def: string): boolean => {
    const value = take(name, def);
    if (value === 'y' || value === 'n') return value === 'y';
    throw new EntryError(`field "${name}": bad value: "${value}"`);
  };
  const int = (name: string, def: string): number => {
    const value = take(name, def);
    if (!(value[0]! >= '0' && value[0]! <= '9')) throw new EntryError(`field "${name}": bad value: "${value}"`);
    return parseInt(value, 10);
  };
  try {
    const service = words[next++]!;
    const type = take('transport type', undefined);
    if (!(MASTER_SERVICE_TYPES as readonly string[]).includes(type)) throw new EntryError(`bad transport type: ${type}`);
    const isPrivate = bool('private', 'y');
    if (type === 'inet' && isPrivate) throw new EntryError('inet service cannot be private');
    const unprivileged = bool('unprivileged', 'y');
    const chrootDefaulted = words[next] === '-';
    const chroot = bool('chroot', defaults.chroot ? 'y' : 'n');
    const wakeupWord = words[next];
    const wakeup = int('wakeup_time', '0');
    const maxProc = int('max_proc', String(defaults.processLimit));
    const command = take('command', undefined);
    const args: string[] = [];
    for (const word of words.slice(next)) {
      if (word[0] !== '{') {
        args.push(word);
        continue;
      }
      const { value, error } = extractBraced(word);
      if (error) throw new EntryError(error);
      args.push(value);
    }
    const wakeupConditional = wakeup > 0 && wakeupWord !== undefined && wakeupWord.endsWith('?');
    return { service, type, private: isPrivate, unprivileged, chroot, chrootDefaulted, wakeup, wakeupConditional, maxProc, command, args };
  } catch (e) {
    if (e instanceof EntryError) return { error: e.message };
    throw e;
  }
}

class EntryError extends Error {}
