// Recorder for the queue-tool fixtures (fixtures/queue-tools/): builds mail
// queues with real Postfix 3.7.11 -- a private instance under /tmp, never the
// system's -- and records what Postfix's own mailq, postqueue -j, postsuper
// and qshape print on them. Run as root (Postfix's queue tools need it):
//   node dist/tools/record-queue-tools.js [--keep]
// Output: fixtures/queue-tools/{short,long}.tar (the queue trees, with modes
// and mtimes, so they can be extracted anywhere) and cases.json.
// The big queue (1,000 messages) is not stored: test/cli/queue-tools-big
// generates it with this project's queue writer and compares with real
// mailq when Postfix is installed.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { repoRoot } from '../test/lib/cases.js';

const FIXTURES = path.join(repoRoot(), 'fixtures/queue-tools');
/** The clock of the recording (qshape's "now"): 47 minutes after the queue was built. */
let FIXED_NOW = Math.floor(Date.now() / 1000) + 47 * 60;
const KEEP = process.argv.includes('--keep');

/** A shell command as the recorders run them (C locale, UTC, Postfix's directories first). */
export function sh(script: string, input?: string): { status: number; stdout: string; stderr: string } {
  const r = spawnSync('/bin/sh', ['-c', script], {
    env: { PATH: '/usr/sbin:/usr/bin:/bin:/sbin', TZ: 'UTC', LANG: 'C' },
    input: input === undefined ? undefined : Buffer.from(input, 'latin1'),
    timeout: 120000,
    maxBuffer: 64 << 20,
  });
  return { status: r.status ?? -1, stdout: r.stdout?.toString('latin1') ?? '', stderr: r.stderr?.toString('latin1') ?? '' };
}

