// Recorder for the delivery fixtures: runs the messages of fixtures/delivery/<NN-name>/
// messages.json through real Postfix 3.7.11 (local(8), virtual(8), bounce(8), ...) and
// writes what came out -- delivered files with their owners and modes, notices,
// maillog lines -- into expected/, normalized by the rules of fixtures/delivery/README.md.
//   node dist/tools/record-delivery.js [--check] [--keep] [--ours] [FIXTURE_DIR...]
// --check records afresh and compares with expected/ (writes nothing);
// --keep leaves the temporary root behind (for debugging; users are still removed);
// --ours runs this project's bin/postfix and commands instead (use with --check).
// Started outside a private network namespace, the recorder re-runs itself under
// `unshare -n -m --pid` (root only), as tools/record-smtpd.ts does.

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { repoRoot } from '../test/lib/cases.js';
import { type Daemon, type DaemonKind, programPath, startDaemon } from '../test/lib/daemon.js';
import { execInNamespaceSync, namespaceReady, whyNoNamespace } from '../test/lib/netns.js';

// ---------------------------------------------------------------------------
// Fixture inputs

/** A throw-away Unix user (users.json). Its home is @ROOT@/home/NAME. */
export interface UserSpec {
  name: string;
}

/** One message (messages.json). */
export interface MessageSpec {
  name: string;
  note?: string;
  /**
   * 'smtp' (default): to 127.0.0.1:PORT of master.cf; 'sendmail': /usr/sbin/sendmail -C CONF;
   * 'shell': `command` run by /bin/sh as `user` with the text on stdin, HOME set to the user's
   * home, $SENDMAIL naming the implementation's sendmail and MAIL_CONFIG the configuration.
   */
  via?: 'smtp' | 'sendmail' | 'shell';
  /** shell: the command line (for example "mailx -s Hi pfbob"). */
  command?: string;
  /** Envelope sender ('' is the null sender). */
  from: string;
  to: string[];
  /** The message, LF line ends (CRLF on the wire; dot-stuffed for SMTP). */
  text: string;
  /** SMTP: parameters after MAIL FROM:<...> / RCPT TO:<...> (e.g. "NOTIFY=SUCCESS"). */
  mailParams?: string;
  rcptParams?: string;
  /** sendmail: run as this user (one of users.json or an existing one); default root. */
  user?: string;
  /** sendmail: extra arguments before the recipients (default ["-i"]). */
  sendmailArgs?: string[];
  /**
   * 'done' (default): wait until the queue is empty and every queue ID in the log is removed.
   * 'deferred': wait until every queued message sits in deferred/ with a status=deferred
   * line for it; the recorder then deletes them (postsuper -d ALL, not recorded).
   */
  expect?: 'done' | 'deferred';
}

/** Extra directories under the root (setup.json): owner and group by name or number, mode in octal. */
export interface SetupSpec {
  dirs?: { path: string; owner?: string; group?: string; mode?: string }[];
}

export const MARKER = 'postfix-ts delivery fixture';
const FIXTURE_FILES = new Set(['messages.json', 'users.json', 'setup.json', 'README.md', 'expected', 'root']);
const WAIT_MS = 60000;
const POLL_MS = 100;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function runEnv(): NodeJS.ProcessEnv {
  return { PATH: '/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin', TZ: 'UTC', LANG: 'C' };
}

function sh(file: string, args: string[], opts: { input?: string; uid?: number; gid?: number } = {}): { status: number; out: string } {
  const r = spawnSync(file, args, {
    env: runEnv(),
    input: opts.input === undefined ? undefined : Buffer.from(opts.input, 'latin1'),
    uid: opts.uid,
    gid: opts.gid,
    timeout: 30000,
  });
  const out = `${r.stdout?.toString('latin1') ?? ''}${r.stderr?.toString('latin1') ?? ''}${r.error ? `[${r.error.message}]` : ''}`;
  return { status: r.status ?? -1, out };
}

function must(file: string, args: string[]): string {
  const r = sh(file, args);
  if (r.status !== 0) throw new Error(`${file} ${args.join(' ')}: exit ${r.status}: ${r.out}`);
  return r.out;
}

// ---------------------------------------------------------------------------
// Users

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  gecos: string;
  home: string;
}

function passwd(): PasswdEntry[] {
  return fs
    .readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .map((l) => l.split(':'))
    .filter((f) => f.length >= 7)
    .map((f) => ({ name: f[0]!, uid: Number(f[2]), gid: Number(f[3]), gecos: f[4]!, home: f[5]! }));
}

function groups(): Map<number, string> {
  const m = new Map<number, string>();
  for (const l of fs.readFileSync('/etc/group', 'utf8').split('\n')) {
    const f = l.split(':');
    if (f.length >= 3) m.set(Number(f[2]), f[0]!);
  }
  return m;
}

