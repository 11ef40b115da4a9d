// Runs this project's sendmail on one recorded submission case, the way
// tools/record-submission.ts ran Postfix's: a private configuration with
// the oracle's settings, a scratch queue directory, public/pickup present
// as a FIFO that nobody reads (unless the case removes it). In-process
// when the harness can, else as a real process.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { repoRoot } from '../lib/cases.js';
import { runInProcess } from '../lib/inproc.js';
import { tempDir } from '../lib/tmp.js';
import type { SubmissionCase } from './submission-cases.js';

export interface RecordedCase {
  name: string;
  status: number;
  stdout: string;
  stderr: string;
  maildrop: string | null;
  mode?: string;
  queue?: string | null;
  log?: string[];
}

export function loadRecorded(): Map<string, RecordedCase> {
  const file = path.join(repoRoot(), 'fixtures', 'submission', 'cases.json');
  const list = JSON.parse(fs.readFileSync(file, 'latin1')) as RecordedCase[];
  return new Map(list.map((c) => [c.name, c]));
}

export interface Spool {
  dir: string;
  conf: string;
  queueDir: string;
}

/** A scratch installation: conf/main.cf and the queue directories sendmail and pickup use. */
export function makeSpool(extraMain = ''): Spool {
  const dir = tempDir('pfsubmit-');
  const conf = path.join(dir, 'conf');
  const queueDir = path.join(dir, 'spool');
  fs.mkdirSync(conf);
  for (const q of ['maildrop', 'incoming', 'public', 'active', 'deferred', 'hold', 'defer', 'bounce', 'trace']) fs.mkdirSync(path.join(queueDir, q), { recursive: true });
  fs.writeFileSync(
    path.join(conf, 'main.cf'),
    `queue_directory = ${queueDir}\nmyhostname = host.example.test\nmydomain = example.test\nmyorigin = $myhostname\ncompatibility_level = 3.6\n${extraMain}`,
  );
  return { dir, conf, queueDir };
}

export interface RunResult {
  status: number;
  stdout: string;
  stderr: string;
}

/** Runs bin/NAME with args and a byte-string input. */
export async function runCommand(name: string, args: string[], input: string, env: Record<string, string>): Promise<RunResult> {
  const root = repoRoot();
  const launcher = path.join(root, 'bin', name);
  const bundle = path.join(root, 'dist', 'bin', `${name}.cjs`);
  const ascii = !/[\x80-\xff]/.test(input);
  if (ascii) {
    const r = await runInProcess({ bundle, launcher, args, env, cwd: '/', input });
    if (!('needsProcess' in r)) return { status: r.status, stdout: r.stdout.toString('latin1'), stderr: r.stderr.toString('latin1') };
  }
  const r = spawnSync(process.execPath, [launcher, ...args], { input: Buffer.from(input, 'latin1'), env, cwd: '/' });
  return { status: r.status ?? -1, stdout: r.stdout.toString('latin1'), stderr: r.stderr.toString('latin1') };
}

export function submissionEnv(spool: Spool): Record<string, string> {
  return { PATH: process.env.PATH ?? '/usr/bin:/bin', TZ: 'UTC', MAIL_CONFIG: spool.conf };
}

/** Runs the case's sendmail command into a fresh maildrop; returns the result and the maildrop file IDs. */
export async function runSubmission(c: SubmissionCase, spool: Spool): Promise<RunResult & { ids: string[] }> {
  const maildrop = path.join(spool.queueDir, 'maildrop');
  for (const f of fs.readdirSync(maildrop)) fs.rmSync(path.join(maildrop, f));
  const fifo = path.join(spool.queueDir, 'public', 'pickup');
  fs.rmSync(fifo, { force: true });
  if (!c.noPickupEndpoint) spawnSync('mkfifo', ['-m', '0622', fifo]);
  const r = await runCommand('sendmail', c.args, c.input, submissionEnv(spool));
  return { ...r, ids: fs.readdirSync(maildrop) };
}
