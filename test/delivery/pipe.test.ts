// pipe(8) (src/delivery/pipe/): the master.cf attributes and Postfix's
// fatal texts, the argv macros (per-recipient words, folding, quoting,
// unknown names), and the agent on a queue file: what the command gets on
// its standard input and argv, and the log lines of each outcome. The
// whole daemon against Postfix's recordings: test/e2e/pipe-replay.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as api from '../../src/delivery/api.js';
import { type AttrLookups, PIPE_OPT_FOLD_ALL, PIPE_OPT_FOLD_HOST, PIPE_OPT_QUOTE_LOCAL, parsePipeAttr, unescape } from '../../src/delivery/pipe/attr.js';
import { type ArgvContext, expandArgv, foldAddr } from '../../src/delivery/pipe/argv.js';
import { type PipeService, pipeAgent } from '../../src/delivery/pipe/pipe.js';
import { MAIL_COPY_DELIVERED, MAIL_COPY_DOT, MAIL_COPY_FROM, MAIL_COPY_ORIG_RCPT, MAIL_COPY_RETURN_PATH } from '../../src/delivery/local/mail-copy.js';
import { REC_TYPE } from '../../src/queue/rec-type.js';
import { QID, STATS, TIMES, exchange, lines, options, writeQueueFile } from './agent-harness.js';
import { Config, ConfigError } from '../../src/config/config.js';
import { createLogger, memorySink } from '../../src/log/logger.js';
import { daemonOptions } from '../../src/master/services.js';
import { pipeProgram } from '../../src/master/pipe-program.js';
import type { ProgramContext } from '../../src/master/program.js';
import { tempDir } from '../lib/tmp.js';

const LOOKUPS: AttrLookups = {
  user: (name) => ({ vmail: { uid: 5000, gid: 5000 }, root: { uid: 0, gid: 0 }, postfix: { uid: 107, gid: 113 }, wheel0: { uid: 9, gid: 0 } } as Record<string, { uid: number; gid: number }>)[name] ?? null,
  group: (name) => ({ mail: 8, postdrop: 114, root: 0 } as Record<string, number>)[name] ?? null,
  mailOwner: 'postfix', ownerUid: 107, ownerGid: 113, sgidGroup: 'postdrop', sgidGid: 114,
};

const err = (args: string[]): string => {
  const r = parsePipeAttr(args, LOOKUPS);
  return 'error' in r ? r.error : 'ok';
};

test('pipe attributes: every one parsed, argv= takes the rest of the line', () => {
  const r = parsePipeAttr(['flags=FDORXB.>hqu', 'USER=vmail:mail', 'directory=/var/x', 'eol=\\r\\n', 'null_sender=', 'size=1000', 'argv=/bin/cat', 'flags=x', '${recipient}'], LOOKUPS);
  assert.ok(!('error' in r));
  assert.deepEqual(r.command, ['/bin/cat', 'flags=x', '${recipient}']);
  assert.equal(r.uid, 5000);
  assert.equal(r.gid, 8);
  assert.equal(r.eol, '\r\n');
  assert.equal(r.nullSender, '');
  assert.equal(r.sizeLimit, 1000);
  assert.equal(r.execDir, '/var/x');
  const d = parsePipeAttr(['user=vmail:', 'argv=x'], LOOKUPS);
  assert.ok(!('error' in d) && d.gid === 5000 && d.nullSender === 'MAILER-DAEMON' && d.eol === '\n' && d.flags === 0);
});

