// Recorder for the fast flush fixtures (fixtures/flush/): runs a private
// Postfix 3.7.11 under /tmp in a private network namespace, defers mail for
// fast_flush_domains destinations (an smtp next hop where nothing listens,
// an address literal, upper case, a subdomain), and records the flush/
// logfiles Postfix keeps, what `postqueue -s` and `-i` print and exit with,
// an ETRN session's replies, and the flush and ETRN lines of the maillog.
// Queue IDs are replaced by M1, M2 (the messages in submission order).
//   node dist/tools/record-flush.js [--ours] [--keep]
// --ours runs this project's daemon instead and prints the differences.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { repoRoot } from '../test/lib/cases.js';
import { runRecorder } from './record-delivery.js';
import { must, sh } from './record-queue-tools.js';

const FIXTURES = path.join(repoRoot(), 'fixtures/flush');
const DIR = '/tmp/flushrec';
const SMTPD_PORT = 10025;

export interface FlushFile {
  name: string;
  mode: string;
  /** The queue IDs, one a line, as labels. */
  lines: string[];
}

export interface FlushCommand {
  args: string[];
  stdout: string;
  stderr: string;
  status: number;
}

export interface FlushFixture {
  /** The recipients of M1 and M2. */
  messages: string[][];
  /** flush/ after each step, by step name. */
  files: Record<string, FlushFile[]>;
  commands: FlushCommand[];
  etrn: Array<{ send: string; reply: string }>;
  /** Maillog lines about flush and ETRN, normalized. */
  log: string[];
}

export const MESSAGES = [
  ['a@flush.example', 'B@FLUSH.EXAMPLE', 'c@sub.flush.example', 'd@other.example', 'e@[127.0.0.9]'],
  ['g@flush.example'],
];

export function mainCf(dir: string): string {
  return [
    `queue_directory = ${dir}/spool`,
    `data_directory = ${dir}/data`,
    `maillog_file = ${dir}/maillog`,
    `maillog_file_prefixes = ${dir}`,
    'inet_interfaces = 127.0.0.1',
    'inet_protocols = ipv4',
    'compatibility_level = 3.6',
    'myhostname = mx.flush.test',
    'mydomain = flush.test',
    'mydestination =',
    'relay_domains = flush.example, [127.0.0.9]',
    'fast_flush_domains = $relay_domains',
    `transport_maps = texthash:${dir}/conf/transport`,
    'smtp_connect_timeout = 5s',
    'queue_run_delay = 3600s',
    'minimal_backoff_time = 3600s',
    'maximal_backoff_time = 7200s',
    '',
  ].join('\n');
}

export const TRANSPORT = [
  'flush.example smtp:[127.0.0.1]:10099',
  '.flush.example smtp:[127.0.0.1]:10099',
  'other.example smtp:[127.0.0.1]:10099',
  '',
].join('\n');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function filesIn(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    let entries: fs.Dirent[] = [];
    try {
      entries = fs.readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) (e.isDirectory() ? walk : (p: string) => out.push(p))(path.join(d, e.name));
  };
  walk(dir);
  return out;
}

class Run {
  ids = new Map<string, string>();
  constructor(readonly bin: (cmd: string) => string, readonly ours: boolean) {}

  log(): string {
    try {
      return fs.readFileSync(`${DIR}/maillog`, 'latin1');
    } catch {
      return '';
    }
  }

  label(text: string): string {
    let t = text;
    for (const [id, l] of this.ids) t = t.split(id).join(l);
    return t;
  }

  /** Waits until nothing is in maildrop, incoming or active and `deferred` lines reach count. */
  async settle(deferredLines: number): Promise<void> {
    const deadline = Date.now() + 60000;
    for (;;) {
      const busy = ['maildrop', 'incoming', 'active'].some((q) => filesIn(`${DIR}/spool/${q}`).length > 0);
      const n = (this.log().match(/status=deferred/g) ?? []).length;
      if (!busy && n >= deferredLines) break;
      if (Date.now() > deadline) throw new Error(`queue did not settle (${n} of ${deferredLines} deferrals)\n${this.log()}`);
      await sleep(200);
    }
    await sleep(300);
  }

