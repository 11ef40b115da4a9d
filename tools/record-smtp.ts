// Recorder for the smtp(8)/lmtp(8) fixtures: for each fixtures/smtp/<NN-name>/
// scenario.json, a private Postfix 3.7.11 (or, with --ours, this project's
// daemon) is started on fixtures/smtp/master.cf and the scenario's main.cf
// settings, a scripted SMTP or LMTP peer (test/lib/scripted-smtp.ts) listens
// on 127.0.0.1:10026 (or a unix socket under the run's root), the messages
// are submitted with sendmail one at a time, and once each is finished
// (removed from the queue, or deferred) what the peer received -- the
// commands and the message bytes of each session -- and the maillog lines
// are written to expected/, normalised as fixtures/delivery/README.md says
// (queue IDs, dates, PIDs, delays; the run's root as @ROOT@).
//   node dist/tools/record-smtp.js [--check] [--ours] [FIXTURE_DIR...]
// Outside a private network namespace it re-runs itself under one (root only).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { repoRoot } from '../test/lib/cases.js';
import { type DaemonKind, programPath, startDaemon } from '../test/lib/daemon.js';
import { execInNamespaceSync, namespaceReady, whyNoNamespace } from '../test/lib/netns.js';
import { type PeerScript, ScriptedPeer } from '../test/lib/scripted-smtp.js';
import { Normalizer, canonicalLog, compare, type Recording } from './record-delivery.js';

/** One message of a scenario. */
export interface SmtpMessage {
  from: string;
  to: string[];
  /** LF line ends; "@ROOT@" is substituted. */
  text: string;
  /** The text is one byte per character (default: UTF-8). */
  latin1?: boolean;
  /** Extra sendmail arguments, first on the command line (e.g. ["-SMTPUTF8"], ["-N", "success"]). */
  args?: string[];
  /** 'done' (default): wait until it is gone from the queue; 'deferred': until each recipient was deferred or finished. */
  expect?: 'done' | 'deferred';
}

export interface Scenario {
  note: string;
  /** main.cf settings over the base ones ("@ROOT@", "@PEER@" and "@TLS@", the test certificates, substituted). */
  main?: Record<string, string>;
  /** The peer's script; absent: no peer (connection refused). */
  peer?: PeerScript;
  /** Files written under the run's root before the daemon starts (name -> text, "@ROOT@" substituted). */
  files?: Record<string, string>;
  /** The peer listens on a unix socket @ROOT@/lmtp.sock instead of 127.0.0.1:10026. */
  peerSocket?: boolean;
  messages: SmtpMessage[];
}

const PEER_PORT = 10026;
const WAIT_MS = 60000;
const BASE_MAIN: Record<string, string> = {
  compatibility_level: '3.6',
  myhostname: 'host.example.com',
  mydomain: 'example.com',
  myorigin: '$myhostname',
  mydestination: '',
  inet_interfaces: '127.0.0.1',
  inet_protocols: 'ipv4',
  mynetworks: '127.0.0.0/8',
  biff: 'no',
  relayhost: `[127.0.0.1]:${PEER_PORT}`,
  smtp_connect_timeout: '5s',
  local_transport: 'error:5.7.1 no local delivery in the smtp fixtures',
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function readLog(dir: string): string {
  try {
    return fs.readFileSync(path.join(dir, 'maillog'), 'latin1');
  } catch {
    return '';
  }
}

const LOG_PREFIX = /^\w{3} [ \d]\d \d\d:\d\d:\d\d \S+ /;
const QID_LINE = /^postfix\/[\w/-]+\[\d+\]: ([0-9A-F]{6,}): (.*)$/;

/** Waits until every queue ID in the log since `from` is removed, or (deferred) has a status=deferred line. */
async function waitFinished(dir: string, from: number, expect: 'done' | 'deferred', label: string): Promise<{ lines: string[]; end: number }> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const all = readLog(dir).slice(from);
    const cut = all.lastIndexOf('\n') + 1;
    const lines = all.slice(0, cut).split('\n').filter(Boolean);
    const seen = new Set<string>();
    const removed = new Set<string>();
    const nrcpt = new Map<string, number>();
    const outcomes = new Map<string, { total: number; deferred: number }>();
    for (const raw of lines) {
      const m = QID_LINE.exec(raw.replace(LOG_PREFIX, ''));
      if (!m) continue;
      const [, qid, rest] = m as unknown as [string, string, string];
      seen.add(qid);
      if (rest === 'removed') removed.add(qid);
      const n = /, nrcpt=(\d+) \(queue active\)$/.exec(rest);
      if (n) nrcpt.set(qid, Number(n[1]));
      if (/ status=/.test(rest)) {
        const o = outcomes.get(qid) ?? { total: 0, deferred: 0 };
        o.total++;
        if (/ status=deferred /.test(rest)) o.deferred++;
        outcomes.set(qid, o);
      }
    }
    // Deferred: every recipient has its line (some may be sent or bounced), at least one deferred.
    const settled = (q: string): boolean => removed.has(q)
      || (expect === 'deferred' && (outcomes.get(q)?.deferred ?? 0) > 0 && (outcomes.get(q)?.total ?? 0) >= (nrcpt.get(q) ?? Infinity));
    if (seen.size > 0 && [...seen].every(settled)) return { lines, end: from + cut };
    if (Date.now() > deadline) throw new Error(`${label}: not finished after ${WAIT_MS / 1000}s:\n${lines.join('\n')}`);
    await sleep(100);
  }
}

