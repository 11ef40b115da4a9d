// Recorded command cases: the fixture format shared by every command's tests.
// A suite directory holds input files plus cases.json (an array of Case). Each
// case is run in a fresh temporary copy of the inputs; "@DIR@" stands for that
// copy in args/env/stdin and, substituted back, in the recorded outputs.
// Used by test/cli/*.fixtures.test.ts (our bin/), test/conformance/*.suite.ts
// (real /usr/sbin/) and the recorder (test/lib/record.ts).

import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runInProcess } from './inproc.js';

/** A stream or output file whose lines are compared as a sorted list. */
export type SortKey = 'stdout' | 'stderr' | string;

export interface Case {
  cmd: string;
  args: string[];
  env?: Record<string, string>;
  stdin?: string;
  stdout: string;
  stderr: string;
  status: number;
  /** Files (relative to @DIR@) whose content after the run is checked; null = must not exist. */
  files?: Record<string, string | null>;
  /** Streams ("stdout", "stderr") or file names compared as sorted line lists (hash order). */
  sort?: SortKey[];
  note?: string;
  /** True when this project's truthful output differs from Postfix's (not replayed against Postfix). */
  project?: boolean;
}

export interface CaseResult {
  stdout: string;
  stderr: string;
  status: number;
  files?: Record<string, string | null>;
}

export interface RunOptions {
  /** Path of the executable for a command name. */
  binary(cmd: string): string;
  /** The suite directory whose input files are copied for the run. */
  suiteDir: string;
  timeoutMs?: number;
  /** Keep the temporary directory (for debugging). */
  keep?: boolean;
  /** Return every file present after the run in result.files (the recorder uses this). */
  captureAll?: boolean;
  /** Extra environment for this run (the recorder sets NORANDOMIZE=1 for a stable hash order). */
  env?: Record<string, string>;
  /**
   * For commands that can run inside this process (ours: see oursInProcess),
   * the bundle to evaluate and the launcher it stands for; runCaseAsync then
   * runs the case in-process and falls back to a real process when the case
   * needs one (test/lib/inproc.ts).
   */
  inProcess?(cmd: string): { bundle: string; launcher: string } | undefined;
}

export const DIR_TOKEN = '@DIR@';

/** Files in a suite directory that are not inputs. */
const NOT_INPUTS = new Set(['cases.json', 'commands.txt', 'stdin']);

/** Repository root, found relative to this compiled file (dist/test/lib/cases.js). */
export function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (dir !== path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'package.json')) && fs.existsSync(path.join(dir, 'bin'))) return dir;
    dir = path.dirname(dir);
  }
  throw new Error('repository root not found');
}

/** The project's launchers: <root>/bin/<cmd>. */
export function oursBinary(root = repoRoot()): (cmd: string) => string {
  return (cmd) => path.join(root, 'bin', cmd);
}

/**
 * Our commands' bundles, for RunOptions.inProcess: bin/<cmd> loads
 * dist/bin/<cmd>.cjs. POSTFIX_TS_INPROC=0 turns in-process runs off (every case
 * then starts a process, as the launcher would).
 */
export function oursInProcess(root = repoRoot()): (cmd: string) => { bundle: string; launcher: string } | undefined {
  const known = new Map<string, { bundle: string; launcher: string } | undefined>();
  return (cmd) => {
    if (process.env.POSTFIX_TS_INPROC === '0') return undefined;
    if (!known.has(cmd)) {
      const launcher = path.join(root, 'bin', cmd);
      const bundle = path.join(root, 'dist', 'bin', `${cmd}.cjs`);
      let text = '';
      try {
        text = fs.readFileSync(launcher, 'utf8');
      } catch {
        // not one of ours
      }
      known.set(cmd, text.includes(`require('../dist/bin/${cmd}.cjs')`) && fs.existsSync(bundle) ? { bundle, launcher } : undefined);
    }
    return known.get(cmd);
  };
}

/** How many cases ran in-process, and why the others needed a process (for the curious: POSTFIX_TS_INPROC_DEBUG=1). */
export const inProcessStats = { inProcess: 0, fallback: new Map<string, number>() };

/** The real Postfix programs: /usr/sbin/<cmd>. */
export function realBinary(cmd: string): string {
  return path.join('/usr/sbin', cmd);
}

/** Suite directories (those holding cases.json) directly under root, sorted. */
export function listSuites(root: string): string[] {
  if (!fs.existsSync(root)) return [];
  return fs
    .readdirSync(root, { withFileTypes: true })
    .filter((e) => e.isDirectory() && fs.existsSync(path.join(root, e.name, 'cases.json')))
    .map((e) => path.join(root, e.name))
    .sort();
}

export function loadCases(suiteDir: string): Case[] {
  return JSON.parse(fs.readFileSync(path.join(suiteDir, 'cases.json'), 'utf8')) as Case[];
}

/** A short label for a case: the command line with @DIR@ kept. */
export function caseLabel(c: Case, index?: number): string {
  const env = c.env ? Object.entries(c.env).map(([k, v]) => `${k}=${v} `).join('') : '';
  const words = c.args.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`));
  const prefix = index === undefined ? '' : `#${index + 1} `;
  return `${prefix}${env}${c.cmd} ${words.join(' ')}`.trimEnd();
}