  flushFiles(): FlushFile[] {
    const dir = `${DIR}/spool/flush`;
    return filesIn(dir)
      .map((f) => {
        const st = fs.statSync(f);
        return {
          name: path.relative(dir, f),
          mode: (st.mode & 0o7777).toString(8),
          lines: this.label(fs.readFileSync(f, 'latin1')).split('\n').filter(Boolean).sort(),
        };
      })
      .sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  postqueue(args: string[]): FlushCommand {
    const real = args.map((a) => (this.ids.has(a) ? a : [...this.ids].find(([, l]) => l === a)?.[0] ?? a));
    const r = sh(`${this.bin('postqueue')} -c ${DIR}/conf ${real.map((a) => `'${a}'`).join(' ')}`);
    return { args, stdout: this.label(r.stdout), stderr: this.label(r.stderr), status: r.status };
  }
}

async function etrnSession(lines: string[], after: (send: string, reply: string) => Promise<void>): Promise<Array<{ send: string; reply: string }>> {
  const sock = net.connect({ host: '127.0.0.1', port: SMTPD_PORT });
  let buf = '';
  const waiters: Array<(s: string) => void> = [];
  sock.on('data', (b: Buffer) => {
    buf += b.toString('latin1');
    for (;;) {
      const m = /^(?:\d{3}-.*\r\n)*\d{3}(?: .*)?\r\n/.exec(buf);
      if (!m || !waiters.length) break;
      buf = buf.slice(m[0].length);
      waiters.shift()!(m[0]);
    }
  });
  const next = () => new Promise<string>((r) => waiters.push(r));
  await next();
  const out: Array<{ send: string; reply: string }> = [];
  for (const l of lines) {
    sock.write(`${l}\r\n`);
    const reply = await next();
    out.push({ send: l, reply });
    await after(l, reply);
  }
  sock.destroy();
  return out;
}

function startDaemon(run: Run): void {
  sh(`${run.bin('postfix')} -c ${DIR}/conf stop 2>/dev/null; rm -rf ${DIR}`);
  must(`mkdir -p ${DIR}/conf ${DIR}/spool ${DIR}/data && chown postfix ${DIR}/data && chmod 755 ${DIR} ${DIR}/conf`);
  fs.writeFileSync(`${DIR}/conf/main.cf`, mainCf(DIR));
  fs.writeFileSync(`${DIR}/conf/transport`, TRANSPORT);
  const master = fs
    .readFileSync('/etc/postfix/master.cf', 'utf8')
    .split('\n')
    .map((l) => l.replace(/^smtp(\s+inet\s)/, `127.0.0.1:${SMTPD_PORT}$1`))
    .map((l) => l.replace(/^(\S+\s+(?:unix|fifo|inet|unix-dgram|pass)\s+\S+\s+\S+\s+)y(\s)/, '$1n$2'))
    .join('\n');
  fs.writeFileSync(`${DIR}/conf/master.cf`, master);
  must(`${run.bin('postfix')} -c ${DIR}/conf start 2>&1`);
}

export async function record(ours: boolean): Promise<FlushFixture> {
  const run = new Run((cmd) => (ours ? path.join(repoRoot(), 'bin', cmd) : `/usr/sbin/${cmd}`), ours);
  startDaemon(run);
  const fx: FlushFixture = { messages: MESSAGES, files: {}, commands: [], etrn: [], log: [] };
  let deferrals = 0;
  for (const [i, rcpts] of MESSAGES.entries()) {
    must(`${run.bin('sendmail')} -C ${DIR}/conf -i -f sender${i + 1}@flush.test ${rcpts.map((r) => `'${r}'`).join(' ')}`, `Subject: m${i + 1}\n\nbody\n`);
    const from = new RegExp(`: (\\w+): from=<sender${i + 1}@flush\\.test>`);
    const deadline = Date.now() + 30000;
    let m: RegExpExecArray | null = null;
    while (!(m = from.exec(run.log())) && Date.now() < deadline) await sleep(100);
    if (!m) throw new Error(`no queue ID for message ${i + 1}\n${run.log()}`);
    run.ids.set(m[1]!, `M${i + 1}`);
    deferrals += rcpts.length;
    await run.settle(deferrals);
  }
  fx.files.deferred = run.flushFiles();
  const flushed = (n: number) => run.settle((deferrals += n));
  const cmd = (args: string[]) => {
    const c = run.postqueue(args);
    fx.commands.push(c);
    return c;
  };
  // flush.example: M1 (a, B: one delivery, both recipients) and M2 (g).
  cmd(['-s', 'flush.example']);
  await flushed(MESSAGES[0]!.length + MESSAGES[1]!.length);
  fx.files.send_site = run.flushFiles();
  cmd(['-s', 'other.example']);
  cmd(['-s', 'nothing.flush.example']);
  cmd(['-s', 'bad..name']);
  cmd(['-s', 'FLUSH.Example']);
  await flushed(MESSAGES[0]!.length + MESSAGES[1]!.length);
  fx.files.send_site_upper = run.flushFiles();
  cmd(['-i', 'M2']);
  await flushed(MESSAGES[1]!.length);
  fx.files.send_file = run.flushFiles();
  cmd(['-i', 'NOSUCH12345']);
  cmd(['-i', 'bad/id']);
  // Each ETRN that starts a flush of M1 redelivers all five of its recipients.
  fx.etrn = await etrnSession([
    'ETRN flush.example', 'EHLO client.flush.test', 'ETRN', 'ETRN a b', 'ETRN bad..name', 'ETRN other.example',
    'ETRN #sub.flush.example', 'MAIL FROM:<x@flush.test>', 'ETRN flush.example', 'RSET', 'ETRN @[127.0.0.9]',
    'ETRN nothing.flush.example', 'QUIT',
  ], async (send, reply) => {
    if (send === 'ETRN flush.example' && reply.startsWith('250')) await flushed(MESSAGES[0]!.length + MESSAGES[1]!.length);
    else if (/^ETRN [#@]/.test(send) && reply.startsWith('250')) await flushed(MESSAGES[0]!.length);
  });
  fx.files.etrn = run.flushFiles();
  must(`${run.bin('postfix')} -c ${DIR}/conf stop 2>&1`);
  for (let i = 0; i < 100 && sh(`${run.bin('postfix')} -c ${DIR}/conf status`).status === 0; i++) await sleep(100);
  cmd(['-s', 'flush.example']);
  fx.log = run
    .label(run.log())
    .split('\n')
    .filter((l) => /flush|ETRN|postqueue/.test(l))
    .map((l) => l.replace(/^\w{3} [ \d]\d \d\d:\d\d:\d\d \S+ /, '').replace(/\[\d+\]:/, '[PID]:'));
  if (!process.argv.includes('--keep')) sh(`rm -rf ${DIR}`);
  return fx;
}

/**
 * The log lines about flush and ETRN that do not depend on timing: the
 * warnings, as a set (Postfix logs a midna warning once per flush process).
 * postqueue's own fatal lines are left out: this project's postqueue
 * reports on stderr only.
 */
export function stableLog(lines: string[]): string[] {
  return [...new Set(lines.filter((l) => /warning/.test(l)))].sort();
}

/** The differences between two recordings (files, commands and replies exactly; the log by stableLog()). */
export function compareFixture(want: FlushFixture, got: FlushFixture): string[] {
  const out: string[] = [];
  const same = (what: string, a: unknown, b: unknown) => {
    if (JSON.stringify(a) !== JSON.stringify(b)) out.push(`${what}:\n  postfix ${JSON.stringify(a)}\n  ours    ${JSON.stringify(b)}`);
  };
  for (const step of Object.keys(want.files)) same(`flush/ after ${step}`, want.files[step], got.files[step]);
  want.commands.forEach((c, i) => same(`postqueue ${c.args.join(' ')}`, c, got.commands[i]));
  want.etrn.forEach((e, i) => same(e.send, e, got.etrn[i]));
  same('log', stableLog(want.log), stableLog(got.log));
  return out;
}

async function main(args: string[]): Promise<number> {
  if (process.getuid?.() !== 0) throw new Error('run as root');
  const ours = args.includes('--ours');
  const fx = await record(ours);
  if (ours) {
    const want = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'flush.json'), 'utf8')) as FlushFixture;
    const diffs = compareFixture(want, fx);
    for (const d of diffs) console.log(d);
    console.log(diffs.length ? 'different' : 'identical');
    return diffs.length ? 1 : 0;
  }
  fs.mkdirSync(FIXTURES, { recursive: true });
  fs.writeFileSync(path.join(FIXTURES, 'flush.json'), JSON.stringify(fx, null, 1) + '\n');
  console.log(`recorded fixtures/flush/flush.json`);
  return 0;
}

await runRecorder('record-flush', import.meta.url, main);
