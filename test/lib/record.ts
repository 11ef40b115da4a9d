// Recorder: turns a suite's commands.txt into cases.json by running the real
// Postfix programs (/usr/sbin/<cmd>). Usage:
//   node dist/test/lib/record.js SUITE_DIR...
// commands.txt: one invocation per line, shell-like words ('..', "..", \x),
// optional leading NAME=value environment words, optional "< FILE" (stdin,
// relative to the suite) and an optional trailing comment of directives
// separated by ";":  # sort: stderr, stdout; files: main.cf; note: text; project
// Each case is run several times; streams or files that vary (Postfix's hash
// order is seeded per process) are marked "sort" automatically; the stored
// outputs are those of a run with NORANDOMIZE=1, so re-recording is stable. Files that the
// run creates, changes or removes are recorded under "files".

import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { type Case, type CaseResult, listFiles, realBinary, runCaseAsync } from './cases.js';

const RUNS = 16;

export interface Invocation {
  words: string[];
  stdinFile?: string;
  directives: string;
}

/** Split one commands.txt line into words, stdin redirection and directive comment. */
export function parseLine(line: string): Invocation | null {
  const words: string[] = [];
  let cur: string | null = null;
  let i = 0;
  let directives = '';
  let stdinNext = false;
  let stdinFile: string | undefined;
  const finish = () => {
    if (cur === null) return;
    if (stdinNext) {
      stdinFile = cur;
      stdinNext = false;
    } else if (cur === '<') stdinNext = true;
    else words.push(cur);
    cur = null;
  };
  while (i < line.length) {
    const ch = line[i]!;
    if (/\s/.test(ch)) {
      finish();
      i++;
    } else if (ch === '#' && cur === null) {
      directives = line.slice(i + 1).trim();
      break;
    } else if (ch === "'") {
      const end = line.indexOf("'", i + 1);
      if (end < 0) throw new Error(`unterminated ' in: ${line}`);
      cur = (cur ?? '') + line.slice(i + 1, end);
      i = end + 1;
    } else if (ch === '"') {
      let j = i + 1;
      let text = '';
      while (j < line.length && line[j] !== '"') {
        if (line[j] === '\\' && j + 1 < line.length && '"\\$`'.includes(line[j + 1]!)) j++;
        text += line[j++];
      }
      if (j >= line.length) throw new Error(`unterminated " in: ${line}`);
      cur = (cur ?? '') + text;
      i = j + 1;
    } else if (ch === '\\' && i + 1 < line.length) {
      cur = (cur ?? '') + line[i + 1];
      i += 2;
    } else {
      cur = (cur ?? '') + ch;
      i++;
    }
  }
  finish();
  if (stdinNext) throw new Error(`"<" without a file in: ${line}`);
  if (words.length === 0) return null;
  return { words, stdinFile, directives };
}

/** Build the case skeleton (no outputs yet) for one invocation. */
export function toCase(inv: Invocation, suiteDir: string): Case {
  const env: Record<string, string> = {};
  const words = [...inv.words];
  while (words.length > 1 && /^[A-Za-z_][A-Za-z0-9_]*=/.test(words[0]!)) {
    const w = words.shift()!;
    const eq = w.indexOf('=');
    env[w.slice(0, eq)] = w.slice(eq + 1);
  }
  const c: Case = { cmd: words[0]!, args: words.slice(1), stdout: '', stderr: '', status: 0 };
  if (Object.keys(env).length) c.env = env;
  if (inv.stdinFile !== undefined) c.stdin = fs.readFileSync(path.join(suiteDir, inv.stdinFile), 'utf8');
  for (const d of inv.directives.split(';').map((s) => s.trim()).filter(Boolean)) {
    const m = /^(\w+)\s*(?::\s*(.*))?$/.exec(d);
    if (!m) continue;
    const list = (m[2] ?? '').split(/[\s,]+/).filter(Boolean);
    if (m[1] === 'sort') c.sort = list;
    else if (m[1] === 'files') c.files = Object.fromEntries(list.map((f) => [f, null]));
    else if (m[1] === 'note') c.note = m[2];
    else if (m[1] === 'project') c.project = true;
  }
  return c;
}

function sortLines(text: string): string {
  return text.split('\n').sort().join('\n');
}