/**
 * Remove users left over by an earlier run that died (recognised by the GECOS
 * marker and a home that is gone: a run in progress, perhaps another test
 * file's, has its homes). With fixtures, only those fixtures' own users.
 */
export function removeStaleUsers(fixtures?: string[]): void {
  const names = fixtures && new Set(fixtures.flatMap((d) => readJson<UserSpec[]>(path.join(d, 'users.json'), []).map((u) => u.name)));
  for (const u of passwd()) if (u.gecos === MARKER && !fs.existsSync(u.home) && (!names || names.has(u.name))) sh('/usr/sbin/userdel', [u.name]);
}

function createUser(name: string, home: string): PasswdEntry {
  const old = passwd().find((u) => u.name === name);
  if (old) {
    if (old.gecos !== MARKER) throw new Error(`user ${name} exists and is not a fixture user`);
    sh('/usr/sbin/userdel', [name]);
  }
  must('/usr/sbin/useradd', ['-M', '-U', '-d', home, '-s', '/bin/sh', '-c', MARKER, name]);
  const u = passwd().find((e) => e.name === name);
  if (!u) throw new Error(`useradd ${name}: no passwd entry`);
  return u;
}

// ---------------------------------------------------------------------------
// Normalization (the rules of fixtures/delivery/README.md)

const DAY = '(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)';
const MON = '(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)';
const RFC_DATE = new RegExp(`${DAY}, {1,2}\\d{1,2} ${MON} \\d{4} \\d\\d:\\d\\d:\\d\\d [+-]\\d{4}(?: \\([A-Za-z]+\\))?`, 'g');
const CTIME = new RegExp(`${DAY} ${MON} [ \\d]\\d \\d\\d:\\d\\d:\\d\\d \\d{4}`, 'g');
const LOG_PREFIX = new RegExp(`^${MON} [ \\d]\\d \\d\\d:\\d\\d:\\d\\d \\S+ `);
/** A queue ID as Postfix logs it: "postfix/NAME[PID]: QID: ..." (short IDs; long ones too). */
const LOG_QID = /^postfix\/[\w/-]+\[\d+\]: ([0-9A-F]{6,}|[0-9B-DF-HJ-NP-TV-Zb-df-hj-np-tv-z]{10,}z[0-9B-DF-HJ-NP-TV-Zb-df-hj-np-tv-z]+): /;
const NOTICE_QID = /notification: ([0-9A-Za-z]{6,})$/;

