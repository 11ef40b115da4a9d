// lmtp(8) against a real Dovecot LMTP server (Debian's dovecot-lmtpd): a
// Dovecot of the test's own (its configuration, sockets, log and Maildirs
// under a temporary root; users alice and bob in a passwd-file) takes mail
// from this project's daemon through lmtp:unix:PATH and through
// lmtp:inet:127.0.0.1:PORT. Each message goes to alice, bob and an unknown
// user: the mail must land in the two Maildirs, and the log lines must be
// the ones Postfix 3.7.11 writes for the same Dovecot replies (when
// Postfix is installed, it runs the same messages and the lines are
// compared; Dovecot's session IDs are normalised). The test installs
// nothing: without dovecot it is skipped with a message.
import * as assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { test } from 'node:test';
import { repoRoot } from '../lib/cases.js';
import { type DaemonKind, programPath, startDaemon } from '../lib/daemon.js';
import { namespaceReady, whyNoNamespace } from '../lib/netns.js';
import { testInNamespace } from '../lib/netns-test.js';
import { tempDir } from '../lib/tmp.js';

const DOVECOT = '/usr/sbin/dovecot';
const LMTP_PORT = 10024;
const MASTER = path.join(repoRoot(), 'fixtures', 'smtp', 'master.cf');

function whyNot(): string | null {
  if (!fs.existsSync(DOVECOT) || !fs.existsSync('/usr/lib/dovecot/lmtp')) return 'dovecot-lmtpd is not installed (apt-get install dovecot-lmtpd)';
  return whyNoNamespace();
}

function ids(name: string): { uid: number; gid: number } {
  const line = fs.readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith(`${name}:`));
  if (!line) throw new Error(`no user ${name}`);
  const f = line.split(':');
  return { uid: Number(f[2]), gid: Number(f[3]) };
}