test('pipe attributes: Postfix fatal texts', () => {
  assert.equal(err(['argv=x']), 'missing user= command-line attribute');
  assert.equal(err(['user=vmail']), 'missing argv= command-line attribute');
  assert.equal(err(['user=root', 'argv=x']), 'user= command-line attribute specifies root privileges');
  assert.equal(err(['user=postfix', 'argv=x']), 'user= command-line attribute specifies mail system owner postfix');
  assert.equal(err(['user=wheel0', 'argv=x']), 'user= command-line attribute specifies privileged group id 0');
  assert.equal(err(['user=vmail:postdrop', 'argv=x']), 'user= command-line attribute specifies mail system postdrop group id 114');
  assert.equal(err(['user=nobody-here', 'argv=x']), 'get_service_attr: unknown username: nobody-here');
  assert.equal(err(['user=vmail:nogroup', 'argv=x']), 'get_service_attr: unknown group: nogroup');
  assert.equal(err(['flags=Fz', 'user=vmail', 'argv=x']), 'unknown flag: z (ignored)');
  assert.equal(err(['size=10k', 'user=vmail', 'argv=x']), 'get_service_attr: bad size= value: 10k');
  assert.equal(err(['color=red', 'user=vmail', 'argv=x']), 'unknown attribute name: color=red');
  assert.match(err(['chroot=/x', 'user=vmail', 'argv=x']), /chroot= command-line attribute is not supported/);
});

test('unescape: C escapes and octal; a trailing backslash is dropped', () => {
  assert.equal(unescape('a\\tb\\101\\0\\q\\'), 'a\tbA\0q');
  assert.equal(unescape('\\777'), '\xff');
});

function ctx(flags = 0, warnings: string[] = [], values: Record<string, string> = {}): ArgvContext {
  return {
    service: 'mypipe', masterCf: '/etc/postfix/master.cf', values: { sender: 's@x', nexthop: 'X.Example', ...values }, flags,
    delimiter: '+', split: {}, utf8: false, warn: (t) => warnings.push(t),
  };
}

test('argv: a recipient word once per recipient, the others once', () => {
  const rcpts = [{ address: 'a+ext@d.example', orcpt: 'o@d.example' }, { address: 'b@e.example', orcpt: '' }];
  const words = ['cmd', '-f', '${sender}', '$recipient', '${user}:$(extension):${mailbox}:${domain}', '${original_recipient}', '$$x-${nexthop}'];
  assert.deepEqual(expandArgv(words, rcpts, ctx()), [
    'cmd', '-f', 's@x', 'a+ext@d.example', 'b@e.example', 'a:ext:a+ext:d.example', 'b::b:e.example', 'o@d.example', '', '$x-X.Example',
  ]);
});

test('argv: an empty user part leaves the word out; no @ is a warning per macro', () => {
  const warnings: string[] = [];
  assert.deepEqual(expandArgv(['${user}', '${domain}!${mailbox}'], [{ address: '@d.example', orcpt: '' }, { address: 'plain', orcpt: '' }], ctx(0, warnings)),
    ['plain', 'd.example!', '!plain']);
  assert.deepEqual(warnings, ['no @ in recipient address: plain', 'no @ in recipient address: plain', 'no @ in recipient address: plain']);
});

test('argv: unknown macro names fail the expansion with a warning naming master.cf', () => {
  for (const word of ['${RECIPIENT}', '${sender?x}', '$client_addr']) {
    const warnings: string[] = [];
    assert.equal(expandArgv(['cmd', word], [{ address: 'a@b', orcpt: '' }], ctx(0, warnings)), null);
    const name = word.replace(/^\$\{?|\}$/g, '');
    assert.deepEqual(warnings, [`file /etc/postfix/master.cf: service mypipe: unknown macro name: "${name}"`]);
  }
});

test('argv: q quotes the recipient, h and u fold the domain and the localpart', () => {
  const rcpts = [{ address: 'Mixed Case+X@Dom.EXAMPLE', orcpt: '' }];
  assert.deepEqual(expandArgv(['${recipient}', '${user}', '${domain}'], rcpts, ctx(PIPE_OPT_QUOTE_LOCAL | PIPE_OPT_FOLD_HOST)),
    ['"Mixed Case+X"@dom.example', 'Mixed Case', 'dom.example']);
  assert.deepEqual(expandArgv(['${recipient}'], rcpts, ctx(PIPE_OPT_FOLD_ALL)), ['mixed case+x@dom.example']);
  assert.equal(foldAddr('NoAt', PIPE_OPT_FOLD_HOST, false), 'NoAt');
});

