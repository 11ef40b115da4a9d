// Table trouble inside the running daemon (bin/postfix start): a pcre:
// header_checks table with a broken line is reported in the maillog under
// cleanup's tag, and a table that cannot be opened gives the session
// Postfix's 451 reply and log lines while the same worker goes on serving
// another session at the same time. Expected lines were recorded from
// Postfix 3.7.11 (/usr/sbin/postfix on fixtures/smtpd/01-defaults plus the
// settings below, in a private network namespace):
//   postfix/cleanup[1633]: warning: pcre map /tmp/lg-oracle/s1/conf/hc, line 3: error in regex at offset 11: missing closing parenthesis
//   postfix/cleanup[1633]: warning: pcre map /tmp/lg-oracle/s1/conf/hc, line 4: no replacement text: using empty string
//   postfix/smtpd[3437]: error: open database /nonexistent/access.db: No such file or directory
//   postfix/smtpd[3437]: warning: hash:/nonexistent/access is unavailable. open database /nonexistent/access.db: No such file or directory
//   postfix/smtpd[3437]: warning: hash:/nonexistent/access lookup error for "root@mx.example.com"
//   postfix/smtpd[3437]: NOQUEUE: reject: RCPT from localhost[127.0.0.1]: 451 4.3.5 <root@mx.example.com>: Recipient address rejected: Server configuration error; from=<a@example.com> to=<root@mx.example.com> proto=SMTP helo=<x>
// Starts daemons: outside a private network namespace this file re-runs
// itself under `unshare -n` (root only).
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { repoRoot } from '../lib/cases.js';
import { type Daemon, startDaemon } from '../lib/daemon.js';
import { namespaceReady, whyNoNamespace } from '../lib/netns.js';
import { testInNamespace } from '../lib/netns-test.js';
import { ReplyReader } from '../master/smtp-load.js';

const FIXTURE = path.join(repoRoot(), 'fixtures', 'smtpd', '01-defaults');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A copy of 01-defaults with lines added to main.cf and extra files; removed by the caller. */
function fixtureWith(mainCf: string[], files: Record<string, string> = {}): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'table-logging-fixture-'));
  for (const f of fs.readdirSync(FIXTURE)) fs.copyFileSync(path.join(FIXTURE, f), path.join(dir, f));
  fs.appendFileSync(path.join(dir, 'main.cf'), ['', ...mainCf, ''].join('\n'));
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text);
  return dir;
}

/** Runs body on a started daemon; stops it and removes the fixture copy whatever happens. */
async function withDaemon(fixture: string, body: (d: Daemon) => Promise<void>): Promise<void> {
  try {
    const d = await startDaemon('ours', fixture);
    try {
      await body(d);
    } finally {
      await d.stop();
    }
  } finally {
    fs.rmSync(fixture, { recursive: true, force: true });
  }
}

