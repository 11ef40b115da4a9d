// Replays fixtures/sendmail-bs/cases.json (recorded from Postfix 3.7.11 by
// tools/record-sendmail-bs.ts): `bin/sendmail -bs` sessions with the SMTP
// dialogue on standard input, each against a private configuration and a
// scratch spool without pickup. Compared byte for byte after normalization
// (test/cli/sendmail-bs-normalize.ts): exit status, the server's replies on
// stdout, stderr, the maillog lines, and postcat's view of every maildrop
// file left behind. A session needs a process of its own (it reads its
// standard input as a stream), so the cases run as processes, a few at a
// time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { repoRoot } from '../lib/cases.js';
import { tempDir } from '../lib/tmp.js';
import { getpwuid } from '../../src/pickup/passwd.js';
import { runCommand } from '../pickup/submission-run.js';
import { BASE_MAIN, BS_CASES, type BsCase } from './sendmail-bs-cases.js';
import {
  type BsRecorded, normalizeLogLine, normalizeMaildrop, normalizeUser, queueIdLabels, relabel, sessionLogLines,
} from './sendmail-bs-normalize.js';

const recorded = new Map(
  (JSON.parse(fs.readFileSync(path.join(repoRoot(), 'fixtures', 'sendmail-bs', 'cases.json'), 'latin1')) as BsRecorded[]).map((c) => [c.name, c]),
);
const uid = process.getuid?.() ?? 0;
const me = getpwuid(uid)?.name ?? 'unknown';
const QUEUES = ['maildrop', 'incoming', 'active', 'deferred', 'hold', 'defer', 'bounce', 'trace', 'public', 'private'];

interface Run {
  dir: string;
  conf: string;
  status: number;
  stdout: string;
  stderr: string;
}

function spawnBs(c: BsCase): Promise<Run> {
  const dir = tempDir('pfbs-');
  const conf = path.join(dir, 'conf');
  fs.mkdirSync(conf);
  fs.mkdirSync(path.join(dir, 'data'));
  for (const q of QUEUES) fs.mkdirSync(path.join(dir, 'spool', q), { recursive: true });
  fs.chmodSync(path.join(dir, 'spool', 'maildrop'), 0o1733);
  fs.writeFileSync(path.join(conf, 'main.cf'), BASE_MAIN(dir) + (c.main ?? '').replace(/\bUSER\b/g, me));
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', TZ: 'UTC', MAIL_CONFIG: conf };
  const child = spawn(process.execPath, [path.join(repoRoot(), 'bin', 'sendmail'), ...c.args], { env, cwd: '/' });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (b: Buffer) => out.push(b));
  child.stderr.on('data', (b: Buffer) => err.push(b));
  child.stdin.on('error', () => undefined);
  child.stdin.end(Buffer.from(c.input, 'latin1'));
  return new Promise((resolve) => {
    child.on('close', (code) => resolve({
      dir, conf, status: code ?? -1, stdout: Buffer.concat(out).toString('latin1'), stderr: Buffer.concat(err).toString('latin1'),
    }));
  });
}

/** Runs every case, at most `width` at once. */
async function runAll(cases: BsCase[], width: number): Promise<Map<string, Run>> {
  const results = new Map<string, Run>();
  const queue = [...cases];
  const worker = async () => {
    for (let c = queue.shift(); c; c = queue.shift()) results.set(c.name, await spawnBs(c));
  };
  await Promise.all(Array.from({ length: width }, worker));
  return results;
}

test('sendmail -bs sessions replay as Postfix 3.7.11 ran them', async (t) => {
  const cases = BS_CASES.filter((c) => recorded.has(c.name));
  assert.ok(cases.length >= 8, 'the recorded sessions are there');
  const runs = await runAll(cases, 4);
  for (const c of cases) {
    const want = recorded.get(c.name)!;
    const got = runs.get(c.name)!;
    await t.test(c.name, async () => {
      const logFile = path.join(got.dir, 'maillog');
      const logText = fs.existsSync(logFile) ? fs.readFileSync(logFile, 'latin1') : '';
      const maildrop = path.join(got.dir, 'spool', 'maildrop');
      const files = fs.readdirSync(maildrop).sort();
      const labels = queueIdLabels(logText, got.stdout, files);
      const fix = (s: string) => normalizeUser(relabel(s, labels), me, uid);
      assert.equal(fix(got.stdout), want.stdout, 'stdout');
      assert.equal(fix(got.stderr), want.stderr, 'stderr');
      assert.equal(got.status, want.status, 'exit status');
      assert.deepEqual(sessionLogLines(logText).map((l) => normalizeUser(normalizeLogLine(l, labels), me, uid)), want.log.filter((l) => !l.startsWith('postfix/sendmail: ')), 'maillog (sendmail\'s own fatal lines are not logged yet)');
      const views: string[] = [];
      for (const [id] of labels.filter(([id]) => files.includes(id))) {
        const shown = await runCommand('postcat', ['-q', id], '', { PATH: process.env.PATH ?? '/usr/bin:/bin', TZ: 'UTC', MAIL_CONFIG: got.conf });
        views.push(normalizeMaildrop(shown.stdout, labels));
      }
      assert.deepEqual(views, want.maildrop, 'maildrop files');
    });
  }
});

test('sendmail -bs -v is refused: smtpd has no verbose logging here', async () => {
  const r = await spawnBs({ name: 'verbose', args: ['-bs', '-v'], input: 'QUIT\r\n' });
  assert.equal(r.status, 75);
  assert.equal(r.stdout, '');
  assert.equal(r.stderr, 'sendmail: fatal: verbose logging (-v) is not available with stand-alone mode (-bs) in this Postfix replacement\n');
  assert.deepEqual(fs.readdirSync(path.join(r.dir, 'spool', 'maildrop')), []);
});