const AGED_MTIME = new Date(Date.UTC(2026, 0, 1));

/** Copy the suite's input files (recursively) into dest. */
export function copyInputs(suiteDir: string, dest: string): void {
  for (const e of fs.readdirSync(suiteDir, { withFileTypes: true })) {
    if (NOT_INPUTS.has(e.name)) continue;
    const from = path.join(suiteDir, e.name);
    const to = path.join(dest, e.name);
    if (e.isDirectory()) {
      fs.mkdirSync(to);
      copyInputs(from, to);
    } else if (e.isFile()) {
      fs.copyFileSync(from, to);
      // Postfix re-reads a main.cf changed within the last second (it may be
      // mid-edit), printing its warnings once per read: age the copies so
      // every run reads them once.
      fs.utimesSync(to, AGED_MTIME, AGED_MTIME);
    }
  }
}

/** Relative paths of all regular files under dir, sorted. */
export function listFiles(dir: string, prefix = ''): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(path.join(dir, prefix), { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...listFiles(dir, rel));
    else if (e.isFile()) out.push(rel);
  }
  return out.sort();
}

/** A fresh temp directory, always /tmp/pfcase-XXXXXX: a constant path length keeps folding under -f stable. */
export function makeTempDir(): string {
  const base = fs.existsSync('/tmp') ? '/tmp' : os.tmpdir();
  return fs.realpathSync(fs.mkdtempSync(path.join(base, 'pfcase-')));
}

function sub(text: string, dir: string): string {
  return text.split(DIR_TOKEN).join(dir);
}

function unsub(text: string, dir: string): string {
  return text.split(dir).join(DIR_TOKEN);
}

interface Prepared {
  dir: string;
  file: string;
  args: string[];
  options: { argv0: string; cwd: string; env: Record<string, string> };
  input: string;
}

function prepare(c: Case, opts: RunOptions): Prepared {
  const dir = makeTempDir();
  copyInputs(opts.suiteDir, dir);
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin',
    TZ: 'UTC',
    LANG: 'C',
  };
  if (process.env.HOME) env.HOME = process.env.HOME;
  Object.assign(env, opts.env ?? {});
  for (const [k, v] of Object.entries(c.env ?? {})) env[k] = sub(v, dir);
  // argv[0] is the bare name, as when a user types "postconf": Postfix prefixes
  // its messages with argv[0] verbatim.
  return {
    dir,
    file: opts.binary(c.cmd),
    args: c.args.map((a) => sub(a, dir)),
    options: { argv0: c.cmd, cwd: dir, env },
    input: c.stdin === undefined ? '' : sub(c.stdin, dir),
  };
}

function collect(c: Case, opts: RunOptions, p: Prepared, out: Buffer, err: Buffer, status: number | null,
  signal: string | null, error?: Error): CaseResult {
  let stderr = decode(err);
  if (error) stderr += `[harness: ${error.message}]\n`;
  if (signal) stderr += `[harness: killed by ${signal}]\n`;
  const result: CaseResult = {
    stdout: unsub(decode(out), p.dir),
    stderr: unsub(stderr, p.dir),
    status: status ?? -1,
  };
  if (c.files || opts.captureAll) {
    result.files = {};
    const names = opts.captureAll ? listFiles(p.dir) : Object.keys(c.files ?? {});
    for (const name of names) result.files[name] = readResultFile(p.dir, name);
  }
  return result;
}

function cleanup(p: Prepared, opts: RunOptions): void {
  if (!opts.keep) fs.rmSync(p.dir, { recursive: true, force: true });
}

/** Run one case in a fresh copy of the suite's inputs; outputs carry @DIR@ again. */
export function runCase(c: Case, opts: RunOptions): CaseResult {
  const p = prepare(c, opts);
  try {
    const r = spawnSync(p.file, p.args, {
      ...p.options,
      input: p.input,
      timeout: opts.timeoutMs ?? 30000,
      maxBuffer: 64 * 1024 * 1024,
    });
    return collect(c, opts, p, r.stdout, r.stderr, r.status, r.signal, r.error);
  } finally {
    cleanup(p, opts);
  }
}

/**
 * runCase without blocking the event loop, so that cases can run side by side;
 * with opts.inProcess, inside this process when the case allows it.
 */
export async function runCaseAsync(c: Case, opts: RunOptions): Promise<CaseResult> {
  const target = opts.inProcess?.(c.cmd);
  if (target) {
    const p = prepare(c, opts);
    try {
      const r = await runInProcess({ ...target, args: p.args, env: p.options.env, cwd: p.dir, input: p.input, timeoutMs: opts.timeoutMs });
      if (!('needsProcess' in r)) {
        inProcessStats.inProcess++;
        return collect(c, opts, p, r.stdout, r.stderr, r.status, null);
      }
      const why = r.needsProcess.replace(/\d+/g, 'N');
      inProcessStats.fallback.set(why, (inProcessStats.fallback.get(why) ?? 0) + 1);
      if (process.env.POSTFIX_TS_INPROC_DEBUG) process.stderr.write(`in-process run of ${caseLabel(c)} needs a process: ${r.needsProcess}\n`);
    } finally {
      cleanup(p, opts);
    }
  }
  return spawnCase(c, opts);
}

