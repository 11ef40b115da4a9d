// Recorder for fixtures/smtp-addr/: what real Postfix 3.7.11's smtp(8) and
// lmtp(8) make of each scenario's next hop -- the servers they try, in order
// ("connect to NAME[ADDR]:PORT: ..."), the warnings, and the final status
// line with its DSN and text -- given the DNS zone of zone.json (served by a
// dns2 server on 127.0.0.1:53) and the hosts file beside it. Each scenario
// is a master.cf service tNN with its own -o settings; transport_maps sends
// u@sNN.rcpt.test to tNN:NEXTHOP. Nothing listens on the servers' ports, so
// every connection fails at once and every server tried is logged.
//   node dist/tools/record-smtp-addr.js [--keep]
// Writes fixtures/smtp-addr/expected.json. Started outside a private network
// namespace it re-runs itself under `unshare -n -m --pid` (root only).

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { fixtureDir, loadScenarios, loadZone, type AddrScenario } from '../test/delivery/smtp-addr-harness.js';
import { startDaemon } from '../test/lib/daemon.js';
import { startFakeDns } from '../test/lib/fake-dns.js';
import { execInNamespaceSync, namespaceReady, whyNoNamespace } from '../test/lib/netns.js';

/** The service that runs scenario i (t01, t02, ...). */
export const serviceName = (i: number): string => `t${String(i + 1).padStart(2, '0')}`;
/** The recipient routed to scenario i. */
export const recipientOf = (i: number): string => `u@s${String(i + 1).padStart(2, '0')}.rcpt.test`;

/** A maillog line of one scenario without date, host and PID; queue ID and delays replaced. */
export function normalizeLine(text: string): string {
  return text
    .replace(/^[0-9A-F]{6,}: /, 'QID: ')
    .replace(/\bdelay=[0-9.]+/, 'delay=D')
    .replace(/\bdelays=[0-9./]+/, 'delays=D');
}

const BASE_MASTER = `pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
`;

function writeRunFixture(dir: string, scenarios: AddrScenario[]): void {
  fs.copyFileSync(path.join(fixtureDir(), 'main.cf'), path.join(dir, 'main.cf'));
  const master = [BASE_MASTER];
  const transport: string[] = [];
  scenarios.forEach((s, i) => {
    const opts = Object.entries({ syslog_name: `postfix/${serviceName(i)}`, ...(s.settings ?? {}) })
      .map(([k, v]) => `  -o { ${k} = ${v} }`)
      .join('\n');
    master.push(`${serviceName(i)}  unix  -  -  n  -  -  ${s.agent ?? 'smtp'}\n${opts}\n`);
    transport.push(`${recipientOf(i).slice(2)}\t${serviceName(i)}:${s.nexthop}`);
  });
  fs.writeFileSync(path.join(dir, 'master.cf'), master.join(''));
  fs.writeFileSync(path.join(dir, 'transport'), `${transport.join('\n')}\n`);
  fs.writeFileSync(path.join(dir, 'tables.txt'), 'postmap hash:transport\n');
}

function mountBind(src: string, dst: string): void {
  const r = spawnSync('mount', ['--bind', src, dst], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`mount --bind ${src} ${dst}: ${r.stderr}`);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The lines of scenario i: its service's own, and any other naming its recipient. */
function scenarioLines(log: string, i: number): string[] {
  const out: string[] = [];
  const tag = `postfix/${serviceName(i)}/`;
  for (const line of log.split('\n')) {
    const m = /^\w{3} [ \d]\d [\d:]{8} \S+ (postfix\/[^[]+)\[\d+\]: (.*)$/.exec(line);
    if (!m) continue;
    if (line.includes(tag) || m[2]!.includes(`to=<${recipientOf(i)}>`)) out.push(`${m[1]}: ${normalizeLine(m[2]!)}`);
  }
  return out;
}

async function record(keep: boolean): Promise<void> {
  const scenarios = loadScenarios();
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'record-smtp-addr-'));
  const resolv = path.join(work, 'resolv.conf');
  fs.writeFileSync(resolv, 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n');
  mountBind(resolv, '/etc/resolv.conf');
  const dns = await startFakeDns(loadZone(), { port: 53 });
  const runFixture = path.join(work, 'fixture');
  fs.mkdirSync(runFixture);
  writeRunFixture(runFixture, scenarios);
  const daemon = await startDaemon('postfix', runFixture, { keep });
  try {
    // After the start: startDaemon() checks for the namespace's standard hosts file.
    mountBind(path.join(fixtureDir(), 'hosts'), '/etc/hosts');
    const rcpts = scenarios.map((_, i) => recipientOf(i));
    const r = spawnSync('/usr/sbin/sendmail', ['-C', daemon.configDir, '-f', '<>', '-i', ...rcpts], {
      input: 'Subject: smtp-addr\n\nhello\n',
      env: { PATH: '/usr/bin:/bin:/usr/sbin:/sbin', TZ: 'UTC', LANG: 'C' },
    });
    if (r.status !== 0) throw new Error(`sendmail: ${r.stderr.toString()}`);
    const deadline = Date.now() + 90000;
    // A scenario is over at its status line, or when its agent dies (a bad next hop).
    const done = (log: string) =>
      rcpts.every((rc, i) => new RegExp(`to=<${rc.replace(/\./g, '\\.')}>.*status=|postfix/${serviceName(i)}/\\w+\\[\\d+\\]: fatal: `).test(log));
    while (!done(daemon.log()) && Date.now() < deadline) await sleep(200);
    const log = daemon.log();
    if (!done(log)) process.stderr.write('record-smtp-addr: warning: not every scenario finished; recording what there is\n');
    const expected: Record<string, string[]> = {};
    scenarios.forEach((s, i) => (expected[s.name] = scenarioLines(log, i)));
    const out = path.join(fixtureDir(), 'expected.json');
    fs.writeFileSync(out, `${JSON.stringify(expected, null, 2)}\n`);
    process.stdout.write(`record-smtp-addr: wrote ${out} (${scenarios.length} scenarios)\n`);
  } finally {
    await daemon.stop();
    await dns.close();
    if (!keep) fs.rmSync(work, { recursive: true, force: true });
  }
}

async function main(): Promise<number> {
  const keep = process.argv.includes('--keep');
  if (!namespaceReady()) {
    const why = whyNoNamespace();
    if (why) {
      process.stderr.write(`record-smtp-addr: ${why}\n`);
      return 1;
    }
    return execInNamespaceSync([process.execPath, fileURLToPath(import.meta.url), ...process.argv.slice(2)]);
  }
  await record(keep);
  return 0;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`record-smtp-addr: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}
