// Conformance suite for postmap(1) and postalias(1): replays the recorded cases
// under fixtures/postmap/* and fixtures/postalias/* against the real programs
// in /usr/sbin, which must reproduce them exactly (it proves the recording).
//
// These fixtures need three things beyond test/lib/cases.ts, kept here until
// the shared harness has them:
//   - setup.txt in a suite directory: commands (commands.txt syntax) run once,
//     in order, by the programs under test, in a copy of the suite's inputs;
//     every case then starts from a copy of that prepared directory. This is
//     how a query, dump or delete case finds a table built by the same
//     program (index files are binary and cannot be shared between Postfix's
//     Berkeley DB and this project's LMDB).
//   - "mask": regular expressions whose matches are replaced by @MASK@ in
//     stdout and stderr on both sides before comparing (postalias stores the
//     build time in YP_LAST_MODIFIED).
//   - a recorder that runs the real programs against the prepared directory,
//     compares every dump (-s) sorted, stdout and stderr alike (both come in
//     hash order), and never records the bytes of an index file.
// Usage of the recorder: node dist/test/conformance/postmap.suite.js record [SUITE_DIR...]

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  type Case,
  type CaseResult,
  type SuiteReport,
  DIR_TOKEN,
  caseLabel,
  compareCase,
  copyInputs,
  listSuites,
  loadCases,
  makeTempDir,
  realBinary,
  repoRoot,
  runCaseAsync,
} from '../lib/cases.js';
import { parseLine, toCase } from '../lib/record.js';
import { startSuiteMemcached } from '../lib/fake-memcached.js';

export const name = 'postmap';
export const binaries = ['postmap', 'postalias'];

/** A recorded case, plus the masks applied before comparing. */
export interface MapCase extends Case {
  mask?: string[];
}

export const SUITE_ROOTS = ['fixtures/postmap', 'fixtures/postalias'];
export const SETUP_FILE = 'setup.txt';
const MASK_TOKEN = '@MASK@';
const RECORD_RUNS = 3;
const INDEX_FILE = /\.(db|lmdb)$|-lock$/;

/** Every suite directory of postmap and postalias, sorted by root then name. */
export function mapSuiteDirs(root = repoRoot()): string[] {
  return SUITE_ROOTS.flatMap((r) => listSuites(path.join(root, r)));
}

/** The suite's label in reports: "postmap/query". */
export function suiteLabel(suiteDir: string): string {
  return `${path.basename(path.dirname(suiteDir))}/${path.basename(suiteDir)}`;
}

function readLines(file: string): string[] {
  return fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n') : [];
}