export class Normalizer {
  private qids = new Map<string, string>();
  private paths: [string, string][];
  private uids: [number, string][];
  private gids: [number, string][];
  constructor(root: string, runDir: string, users: PasswdEntry[]) {
    this.paths = [
      [root, '@ROOT@'],
      [runDir, '@RUN@'],
    ];
    this.uids = users.map((u) => [u.uid, u.name]);
    this.gids = users.map((u) => [u.gid, u.name]);
  }
  /** Learn the queue IDs of raw maillog lines (numbered in order of first appearance). */
  learn(rawLines: string[]): void {
    for (const raw of rawLines) {
      const line = raw.replace(LOG_PREFIX, '');
      for (const m of [LOG_QID.exec(line), NOTICE_QID.exec(line)]) {
        if (m && !this.qids.has(m[1]!)) this.qids.set(m[1]!, `@QID${this.qids.size + 1}@`);
      }
    }
  }
  qidOf(line: string): string | null {
    const m = LOG_QID.exec(line.replace(LOG_PREFIX, ''));
    return m ? m[1]! : null;
  }
  /** Text of a delivered file, a notice or a log line. */
  text(s: string): string {
    for (const [p, ph] of this.paths) s = s.split(p).join(ph);
    if (this.qids.size) {
      const re = new RegExp(`\\b(${[...this.qids.keys()].join('|')})\\b`, 'g');
      s = s.replace(re, (q) => this.qids.get(q)!);
    }
    s = s.replace(RFC_DATE, '@DATE@').replace(CTIME, '@CTIME@');
    // Message-IDs made by cleanup: <YYYYMMDDhhmmss.QID@host>.
    s = s.replace(/\b\d{14}\.(?=@QID\d+@)/g, '@STAMP@.');
    // MIME boundaries of notices: QID.UNIXTIME/host.
    s = s.replace(/(@QID\d+@)\.\d{9,11}\//g, '$1.@TIME@/');
    // pickup's Received header names the submitting user's uid, which useradd picks.
    s = s.replace(/\(Postfix, from userid (\d+)\)/g, (all, n: string) => {
      const u = this.uids.find(([uid]) => uid === Number(n));
      return u ? `(Postfix, from userid @UID:${u[1]}@)` : all;
    });
    return s;
  }
  /** One maillog line: timestamp and host dropped, PIDs and delays replaced. */
  logLine(raw: string): string {
    let s = this.text(raw.replace(LOG_PREFIX, ''));
    s = s.replace(/^([\w/-]+)\[\d+\]:/, '$1[@PID@]:');
    s = s.replace(/\bdelay=\d+(?:\.\d+)?/g, 'delay=@D@');
    s = s.replace(/\bdelays=[\d.]+\/[\d.]+\/[\d.]+\/[\d.]+/g, 'delays=@D@/@D@/@D@/@D@');
    s = s.replace(/\buid=(\d+)/g, (all, n: string) => {
      const u = this.uids.find(([uid]) => uid === Number(n));
      return u ? `uid=@UID:${u[1]}@` : all;
    });
    // pipe(8)'s "for uid=N gid=N" names the fixture user's group, which useradd picks.
    s = s.replace(/\bgid=(\d+)/g, (all, n: string) => {
      const g = this.gids.find(([gid]) => gid === Number(n));
      return g ? `gid=@GID:${g[1]}@` : all;
    });
    return s;
  }
}

/** Log lines that are the recorder's machinery or a race, not delivery: dropped. */
function dropLine(line: string, qid: string | null): boolean {
  const prog = /^postfix\/([\w/-]+)\[/.exec(line)?.[1] ?? '';
  if (['master', 'postfix-script', 'postsuper', 'postqueue', 'postlog', 'showq'].includes(prog)) return true;
  // smtpd's connect/disconnect lines race with the delivery; only its "QID: client=" stays.
  if (prog === 'smtpd' && qid === null) return true;
  return false;
}

/** Delivery agents: their lines for one queue ID race with each other (one process per transport). */
const AGENTS = new Set(['local', 'virtual', 'discard', 'error', 'retry', 'pipe', 'smtp', 'lmtp', 'relay']);

/** Rank of a line within its queue ID's group: the order Postfix's causality gives. */
function rank(line: string): [number, string] {
  const prog = /^postfix\/([\w/-]+)\[/.exec(line)?.[1] ?? '';
  if (prog === 'smtpd' || prog === 'pickup') return [0, ''];
  if (prog === 'cleanup') return [1, ''];
  if (prog === 'qmgr') return / \(queue active\)$/.test(line) ? [2, ''] : [5, ''];
  if (prog === 'bounce') return [4, ''];
  return [3, AGENTS.has(prog) ? prog : `~${prog}`];
}

/** Stable sort of one queue ID's lines by rank (agents by name; one agent's own lines keep their order). */
function orderGroup(lines: string[]): string[] {
  return lines
    .map((l, i) => ({ l, i, r: rank(l) }))
    .sort((a, b) => a.r[0] - b.r[0] || (a.r[1] < b.r[1] ? -1 : a.r[1] > b.r[1] ? 1 : 0) || a.i - b.i)
    .map((x) => x.l);
}

/**
 * One message's maillog section in canonical order: the lines of each queue ID together,
 * queue IDs in order of first appearance, each group in log order; then the lines
 * without a queue ID, in log order.
 */
export function canonicalLog(raw: string[], norm: Normalizer): string[] {
  const groups = new Map<string, string[]>();
  const rest: string[] = [];
  for (const r of raw) {
    const bare = r.replace(LOG_PREFIX, '');
    const qid = norm.qidOf(r);
    if (dropLine(bare, qid)) continue;
    const line = norm.logLine(r);
    if (qid === null) rest.push(line);
    else {
      const g = groups.get(qid) ?? [];
      g.push(line);
      groups.set(qid, g);
    }
  }
  return [...[...groups.values()].flatMap(orderGroup), ...rest];
}

/** Maildir file names: TIME.VdevIinoMusec.HOST (tmp/, new/) and ...:2,FLAGS (cur/). */
const MAILDIR_NAME = /^\d+\.[^/]+$/;

// ---------------------------------------------------------------------------
// Sending

function dotStuff(text: string): string {
  const crlf = text.replace(/\r?\n/g, '\r\n');
  const body = crlf.endsWith('\r\n') || crlf === '' ? crlf : `${crlf}\r\n`;
  return body.replace(/^\./gm, '..') + '.\r\n';
}

class SmtpClient {
  private buf = '';
  private waiters: (() => void)[] = [];
  private closed = false;
  private constructor(private sock: net.Socket) {
    sock.setEncoding('latin1');
    sock.on('data', (d: string) => {
      this.buf += d;
      this.wake();
    });
    sock.on('close', () => {
      this.closed = true;
      this.wake();
    });
    sock.on('error', () => {});
  }
  private wake() {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
  static connect(port: number): Promise<SmtpClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ host: '127.0.0.1', port, localAddress: '127.0.0.1' });
      s.once('connect', () => resolve(new SmtpClient(s)));
      s.once('error', reject);
    });
  }
  async reply(): Promise<string> {
    const deadline = Date.now() + 30000;
    for (;;) {
      const m = /^(?:\d{3}-[^\n]*\n)*\d{3}(?: [^\n]*)?\r?\n/.exec(this.buf);
      if (m) {
        this.buf = this.buf.slice(m[0].length);
        return m[0];
      }
      if (this.closed) return `[closed]${this.buf}`;
      if (Date.now() > deadline) throw new Error('SMTP reply timeout');
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 1000);
      });
    }
  }
  async cmd(line: string): Promise<string> {
    this.sock.write(line, 'latin1');
    return this.reply();
  }
  close() {
    this.sock.destroy();
  }
}

