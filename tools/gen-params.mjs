#!/usr/bin/env node
// Builds src/config/params.ts, the table behind the parameter registry (the
// counterpart of the *_table.h files that Postfix's postconf build extracts
// from the daemons' CONFIG_*_TABLE arrays).
//
// Inputs, all on the development host:
//   - the real postconf 3.7.11 (`postconf -d` and `-dx` with an empty config
//     dir): the names and the default text exactly as users see it;
//   - the Postfix source at tag v3.7.11 (bare mirror): which kind of table
//     each name is registered in, which gives its type and bounds;
//   - the descriptions already in src/config/params.ts, which are written by
//     hand and carried over; names without one are reported.
//
// Usage: node tools/gen-params.mjs SOURCE [--postconf PATH] [--desc FILE]
// SOURCE is the Postfix source: either an unpacked 3.7.11 tree (the directory
// holding src/global/mail_params.h, or its parent "postfix/") or a git
// repository of Postfix, from which tag v3.7.11 is taken. FILE holds
// "name|description" lines that replace or add descriptions.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const argv = process.argv.slice(2);
const opt = (flag, dflt) => { const i = argv.indexOf(flag); return i >= 0 ? argv[i + 1] : dflt; };
const SOURCE = argv[0] !== undefined && !argv[0].startsWith('--') ? argv[0] : undefined;
if (SOURCE === undefined) {
  process.stderr.write('usage: node tools/gen-params.mjs SOURCE [--postconf PATH] [--desc FILE]\n' +
    '  SOURCE: a Postfix 3.7.11 source tree, or a git repository of Postfix (tag v3.7.11 is used)\n');
  process.exit(2);
}
const POSTCONF = opt('--postconf', '/usr/sbin/postconf');
const TAG = 'v3.7.11';
const OUT = join(root, 'src/config/params.ts');

// Names whose default postconf computes on the host; the registry supplies
// them from computed.ts, so the table keeps no recorded value.
const COMPUTED = new Set(['myhostname', 'mydomain', 'mynetworks', 'process_id', 'process_name', 'service_name']);
// Registered by postconf itself rather than found in a daemon's table.
const ADHOC = { config_directory: 'STR', debugger_command: 'STR', process_id: 'INT', process_name: 'STR', service_name: 'STR' };
const READONLY = new Set(['process_id', 'process_name', 'service_name']);
const FLAG_RAW = 1, FLAG_BUILTIN = 2, FLAG_READONLY = 32;
const TYPE = { INT: 'int', LONG: 'long', BOOL: 'bool', TIME: 'time', STR: 'str', STR_FN: 'str', RAW: 'raw', NINT: 'nint', NBOOL: 'nbool' };

const work = mkdtempSync(join(tmpdir(), 'gen-params-'));
try {
  main();
} finally {
  rmSync(work, { recursive: true, force: true });
}

function main() {
  const src = unpackSource();
  const types = scanTables(src);
  const conf = join(work, 'conf');
  mkdirSync(conf);
  writeFileSync(join(conf, 'main.cf'), '');
  const raw = postconfDefaults(conf, '-d');
  const expanded = postconfDefaults(conf, '-dx');
  const descs = existingDescriptions();
  const extra = opt('--desc');
  if (extra) {
    for (const line of readFileSync(extra, 'utf8').split('\n')) {
      const bar = line.indexOf('|');
      if (bar > 0) descs.set(line.slice(0, bar), line.slice(bar + 1).trim());
    }
  }

  const rows = [];
  const descRows = [];
  const names = [...raw.keys()].sort();
  for (const name of names) {
    const t = types.get(name) ?? (ADHOC[name] ? { kind: ADHOC[name], min: '', max: '' } : undefined);
    if (!t) throw new Error(`no source table registers ${name}`);
    let flags = FLAG_BUILTIN;
    if (t.kind === 'RAW') flags |= FLAG_RAW;
    if (READONLY.has(name)) flags |= FLAG_READONLY;
    // A time parameter's unit for bare numbers is the first letter of its
    // expanded default, as the daemons decide it at run time.
    const unit = t.kind === 'TIME' ? (/[A-Za-z]/.exec(expanded.get(name) ?? '') ?? [''])[0] : '';
    const dflt = COMPUTED.has(name) ? '' : raw.get(name);
    rows.push([name, TYPE[t.kind], flags, unit, t.min, t.max, dflt].join('\t'));
    const d = descs.get(name);
    if (d && /[\t\n]/.test(d)) throw new Error(`${name}: description must be one line`);
    if (!d) process.stderr.write(`gen-params: no description for ${name}\n`);
    descRows.push(`${name}\t${d ?? ''}`);
  }
  writeFileSync(OUT, render(rows, descRows));
  process.stderr.write(`gen-params: wrote ${rows.length} parameters to ${OUT}\n`);
}

function unpackSource() {
  for (const top of [SOURCE, join(SOURCE, 'postfix')]) {
    if (existsSync(join(top, 'src/global/mail_params.h'))) return join(top, 'src');
  }
  const dir = join(work, 'src');
  mkdirSync(dir);
  const tar = execFileSync('git', ['-C', SOURCE, 'archive', TAG, 'postfix/src'], { maxBuffer: 1 << 30 });
  execFileSync('tar', ['-x', '-C', dir], { input: tar });
  return join(dir, 'postfix/src');
}

