// The agents under the master: bin/postfix start on a copy of
// fixtures/smtpd/01-defaults (whose master.cf has error, retry and discard),
// then requests written to private/error, private/retry and
// private/discard as qmgr writes them, for a message placed in active/.
// The replies, the maillog lines (tagged postfix/error for both error
// services) and the done marks are checked. Starts a daemon: outside a
// private network namespace this file re-runs itself under `unshare -n`.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { test } from 'node:test';
import * as api from '../../src/delivery/api.js';
import { repoRoot } from '../lib/cases.js';
import { startDaemon } from '../lib/daemon.js';
import { namespaceReady, whyNoNamespace } from '../lib/netns.js';
import { testInNamespace } from '../lib/netns-test.js';
import { QID, recipientStates, request } from './agent-harness.js';

const FIXTURE = path.join(repoRoot(), 'fixtures', 'smtpd', '01-defaults');

/** One request over a service's socket; the reply line. */
function ask(sock: string, req: api.DeliveryRequest): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = net.connect(sock);
    let buf = '';
    c.on('error', reject);
    c.on('data', (b) => {
      buf += b.toString('utf8');
      const nl = buf.indexOf('\n');
      if (nl >= 0) {
        c.end();
        resolve(buf.slice(0, nl));
      }
    });
    c.write(`${api.encodeRequest(req)}\n`);
  });
}

async function waitFor(what: () => boolean): Promise<void> {
  for (let i = 0; i < 400 && !what(); i++) await new Promise((r) => setTimeout(r, 25));
}

if (!namespaceReady()) {
  testInNamespace('agents under the master (in a private network namespace)', import.meta.url, whyNoNamespace);
} else {
  test('error, retry and discard served by the master over private/', async () => {
    const d = await startDaemon('ours', FIXTURE);
    try {
      const spool = path.join(d.dir, 'spool');
      const active = path.join(spool, 'active');
      const file = path.join(active, QID);
      fs.copyFileSync(path.join(repoRoot(), 'fixtures', 'queue', `${QID}.qf`), file);
      const owner = fs.statSync(active);
      fs.chownSync(file, owner.uid, owner.gid);
      const priv = path.join(spool, 'private');
      await waitFor(() => ['error', 'retry', 'discard'].every((s) => fs.existsSync(path.join(priv, s))));
      assert.ok(fs.existsSync(path.join(priv, 'retry')), d.log() + fs.readdirSync(priv).join(' '));
      const one = (nexthop: string, i: number) => {
        const r = request({ nexthop });
        return { ...r, recipients: [r.recipients[i]!] };
      };
      assert.equal(await ask(path.join(priv, 'retry'), one('4.4.1 down', 0)), '{"status":1}');
      assert.equal(await ask(path.join(priv, 'discard'), one('dropped', 0)), '{"status":0}');
      assert.equal(await ask(path.join(priv, 'error'), one('5.1.2 refused', 1)), '{"status":0}');
      assert.deepEqual(recipientStates(file), ['done', 'done']);
      await waitFor(() => (d.log().match(new RegExp(`${QID}: to=`, 'g')) ?? []).length >= 3);
      const lines = d.log().split('\n').filter((l) => l.includes(`${QID}: to=`)).map((l) => l.replace(/^.*? (postfix\/)/, '$1').replace(/\[\d+\]/, '[PID]'));
      assert.deepEqual(lines.map((l) => l.replace(/delay=.*?, dsn/, 'delay=D, dsn')), [
        `postfix/error[PID]: ${QID}: to=<alice@mx.example.com>, relay=none, delay=D, dsn=4.4.1, status=deferred (down)`,
        `postfix/discard[PID]: ${QID}: to=<alice@mx.example.com>, relay=none, delay=D, dsn=2.0.0, status=sent (dropped)`,
        `postfix/error[PID]: ${QID}: to=<alice@mx.example.com>, orig_to=<known@valias.example>, relay=none, delay=D, dsn=5.1.2, status=bounced (refused)`,
      ]);
      assert.doesNotMatch(d.log(), /fatal|warning: process/);
    } finally {
      await d.stop();
    }
  });
}
