// Records the submission fixtures (fixtures/submission/cases.json) from real
// Postfix 3.7.11. For each case of test/pickup/submission-cases.ts it runs
// /usr/sbin/sendmail against a private configuration (queue_directory in a
// scratch directory under /tmp, no master running, so the file stays in
// maildrop/) and keeps the exit status, stdout, stderr and postcat's view of
// the maildrop file. Then it starts a private master with only pickup,
// cleanup and trivial-rewrite (no qmgr: files stay in incoming/), puts each
// recorded maildrop file back, wakes pickup, and keeps postcat's view of the
// queue file cleanup wrote, with pickup's and cleanup's log lines.
// Queue IDs and clock-dependent fields are normalized (submission-normalize.ts).
//   node dist/tools/record-submission.js      (as root; Postfix installed)
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { POSTDROP_CASES, SUBMISSION_CASES, SUBMISSION_MAIN, encodeRecords } from '../test/pickup/submission-cases.js';
import { normalizePostcat } from '../test/pickup/submission-normalize.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const SENDMAIL = '/usr/sbin/sendmail';

export interface RecordedCase {
  name: string;
  status: number;
  stdout: string;
  stderr: string;
  /** postcat -q of the maildrop file, normalized; null when none was written. */
  maildrop: string | null;
  /** The maildrop file's permission bits, octal. */
  mode?: string;
  /** postcat -q of the queue file after pickup and cleanup, normalized; null when there is none. */
  queue?: string | null;
  /** pickup's and cleanup's log lines for it, without the syslog prefix, normalized. */
  log?: string[];
}

const MASTER_CF = `pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
rewrite   unix  -       -       n       -       -       trivial-rewrite
postlog   unix-dgram n  -       n       -       1       postlogd
`;

function run(cmd: string, args: string[], opts: { input?: Buffer; env?: NodeJS.ProcessEnv } = {}) {
  const r = spawnSync(cmd, args, { input: opts.input ?? Buffer.alloc(0), env: opts.env ?? process.env, cwd: '/' });
  return { status: r.status ?? -1, stdout: r.stdout.toString('latin1'), stderr: r.stderr.toString('latin1') };
}