/** The setup commands of a suite, as case skeletons (stdin read from the suite). */
export function setupSteps(suiteDir: string): Case[] {
  const steps: Case[] = [];
  for (const line of readLines(path.join(suiteDir, SETUP_FILE))) {
    if (/^\s*(#|$)/.test(line)) continue;
    const inv = parseLine(line);
    if (inv) steps.push(toCase(inv, suiteDir));
  }
  return steps;
}

/**
 * A temporary copy of the suite's inputs with its setup commands applied by
 * `binary`. Throws (with the failing command's stderr) when a step fails.
 * The caller removes the directory.
 */
export function prepareSuite(suiteDir: string, binary: (cmd: string) => string): string {
  const dir = makeTempDir();
  copyInputs(suiteDir, dir);
  fs.rmSync(path.join(dir, SETUP_FILE), { force: true });
  const sub = (s: string) => s.split(DIR_TOKEN).join(dir);
  for (const step of setupSteps(suiteDir)) {
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin',
      TZ: 'UTC',
      LANG: 'C',
    };
    for (const [k, v] of Object.entries(step.env ?? {})) env[k] = sub(v);
    const r = spawnSync(binary(step.cmd), step.args.map(sub), {
      cwd: dir,
      env,
      input: step.stdin === undefined ? '' : sub(step.stdin),
      timeout: 60000,
      maxBuffer: 64 * 1024 * 1024,
    });
    if (r.status !== 0) {
      fs.rmSync(dir, { recursive: true, force: true });
      const why = r.error ? r.error.message : `exit status ${r.status ?? r.signal}`;
      throw new Error(`setup of ${suiteLabel(suiteDir)} failed: ${caseLabel(step)}: ${why}\n${r.stderr?.toString() ?? ''}`);
    }
  }
  return dir;
}

export function applyMasks(text: string, masks: string[] | undefined): string {
  let out = text;
  for (const m of masks ?? []) out = out.replace(new RegExp(m, 'g'), MASK_TOKEN);
  return out;
}

/** compareCase with the case's masks applied to both sides. */
export function compareMapCase(expected: MapCase, actual: CaseResult): string | null {
  if (!expected.mask?.length) return compareCase(expected, actual);
  const m = (t: string) => applyMasks(t, expected.mask);
  return compareCase(
    { ...expected, stdout: m(expected.stdout), stderr: m(expected.stderr) },
    { ...actual, stdout: m(actual.stdout), stderr: m(actual.stderr) },
  );
}

export interface CaseOutcome {
  label: string;
  diff: string | null;
}

/**
 * Run every case of one suite with `binary`, a few at a time; one outcome per
 * case, in order. A failed setup makes every case of the suite fail with the
 * setup's message.
 */
export async function replayMapSuite(suiteDir: string, binary: (cmd: string) => string, skipProject: boolean,
  parallel = 4): Promise<CaseOutcome[]> {
  const cases = (loadCases(suiteDir) as MapCase[])
    .map((c, i) => ({ c, label: `${suiteLabel(suiteDir)} ${caseLabel(c, i)}` }))
    .filter(({ c }) => !(skipProject && c.project));
  // memcache: suites need a server; a real memcached already there is used instead.
  const stopServer = await startSuiteMemcached(suiteDir);
  let prepared: string;
  try {
    prepared = prepareSuite(suiteDir, binary);
  } catch (e) {
    await stopServer();
    return cases.map(({ label }) => ({ label, diff: (e as Error).message }));
  }
  try {
    const outcomes: CaseOutcome[] = new Array(cases.length);
    let next = 0;
    const worker = async () => {
      while (next < cases.length) {
        const k = next++;
        const { c, label } = cases[k]!;
        outcomes[k] = { label, diff: compareMapCase(c, await runCaseAsync(c, { binary, suiteDir: prepared })) };
      }
    };
    await Promise.all(Array.from({ length: parallel }, worker));
    return outcomes;
  } finally {
    fs.rmSync(prepared, { recursive: true, force: true });
    await stopServer();
  }
}

/** True when the options ask for a dump (-s, alone or in a cluster such as -fs). */
function isDump(args: string[]): boolean {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--' || a === '-' || !a.startsWith('-')) return false;
    for (let k = 1; k < a.length; k++) {
      if (a[k] === 's') return true;
      if ('cdq'.includes(a[k]!)) {
        if (k === a.length - 1) i++; // the option's argument is the next word
        break;
      }
    }
  }
  return false;
}

function masksOf(directives: string): string[] {
  return directives
    .split(';')
    .map((d) => /^\s*mask:\s*(.*?)\s*$/.exec(d)?.[1])
    .filter((m): m is string => !!m);
}

function sortLines(text: string): string {
  return text.split('\n').sort().join('\n');
}

/** Lines sorted, a final newline kept: how compareCase sees a sorted stream. */
function sortedText(text: string): string {
  const trailing = text.endsWith('\n');
  return (trailing ? text.slice(0, -1) : text).split('\n').sort().join('\n') + (trailing ? '\n' : '');
}