/** Lines of helpers that run on their own clock (statistics), not part of a delivery. */
const NOISE = /^postfix\/(?:scache|anvil|tlsmgr|postlogd)\[/;

export async function recordScenario(dir: string, kind: DaemonKind): Promise<Recording> {
  const name = path.basename(dir);
  const scenario = JSON.parse(fs.readFileSync(path.join(dir, 'scenario.json'), 'utf8')) as Scenario;
  const root = fs.realpathSync(fs.mkdtempSync('/tmp/smtp-fixture-'));
  let daemon: Awaited<ReturnType<typeof startDaemon>> | undefined;
  let peer: ScriptedPeer | undefined;
  try {
    fs.chmodSync(root, 0o755);
    const sub = (t: string) => t.split('@ROOT@').join(root).split('@PEER@').join(String(PEER_PORT)).split('@TLS@').join(path.join(root, 'tls'));
    // The test certificates, where the daemons' unprivileged users can read them.
    fs.cpSync(path.join(path.dirname(dir), 'tls'), path.join(root, 'tls'), { recursive: true });
    fs.chmodSync(path.join(root, 'tls'), 0o755);
    for (const [file, text] of Object.entries(scenario.files ?? {})) fs.writeFileSync(path.join(root, file), sub(text), { mode: 0o644 });
    const conf = path.join(root, 'conf-in');
    fs.mkdirSync(conf);
    const main = { ...BASE_MAIN, ...(scenario.main ?? {}) };
    fs.writeFileSync(path.join(conf, 'main.cf'), Object.entries(main).map(([k, v]) => `${k} = ${sub(v)}\n`).join(''));
    fs.copyFileSync(path.join(path.dirname(dir), 'master.cf'), path.join(conf, 'master.cf'));
    if (scenario.peer) {
      peer = await ScriptedPeer.start(scenario.peer, scenario.peerSocket ? { path: path.join(root, 'lmtp.sock') } : { port: PEER_PORT });
      if (scenario.peerSocket) fs.chmodSync(path.join(root, 'lmtp.sock'), 0o666);
    }
    daemon = await startDaemon(kind, conf);
    const norm = new Normalizer(root, daemon.dir, []);
    let offset = readLog(daemon.dir).length;
    const sections: string[] = [];
    for (const [i, m] of scenario.messages.entries()) {
      const args = [...(m.args ?? []), '-C', daemon.configDir, '-f', m.from === '' ? '<>' : m.from, '--', ...m.to];
      const r = spawnSync(programPath(kind, 'sendmail'), args, {
        input: Buffer.from(sub(m.text), m.latin1 ? 'latin1' : 'utf8'), env: { PATH: '/usr/bin:/bin:/usr/sbin:/sbin', TZ: 'UTC', LANG: 'C' }, timeout: 30000,
      });
      if (r.status !== 0) throw new Error(`${name}: sendmail exit ${r.status}: ${r.stderr?.toString()}`);
      const got = await waitFinished(daemon.dir, offset, m.expect ?? 'done', `${name} message ${i + 1}`);
      offset = got.end;
      norm.learn(got.lines);
      sections.push(`=== message ${i + 1}`, ...canonicalLog(got.lines, norm).filter((l) => !NOISE.test(l)));
    }
    await daemon.stop();
    daemon = undefined;
    const files = new Map<string, string>();
    files.set('maillog', `${sections.join('\n')}\n`);
    if (peer) {
      await peer.closedSessions(peer.sessions.length);
      const sessions = peer.sessions.map((s) => ({ commands: s.commands.map((c) => norm.text(c)), messages: s.messages.map((t) => norm.text(t)) }));
      files.set('peer.json', `${JSON.stringify(sessions, null, 2)}\n`);
    }
    return { files, messages: scenario.messages.length };
  } finally {
    if (daemon) await daemon.stop().catch(() => undefined);
    if (peer) await peer.stop().catch(() => undefined);
    fs.rmSync(root, { recursive: true, force: true });
  }
}

export function listSmtpFixtures(base = path.join(repoRoot(), 'fixtures', 'smtp')): string[] {
  return fs.readdirSync(base, { withFileTypes: true })
    .filter((e) => e.isDirectory() && /^\d\d-/.test(e.name))
    .map((e) => path.join(base, e.name))
    .sort();
}

function write(dir: string, rec: Recording): void {
  fs.rmSync(dir, { recursive: true, force: true });
  for (const [rel, text] of rec.files) {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), text, 'latin1');
  }
}

async function main(argv: string[]): Promise<number> {
  const flags = new Set(argv.filter((a) => a.startsWith('--')));
  const dirs = argv.filter((a) => !a.startsWith('--')).map((d) => path.resolve(d));
  const kind: DaemonKind = flags.has('--ours') ? 'ours' : 'postfix';
  let failed = false;
  for (const dir of dirs.length ? dirs : listSmtpFixtures()) {
    const name = path.basename(dir);
    try {
      const rec = await recordScenario(dir, kind);
      if (flags.has('--check')) {
        const problems = compare(path.join(dir, 'expected'), rec);
        if (problems.length) failed = true;
        console.log(`${name}: ${problems.length ? 'DIFFERS' : 'identical'}`);
        for (const p of problems) console.log(`  ${p}`);
      } else {
        write(path.join(dir, 'expected'), rec);
        console.log(`${name}: recorded`);
      }
    } catch (e) {
      failed = true;
      console.error(`${name}: ${(e as Error).message}`);
    }
  }
  return failed ? 1 : 0;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === fs.realpathSync(process.argv[1])) {
  const args = process.argv.slice(2);
  if (namespaceReady()) process.exitCode = await main(args);
  else {
    const why = whyNoNamespace();
    if (why) {
      console.error(`record-smtp: ${why}`);
      process.exitCode = 1;
    } else process.exitCode = execInNamespaceSync([process.execPath, fileURLToPath(import.meta.url), ...args]);
  }
}