/** Send one message by SMTP; returns the dialogue's replies (prefixed by the command). */
async function sendSmtp(port: number, m: MessageSpec): Promise<string[]> {
  const c = await SmtpClient.connect(port);
  const out: string[] = [];
  const step = async (line: string) => {
    const r = await c.cmd(line);
    out.push(`${line.startsWith('\r\n') || line.length > 200 ? '<data>' : line.trimEnd()} -> ${r.trimEnd()}`);
    return r;
  };
  try {
    out.push(`<greeting> -> ${(await c.reply()).trimEnd()}`);
    await step('EHLO client.example.com\r\n');
    const mp = m.mailParams ? ` ${m.mailParams}` : '';
    if (!(await step(`MAIL FROM:<${m.from}>${mp}\r\n`)).startsWith('250')) return out;
    let ok = 0;
    for (const to of m.to) if ((await step(`RCPT TO:<${to}>${m.rcptParams ? ` ${m.rcptParams}` : ''}\r\n`)).startsWith('25')) ok++;
    if (ok > 0 && (await step('DATA\r\n')).startsWith('354')) {
      const r = await c.cmd(dotStuff(m.text));
      out.push(`<message> -> ${r.trimEnd()}`);
    }
    await step('QUIT\r\n');
  } finally {
    c.close();
  }
  return out;
}

function sendSendmail(kind: DaemonKind, conf: string, m: MessageSpec): string[] {
  const u = m.user ? passwd().find((e) => e.name === m.user) : undefined;
  if (m.user && !u) throw new Error(`sendmail as ${m.user}: no such user`);
  const args = ['-C', conf, ...(m.sendmailArgs ?? ['-i']), '-f', m.from === '' ? '<>' : m.from, '--', ...m.to];
  const r = sh(programPath(kind, 'sendmail'), args, { input: m.text, uid: u?.uid, gid: u?.gid });
  return [`sendmail exit ${r.status}${r.out ? `: ${r.out.trimEnd()}` : ''}`];
}

function sendShell(kind: DaemonKind, conf: string, root: string, m: MessageSpec): string[] {
  const u = passwd().find((e) => e.name === m.user);
  if (!u || m.command === undefined) throw new Error(`shell message ${m.name}: needs "user" and "command"`);
  const home = path.join(root, 'home', u.name);
  const env = { ...runEnv(), HOME: home, USER: u.name, LOGNAME: u.name, SENDMAIL: programPath(kind, 'sendmail'), MAIL_CONFIG: conf };
  const r = spawnSync('/bin/sh', ['-c', m.command], { env, cwd: home, input: Buffer.from(m.text, 'latin1'), uid: u.uid, gid: u.gid, timeout: 30000 });
  const out = `${r.stdout?.toString('latin1') ?? ''}${r.stderr?.toString('latin1') ?? ''}${r.error ? `[${r.error.message}]` : ''}`;
  return [`shell exit ${r.status ?? -1}${out ? `: ${out.trimEnd()}` : ''}`];
}

// ---------------------------------------------------------------------------
// Waiting for the queue

interface QueueEntry {
  queue_name: string;
  queue_id: string;
}

/** The queued messages, read from the queue directories (the same for both implementations). */
function queue(daemon: Daemon): QueueEntry[] {
  const out: QueueEntry[] = [];
  const walk = (queueName: string, dir: string) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (e.isDirectory()) walk(queueName, path.join(dir, e.name));
      else if (/^[0-9A-Za-z]+$/.test(e.name)) out.push({ queue_name: queueName, queue_id: e.name });
    }
  };
  for (const q of ['maildrop', 'incoming', 'active', 'deferred', 'hold']) walk(q, path.join(daemon.dir, 'spool', q));
  return out;
}

function readLog(daemon: Daemon): string {
  try {
    return fs.readFileSync(path.join(daemon.dir, 'maillog'), 'latin1');
  } catch {
    return '';
  }
}

/** Complete lines of the maillog after byte offset `from`. */
function logLinesFrom(daemon: Daemon, from: number): { lines: string[]; end: number } {
  const all = readLog(daemon);
  const chunk = all.slice(from);
  const cut = chunk.lastIndexOf('\n') + 1;
  return { lines: chunk.slice(0, cut).split('\n').filter(Boolean), end: from + cut };
}

