// Records from real Postfix 3.7.11 the order in which qmgr(8) hands
// entries to a one-process discard(8) service when a message with many
// recipients at many destinations shares the transport with small
// messages: the order shows delivery slot preemption (qmgr_job.c). The
// messages are submitted with sendmail and held by a header check, then
// released together and flushed, so that all are in the active queue
// before the first delivery. Which message Postfix activates first
// depends on its directory scan, so the activation order is recorded
// with the deliveries, and the run is repeated until the big message is
// not the last one activated. Writes fixtures/qmgr-order/NAME.json.
// Run as root where Postfix is installed:
//   node dist/tools/record-qmgr-order.js [SCENARIO...]
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

/** One recorded scenario (the test reads this shape). */
export interface QmgrOrderFixture {
  /** main.cf settings beyond the private instance's own. */
  settings: Array<[string, string]>;
  /** The discard service's process limit. */
  processLimit: number;
  /** Messages by label: their recipients. */
  messages: Record<string, string[]>;
  /** Labels in the order qmgr logged "(queue active)". */
  activation: string[];
  /** "LABEL RECIPIENT" in the order discard logged the deliveries. */
  deliveries: string[];
}

const BASE: Array<[string, string]> = [
  ['default_transport', 'discard'],
  ['discard_destination_concurrency_limit', '1'],
];

interface Scenario {
  name: string;
  settings: Array<[string, string]>;
  messages: Record<string, string[]>;
}

const bigMessage = (n: number) => Array.from({ length: n }, (_, i) => `u@d${String(i + 1).padStart(2, '0')}.test`);