// ---------------------------------------------------------------------------
// The agent on a queue file.

interface Setup {
  dir: string;
  file: string;
  out: string;
  request: api.DeliveryRequest;
}

function setup(rcpts: string[], body: string[], sender = 'sender@example.com'): Setup {
  const dir = tempDir('pipe-');
  const { file, dataOffset, recipients } = writeQueueFile(dir, rcpts, body, sender);
  const request: api.DeliveryRequest = {
    flags: api.DEL_REQ_FLAG_DEFLT, queueName: 'active', queueId: QID, dataOffset, dataSize: 321, nexthop: 'Next.Example',
    encoding: '7bit', smtputf8: 0, sender, stats: STATS, recipients,
    clientName: 'localhost', clientAddr: '127.0.0.1', clientPort: '12345', clientProto: 'ESMTP', clientHelo: 'client.example.com',
    saslMethod: 'PLAIN', saslUsername: 'u', saslSender: '', logIdent: QID, rewriteContext: 'remote', dsnEnvid: '', dsnRet: 0,
  };
  return { dir, file, out: path.join(dir, 'out'), request };
}

/** A pipe service whose command (sh -c SCRIPT) sees the argv words after "--". */
function service(s: Setup, script: string, over: Partial<PipeService['attr']> = {}, timeLimit = 100): PipeService {
  // The script is an argv= word too: its dollars are written $$.
  const command = ['/bin/sh', '-c', script.replace(/\$/g, '$$$$'), 'sh', ...(over.command ?? [])];
  return {
    service: 'mypipe',
    attr: { uid: process.getuid!(), gid: process.getgid!(), user: 'me', flags: 0, eol: '\n', nullSender: 'MAILER-DAEMON', sizeLimit: 0, ...over, command },
    timeLimit, exportEnv: ['TZ=UTC'], queueDir: s.dir, masterCf: '/etc/postfix/master.cf', delimiter: '+', split: {}, utf8: false,
  };
}

async function deliver(s: Setup, svc: PipeService, req = s.request): Promise<{ log: string[]; replies: string[] }> {
  const log: string[] = [];
  const x = await exchange(pipeAgent(svc), options(s.dir, log, 'postfix/pipe'), lines(req), 1);
  return { log, replies: x.replies };
}

const line = (rcpt: string, dsn: string, status: string, reason: string, orig = ''): string =>
  `postfix/pipe[42]: ${QID}: to=<${rcpt}>,${orig ? ` orig_to=<${orig}>,` : ''} relay=mypipe, ${TIMES}, dsn=${dsn}, status=${status} (${reason})`;

test('pipe agent: argv, environment and the message as the flags ask, with eol=', async () => {
  const s = setup(['User+Ext@Dom.example'], ['Subject: hi', '', 'From me', '.dot', 'end']);
  const script = `{ printf '[%s]' "$@"; echo; env | LC_ALL=C sort; cat; } > ${s.out}; echo '  queued  '`;
  const svc = service(s, script, {
    command: ['${sender}', '${recipient}', '${nexthop}', '${size}', '${queue_id}', '${client_port}', '${sasl_method}/${sasl_username}', '${original_recipient}'],
    flags: MAIL_COPY_FROM | MAIL_COPY_RETURN_PATH | MAIL_COPY_DELIVERED | MAIL_COPY_ORIG_RCPT | MAIL_COPY_DOT | PIPE_OPT_FOLD_HOST, eol: '\r\n',
  });
  s.request.recipients[0]!.orcpt = 'Orig@Dom.example';
  const r = await deliver(s, svc);
  assert.deepEqual(r.log, [line('User+Ext@Dom.example', '2.0.0', 'sent', 'delivered via mypipe service (  queued)', 'Orig@Dom.example')]);
  assert.deepEqual(r.replies, ['{"status":0}']);
  const got = fs.readFileSync(s.out, 'latin1').replace(/^From sender@example\.com {2}\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}\r$/m, 'From sender@example.com  @DATE@\r');
  assert.equal(got, [
    '[sender@example.com][User+Ext@dom.example][next.example][321][865E820E9C9][12345][PLAIN/u][Orig@dom.example]',
    'PATH=/usr/bin:/bin', 'PWD=' + fs.realpathSync(s.dir), 'TZ=UTC',
    'From sender@example.com  @DATE@\r', 'Return-Path: <sender@example.com>\r', 'X-Original-To: Orig@Dom.example\r',
    'Delivered-To: User+Ext@Dom.example\r', 'Subject: hi\r', '\r', 'From me\r', '..dot\r', 'end\r', '',
  ].join('\n'));
  assert.equal(fs.readFileSync(s.file)[s.request.recipients[0]!.offset], REC_TYPE.DONE);
});