/**
 * Wait for the message (and the notices it causes) to be finished: the queue holds
 * nothing but what `expect` allows, and each queue ID seen in the log since `from`
 * has its last word logged ("removed", or "status=deferred" for a deferred message).
 */
async function waitFinished(
  daemon: Daemon,
  norm: Normalizer,
  from: number,
  expect: 'done' | 'deferred',
  accepted: string | boolean,
  label: string,
): Promise<{ lines: string[]; end: number }> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const q = queue(daemon);
    const got = logLinesFrom(daemon, from);
    norm.learn(got.lines);
    const seen = new Set<string>();
    const removed = new Set<string>();
    const deferred = new Set<string>();
    // IDs with a line from some program other than cleanup.
    const beyondCleanup = new Set<string>();
    for (const raw of got.lines) {
      const bare = raw.replace(LOG_PREFIX, '');
      const qid = norm.qidOf(raw);
      const notice = NOTICE_QID.exec(bare);
      if (notice) {
        seen.add(notice[1]!);
        beyondCleanup.add(notice[1]!);
      }
      if (!qid) continue;
      if (!/^postfix\/cleanup\[/.test(bare)) beyondCleanup.add(qid);
      if (/^postfix\/(?:smtpd|pickup|cleanup|qmgr)\[/.test(bare)) seen.add(qid);
      if (/: removed$/.test(bare)) removed.add(qid);
      if (/ status=(?:deferred|SOFTBOUNCE) /.test(bare)) deferred.add(qid);
    }
    const queued = new Set(q.map((e) => e.queue_id));
    // A notice the bounce service started and then dropped (no recipient
    // asked for it: NOTIFY=NEVER): cleanup logged its message-id and
    // nothing else will. Its parent was removed after the bounce service
    // answered, so once every ID that went further is settled and the
    // queue is empty, it is finished.
    const abandoned = (id: string) =>
      !beyondCleanup.has(id) && q.length === 0 &&
      [...seen].every((o) => o === id || !beyondCleanup.has(o) || removed.has(o));
    // The accepted message itself must have shown up in the log (postlogd may lag).
    const arrived = accepted === false || (accepted === true ? seen.size > 0 : seen.has(accepted));
    const settled =
      arrived &&
      q.every((e) => e.queue_name === 'deferred' && expect === 'deferred' && deferred.has(e.queue_id)) &&
      [...seen].every((id) => removed.has(id) || (queued.has(id) && deferred.has(id)) || abandoned(id));
    if (settled) return got;
    if (Date.now() > deadline) {
      throw new Error(`${label}: not finished after ${WAIT_MS / 1000}s; queue: ${JSON.stringify(q)}\n${got.lines.join('\n')}`);
    }
    await sleep(POLL_MS);
  }
}

async function waitEmpty(daemon: Daemon): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (queue(daemon).length) {
    if (Date.now() > deadline) throw new Error('queue not empty after postsuper -d ALL');
    await sleep(POLL_MS);
  }
}

// ---------------------------------------------------------------------------
// Files

interface Stat {
  type: 'file' | 'dir' | 'symlink';
  mode: number;
  uid: number;
  gid: number;
  data?: string;
}

function snapshot(root: string, skip: Set<string>, rel = ''): Map<string, Stat> {
  const out = new Map<string, Stat>();
  for (const e of fs.readdirSync(path.join(root, rel), { withFileTypes: true })) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (skip.has(r)) continue;
    const full = path.join(root, r);
    const st = fs.lstatSync(full);
    if (e.isDirectory()) {
      out.set(r, { type: 'dir', mode: st.mode & 0o7777, uid: st.uid, gid: st.gid });
      for (const [k, v] of snapshot(root, skip, r)) out.set(k, v);
    } else if (e.isSymbolicLink()) {
      out.set(r, { type: 'symlink', mode: 0, uid: st.uid, gid: st.gid, data: fs.readlinkSync(full) });
    } else if (e.isFile()) {
      out.set(r, { type: 'file', mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, data: fs.readFileSync(full, 'latin1') });
    }
  }
  return out;
}

function sameStat(a: Stat | undefined, b: Stat): boolean {
  return !!a && a.type === b.type && a.mode === b.mode && a.uid === b.uid && a.gid === b.gid && a.data === b.data;
}

/** Replace the Maildir unique names in a path by stable ones (see README). */
function maildirPaths(changed: Map<string, Stat>, norm: Normalizer): Map<string, string> {
  const rename = new Map<string, string>();
  const byDir = new Map<string, string[]>();
  for (const [rel, st] of changed) {
    const dir = path.posix.dirname(rel);
    if (st.type === 'file' && /(^|\/)(new|cur|tmp)$/.test(dir) && MAILDIR_NAME.test(path.posix.basename(rel))) {
      byDir.set(dir, [...(byDir.get(dir) ?? []), rel]);
    }
  }
  for (const [dir, files] of byDir) {
    const keyed = files.map((f) => {
      const text = norm.text(changed.get(f)!.data!);
      const qid = /@QID\d+@/.exec(text)?.[0] ?? '@NOQID@';
      const flags = /:2,[A-Za-z]*$/.exec(f)?.[0] ?? '';
      return { f, key: `${qid.padStart(12, '0')}\u0000${text}`, qid, flags };
    });
    keyed.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    const used = new Map<string, number>();
    for (const k of keyed) {
      const n = (used.get(k.qid) ?? 0) + 1;
      used.set(k.qid, n);
      rename.set(k.f, `${dir}/@MAILDIR-${k.qid.replace(/@/g, '')}${n > 1 ? `-${n}` : ''}@${k.flags}`);
    }
  }
  return rename;
}