/** Run a case RUNS times against real Postfix and fill in its outputs. */
export async function recordCase(skel: Case, suiteDir: string): Promise<Case> {
  // All runs go side by side: a Postfix fatal error sleeps a second before exiting.
  // The stored outputs come from a run with Postfix's hash seed fixed, so that
  // re-recording gives the same bytes; the randomized runs find hash order.
  const runs: CaseResult[] = await Promise.all([
    runCaseAsync(skel, { binary: realBinary, suiteDir, captureAll: true, env: { NORANDOMIZE: '1' } }),
    ...Array.from({ length: RUNS }, () => runCaseAsync(skel, { binary: realBinary, suiteDir, captureAll: true })),
  ]);
  const first = runs[0]!;
  const sort = new Set(skel.sort ?? []);
  const label = `${path.basename(suiteDir)}: ${skel.cmd} ${skel.args.join(' ')}`;
  const check = (key: string, get: (r: CaseResult) => string | null) => {
    const values = runs.map(get);
    if (values.every((v) => v === values[0])) return;
    const sorted = values.map((v) => (v === null ? null : sortLines(v)));
    if (!sorted.every((v) => v === sorted[0])) throw new Error(`${label}: ${key} is not reproducible`);
    sort.add(key);
  };
  if (!runs.every((r) => r.status === first.status)) throw new Error(`${label}: status is not reproducible`);
  check('stdout', (r) => r.stdout);
  check('stderr', (r) => r.stderr);
  // Files to keep: those listed, plus those the run created, changed or removed.
  const inputs = new Set(listFiles(suiteDir).filter((f) => !['cases.json', 'commands.txt'].includes(f)));
  const names = new Set(Object.keys(skel.files ?? {}));
  const after = first.files ?? {};
  for (const f of new Set([...inputs, ...Object.keys(after)])) {
    const before = inputs.has(f) ? fs.readFileSync(path.join(suiteDir, f), 'utf8') : null;
    if ((after[f] ?? null) !== before) names.add(f);
  }
  const out = { cmd: skel.cmd, args: skel.args } as Case;
  if (skel.env) out.env = skel.env;
  if (skel.stdin !== undefined) out.stdin = skel.stdin;
  out.stdout = first.stdout;
  out.stderr = first.stderr;
  out.status = first.status;
  if (names.size) {
    out.files = {};
    for (const f of [...names].sort()) {
      out.files[f] = after[f] ?? null;
      check(f, (r) => r.files?.[f] ?? null);
    }
  }
  if (sort.size) out.sort = [...sort].sort();
  if (skel.note) out.note = skel.note;
  if (skel.project) out.project = true;
  return out;
}

const sameInvocation = (a: Case, b: Case) =>
  a.cmd === b.cmd && JSON.stringify(a.args) === JSON.stringify(b.args) &&
  JSON.stringify(a.env ?? {}) === JSON.stringify(b.env ?? {}) && (a.stdin ?? '') === (b.stdin ?? '');

/** Record a whole suite; hand-set outputs of existing "project" cases are kept. */
export async function recordSuite(suiteDir: string): Promise<Case[]> {
  const lines = fs.readFileSync(path.join(suiteDir, 'commands.txt'), 'utf8').split('\n');
  const casesPath = path.join(suiteDir, 'cases.json');
  const previous: Case[] = fs.existsSync(casesPath) ? JSON.parse(fs.readFileSync(casesPath, 'utf8')) : [];
  const cases: Case[] = [];
  for (const line of lines) {
    if (/^\s*(#|$)/.test(line)) continue;
    const inv = parseLine(line);
    if (!inv) continue;
    const skel = toCase(inv, suiteDir);
    const kept = skel.project ? previous.find((p) => p.project && sameInvocation(p, skel)) : undefined;
    cases.push(kept ?? (await recordCase(skel, suiteDir)));
  }
  fs.writeFileSync(casesPath, JSON.stringify(cases, null, 2) + '\n');
  return cases;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const dirs = process.argv.slice(2);
  if (dirs.length === 0) {
    process.stderr.write('usage: node dist/test/lib/record.js SUITE_DIR...\n');
    process.exit(2);
  }
  let failed = false;
  for (const dir of dirs) {
    try {
      const n = (await recordSuite(dir)).length;
      process.stdout.write(`${dir}: ${n} cases\n`);
    } catch (e) {
      failed = true;
      process.stderr.write(`${dir}: ${(e as Error).message}\n`);
    }
  }
  process.exit(failed ? 1 : 0);
}