test('pipe agent: the output in the reason is cut at 100 characters; X makes the action "delivered"', async () => {
  const s = setup(['a@b.example'], ['body']);
  const r = await deliver(s, service(s, `cat >/dev/null; printf '%0150d\\n' 0`, { flags: 0 }));
  assert.deepEqual(r.log, [line('a@b.example', '2.0.0', 'sent', `delivered via mypipe service (${'0'.repeat(100)})`)]);
});

test('pipe agent: exit codes, D.S.N output, signals and the time limit', async () => {
  const cases: Array<[string, string, string, string]> = [
    ['echo out; exit 67', '5.1.1', 'bounced', 'user unknown. Command output: out '],
    ['exit 75', '4.3.0', 'deferred', 'temporary failure'],
    ['echo "4.2.2 mailbox full" >&2; exit 1', '4.2.2', 'deferred', 'mailbox full '],
    ['exit 3', '5.3.0', 'bounced', 'Command died with status 3: "/bin/sh"'],
    ['kill -9 $$', '4.3.0', 'deferred', 'Command died with signal 9: "/bin/sh"'],
  ];
  for (const [script, dsn, status, reason] of cases) {
    const s = setup(['a@b.example'], ['body']);
    const r = await deliver(s, service(s, `cat >/dev/null; ${script}`));
    assert.deepEqual(r.log, [line('a@b.example', dsn, status, reason)], script);
    assert.deepEqual(r.replies, [status === 'deferred' ? '{"status":1}' : '{"status":0}']);
  }
  const s = setup(['a@b.example'], ['body']);
  const r = await deliver(s, service(s, 'echo slow; exec sleep 30', {}, 1));
  assert.deepEqual(r.log, [
    'postfix/pipe[42]: warning: pipe_command_read: read time limit exceeded',
    line('a@b.example', '5.3.0', 'bounced', 'Command time limit exceeded: "/bin/sh". Command output: slow '),
  ]);
});

test('pipe agent: a command that cannot be executed, a directory= that does not exist', async () => {
  const s = setup(['a@b.example'], ['body']);
  const svc = service(s, '');
  svc.attr.command = ['/no/such/command'];
  let r = await deliver(s, svc);
  assert.deepEqual(r.log, [
    'postfix/pipe[42]: fatal: pipe_command: execvp /no/such/command: No such file or directory',
    line('a@b.example', '4.3.0', 'deferred', 'temporary failure. Command output: pipe: fatal: pipe_command: execvp /no/such/command: No such file or directory '),
  ]);
  const svc2 = service(s, 'exit 0', { execDir: '/no/such/dir', uid: 5, gid: 6 });
  r = await deliver(s, svc2);
  assert.deepEqual(r.log, [
    'postfix/pipe[42]: fatal: cannot change directory to "/no/such/dir" for uid=5 gid=6: No such file or directory',
    line('a@b.example', '4.3.0', 'deferred', 'temporary failure'),
  ]);
});