// ---------------------------------------------------------------------------
// One fixture

export interface Recording {
  /** expected/ relative path -> bytes (latin1 string). */
  files: Map<string, string>;
  messages: number;
}

function substitute(text: string, root: string): string {
  return text.split('@ROOT@').join(root);
}

function copyTree(from: string, to: string, root: string): void {
  for (const e of fs.readdirSync(from, { withFileTypes: true })) {
    const src = path.join(from, e.name);
    const dst = path.join(to, e.name);
    if (e.isDirectory()) {
      fs.mkdirSync(dst, { recursive: true, mode: 0o755 });
      fs.chmodSync(dst, 0o755);
      copyTree(src, dst, root);
    } else if (e.isFile()) {
      fs.writeFileSync(dst, substitute(fs.readFileSync(src, 'latin1'), root), 'latin1');
      fs.chmodSync(dst, fs.statSync(src).mode & 0o111 ? 0o755 : 0o644);
    }
  }
}

function chownTree(p: string, uid: number, gid: number): void {
  fs.chownSync(p, uid, gid);
  if (fs.lstatSync(p).isDirectory()) for (const e of fs.readdirSync(p)) chownTree(path.join(p, e), uid, gid);
}

function readJson<T>(file: string, dflt: T): T {
  return fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, 'utf8')) as T) : dflt;
}

// sendmail and postdrop honour -C / MAIL_CONFIG for an unprivileged user only when the
// directory is listed in alternate_config_directories of the default main.cf. Inside the
// private mount namespace, /etc/postfix is replaced by a copy of itself (bind mount, gone
// with the namespace) whose main.cf names the run's configuration directory.
let etcCopy: string | null = null;

export function privateEtcPostfix(): () => void {
  const etc = '/etc/postfix';
  if (!fs.existsSync(etc)) return () => {};
  const copy = fs.mkdtempSync('/tmp/delivery-etc-');
  fs.cpSync(etc, copy, { recursive: true, verbatimSymlinks: true });
  fs.chmodSync(copy, 0o755);
  must('mount', ['--bind', copy, etc]);
  etcCopy = etc;
  return () => {
    sh('umount', [etc]);
    etcCopy = null;
    fs.rmSync(copy, { recursive: true, force: true });
  };
}

function allowConfigDir(dir: string): void {
  if (etcCopy) fs.writeFileSync(path.join(etcCopy, 'main.cf'), `alternate_config_directories = ${dir}\n`);
}

