// Records fixtures/sendmail-bs/cases.json from real Postfix 3.7.11: each
// case of test/cli/sendmail-bs-cases.ts runs /usr/sbin/sendmail with its
// arguments (the SMTP dialogue on standard input) against a private
// configuration. A private master runs only postlogd, so smtpd's and
// postdrop's lines reach maillog_file; no pickup runs, so an accepted
// message stays in maildrop/ for postcat. Kept per case: exit status,
// stdout (the server's side of the dialogue), stderr, the maillog lines and
// postcat's view of every maildrop file (in the order the log names
// their queue IDs), normalized
// (test/cli/sendmail-bs-normalize.ts).
//   node dist/tools/record-sendmail-bs.js      (as root; Postfix installed)
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BASE_MAIN, BS_CASES } from '../test/cli/sendmail-bs-cases.js';
import {
  type BsRecorded, normalizeLogLine, sessionLogLines, normalizeMaildrop, normalizeUser, queueIdLabels, relabel,
} from '../test/cli/sendmail-bs-normalize.js';

const root = fileURLToPath(new URL('../../', import.meta.url));

const MASTER_CF = 'postlog   unix-dgram n  -       n       -       1       postlogd\n';

function run(cmd: string, args: string[], input: Buffer, env: NodeJS.ProcessEnv) {
  const r = spawnSync(cmd, args, { input, env, cwd: '/' });
  return { status: r.status ?? -1, stdout: r.stdout.toString('latin1'), stderr: r.stderr.toString('latin1') };
}

function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function main(): void {
  if (process.getuid?.() !== 0) throw new Error('run as root');
  const dir = fs.mkdtempSync('/tmp/bsrec-');
  const conf = path.join(dir, 'conf');
  fs.chmodSync(dir, 0o755);
  for (const d of ['conf', 'spool', 'data']) fs.mkdirSync(path.join(dir, d));
  spawnSync('/bin/chown', ['postfix', path.join(dir, 'data')]);
  fs.writeFileSync(path.join(conf, 'main.cf'), BASE_MAIN(dir));
  fs.writeFileSync(path.join(conf, 'master.cf'), MASTER_CF);
  const env = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', TZ: 'UTC', MAIL_CONFIG: conf };
  const setup = run('/usr/sbin/postfix', ['-c', conf, 'post-install', 'create-missing'], Buffer.alloc(0), env);
  if (setup.status !== 0) throw new Error(`post-install: ${setup.stderr}`);
  const start = run('/usr/sbin/postfix', ['-c', conf, 'start'], Buffer.alloc(0), env);
  if (start.status !== 0) throw new Error(`postfix start: ${start.stderr}`);
  const maildrop = path.join(dir, 'spool', 'maildrop');
  const logFile = path.join(dir, 'maillog');
  const results: BsRecorded[] = [];
  try {
    for (let i = 0; i < 100 && !fs.existsSync(logFile); i++) sleep(50);
    for (const c of BS_CASES) {
      fs.writeFileSync(path.join(conf, 'main.cf'), BASE_MAIN(dir) + (c.main ?? '').replace(/\bUSER\b/g, 'root'));
      const before = fs.readFileSync(logFile, 'latin1').length;
      const r = run('/usr/sbin/sendmail', c.args, Buffer.from(c.input, 'latin1'), env);
      // postlogd writes asynchronously: wait for the session's last line.
      let log = '';
      for (let i = 0; i < 40; i++) {
        sleep(50);
        log = fs.readFileSync(logFile, 'latin1').slice(before);
        if (/disconnect from|fatal:/.test(log) && i >= 4) break;
      }
      const files = fs.readdirSync(maildrop).sort();
      const labels = queueIdLabels(log, r.stdout, files);
      const fix = (t: string) => normalizeUser(relabel(t, labels), 'root', 0);
      const views = labels
        .filter(([id]) => files.includes(id))
        .map(([id]) => normalizeMaildrop(run('/usr/sbin/postcat', ['-c', conf, '-q', id], Buffer.alloc(0), env).stdout, labels));
      results.push({
        name: c.name,
        status: r.status,
        stdout: fix(r.stdout),
        stderr: fix(r.stderr),
        log: sessionLogLines(log).map((l) => normalizeUser(normalizeLogLine(l, labels), 'root', 0)),
        maildrop: views,
      });
      for (const f of files) fs.rmSync(path.join(maildrop, f));
    }
  } finally {
    run('/usr/sbin/postfix', ['-c', conf, 'stop'], Buffer.alloc(0), env);
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const out = path.join(root, 'fixtures', 'sendmail-bs');
  fs.mkdirSync(out, { recursive: true });
  fs.writeFileSync(path.join(out, 'cases.json'), JSON.stringify(results, null, 1) + '\n', 'latin1');
  console.log(`recorded ${results.length} cases`);
}

main();