test('pipe agent: refusals before the command runs', async () => {
  const s = setup(['a@b.example', 'c@b.example'], ['Delivered-To: a@b.example', '', 'body']);
  const never = `touch ${path.join(s.dir, 'ran')}`;
  let r = await deliver(s, service(s, never, { flags: MAIL_COPY_ORIG_RCPT }));
  assert.deepEqual(r.log, [
    line('a@b.example', '4.3.5', 'deferred', 'mail system configuration error'),
    line('c@b.example', '4.3.5', 'deferred', 'mail system configuration error'),
    "postfix/pipe[42]: warning: pipe flag `O' requires mypipe_destination_recipient_limit = 1",
  ]);
  r = await deliver(s, service(s, never, { sizeLimit: 320 }));
  assert.deepEqual(r.log, [line('a@b.example', '5.2.3', 'bounced', 'message too large'), line('c@b.example', '5.2.3', 'bounced', 'message too large')]);
  const one = { ...s.request, recipients: [s.request.recipients[0]!] };
  r = await deliver(s, service(s, never, { flags: MAIL_COPY_DELIVERED }), one);
  assert.deepEqual(r.log, [line('a@b.example', '5.4.6', 'bounced', 'mail forwarding loop for a@b.example')]);
  r = await deliver(s, service(s, never, { command: ['${RECIPIENT}'] }), one);
  assert.deepEqual(r.log, [
    'postfix/pipe[42]: warning: file /etc/postfix/master.cf: service mypipe: unknown macro name: "RECIPIENT"',
    line('a@b.example', '4.3.5', 'deferred', 'mail system configuration error'),
  ]);
  r = await deliver(s, service(s, never), { ...one, flags: api.DEL_REQ_FLAG_USR_VRFY });
  assert.equal(r.log.length, 1);
  assert.match(r.log[0]!, /status=deliverable \(delivers to command: \/bin\/sh\)$/);
  assert.equal(fs.existsSync(path.join(s.dir, 'ran')), false);
});

// ---------------------------------------------------------------------------
// As a master.cf service.

test('master.cf: the words after the daemon options reach the pipe program', () => {
  assert.deepEqual(daemonOptions(['-o', 'a=b', '-v', 'flags=R', 'user=x', 'argv=/bin/cat', '-o', 'c=d']), {
    options: [['a', 'b']], flags: ['-v'], rest: ['flags=R', 'user=x', 'argv=/bin/cat', '-o', 'c=d'],
  });
  assert.deepEqual(daemonOptions(['-o', 'a=b', '--', '-x']).rest, ['-x']);
});

test('pipe program: bad attributes and an unprivileged service stop it with pipe\'s fatal text', () => {
  const dir = tempDir('pipe-conf-');
  let conf = Config.fromEntries(dir, [['mail_owner', 'postfix'], ['setgid_group', 'postdrop']]);
  const start = (init: Record<string, unknown>): string => {
    const log = createLogger(memorySink([]), 'postfix/pipe', 42);
    const ctx = { init: { service: 'mypipe', ...init }, config: () => conf, log, sink: memorySink([]), anvil: {}, listeners: [] } as unknown as ProgramContext;
    try {
      pipeProgram.start(ctx);
      return 'started';
    } catch (e) {
      assert.ok(e instanceof ConfigError);
      return e.message;
    }
  };
  assert.equal(start({ args: ['argv=/bin/cat'] }), 'missing user= command-line attribute');
  assert.equal(start({ args: ['user=root', 'argv=/bin/cat'] }), 'user= command-line attribute specifies root privileges');
  assert.equal(start({ args: ['user=nobody', 'argv=/bin/cat'], unprivileged: true }), 'service mypipe requires privileged operation');
  assert.equal(start({ args: ['user=nobody', 'argv=/bin/cat', '${RECIPIENT}'] }), 'started');
  conf = Config.fromEntries(dir, [['default_delivery_status_filter', 'pcre:/x']]);
  assert.equal(start({ args: ['user=nobody', 'argv=/bin/cat'] }),
    'pipe_delivery_status_filter = pcre:/x: delivery status filters are not supported by this Postfix replacement');
});