/** Polls the maillog (an event the daemon writes) until check passes. */
async function logUntil(d: Daemon, what: string, check: (log: string) => boolean, ms = 15000): Promise<string> {
  const deadline = Date.now() + ms;
  for (;;) {
    const log = d.log();
    if (check(log)) return log;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; maillog:\n${log}`);
    await sleep(50);
  }
}

interface Client {
  socket: net.Socket;
  reader: ReplyReader;
  /** Sends one command line, returns the reply. */
  cmd(line: string): Promise<string | null>;
}

/** A session from a given loopback address, after the greeting. */
async function client(port: number, localAddress: string): Promise<Client> {
  const socket = await new Promise<net.Socket>((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port, localAddress });
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
  socket.on('error', () => undefined);
  const reader = new ReplyReader(socket);
  assert.equal(await reader.next(), '220 mx.example.com ESMTP Postfix\r\n');
  return {
    socket,
    reader,
    cmd: (line) => {
      socket.write(`${line}\r\n`);
      return reader.next();
    },
  };
}

/** The maillog lines of one tag ("postfix/smtpd") and pid, without the timestamp and host. */
function linesOf(log: string, tag: string, pid: string): string[] {
  const head = `${tag}[${pid}]: `;
  return log.split('\n').filter((l) => l.includes(` ${head}`)).map((l) => l.slice(l.indexOf(head) + head.length));
}

if (!namespaceReady()) {
  testInNamespace('table warnings and failures inside the daemon (in a private network namespace)', import.meta.url, whyNoNamespace);
} else {
  test('a broken pcre: header_checks line is logged under cleanup\'s tag with Postfix\'s words', async () => {
    const hc = '/^Subject: ok/ WARN fine\n\n/^Subject: (/ REJECT broken\n/^X-Foo:/\n/^X-Bar:/ REJECT bar\n';
    const fixture = fixtureWith(['header_checks = pcre:$config_directory/hc'], { hc });
    await withDaemon(fixture, async (d) => {
      const table = path.join(d.configDir, 'hc');
      const line3 = `warning: pcre map ${table}, line 3: error in regex at offset 11: missing closing parenthesis`;
      const line4 = `warning: pcre map ${table}, line 4: no replacement text: using empty string`;
      const log = await logUntil(d, 'the pcre warnings', (l) => l.includes(line4));
      const m = new RegExp(` postfix/cleanup\\[(\\d+)\\]: ${line3.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\n`).exec(log);
      assert.ok(m, log);
      assert.deepEqual(linesOf(log, 'postfix/cleanup', m[1]!).slice(0, 2), [line3, line4]);
      // Nothing of it went to a command's stderr form, and the table still works.
      assert.doesNotMatch(log, /^(?:postfix|cleanup|smtpd): warning/m);
      const c = await client(d.ports[0]!, '127.0.0.1');
      assert.equal(await c.cmd('HELO x'), '250 mx.example.com\r\n');
      assert.equal(await c.cmd('MAIL FROM:<a@example.com>'), '250 2.1.0 Ok\r\n');
      assert.equal(await c.cmd('RCPT TO:<root@mx.example.com>'), '250 2.1.5 Ok\r\n');
      assert.equal(await c.cmd('DATA'), '354 End data with <CR><LF>.<CR><LF>\r\n');
      assert.equal(await c.cmd('Subject: ok\r\nX-Bar: y\r\n\r\nbody\r\n.'), '550 5.7.1 bar\r\n');
      assert.equal(await c.cmd('QUIT'), '221 2.0.0 Bye\r\n');
      c.socket.destroy();
    });
  });

  test('a table that cannot be opened: 451 and Postfix\'s log lines for that session; the worker serves another at once', async () => {
    const fixture = fixtureWith([
      'mynetworks = 127.0.1.6/32',
      'smtpd_recipient_restrictions = permit_mynetworks, check_recipient_access hash:$config_directory/missing, reject_unauth_destination',
    ]);
    await withDaemon(fixture, async (d) => {
      const missing = path.join(d.configDir, 'missing');
      const openError = `open database ${missing}.db: No such file or directory`;
      // The two sessions must share a worker; with several workers, try pairs until one does.
      for (let attempt = 0; ; attempt++) {
        const a = await client(d.ports[0]!, '127.0.1.5');
        assert.equal(await a.cmd('HELO a.example'), '250 mx.example.com\r\n');
        assert.equal(await a.cmd('MAIL FROM:<a@example.com>'), '250 2.1.0 Ok\r\n');
        const reply = '451 4.3.5 <root@mx.example.com>: Recipient address rejected: Server configuration error';
        assert.equal(await a.cmd('RCPT TO:<root@mx.example.com>'), `${reply}\r\n`);
        // A is still connected while B, from inside mynetworks, sends a message.
        const b = await client(d.ports[0]!, '127.0.1.6');
        assert.equal(await b.cmd('HELO b.example'), '250 mx.example.com\r\n');
        assert.equal(await b.cmd('MAIL FROM:<b@example.com>'), '250 2.1.0 Ok\r\n');
        assert.equal(await b.cmd('RCPT TO:<root@mx.example.com>'), '250 2.1.5 Ok\r\n');
        assert.equal(await b.cmd('DATA'), '354 End data with <CR><LF>.<CR><LF>\r\n');
        assert.match((await b.cmd('Subject: b\r\n\r\nbody\r\n.'))!, /^250 2\.0\.0 Ok: queued as [0-9A-F]+\r\n$/);
        // A's session goes on: the same answer again, then a clean end.
        assert.equal(await a.cmd('RSET'), '250 2.0.0 Ok\r\n');
        assert.equal(await a.cmd('MAIL FROM:<a@example.com>'), '250 2.1.0 Ok\r\n');
        assert.equal(await a.cmd('RCPT TO:<root@mx.example.com>'), `${reply}\r\n`);
        assert.equal(await a.cmd('QUIT'), '221 2.0.0 Bye\r\n');
        assert.equal(await b.cmd('QUIT'), '221 2.0.0 Bye\r\n');
        a.socket.destroy();
        b.socket.destroy();
        const log = await logUntil(d, 'both disconnects', (l) => /disconnect from unknown\[127\.0\.1\.5\].*\n[^]*disconnect from unknown\[127\.0\.1\.6\]|disconnect from unknown\[127\.0\.1\.6\][^]*disconnect from unknown\[127\.0\.1\.5\]/.test(l));
        const pidOf = (addr: string) => [...log.matchAll(new RegExp(`postfix/smtpd\\[(\\d+)\\]: connect from unknown\\[${addr.replace(/\./g, '\\.')}\\]`, 'g'))].pop()![1]!;
        const pa = pidOf('127.0.1.5');
        const pb = pidOf('127.0.1.6');
        const lines = linesOf(log, 'postfix/smtpd', pa);
        assert.ok(lines.includes(`error: ${openError}`), lines.join('\n'));
        const rejectLine = `NOQUEUE: reject: RCPT from unknown[127.0.1.5]: ${reply}; from=<a@example.com> to=<root@mx.example.com> proto=SMTP helo=<a.example>`;
        const tail = lines.slice(lines.lastIndexOf('connect from unknown[127.0.1.5]'));
        const unavailable = `warning: hash:${missing} is unavailable. ${openError}`;
        const lookupError = `warning: hash:${missing} lookup error for "root@mx.example.com"`;
        assert.deepEqual(tail.filter((l) => l === unavailable || l === lookupError || l === rejectLine),
          [unavailable, lookupError, rejectLine, unavailable, lookupError, rejectLine]);
        assert.doesNotMatch(log, /killed by signal|exit status|panic|fatal/);
        if (pa === pb) break;
        if (attempt >= 20) assert.fail(`sessions never shared a worker (${pa}, ${pb})`);
      }
    });
  });
}