/** sh(), failing on a non-zero exit status. */
export function must(script: string, input?: string): string {
  const r = sh(script, input);
  if (r.status !== 0) throw new Error(`${script}: exit ${r.status}\n${r.stdout}${r.stderr}`);
  return r.stdout;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function mainCf(dir: string, long: boolean): string {
  return [
    `queue_directory = ${dir}/spool`,
    `data_directory = ${dir}/data`,
    `maillog_file = ${dir}/data/maillog`,
    'maillog_file_prefixes = /tmp',
    'inet_interfaces = loopback-only',
    'inet_protocols = ipv4',
    'myhostname = qt.example.test',
    'mydomain = example.test',
    'mydestination =',
    'compatibility_level = 3.6',
    `smtputf8_enable = ${long ? 'yes' : 'no'}`,
    'defer_transports = smtp, relay, virtual',
    `transport_maps = texthash:${dir}/conf/transport`,
    'queue_run_delay = 3600s',
    'minimal_backoff_time = 3600s',
    'maximal_backoff_time = 7200s',
    `enable_long_queue_ids = ${long ? 'yes' : 'no'}`,
    '',
  ].join('\n');
}

const TRANSPORT = [
  'long.example retry:4.4.2 Connection timed out while waiting for the remote server to answer the greeting of this client',
  'mid.example retry:4.3.0 Mail system temporarily overloaded',
  'gone.example error:5.1.1 No such user here',
  '',
].join('\n');

interface Submission {
  from: string;
  to: string[];
  body: string;
  args?: string[];
}

function submissions(): Submission[] {
  const big = Array.from({ length: 400 }, (_, i) => `line ${i} of a message that is larger than one kilobyte`).join('\n');
  return [
    { from: 'sender@example.org', to: ['alice@remote.example'], body: 'Subject: one\n\nhello\n' },
    {
      from: 'multi@example.org',
      to: ['bob@remote.example', 'carol@long.example', 'dave@mid.example', 'erin@long.example', 'frank@remote.example'],
      body: 'Subject: many\n\nto five\n',
    },
    { from: 'j\xfcrgen@example.org', to: ['zo\xeb@remote.example'], body: 'Subject: 8bit\n\ngr\xfc\xdfe\n', args: ['-B', '8BITMIME'] },
    { from: 'bounce-me@remote.example', to: ['nobody@gone.example'], body: 'Subject: bounces\n\nbye\n' },
    { from: '', to: ['postmaster@remote.example'], body: 'Subject: null sender\n\nfrom nobody\n' },
    { from: 'quoter@example.org', to: ['"john doe"@remote.example', 'x.y@long.example'], body: 'Subject: quoted\n\nq\n' },
    { from: 'big@example.org', to: ['huge@mid.example'], body: `Subject: big\n\n${big}\n` },
    { from: 'holdme@example.org', to: ['alice@remote.example'], body: 'Subject: hold\n\nheld\n' },
    { from: 'expire@example.org', to: ['gina@long.example'], body: 'Subject: expire\n\nexpired\n' },
    { from: 'active@example.org', to: ['henry@remote.example', 'ivy@mid.example'], body: 'Subject: active\n\nactive\n' },
    { from: 'incoming@example.org', to: ['jack@remote.example'], body: 'Subject: incoming\n\nincoming\n' },
  ];
}

interface QueueEntry {
  queue: string;
  id: string;
  path: string;
}

function listQueue(spool: string): QueueEntry[] {
  const out: QueueEntry[] = [];
  for (const queue of ['maildrop', 'incoming', 'active', 'deferred', 'hold']) {
    const walk = (rel: string) => {
      const full = path.join(spool, rel);
      if (!fs.existsSync(full)) return;
      for (const e of fs.readdirSync(full, { withFileTypes: true })) {
        if (e.isDirectory()) walk(path.join(rel, e.name));
        else out.push({ queue, id: e.name, path: path.join(rel, e.name) });
      }
    };
    walk(queue);
  }
  return out;
}

/** The sender of a queue file, from its S record (good enough for the fixture's own files). */
function senderOf(file: string): string {
  const data = fs.readFileSync(file);
  let off = 0;
  while (off < data.length) {
    const type = data[off++]!;
    let len = 0;
    let shift = 0;
    for (;;) {
      const b = data[off++]!;
      len |= (b & 0x7f) << shift;
      if (!(b & 0x80)) break;
      shift += 7;
    }
    const text = data.subarray(off, off + len).toString('latin1');
    off += len;
    if (type === 0x53) return text;
  }
  return '?';
}

async function buildQueue(long: boolean): Promise<string> {
  const dir = `/tmp/qtrec-${long ? 'long' : 'short'}`;
  sh(`postfix -c ${dir}/conf stop 2>/dev/null; rm -rf ${dir}`);
  must(`mkdir -p ${dir}/conf ${dir}/spool ${dir}/data && chown postfix ${dir}/data`);
  fs.writeFileSync(`${dir}/conf/main.cf`, mainCf(dir, long));
  fs.writeFileSync(`${dir}/conf/transport`, TRANSPORT);
  const master = fs
    .readFileSync('/etc/postfix/master.cf', 'utf8')
    .split('\n')
    .filter((l) => !/^smtp\s+inet\s/.test(l))
    .map((l) => l.replace(/^(\S+\s+(?:unix|fifo|inet|unix-dgram|pass)\s+\S+\s+\S+\s+)y(\s)/, '$1n$2'))
    .join('\n');
  fs.writeFileSync(`${dir}/conf/master.cf`, master);
  must(`postfix -c ${dir}/conf start`);
  const subs = submissions();
  for (const s of subs) {
    const args = ['-C', `${dir}/conf`, '-i', '-f', s.from, ...(s.args ?? []), ...s.to].map((a) => `'${a.replace(/'/g, `'\\''`)}'`);
    must(`/usr/sbin/sendmail ${args.join(' ')}`, s.body);
  }
  // Wait until the queue settles: nothing in maildrop/incoming/active, and
  // one message per submission (the bounced one is replaced by its notice).
  const deadline = Date.now() + 60000;
  for (;;) {
    const q = listQueue(`${dir}/spool`);
    const settled = q.length === subs.length && q.every((e) => e.queue === 'deferred');
    if (settled) break;
    if (Date.now() > deadline) throw new Error(`queue did not settle: ${JSON.stringify(q)}`);
    await sleep(200);
  }
  await sleep(1000);
  must(`postfix -c ${dir}/conf stop`);
  for (let i = 0; i < 100 && fs.existsSync(`${dir}/spool/pid/master.pid`) && sh(`postfix -c ${dir}/conf status`).status === 0; i++) await sleep(100);
  // Arrange the queues by hand: one message each in active, incoming and
  // hold, one force-expired, one in maildrop (written by sendmail with the
  // daemon down, as postdrop does).
  const spool = `${dir}/spool`;
  fs.rmSync(`${dir}/data/maillog`, { force: true });
  const bySender = new Map<string, QueueEntry>();
  for (const e of listQueue(spool)) bySender.set(senderOf(path.join(spool, e.path)), e);
  const take = (sender: string) => {
    const e = bySender.get(sender);
    if (!e) throw new Error(`no message from ${sender}`);
    return e;
  };
  fs.renameSync(path.join(spool, take('active@example.org').path), path.join(spool, 'active', take('active@example.org').id));
  fs.renameSync(path.join(spool, take('incoming@example.org').path), path.join(spool, 'incoming', take('incoming@example.org').id));
  must(`postsuper -c ${dir}/conf -h ${take('holdme@example.org').id} 2>&1`);
  must(`postsuper -c ${dir}/conf -e ${take('expire@example.org').id} 2>&1`);
  must(`/usr/sbin/sendmail -C ${dir}/conf -i -f dropped@example.org kate@remote.example`, 'Subject: maildrop\n\ndropped\n');
  // Fixed times: arrival times are in the T records, so shift the files'
  // mtimes only; qshape and mailq use T records (mtime for maildrop).
  FIXED_NOW = Math.floor(Date.now() / 1000) + 47 * 60;
  must(`find ${spool}/maildrop ${spool}/incoming ${spool}/active ${spool}/deferred ${spool}/hold ${spool}/defer -type f -exec touch -h -d @${FIXED_NOW - 7200} {} +`);
  return dir;
}

/** The tree that goes into the fixture: queue directories and logs. */
const TREE_DIRS = ['maildrop', 'incoming', 'active', 'deferred', 'hold', 'defer', 'bounce', 'trace', 'flush', 'corrupt', 'saved'];

function archive(dir: string, name: string): void {
  const dirs = TREE_DIRS.filter((d) => fs.existsSync(`${dir}/spool/${d}`)).join(' ');
  must(`cd ${dir}/spool && tar --numeric-owner --owner=0 --group=0 --sort=name -cf ${FIXTURES}/${name}.tar ${dirs}`);
}

// ---------------------------------------------------------------------------

export interface QueueCase {
  tree: 'short' | 'long';
  cmd: string;
  args: string[];
  stdin?: string;
  stdout: string;
  stderr: string;
  status: number;
  /** The queue after the run (queue-tree listing), for commands that change it. */
  after?: string;
  /** The listing has queue IDs replaced by "ID" (they depend on inode numbers: postsuper -s). */
  anonymous?: boolean;
  /**
   * Made before the run: "fifo" = public/qmgr and public/pickup exist as FIFOs nobody reads (a stopped
   * daemon); "maillog" = main.cf names a maillog_file (the run's log is then recorded, normalized).
   */
  setup?: 'fifo' | 'maillog';
  /** The maillog after the run, time stamps and process IDs replaced (setup "maillog"). */
  log?: string;
  /** The big generated queue (see bigQueue()) instead of a recorded tree; outputs compared as digests. */
  big?: boolean;
  note?: string;
}

/** Queue IDs in a listing line (short and long forms). */
const QID = /(?<=\/)(?:[0-9A-F]{6,}|[0-9B-DF-HJ-NP-TV-Zb-df-hj-np-tv-z]{10,}z[0-9B-DF-HJ-NP-TV-Zb-df-hj-np-tv-y]+)(?=(?:#FIX)? )/g;

/** A listing with queue IDs (and the hash directories derived from them) replaced. */
export function anonymousListing(listing: string): string {
  return listing
    .split('\n')
    .map((l) => l.replace(QID, 'ID').replace(/^(deferred|defer)\/[0-9A-F]\//, '$1/H/'))
    .sort()
    .join('\n');
}

/** A stable listing of a queue tree: "path mode size", sorted. */
export function treeListing(spool: string): string {
  const lines: string[] = [];
  const walk = (rel: string) => {
    for (const e of fs.readdirSync(path.join(spool, rel), { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(r);
      else {
        const st = fs.lstatSync(path.join(spool, r));
        lines.push(`${r} ${(st.mode & 0o7777).toString(8)} ${st.size}`);
      }
    }
  };
  for (const d of TREE_DIRS) if (fs.existsSync(path.join(spool, d))) walk(d);
  return lines.sort().join('\n') + '\n';
}

const RUN_DIR = '/tmp/qtrun-000000';

function freshTree(tree: string, long: boolean): void {
  must(`rm -rf ${RUN_DIR} && mkdir -p ${RUN_DIR}/conf ${RUN_DIR}/spool && tar -C ${RUN_DIR}/spool -xpf ${FIXTURES}/${tree}.tar && chown -R postfix ${RUN_DIR}/spool`);
  fs.writeFileSync(`${RUN_DIR}/conf/main.cf`, replayMainCf(RUN_DIR, long));
  fs.writeFileSync(`${RUN_DIR}/conf/master.cf`, '');
}

/** main.cf lines that send the log of a run to DIR/maillog. */
export function maillogSettings(dir: string): string {
  return `maillog_file = ${dir}/maillog\nmaillog_file_prefixes = /tmp\nmyhostname = qt.example.test\n`;
}

/** A maillog with the time stamps and process IDs replaced. */
export function normalizeLog(text: string): string {
  return text.replace(/^\w{3} [ \d]\d \d\d:\d\d:\d\d /gm, 'DATE ').replace(/\[\d+\]:/g, '[PID]:');
}

/**
 * The big queue: 1,000 messages made from the recorded deferred messages
 * (and their defer logs) of a tree, under made-up short queue IDs, spread
 * over the hash directories. Deterministic, so the outputs are too.
 */
export function bigQueue(spool: string, count = 1000): void {
  const templates: { file: string; log: string | null }[] = [];
  for (const e of listQueue(spool).filter((x) => x.queue === 'deferred')) {
    const log = path.join(spool, 'defer', e.id[0]!, e.id);
    templates.push({ file: path.join(spool, e.path), log: fs.existsSync(log) ? log : null });
  }
  templates.sort((a, b) => a.file.localeCompare(b.file));
  for (let i = 0; i < count; i++) {
    const t = templates[i % templates.length]!;
    const id = ((i * 7919) % 0xf4240).toString(16).toUpperCase().padStart(5, '0') + (0x200000 + i).toString(16).toUpperCase();
    const dir = path.join(spool, 'deferred', id[0]!);
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    fs.copyFileSync(t.file, path.join(dir, id));
    fs.chmodSync(path.join(dir, id), 0o700);
    if (t.log) {
      const ldir = path.join(spool, 'defer', id[0]!);
      fs.mkdirSync(ldir, { recursive: true, mode: 0o700 });
      fs.copyFileSync(t.log, path.join(ldir, id));
    }
  }
}

/** A digest of normalized output (mailq blocks sorted, JSON lines sorted, qshape rows sorted). */
export function outputDigest(kind: 'listing' | 'lines' | 'table', text: string): string {
  let parts: string[];
  if (kind === 'listing') {
    const blocks = text.split('\n\n');
    parts = [blocks[0]!.slice(0, blocks[0]!.indexOf('\n')), ...[blocks[0]!.slice(blocks[0]!.indexOf('\n') + 1), ...blocks.slice(1, -1)].sort(), blocks[blocks.length - 1]!];
  } else if (kind === 'lines') parts = text.split('\n').sort();
  else {
    const lines = text.split('\n');
    parts = [lines[0]!, ...lines.slice(1).sort()];
  }
  return `sha256:${createHash('sha256').update(parts.join('\0'), 'latin1').digest('hex')}`;
}

/** main.cf of a replay: only what the queue tools read. */
export function replayMainCf(dir: string, long: boolean): string {
  return [
    `queue_directory = ${dir}/spool`,
    'compatibility_level = 3.6',
    `smtputf8_enable = ${long ? 'yes' : 'no'}`,
    `enable_long_queue_ids = ${long ? 'yes' : 'no'}`,
    '',
  ].join('\n');
}

function qshapeCommand(args: string[]): string {
  const quoted = args.map((a) => `'${a}'`).join(' ');
  return `perl -e 'BEGIN { *CORE::GLOBAL::time = sub () { ${FIXED_NOW} } } $0 = "qshape"; do "/usr/sbin/qshape"; die $@ if $@' -- ${quoted}`;
}

interface RecordOptions {
  big?: boolean;
  stdin?: string;
  after?: boolean;
  anonymous?: boolean;
  setup?: 'fifo' | 'maillog';
  note?: string;
}

function record(tree: 'short' | 'long', cmd: string, args: string[], opts: RecordOptions = {}): QueueCase {
  const long = tree === 'long';
  freshTree(tree, long);
  if (opts.setup === 'fifo') must(`mkdir -p ${RUN_DIR}/spool/public && mkfifo ${RUN_DIR}/spool/public/qmgr ${RUN_DIR}/spool/public/pickup`);
  if (opts.big) {
    bigQueue(`${RUN_DIR}/spool`);
    must(`chown -R postfix ${RUN_DIR}/spool`);
  }
  if (opts.setup === 'maillog') fs.appendFileSync(`${RUN_DIR}/conf/main.cf`, maillogSettings(RUN_DIR));
  const sub = (a: string) => a.split('@DIR@').join(RUN_DIR);
  const realArgs = args.map(sub);
  const script =
    cmd === 'qshape'
      ? `MAIL_CONFIG=${RUN_DIR}/conf ${qshapeCommand(realArgs)}`
      : `${cmd === 'mailq' ? '/usr/bin/mailq' : `/usr/sbin/${cmd}`} ${realArgs.map((a) => `'${a}'`).join(' ')}`;
  const r = sh(`cd ${RUN_DIR} && MAIL_CONFIG=${RUN_DIR}/conf ${script}`, opts.stdin);
  const unsub = (t: string) => t.split(RUN_DIR).join('@DIR@');
  const c: QueueCase = { tree, cmd, args, stdout: unsub(r.stdout), stderr: unsub(r.stderr), status: r.status };
  if (opts.stdin !== undefined) c.stdin = opts.stdin;
  if (opts.after) c.after = opts.anonymous ? anonymousListing(treeListing(`${RUN_DIR}/spool`)) : treeListing(`${RUN_DIR}/spool`);
  if (opts.anonymous) c.anonymous = true;
  if (opts.big) {
    c.big = true;
    const kind = cmd === 'qshape' ? 'table' : args.includes('-j') ? 'lines' : 'listing';
    c.stdout = outputDigest(kind, c.stdout);
    if (c.after !== undefined) c.after = outputDigest('lines', c.after);
  }
  if (opts.setup) c.setup = opts.setup;
  if (opts.setup === 'maillog') c.log = normalizeLog(fs.existsSync(`${RUN_DIR}/maillog`) ? fs.readFileSync(`${RUN_DIR}/maillog`, 'latin1') : '');
  if (opts.note) c.note = opts.note;
  return c;
}

function idsIn(tree: string): { queue: string; id: string }[] {
  freshTree(tree, tree === 'long');
  return listQueue(`${RUN_DIR}/spool`).map((e) => ({ queue: e.queue, id: e.id }));
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('run as root');
  fs.mkdirSync(FIXTURES, { recursive: true });
  if (process.argv.includes('--cases-only')) FIXED_NOW = (JSON.parse(fs.readFileSync(path.join(FIXTURES, 'cases.json'), 'utf8')) as { now: number }).now;
  for (const long of process.argv.includes('--cases-only') ? [] : [false, true]) {
    const dir = await buildQueue(long);
    archive(dir, long ? 'long' : 'short');
    if (!KEEP) sh(`rm -rf ${dir}`);
  }
  const cases: QueueCase[] = [];
  for (const tree of ['short', 'long'] as const) {
    const c = ['-c', '@DIR@/conf'];
    cases.push(record(tree, 'mailq', []));
    cases.push(record(tree, 'postqueue', [...c, '-p']));
    cases.push(record(tree, 'postqueue', [...c, '-j']));
    cases.push(record(tree, 'postqueue', [...c, '-f']));
    cases.push(record(tree, 'postqueue', [...c, '-f'], { setup: 'fifo' }));
    cases.push(record(tree, 'postqueue', [...c, '-s', '[bad']));
    cases.push(record(tree, 'postqueue', [...c, '-i', 'bad/id']));
    cases.push(record(tree, 'postqueue', [...c, '-s', 'remote.example']));
    const ids = idsIn(tree);
    const deferred = ids.filter((e) => e.queue === 'deferred').map((e) => e.id);
    const held = ids.filter((e) => e.queue === 'hold').map((e) => e.id);
    cases.push(record(tree, 'postqueue', [...c, '-i', deferred[0]!]));
    cases.push(record(tree, 'postqueue', [...c]));
    cases.push(record(tree, 'postqueue', [...c, '-p', '-j']));
    cases.push(record(tree, 'postqueue', [...c, '-x']));
    // postsuper, each option on a fresh copy.
    const ps = (args: string[], stdin?: string, note?: string) => cases.push(record(tree, 'postsuper', [...c, ...args], { stdin, after: true, note }));
    ps(['-d', 'ALL']);
    ps(['-d', 'ALL', 'deferred']);
    ps(['-d', 'ALL', 'hold', 'active']);
    ps(['-d', deferred[0]!]);
    ps(['-d', deferred[0]!, 'hold']);
    ps(['-d', 'NOSUCHID123']);
    ps(['-d', '-'], `${deferred[0]}\n${deferred[1]}\nNOSUCHID123\n`);
    ps(['-d', deferred[0]!, '-d', deferred[1]!]);
    ps(['-h', 'ALL']);
    ps(['-h', deferred[0]!]);
    ps(['-h', 'ALL', 'deferred']);
    ps(['-H', 'ALL']);
    ps(['-H', held[0]!]);
    ps(['-r', 'ALL']);
    ps(['-r', deferred[0]!]);
    ps(['-r', 'ALL', 'hold']);
    ps(['-e', 'ALL']);
    ps(['-e', deferred[0]!]);
    ps(['-f', 'ALL']);
    ps(['-f', held[0]!]);
    ps(['-p']);
    ps(['-d', 'ALL', 'bogus']);
    ps(['-d', 'bad/id']);
    ps(['-x']);
    ps(['-d', 'ALL', '-h', 'ALL', 'deferred']);
    ps(['-H', 'ALL', '-r', 'ALL', 'hold', 'deferred']);
    ps(['-h', '-'], `${deferred[0]}\n${deferred[1]}\n`);
    ps(['-e', 'ALL', 'deferred']);
    ps(['-f', 'ALL', 'hold', 'deferred']);
    ps(['-p', 'deferred', 'defer']);
    // Extraction gives new inode numbers: the repair renames every message.
    const anon = (args: string[]) => cases.push(record(tree, 'postsuper', [...c, ...args], { after: true, anonymous: true }));
    anon([]);
    anon(['-s']);
    anon(['-S']);
    anon(['-s', 'deferred']);
    anon(['-s', '-d', deferred[0]!]);
    ps(['-d', 'ALL', '-h', 'ALL']);
    ps(['-h', 'ALL', '-H', 'ALL']);
    // qshape
    const qs = (args: string[]) => cases.push(record(tree, 'qshape', args));
    qs([]);
    qs(['deferred']);
    qs(['-s', 'deferred']);
    qs(['-s', 'hold', 'incoming', 'active', 'deferred', 'maildrop']);
    qs(['-b', '5', 'deferred']);
    qs(['-t', '60', '-b', '4', 'deferred']);
    qs(['-l', '-t', '30', 'deferred']);
    qs(['-p', '-m', '1', 'deferred']);
    qs(['-w', '100', 'deferred']);
  }
  // postlog and postkick (no queue needed; the short tree stands in).
  const c = ['-c', '@DIR@/conf'];
  const pl = (args: string[], stdin?: string) => cases.push(record('short', 'postlog', [...c, ...args], { stdin, setup: 'maillog' }));
  pl(['hello', 'world']);
  pl(['-t', 'mytag', '-p', 'warn', 'something odd']);
  pl(['-p', 'error', '-i', 'an error']);
  pl(['-p', 'info', '-t', 'bad\ttag', 'ctl\x01chars']);
  pl(['-p', 'bogus', 'x']);
  pl([], 'line one\nline two\n\nlast\n');
  pl(['-x']);
  const pk = (args: string[], setup?: 'fifo') => cases.push(record('short', 'postkick', [...c, ...args], { setup }));
  pk(['public', 'pickup', 'W']);
  pk(['public', 'qmgr', 'W'], 'fifo');
  pk(['public', 'pickup']);
  pk(['-x', 'public', 'pickup', 'W']);
  // The big queue: 1,000 messages.
  cases.push(record('short', 'mailq', [], { big: true }));
  cases.push(record('short', 'postqueue', [...c, '-j'], { big: true }));
  cases.push(record('short', 'qshape', ['deferred'], { big: true }));
  cases.push(record('short', 'postsuper', [...c, '-d', 'ALL'], { big: true }));
  cases.push(record('short', 'postsuper', [...c, '-h', 'ALL', 'deferred'], { big: true, after: true }));
  fs.writeFileSync(path.join(FIXTURES, 'cases.json'), JSON.stringify({ now: FIXED_NOW, cases }, null, 1) + '\n');
  if (!KEEP) sh(`rm -rf ${RUN_DIR}`);
  process.stdout.write(`recorded ${cases.length} cases\n`);
}

if (process.argv[1]?.endsWith('record-queue-tools.js')) await main();