/** Record one case against the real programs, in the prepared directory. */
async function recordCase(skel: MapCase, prepared: string, label: string): Promise<MapCase> {
  const runs = await Promise.all(
    Array.from({ length: RECORD_RUNS }, () => runCaseAsync(skel, { binary: realBinary, suiteDir: prepared })),
  );
  const first = runs[0]!;
  const sort = new Set(skel.sort ?? []);
  // A dump comes in hash order, and so do the warnings it prints per entry.
  if (isDump(skel.args)) {
    sort.add('stdout');
    sort.add('stderr');
  }
  if (!runs.every((r) => r.status === first.status)) throw new Error(`${label}: status is not reproducible`);
  for (const key of ['stdout', 'stderr'] as const) {
    const values = runs.map((r) => applyMasks(r[key], skel.mask));
    if (values.every((v) => v === values[0])) continue;
    if (!values.every((v) => sortLines(v) === sortLines(values[0]!))) throw new Error(`${label}: ${key} is not reproducible`);
    sort.add(key);
  }
  const stable = (key: 'stdout' | 'stderr') => {
    const text = applyMasks(first[key], skel.mask);
    return sort.has(key) ? sortedText(text) : text;
  };
  // Key order in cases.json: the invocation first, then what it produced.
  const out: MapCase = {
    cmd: skel.cmd,
    args: skel.args,
    ...(skel.env ? { env: skel.env } : {}),
    ...(skel.stdin !== undefined ? { stdin: skel.stdin } : {}),
    // Stored masked and, when compared sorted, sorted: re-recording leaves cases.json unchanged.
    stdout: stable('stdout'),
    stderr: stable('stderr'),
    status: first.status,
  };
  if (skel.files) {
    out.files = {};
    for (const f of Object.keys(skel.files).sort()) {
      const got = first.files?.[f] ?? null;
      if (got !== null && INDEX_FILE.test(f)) throw new Error(`${label}: ${f} is an index file: only its absence can be recorded`);
      if (!runs.every((r) => (r.files?.[f] ?? null) === got)) throw new Error(`${label}: file ${f} is not reproducible`);
      out.files[f] = got;
    }
  }
  if (sort.size) out.sort = [...sort].sort();
  if (skel.mask?.length) out.mask = skel.mask;
  if (skel.note) out.note = skel.note;
  if (skel.project) out.project = true;
  return out;
}

/** Record a suite's commands.txt into cases.json; hand-set "project" cases are kept. */
export async function recordMapSuite(suiteDir: string): Promise<MapCase[]> {
  const casesPath = path.join(suiteDir, 'cases.json');
  const previous: MapCase[] = fs.existsSync(casesPath) ? JSON.parse(fs.readFileSync(casesPath, 'utf8')) : [];
  const prepared = prepareSuite(suiteDir, realBinary);
  try {
    const cases: MapCase[] = [];
    for (const line of readLines(path.join(suiteDir, 'commands.txt'))) {
      if (/^\s*(#|$)/.test(line)) continue;
      const inv = parseLine(line);
      if (!inv) continue;
      const skel: MapCase = toCase(inv, suiteDir);
      const masks = masksOf(inv.directives);
      if (masks.length) skel.mask = masks;
      const label = `${suiteLabel(suiteDir)}: ${caseLabel(skel)}`;
      const kept = skel.project
        ? previous.find((p) => p.project && p.cmd === skel.cmd && JSON.stringify(p.args) === JSON.stringify(skel.args))
        : undefined;
      cases.push(kept ?? (await recordCase(skel, prepared, label)));
    }
    fs.writeFileSync(casesPath, JSON.stringify(cases, null, 2) + '\n');
    return cases;
  } finally {
    fs.rmSync(prepared, { recursive: true, force: true });
  }
}

export function postfixInstalled(): boolean {
  return fs.existsSync(realBinary('postmap')) && fs.existsSync(realBinary('postalias'));
}

export async function run(): Promise<SuiteReport> {
  const report: SuiteReport = { identical: 0, total: 0, failures: [] };
  if (!postfixInstalled()) {
    process.stderr.write(`${name}: skipped: /usr/sbin/postmap or /usr/sbin/postalias is not installed\n`);
    return report;
  }
  for (const dir of mapSuiteDirs()) {
    for (const o of await replayMapSuite(dir, realBinary, true)) {
      report.total++;
      if (o.diff === null) report.identical++;
      else report.failures.push(`${o.label}\n${o.diff}`);
    }
  }
  return report;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const [verb, ...dirs] = process.argv.slice(2);
  if (verb !== 'record') {
    process.stderr.write('usage: node dist/test/conformance/postmap.suite.js record [SUITE_DIR...]\n');
    process.exit(2);
  }
  let failed = false;
  const all = SUITE_ROOTS.flatMap((r) => {
    const root = path.join(repoRoot(), r);
    if (!fs.existsSync(root)) return [];
    return fs.readdirSync(root).map((n) => path.join(root, n)).filter((d) => fs.existsSync(path.join(d, 'commands.txt'))).sort();
  });
  for (const dir of dirs.length ? dirs.map((d) => path.resolve(d)) : all) {
    try {
      process.stdout.write(`${suiteLabel(dir)}: ${(await recordMapSuite(dir)).length} cases\n`);
    } catch (e) {
      failed = true;
      process.stderr.write(`${suiteLabel(dir)}: ${(e as Error).message}\n`);
    }
  }
  process.exit(failed ? 1 : 0);
}