export async function recordFixture(fixtureDir: string, opts: { keep?: boolean; kind?: DaemonKind } = {}): Promise<Recording> {
  const kind = opts.kind ?? 'postfix';
  const name = path.basename(fixtureDir);
  const userSpecs = readJson<UserSpec[]>(path.join(fixtureDir, 'users.json'), []);
  const messages = readJson<MessageSpec[]>(path.join(fixtureDir, 'messages.json'), []);
  const root = fs.realpathSync(fs.mkdtempSync('/tmp/delivery-'));
  const users: PasswdEntry[] = [];
  let daemon: Daemon | undefined;
  try {
    fs.chmodSync(root, 0o755);
    // The fixture's root/ tree, @ROOT@ replaced by the temporary root.
    if (fs.existsSync(path.join(fixtureDir, 'root'))) copyTree(path.join(fixtureDir, 'root'), root, root);
    for (const d of ['home', 'out']) fs.mkdirSync(path.join(root, d), { recursive: true });
    fs.chmodSync(path.join(root, 'home'), 0o755);
    fs.chmodSync(path.join(root, 'out'), 0o1777);
    // mail_spool_directory as Debian has it: root:mail 2775.
    const spool = path.join(root, 'mail');
    fs.mkdirSync(spool);
    const mailGid = [...groups()].find(([, n]) => n === 'mail')?.[0] ?? 0;
    fs.chownSync(spool, 0, mailGid);
    fs.chmodSync(spool, 0o2775);
    for (const spec of userSpecs) {
      const home = path.join(root, 'home', spec.name);
      fs.mkdirSync(home, { recursive: true });
      const u = createUser(spec.name, home);
      users.push(u);
      fs.chmodSync(home, 0o755);
      chownTree(home, u.uid, u.gid);
    }
    const setup = readJson<SetupSpec>(path.join(fixtureDir, 'setup.json'), {});
    const idOf = (v: string | undefined, names: [number, string][]) =>
      v === undefined ? 0 : /^\d+$/.test(v) ? Number(v) : (names.find(([, n]) => n === v)?.[0] ?? -1);
    for (const d of setup.dirs ?? []) {
      const full = path.join(root, d.path);
      fs.mkdirSync(full, { recursive: true });
      const uid = idOf(d.owner, passwd().map((p) => [p.uid, p.name]));
      const gid = idOf(d.group, [...groups()]);
      if (uid < 0 || gid < 0) throw new Error(`${name}: setup.json: unknown owner or group for ${d.path}`);
      fs.chownSync(full, uid, gid);
      fs.chmodSync(full, parseInt(d.mode ?? '755', 8));
    }
    // The configuration handed to startDaemon (which appends the queue paths).
    const conf = path.join(root, 'conf-in');
    fs.mkdirSync(conf);
    for (const e of fs.readdirSync(fixtureDir, { withFileTypes: true })) {
      if (FIXTURE_FILES.has(e.name) || !e.isFile()) continue;
      const text = substitute(fs.readFileSync(path.join(fixtureDir, e.name), 'latin1'), root);
      fs.writeFileSync(path.join(conf, e.name), text, 'latin1');
    }
    fs.appendFileSync(
      path.join(conf, 'main.cf'),
      ['', '# Added by tools/record-delivery.ts for this run:', `mail_spool_directory = ${spool}`, ''].join('\n'),
    );
    const before = snapshot(root, new Set(['conf-in']));

    daemon = await startDaemon(kind, conf, { keep: opts.keep });
    allowConfigDir(daemon.configDir);
    const norm = new Normalizer(root, daemon.dir, users);
    const port = daemon.ports[0];
    if (port === undefined) throw new Error(`${name}: master.cf has no inet smtpd port`);
    let offset = logLinesFrom(daemon, 0).end;
    const sections: string[] = [];
    const transcripts: { name: string; note?: string; dialogue: string[] }[] = [];
    const rawSections: string[][] = [];
    for (const [i, m] of messages.entries()) {
      const label = `${name}: message ${i + 1} (${m.name})`;
      const dialogue =
        m.via === 'sendmail'
          ? sendSendmail(kind, daemon.configDir, m)
          : m.via === 'shell'
            ? sendShell(kind, daemon.configDir, root, m)
            : await sendSmtp(port, m);
      const expect = m.expect ?? 'done';
      const queuedAs = dialogue.map((d) => / queued as ([0-9A-Za-z]+)$/.exec(d)?.[1]).find(Boolean);
      const accepted = m.via === 'sendmail' || m.via === 'shell' ? /^\w+ exit 0/.test(dialogue[0] ?? '') : (queuedAs ?? false);
      const got = await waitFinished(daemon, norm, offset, expect, accepted, label);
      offset = got.end;
      rawSections.push(got.lines);
      transcripts.push({ name: m.name, ...(m.note ? { note: m.note } : {}), dialogue });
      if (expect === 'deferred') {
        must(programPath(kind, 'postsuper'), ['-c', daemon.configDir, '-d', 'ALL']);
        await waitEmpty(daemon);
      }
    }
    await daemon.stop();
    daemon = undefined;

    // Everything the run created or changed under the root.
    const after = snapshot(root, new Set(['conf-in']));
    const changed = new Map<string, Stat>();
    for (const [rel, st] of after) if (!sameStat(before.get(rel), st)) changed.set(rel, st);
    const renamed = maildirPaths(changed, norm);
    const ids = new Map<number, string>(passwd().map((p) => [p.uid, p.name]));
    const gids = groups();
    const files = new Map<string, string>();
    const manifest: Record<string, { type: string; owner: string; group: string; mode: string; link?: string }> = {};
    const entries = [...changed].map(([rel, st]) => ({ out: renamed.get(rel) ?? rel, st }));
    for (const { out, st } of entries.sort((a, b) => (a.out < b.out ? -1 : a.out > b.out ? 1 : 0))) {
      manifest[out] = {
        type: st.type,
        owner: ids.get(st.uid) ?? String(st.uid),
        group: gids.get(st.gid) ?? String(st.gid),
        mode: `0${st.mode.toString(8)}`,
        ...(st.type === 'symlink' ? { link: norm.text(st.data!) } : {}),
      };
      if (st.type === 'file') files.set(`files/${out}`, norm.text(st.data!));
    }
    // Removed input files (none expected) are listed too.
    for (const rel of before.keys()) if (!after.has(rel)) manifest[rel] = { type: 'removed', owner: '', group: '', mode: '' };
    for (const [i, lines] of rawSections.entries()) {
      sections.push(`=== message ${i + 1}: ${messages[i]!.name}`, ...canonicalLog(lines, norm));
    }
    files.set('maillog', `${sections.join('\n')}\n`);
    const msgs = transcripts.map((t) => ({ ...t, dialogue: t.dialogue.map((d) => norm.text(d)) }));
    files.set('manifest.json', `${JSON.stringify({ messages: msgs, files: manifest }, null, 2)}\n`);
    return { files, messages: messages.length };
  } finally {
    if (daemon) await daemon.stop().catch(() => {});
    for (const u of users) sh('/usr/sbin/userdel', [u.name]);
    if (!opts.keep) fs.rmSync(root, { recursive: true, force: true });
    else console.error(`${name}: kept ${root}`);
  }
}

