// The smtp-addr fixtures (fixtures/smtp-addr/) once more, this time through
// the resolver the smtp client uses in production: createHopResolver()
// with no servers of its own reads /etc/resolv.conf, and native lookups go
// through getaddrinfo(), which reads /etc/hosts. So the file runs in a
// private network namespace (re-running itself under `unshare -n -m` when
// started outside one; not root, it skips) where it bind-mounts the
// fixture's hosts file and a resolv.conf naming 127.0.0.1, and serves the
// zone on 127.0.0.1:53.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { after, before, test } from 'node:test';
import { createHopResolver } from '../../src/delivery/smtp/addr.js';
import { startFakeDns, type FakeDns } from '../lib/fake-dns.js';
import { namespaceReady, whyNoNamespace } from '../lib/netns.js';
import { testInNamespace } from '../lib/netns-test.js';
import { checkScenario, fixtureDir, loadExpected, loadScenarios, loadZone } from './smtp-addr-harness.js';

function mountBind(src: string, dst: string): void {
  const r = spawnSync('mount', ['--bind', src, dst], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`mount --bind ${src} ${dst}: ${r.stderr}`);
}

if (!namespaceReady()) {
  testInNamespace('smtp-addr fixtures with the system resolver (in a private network namespace)', import.meta.url, whyNoNamespace);
} else {
  let dns: FakeDns;
  let tmp: string;
  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'smtp-addr-netns-'));
    fs.writeFileSync(path.join(tmp, 'resolv.conf'), 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n');
    mountBind(path.join(tmp, 'resolv.conf'), '/etc/resolv.conf');
    mountBind(path.join(fixtureDir(), 'hosts'), '/etc/hosts');
    dns = await startFakeDns(loadZone(), { port: 53 });
  });
  after(async () => {
    await dns.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  });
  const expected = loadExpected();
  for (const s of loadScenarios()) {
    test(`smtp-addr fixture ${s.name} (system resolver)`, async () => {
      await checkScenario(s, expected[s.name] ?? [], createHopResolver({ timeout: 300, tries: 1 }));
    });
  }
}