function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function main(): void {
  if (process.getuid?.() !== 0) throw new Error('run as root');
  const dir = fs.mkdtempSync('/tmp/subrec-');
  const conf = path.join(dir, 'conf');
  const spool = path.join(dir, 'spool');
  fs.chmodSync(dir, 0o755);
  fs.mkdirSync(conf);
  fs.mkdirSync(spool);
  fs.mkdirSync(path.join(dir, 'data'));
  run('/bin/chown', ['postfix', path.join(dir, 'data')]);
  fs.writeFileSync(path.join(conf, 'main.cf'), SUBMISSION_MAIN(dir));
  fs.writeFileSync(path.join(conf, 'master.cf'), MASTER_CF);
  const setup = run('/usr/sbin/postfix', ['-c', conf, 'post-install', 'create-missing']);
  if (setup.status !== 0) throw new Error(`post-install: ${setup.stderr}`);
  const env = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', TZ: 'UTC', MAIL_CONFIG: conf };
  const maildrop = path.join(spool, 'maildrop');
  const pickupFifo = path.join(spool, 'public', 'pickup');
  const results: RecordedCase[] = [];
  const postdropResults: RecordedCase[] = [];
  const files = new Map<string, { id: string; data: Buffer }>();
  try {
    for (const c of SUBMISSION_CASES) {
      for (const f of fs.readdirSync(maildrop)) fs.rmSync(path.join(maildrop, f));
      fs.rmSync(pickupFifo, { force: true });
      if (!c.noPickupEndpoint) run('/usr/bin/mkfifo', ['-m', '0622', pickupFifo]);
      const r = run(SENDMAIL, c.args, { input: Buffer.from(c.input, 'latin1'), env });
      const rec: RecordedCase = { name: c.name, status: r.status, stdout: r.stdout, stderr: r.stderr, maildrop: null };
      const ids = fs.readdirSync(maildrop);
      if (ids.length > 1) throw new Error(`${c.name}: ${ids.length} maildrop files`);
      if (ids[0]) {
        const id = ids[0];
        const st = fs.statSync(path.join(maildrop, id));
        rec.mode = (st.mode & 0o7777).toString(8);
        rec.maildrop = normalizePostcat(run('/usr/sbin/postcat', ['-c', conf, '-q', id], { env }).stdout, [[id, 'MAILDROP_ID']]);
        files.set(c.name, { id, data: fs.readFileSync(path.join(maildrop, id)) });
      }
      results.push(rec);
    }
    for (const c of POSTDROP_CASES) {
      for (const f of fs.readdirSync(maildrop)) fs.rmSync(path.join(maildrop, f));
      const r = run('/usr/sbin/postdrop', ['-r'], { input: Buffer.from(encodeRecords(c), 'latin1'), env });
      const ids = fs.readdirSync(maildrop);
      const id = ids[0] ?? '';
      const label = (t: string) => (id ? t.split(id).join('MAILDROP_ID') : t);
      const rec: RecordedCase = { name: `postdrop-${c.name}`, status: r.status, stdout: label(r.stdout), stderr: label(r.stderr), maildrop: null };
      if (id) {
        rec.mode = (fs.statSync(path.join(maildrop, id)).mode & 0o7777).toString(8);
        rec.maildrop = normalizePostcat(run('/usr/sbin/postcat', ['-c', conf, '-q', id], { env }).stdout, [[id, 'MAILDROP_ID']]);
      }
      postdropResults.push(rec);
    }
    fs.rmSync(pickupFifo, { force: true });
    for (const f of fs.readdirSync(maildrop)) fs.rmSync(path.join(maildrop, f));
    recordPickup(conf, spool, dir, env, results, files);
  } finally {
    run('/usr/sbin/postfix', ['-c', conf, 'stop'], { env });
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const out = path.join(root, 'fixtures', 'submission');
  fs.mkdirSync(out, { recursive: true });
  fs.writeFileSync(path.join(out, 'cases.json'), JSON.stringify(results, null, 1) + '\n', 'latin1');
  fs.writeFileSync(path.join(out, 'postdrop.json'), JSON.stringify(postdropResults, null, 1) + '\n', 'latin1');
  console.log(`recorded ${results.length} cases`);
}

function incomingFiles(spool: string): string[] {
  return fs.readdirSync(path.join(spool, 'incoming'));
}

function recordPickup(
  conf: string, spool: string, dir: string, env: NodeJS.ProcessEnv,
  results: RecordedCase[], files: Map<string, { id: string; data: Buffer }>,
): void {
  const start = run('/usr/sbin/postfix', ['-c', conf, 'start'], { env });
  if (start.status !== 0) throw new Error(`postfix start: ${start.stderr}${fs.existsSync(path.join(dir, 'maillog')) ? fs.readFileSync(path.join(dir, 'maillog'), 'latin1') : ''}`);
  const logFile = path.join(dir, 'maillog');
  for (let i = 0; i < 100 && !fs.existsSync(path.join(spool, 'public', 'pickup')); i++) sleep(50);
  for (const rec of results) {
    const f = files.get(rec.name);
    if (!f) continue;
    const logBefore = fs.existsSync(logFile) ? fs.readFileSync(logFile, 'latin1').length : 0;
    const target = path.join(spool, 'maildrop', f.id);
    fs.writeFileSync(`${target}.tmp`, f.data, { mode: 0o644 });
    fs.chmodSync(`${target}.tmp`, 0o744);
    fs.renameSync(`${target}.tmp`, target);
    run('/usr/sbin/postkick', ['-c', conf, 'public', 'pickup', 'W'], { env });
    let qid: string | undefined;
    for (let i = 0; i < 200; i++) {
      const ready = incomingFiles(spool).find((id) => (fs.statSync(path.join(spool, 'incoming', id)).mode & 0o700) === 0o700);
      if (ready && !fs.existsSync(target)) {
        qid = ready;
        break;
      }
      if (!fs.existsSync(target) && i > 20) break;
      sleep(50);
    }
    sleep(200);
    const labels: Array<[string, string]> = [[f.id, 'MAILDROP_ID']];
    if (qid) labels.unshift([qid, 'QUEUE_ID']);
    rec.queue = qid ? normalizePostcat(run('/usr/sbin/postcat', ['-c', conf, '-q', qid], { env }).stdout, labels) : null;
    const log = fs.existsSync(logFile) ? fs.readFileSync(logFile, 'latin1').slice(logBefore) : '';
    rec.log = log
      .split('\n')
      .filter((l) => /postfix\/(pickup|cleanup)\[\d+\]: /.test(l) && !l.includes('public/qmgr'))
      .map((l) => normalizePostcat(l.replace(/^.*?postfix\/(pickup|cleanup)\[\d+\]: /, 'postfix/$1: '), labels));
    if (qid) fs.rmSync(path.join(spool, 'incoming', qid));
    fs.rmSync(target, { force: true });
  }
}

main();