// ---------------------------------------------------------------------------
// Storing and comparing

function listTree(dir: string, rel = ''): string[] {
  if (!fs.existsSync(path.join(dir, rel))) return [];
  const out: string[] = [];
  for (const e of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...listTree(dir, r));
    else out.push(r);
  }
  return out;
}

export function compare(dir: string, rec: Recording): string[] {
  const problems: string[] = [];
  const stored = new Set(listTree(dir));
  for (const [rel, text] of rec.files) {
    if (!stored.has(rel)) {
      problems.push(`new file ${rel}`);
      continue;
    }
    stored.delete(rel);
    const old = fs.readFileSync(path.join(dir, rel), 'latin1');
    if (old !== text) {
      const a = old.split('\n');
      const b = text.split('\n');
      const k = a.findIndex((l, j) => l !== b[j]);
      const at = k < 0 ? b.length : k;
      problems.push(`${rel}: line ${at + 1}: stored ${JSON.stringify(a[at] ?? '<eof>')}, now ${JSON.stringify(b[at] ?? '<eof>')}`);
    }
  }
  for (const rel of stored) problems.push(`file no longer produced: ${rel}`);
  return problems;
}

function write(dir: string, rec: Recording): void {
  fs.rmSync(dir, { recursive: true, force: true });
  for (const [rel, text] of rec.files) {
    const file = path.join(dir, rel);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, text, 'latin1');
  }
}

export function listDeliveryFixtures(base = path.join(repoRoot(), 'fixtures', 'delivery')): string[] {
  return fs
    .readdirSync(base, { withFileTypes: true })
    .filter((e) => e.isDirectory() && /^\d\d-/.test(e.name))
    .map((e) => path.join(base, e.name))
    .sort();
}

async function main(argv: string[]): Promise<number> {
  const flags = new Set(argv.filter((a) => a.startsWith('--')));
  const dirs = argv.filter((a) => !a.startsWith('--')).map((d) => path.resolve(d));
  const fixtures = dirs.length ? dirs : listDeliveryFixtures();
  removeStaleUsers(fixtures);
  const restoreEtc = privateEtcPostfix();
  try {
    return await recordAll(fixtures, flags);
  } finally {
    restoreEtc();
  }
}

export async function recordAll(fixtures: string[], flags: Set<string>): Promise<number> {
  let failed = false;
  let total = 0;
  for (const dir of fixtures) {
    const name = path.basename(dir);
    let rec: Recording;
    try {
      rec = await recordFixture(dir, { keep: flags.has('--keep'), kind: flags.has('--ours') ? 'ours' : 'postfix' });
    } catch (e) {
      console.error(`${name}: ${(e as Error).stack ?? e}`);
      failed = true;
      continue;
    }
    total += rec.messages;
    const expected = path.join(dir, 'expected');
    if (flags.has('--check')) {
      const problems = compare(expected, rec);
      if (problems.length) failed = true;
      console.log(`${name}: ${rec.messages} messages, ${problems.length ? 'DIFFERS from' : 'identical to'} the stored recording`);
      for (const p of problems) console.log(`  ${p}`);
    } else {
      write(expected, rec);
      console.log(`${name}: ${rec.messages} messages, ${rec.files.size} expected files written`);
    }
  }
  console.log(`total: ${fixtures.length} fixtures, ${total} messages`);
  return failed ? 1 : 0;
}

/**
 * Runs a recorder's main when its file is the script node was started
 * with: in a private namespace directly, else re-executed in one (root only).
 */
export async function runRecorder(name: string, moduleUrl: string, main: (args: string[]) => Promise<number>): Promise<void> {
  const file = fileURLToPath(moduleUrl);
  if (!process.argv[1] || file !== fs.realpathSync(process.argv[1])) return;
  const args = process.argv.slice(2);
  if (namespaceReady()) {
    process.exitCode = await main(args);
    return;
  }
  const why = whyNoNamespace();
  if (why) {
    console.error(`${name}: ${why}`);
    process.exitCode = 1;
  } else {
    process.exitCode = execInNamespaceSync([process.execPath, file, ...args]);
  }
}

await runRecorder('record-delivery', import.meta.url, main);