/** Run one case as a process of its own, without blocking the event loop. */
function spawnCase(c: Case, opts: RunOptions): Promise<CaseResult> {
  const p = prepare(c, opts);
  return new Promise<CaseResult>((resolve) => {
    const child = spawn(p.file, p.args, { ...p.options, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let failure: Error | undefined;
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30000);
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.stdin.on('error', () => {}); // the program may exit without reading stdin
    child.on('error', (e) => (failure = e));
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      try {
        resolve(collect(c, opts, p, Buffer.concat(out), Buffer.concat(err), status, signal, failure));
      } finally {
        cleanup(p, opts);
      }
    });
    child.stdin.end(p.input);
  });
}

/** Content of a file in the run directory, @DIR@ substituted back; null if absent. */
export function readResultFile(dir: string, name: string): string | null {
  const p = path.join(dir, name);
  if (!fs.existsSync(p)) return null;
  return unsub(decode(fs.readFileSync(p)), dir);
}

// Postfix writes bytes: keep them as UTF-8 text when valid, else one char per byte (latin1).
function decode(buf: Buffer | null | undefined): string {
  if (!buf) return '';
  const utf8 = buf.toString('utf8');
  return Buffer.from(utf8, 'utf8').equals(buf) ? utf8 : buf.toString('latin1');
}

function sortedLines(text: string): string {
  const trailing = text.endsWith('\n');
  const lines = (trailing ? text.slice(0, -1) : text).split('\n').sort();
  return lines.join('\n') + (trailing ? '\n' : '');
}

/** First differing line of two texts, shown unified-diff style with a little context. */
export function diffText(label: string, expected: string, actual: string): string | null {
  if (expected === actual) return null;
  const e = expected.split('\n');
  const a = actual.split('\n');
  let i = 0;
  while (i < e.length && i < a.length && e[i] === a[i]) i++;
  const from = Math.max(0, i - 2);
  const out = [`--- expected ${label}`, `+++ actual ${label}`, `@@ line ${i + 1} @@`];
  for (let k = from; k < i; k++) out.push(' ' + e[k]);
  for (let k = i; k < Math.min(e.length, i + 3); k++) out.push('-' + JSON.stringify(e[k]).slice(1, -1));
  for (let k = i; k < Math.min(a.length, i + 3); k++) out.push('+' + JSON.stringify(a[k]).slice(1, -1));
  if (e.length > i + 3 || a.length > i + 3) out.push(`(${e.length} expected lines, ${a.length} actual lines)`);
  return out.join('\n');
}

/** null when actual matches expected, else a readable description of the differences. */
export function compareCase(expected: Case, actual: CaseResult): string | null {
  const sort = new Set(expected.sort ?? []);
  const norm = (key: string, text: string) => (sort.has(key) ? sortedLines(text) : text);
  const diffs: string[] = [];
  if (expected.status !== actual.status) diffs.push(`status: expected ${expected.status}, actual ${actual.status}`);
  for (const key of ['stdout', 'stderr'] as const) {
    const d = diffText(sort.has(key) ? `${key} (sorted)` : key, norm(key, expected[key]), norm(key, actual[key]));
    if (d) diffs.push(d);
  }
  for (const [name, want] of Object.entries(expected.files ?? {})) {
    const got = actual.files?.[name] ?? null;
    if (want === null || got === null) {
      if (want !== got) diffs.push(`file ${name}: expected ${want === null ? 'absent' : 'present'}, actual ${got === null ? 'absent' : 'present'}`);
      continue;
    }
    const d = diffText(`file ${name}${sort.has(name) ? ' (sorted)' : ''}`, norm(name, want), norm(name, got));
    if (d) diffs.push(d);
  }
  return diffs.length ? diffs.join('\n') : null;
}

export interface SuiteReport {
  identical: number;
  total: number;
  failures: string[];
}

/** Replay every case of every suite under root, a few at a time; "project" cases are skipped when skipProject. */
export async function replaySuites(root: string, binary: (cmd: string) => string, skipProject: boolean,
  parallel = 4): Promise<SuiteReport> {
  const jobs: { suiteDir: string; c: Case; i: number }[] = [];
  for (const suiteDir of listSuites(root)) {
    loadCases(suiteDir).forEach((c, i) => {
      if (!(skipProject && c.project)) jobs.push({ suiteDir, c, i });
    });
  }
  const diffs: (string | null)[] = new Array(jobs.length).fill(null);
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const k = next++;
      const { suiteDir, c, i } = jobs[k]!;
      const diff = compareCase(c, await runCaseAsync(c, { binary, suiteDir }));
      if (diff !== null) diffs[k] = `${path.basename(suiteDir)} ${caseLabel(c, i)}\n${diff}`;
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  const failures = diffs.filter((d): d is string => d !== null);
  return { identical: jobs.length - failures.length, total: jobs.length, failures };
}