/** preempt-60: delivery slot preemption; recipient-slots: a message bigger than the recipients qmgr may hold in core. */
const SCENARIOS: Scenario[] = [
  {
    name: 'preempt-60',
    settings: BASE,
    messages: { A: bigMessage(60), B: ['u@e1.test'], C: ['u@e2.test'], D: ['u@e3.test'], E: ['u@e4.test'] },
  },
  {
    name: 'recipient-slots',
    settings: [
      ...BASE,
      ['qmgr_message_active_limit', '4'],
      ['qmgr_message_recipient_limit', '8'],
      ['qmgr_message_recipient_minimum', '2'],
      ['default_recipient_limit', '6'],
      ['default_extra_recipient_limit', '2'],
      ['default_recipient_refill_limit', '3'],
    ],
    messages: { A: bigMessage(30), B: ['u@e1.test'], C: ['u@e2.test'], D: ['u@e3.test'] },
  },
];

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function waitFor(what: string, test: () => boolean, ms = 60000): Promise<void> {
  const until = Date.now() + ms;
  while (!test()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

function masterCf(): string {
  // Debian's master.cf without the smtp listener, chroot off, discard limited to one process.
  const lines = fs.readFileSync('/etc/postfix/master.cf', 'latin1').split('\n');
  const out: string[] = [];
  for (const line of lines) {
    if (/^smtp\s+inet/.test(line) || /^#/.test(line)) continue;
    const f = line.split(/\s+/);
    if (f.length >= 8 && /^\S/.test(line)) {
      f[4] = 'n';
      if (f[0] === 'discard') f[6] = '1';
      out.push(f.join(' '));
    } else out.push(line);
  }
  return out.join('\n');
}

async function runOnce(root: string, settings: Array<[string, string]>, messages: Record<string, string[]>): Promise<QmgrOrderFixture> {
  fs.rmSync(root, { recursive: true, force: true });
  const conf = path.join(root, 'conf');
  fs.mkdirSync(conf, { recursive: true });
  fs.mkdirSync(path.join(root, 'data'));
  fs.mkdirSync(path.join(root, 'spool'));
  execFileSync('chown', ['postfix', path.join(root, 'data')]);
  const log = path.join(root, 'maillog');
  const main = [
    'compatibility_level = 3.6', `queue_directory = ${root}/spool`, `data_directory = ${root}/data`,
    `maillog_file = ${log}`, 'maillog_file_prefixes = /tmp', 'inet_interfaces = loopback-only', 'inet_protocols = ipv4',
    'myhostname = oracle.test', 'mydestination =', `header_checks = regexp:${conf}/hold`,
    ...settings.map(([k, v]) => `${k} = ${v}`),
  ];
  fs.writeFileSync(path.join(conf, 'main.cf'), main.join('\n') + '\n');
  fs.writeFileSync(path.join(conf, 'hold'), '/^Subject: hold/ HOLD\n');
  fs.writeFileSync(path.join(conf, 'master.cf'), masterCf());
  const env = { ...process.env, TZ: 'UTC' };
  const started = spawnSync('postfix', ['-c', conf, 'start'], { env });
  if (started.status !== 0) throw new Error(`postfix start: ${started.stderr.toString().trim()} ${started.stdout.toString().trim()} ${fs.readFileSync(log, 'latin1')}`);
  try {
    const ids = new Map<string, string>();
    for (const [label, rcpts] of Object.entries(messages)) {
      const r = spawnSync('sendmail', ['-C', conf, '-f', `${label.toLowerCase()}@src.test`, ...rcpts], { input: `Subject: hold ${label}\n\n${label}\n`, env });
      if (r.status !== 0) throw new Error(`sendmail: ${r.stderr.toString()}`);
    }
    const text = () => (fs.existsSync(log) ? fs.readFileSync(log, 'latin1') : '');
    const labels = Object.keys(messages);
    await waitFor('held messages', () => (text().match(/: hold: header Subject: hold /g) ?? []).length === labels.length);
    for (const m of text().matchAll(/ ([0-9A-F]+): hold: header Subject: hold (\w+)/g)) ids.set(m[1]!, m[2]!);
    execFileSync('postsuper', ['-c', conf, '-H', 'ALL'], { env, stdio: 'ignore' });
    execFileSync('postqueue', ['-c', conf, '-f'], { env });
    const total = Object.values(messages).reduce((n, r) => n + r.length, 0);
    await waitFor('deliveries', () => (text().match(/postfix\/discard\[/g) ?? []).length === total);
    const activation: string[] = [];
    const deliveries: string[] = [];
    for (const line of text().split('\n')) {
      const act = / postfix\/qmgr\[\d+\]: ([0-9A-F]+): from=<.*\(queue active\)$/.exec(line);
      if (act) activation.push(ids.get(act[1]!)!);
      const del = / postfix\/discard\[\d+\]: ([0-9A-F]+): to=<([^>]*)>/.exec(line);
      if (del) deliveries.push(`${ids.get(del[1]!)!} ${del[2]!}`);
    }
    return { settings, processLimit: 1, messages, activation, deliveries };
  } finally {
    execFileSync('postfix', ['-c', conf, 'stop'], { env, stdio: 'ignore' });
  }
}

async function main(): Promise<number> {
  const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
  const outDir = path.join(repo, 'fixtures', 'qmgr-order');
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'qmgr-order-'));
  // The postfix user walks down to the queue directory.
  fs.chmodSync(root, 0o755);
  const only = process.argv.slice(2);
  try {
    for (const sc of SCENARIOS) {
      if (only.length > 0 && !only.includes(sc.name)) continue;
      let written = false;
      for (let attempt = 1; attempt <= 20 && !written; attempt++) {
        const rec = await runOnce(path.join(root, 'run'), sc.settings, sc.messages);
        // Wanted: at least two small messages activated after the big one.
        if (rec.activation.length - rec.activation.indexOf('A') - 1 < 2) continue;
        fs.mkdirSync(outDir, { recursive: true });
        fs.writeFileSync(path.join(outDir, `${sc.name}.json`), JSON.stringify(rec, null, 1) + '\n');
        process.stdout.write(`record-qmgr-order: wrote ${sc.name}.json (attempt ${attempt}, activation ${rec.activation.join(' ')})\n`);
        written = true;
      }
      if (!written) {
        process.stderr.write(`record-qmgr-order: ${sc.name}: the big message was activated too late in every attempt\n`);
        return 1;
      }
    }
    return 0;
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  main().then((c) => process.exit(c), (e: Error) => {
    process.stderr.write(`record-qmgr-order: fatal: ${e.message}\n`);
    process.exit(1);
  });
}