async function startDovecot(root: string): Promise<ChildProcess> {
  const { uid, gid } = ids('nobody');
  for (const d of ['run', 'mail']) fs.mkdirSync(path.join(root, d), { mode: 0o755 });
  fs.chownSync(path.join(root, 'mail'), uid, gid);
  fs.writeFileSync(path.join(root, 'users'), ['alice', 'bob'].map((u) => `${u}::${uid}:${gid}::${root}/mail/${u}::\n`).join(''));
  fs.writeFileSync(path.join(root, 'dovecot.conf'), [
    `base_dir = ${root}/run`,
    `state_dir = ${root}/run`,
    `log_path = ${root}/dovecot.log`,
    'protocols = lmtp',
    'ssl = no',
    'listen = 127.0.0.1',
    `mail_location = maildir:${root}/mail/%n`,
    'auth_username_format = %Ln',
    `passdb {\n  driver = passwd-file\n  args = ${root}/users\n}`,
    `userdb {\n  driver = passwd-file\n  args = ${root}/users\n}`,
    `service lmtp {\n  unix_listener ${root}/lmtp.sock {\n    mode = 0666\n  }\n  inet_listener lmtp {\n    address = 127.0.0.1\n    port = ${LMTP_PORT}\n  }\n}`,
    '',
  ].join('\n'));
  const p = spawn(DOVECOT, ['-F', '-c', path.join(root, 'dovecot.conf')], { stdio: 'ignore' });
  const deadline = Date.now() + 15000;
  for (;;) {
    const up = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port: LMTP_PORT });
      s.once('connect', () => { s.destroy(); resolve(true); });
      s.once('error', () => resolve(false));
    });
    if (up && fs.existsSync(path.join(root, 'lmtp.sock'))) return p;
    if (Date.now() > deadline) {
      p.kill();
      throw new Error(`dovecot did not start: ${fs.existsSync(path.join(root, 'dovecot.log')) ? fs.readFileSync(path.join(root, 'dovecot.log'), 'utf8') : ''}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Delivers one message with `kind` through `transport`; the normalised lmtp log lines. */
async function deliver(kind: DaemonKind, root: string, transport: string): Promise<string[]> {
  const conf = path.join(root, `conf-${kind}-${transport.startsWith('lmtp:unix') ? 'unix' : 'inet'}`);
  fs.mkdirSync(conf);
  fs.writeFileSync(path.join(conf, 'main.cf'), [
    'compatibility_level = 3.6', 'myhostname = host.example.com', 'mydomain = example.com', 'mydestination =',
    'inet_interfaces = 127.0.0.1', 'inet_protocols = ipv4', `default_transport = ${transport}`, 'relayhost =',
    'local_transport = error:no local delivery', '',
  ].join('\n'));
  fs.copyFileSync(MASTER, path.join(conf, 'master.cf'));
  const d = await startDaemon(kind, conf);
  try {
    const r = spawnSync(programPath(kind, 'sendmail'), ['-C', d.configDir, '-f', 'sender@host.example.com', 'alice@mail.example', 'bob@mail.example', 'carol@mail.example'], {
      input: 'Subject: to dovecot\n\nHello Dovecot.\n', env: { PATH: '/usr/bin:/bin:/usr/sbin:/sbin', TZ: 'UTC' },
    });
    assert.equal(r.status, 0, r.stderr?.toString());
    const deadline = Date.now() + 30000;
    for (;;) {
      const lines = d.log().split('\n').filter((l) => /postfix\/lmtp\[\d+\]: \w+: to=<\w+@mail\.example>/.test(l));
      if (lines.length >= 3) {
        return lines.map((l) => l.replace(/^.*?postfix\/lmtp\[\d+\]: \w+: /, '')
          .replace(/delay=[\d.]+, delays=[\d./]+/, 'delay=@D@')
          .replace(/<([a-z]+@mail\.example)> [A-Za-z0-9+/:]{20,} Saved/, '<$1> @SESSION@ Saved')
          .split(root).join('@ROOT@')).sort();
      }
      if (Date.now() > deadline) throw new Error(`${kind}: no lmtp lines:\n${d.log()}`);
      await new Promise((res) => setTimeout(res, 100));
    }
  } finally {
    await d.stop();
  }
}

if (namespaceReady()) {
  test('mail reaches Dovecot through lmtp:unix: and lmtp:inet:, per-recipient replies logged as Postfix logs them', async (t) => {
    const why = whyNot();
    if (why) return t.skip(why);
    const root = tempDir('lmtp-dovecot-');
    fs.chmodSync(root, 0o755);
    const dovecot = await startDovecot(root);
    try {
      for (const transport of [`lmtp:unix:${root}/lmtp.sock`, `lmtp:inet:127.0.0.1:${LMTP_PORT}`]) {
        const ours = await deliver('ours', root, transport);
        const relay = transport.startsWith('lmtp:unix') ? 'host.example.com[@ROOT@/lmtp.sock]' : `127.0.0.1[127.0.0.1]:${LMTP_PORT}`;
        assert.match(ours[0]!, new RegExp(`^to=<alice@mail\\.example>, relay=${relay.replace(/[[\]./]/g, '\\$&')}, delay=@D@, dsn=2\\.0\\.0, status=sent \\(250 2\\.0\\.0 <alice@mail\\.example> @SESSION@ Saved\\)$`));
        assert.match(ours[2]!, /^to=<carol@mail\.example>, .*dsn=5\.1\.1, status=bounced \(host .* said: 550 5\.1\.1 <carol@mail\.example> User doesn't exist: carol@mail\.example \(in reply to RCPT TO command\)\)$/);
        if (fs.existsSync('/usr/sbin/postfix')) assert.deepEqual(ours, await deliver('postfix', root, transport));
      }
      for (const u of ['alice', 'bob']) {
        const files = fs.readdirSync(path.join(root, 'mail', u, 'new'));
        assert.ok(files.length >= 2, `${u}: ${files.length} messages`);
        assert.match(fs.readFileSync(path.join(root, 'mail', u, 'new', files[0]!), 'utf8'), /Hello Dovecot\./);
      }
    } finally {
      dovecot.kill();
    }
  });
} else {
  testInNamespace('lmtp(8) to Dovecot', import.meta.url, whyNot);
}