/** Object-like #defines of one file: name -> replacement text. */
function scanDefines(path, into) {
  const text = readFileSync(path, 'latin1');
  for (const m of text.matchAll(/^#\s*define\s+(\w+)[ \t]+(.*)$/gm)) {
    into.set(m[1], m[2].replace(/\/\*.*?\*\//g, '').trim());
  }
}

/** Finds every CONFIG_<KIND>_TABLE entry in the daemons' sources, as postconf's extract.awk does. */
function scanTables(src) {
  const global = new Map();
  const perFile = new Map();
  const cfiles = [];
  for (const d of readdirSync(src)) {
    for (const f of readdirSync(join(src, d))) {
      const p = join(src, d, f);
      if (f.endsWith('.h')) scanDefines(p, global);
      if (f.endsWith('.c')) {
        const local = new Map();
        scanDefines(p, local);
        perFile.set(p, local);
        cfiles.push(p);
      }
    }
  }
  const look = (id, local) => local.get(id) ?? global.get(id);
  // A parameter name macro is a concatenation of string literals and other macros.
  const strOf = (macro, local, depth = 0) => {
    const v = look(macro, local);
    if (v === undefined || depth > 20) return undefined;
    let out = '';
    for (const t of v.match(/"(?:[^"\\]|\\.)*"|\w+|\S/g) ?? []) {
      if (t.startsWith('"')) out += t.slice(1, -1);
      else if (/^\w+$/.test(t)) {
        const r = strOf(t, local, depth + 1);
        if (r === undefined) return undefined;
        out += r;
      } else return undefined;
    }
    return out;
  };
  // Bounds are integer constant expressions over other macros.
  const numOf = (text, local, depth = 0) => {
    if (text === undefined || depth > 20) return undefined;
    let expr = text.replace(/\b[A-Za-z_]\w*\b/g, (id) => {
      const r = look(id, local) === undefined ? undefined : numOf(look(id, local), local, depth + 1);
      return r === undefined ? '@' : `(${r})`;
    });
    expr = expr.replace(/\b(\d+)[lLuU]+\b/g, '$1');
    if (!/^[\d\s()+\-*/]+$/.test(expr)) return undefined;
    return Function(`return (${expr});`)();
  };
  const kinds = new Set(Object.keys(TYPE));
  const out = new Map();
  for (const p of cfiles) {
    const local = perFile.get(p);
    let kind = null;
    for (const line of readFileSync(p, 'latin1').split('\n')) {
      if (!kind) {
        const m = /^(?:static| )*(?:const +)?CONFIG_(\w+?)_TABLE .*\{/.exec(line);
        if (m && kinds.has(m[1])) kind = m[1];
        continue;
      }
      if (line.includes('};')) { kind = null; continue; }
      const first = line.trim().split(/\s+/)[0] ?? '';
      if (!/VAR/.test(first)) continue;
      const f = line.split(',').map((s) => s.trim());
      const name = strOf(f[0], local);
      if (name === undefined) throw new Error(`${p}: cannot resolve ${f[0]}`);
      const bound = (t) => (kind === 'BOOL' || kind === 'NBOOL' ? '' : String(numOf(t, local) ?? ''));
      const prev = out.get(name);
      if (prev && prev.kind !== kind) throw new Error(`${name}: registered as ${prev.kind} and ${kind}`);
      if (!prev) out.set(name, { kind, min: bound(f[3]), max: bound(f[4]) });
    }
  }
  return out;
}

/** `postconf -c DIR <flag>` as name -> value. */
function postconfDefaults(conf, flag) {
  const text = execFileSync(POSTCONF, ['-c', conf, flag], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const m = new Map();
  for (const line of text.split('\n')) {
    if (!line) continue;
    const i = line.indexOf(' =');
    m.set(line.slice(0, i), line.slice(i + 2).replace(/^ /, ''));
  }
  return m;
}

function existingDescriptions() {
  const m = new Map();
  if (!existsSync(OUT)) return m;
  const text = readFileSync(OUT, 'utf8');
  const start = text.indexOf('export const PARAM_DESC');
  if (start < 0) return m;
  for (const row of templateBody(text.slice(start)).split('\n')) {
    const tab = row.indexOf('\t');
    if (tab > 0 && row.slice(tab + 1)) m.set(row.slice(0, tab), row.slice(tab + 1));
  }
  return m;
}

/** The cooked text of the first template literal in text (only the escapes that literal() writes). */
function templateBody(text) {
  const open = text.indexOf('`');
  let i = open + 1;
  let out = '';
  for (; text[i] !== '`'; i++) {
    if (text[i] === '\\') {
      i++;
      out += text[i] === 't' ? '\t' : text[i];
    } else out += text[i];
  }
  return out;
}

/** rows as the body of a template literal, one row per line. */
function literal(rows) {
  const esc = (r) => r.replace(/[\\`]/g, '\\$&').replace(/\$\{/g, '\\${').replace(/\t/g, '\\t');
  return '`' + rows.map(esc).join('\n') + '`';
}

function render(rows, descRows) {
  return `// Data behind the parameter registry: Postfix 3.7.11's built-in main.cf
// parameters as postconf/postconf_builtin.c assembles them from the daemons'
// CONFIG_*_TABLE arrays (the generated *_table.h files of its build).
// Generated by tools/gen-params.mjs from \`postconf -d\` and the Postfix
// source; the descriptions in PARAM_DESC are hand-written and survive
// regeneration. Each table is one string, a row per line, because V8 reads
// one long literal far faster than hundreds of small ones; registry.ts
// splits it on first use.

/**
 * One row per parameter, sorted by name (byte order), tab-separated:
 * name, type, flags (PCF_PARAM_FLAG_* bits), time unit (time parameters),
 * min, max (numeric bounds from the source table, 0 = none; empty when the
 * kind has none), default text as \`postconf -d\` prints it (empty for the
 * host-computed ones, see computed.ts).
 */
export const PARAM_ROWS: string = ${literal(rows)};

/** One row per parameter, same order: name, tab, a one-line description. */
export const PARAM_DESC: string = ${literal(descRows)};
`;
}
