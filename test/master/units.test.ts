// Unit tests for the daemon's parts that need no daemon: maillog line
// format and sinks, syslog through logger(1) (against a stand-in /dev/log
// when python3 is there to play syslogd), inet endpoints, master.cf
// service options, locks and the PID file, and the registry of programs.
import * as assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { fileSink, formatMaillogLine, logHostLabel, logTimestamp, maillogPrefixError, MSG_LOGGER_RECLEN, openMaillogFile } from '../../src/log/sink.js';
import { splitTag, syslogFacility, syslogSeverity, syslogSink } from '../../src/log/syslog.js';
import { inetProtocols, servicePort, splitHostPort } from '../../src/master/endpoints.js';
import { formatPidLine, masterRunning, openLock, readMasterPid, writePid } from '../../src/master/lock.js';
import { commandName, lookupProgram, missingProgramWarning, programKind, processCap, programModule, registerProgram } from '../../src/master/programs.js';
import { daemonOptions, serviceDisabled } from '../../src/master/services.js';

function tmpdir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'master-units-'));
}

test('maillog lines look like postlogd writes them', () => {
  const when = new Date(2026, 0, 5, 7, 8, 9);
  assert.equal(logTimestamp(when), 'Jan 05 07:08:09');
  assert.equal(logHostLabel('mx.example.com'), 'mx');
  assert.equal(logHostLabel('localhost'), 'localhost');
  assert.equal(formatMaillogLine('mx.example.com', 'postfix/smtpd[42]', 'connect from x', when), 'Jan 05 07:08:09 mx postfix/smtpd[42]: connect from x');
  const long = formatMaillogLine('h', 't[1]', 'x'.repeat(3000), when);
  assert.equal(long.length, 'Jan 05 07:08:09 h t[1]: '.length + MSG_LOGGER_RECLEN);
});

test('maillog_file must start with one of maillog_file_prefixes', () => {
  assert.equal(maillogPrefixError('/var/log/mail.log', ['/var', '/dev/stdout']), null);
  assert.equal(maillogPrefixError('/tmp/x', ['/var', '/dev/stdout']), "maillog_file value '/tmp/x' does not match any prefix in maillog_file_prefixes");
});

test('maillog_file is opened with safe_open()\'s checks', () => {
  const dir = tmpdir();
  try {
    const file = path.join(dir, 'maillog');
    const created = openMaillogFile(file);
    assert.ok('fd' in created);
    fs.closeSync(created.fd);
    assert.equal(fs.statSync(file).mode & 0o777, 0o644 & ~process.umask());
    const again = openMaillogFile(file);
    assert.ok('fd' in again);
    fs.closeSync(again.fd);
    fs.linkSync(file, path.join(dir, 'second'));
    assert.deepEqual(openMaillogFile(file), { error: `open logfile '${file}': file has 2 hard links` });
    fs.symlinkSync(path.join(dir, 'second'), path.join(dir, 'link'));
    fs.rmSync(file);
    // A link is refused unless root owns it and its directory, writable by root alone.
    fs.chmodSync(dir, 0o775);
    assert.deepEqual(openMaillogFile(path.join(dir, 'link')), { error: `open logfile '${path.join(dir, 'link')}': file is a symbolic link` });
    assert.deepEqual(openMaillogFile(dir), { error: `open logfile '${dir}': cannot open file: Is a directory` });
    // /dev/stdout reopens descriptor 1, which cannot be done when it is a socket (as under node --test).
    if (!fs.fstatSync(1).isSocket()) {
      const stdout = openMaillogFile('/dev/stdout');
      assert.ok('fd' in stdout, 'root-owned /dev/stdout is accepted');
      fs.closeSync(stdout.fd);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('fileSink appends whole lines, at once or batched per turn', async () => {
  const dir = tmpdir();
  const file = path.join(dir, 'log');
  const fd = fs.openSync(file, 'a');
  try {
    fileSink(fd, 'mx.example', file).write('postfix/master[1]', 'one');
    const batched = fileSink(fd, 'mx.example', file, undefined, true);
    batched.write('postfix/smtpd[2]', 'two');
    batched.write('postfix/smtpd[2]', 'warning: three');
    assert.equal(fs.readFileSync(file, 'utf8').split('\n').length, 2);
    await new Promise((r) => setImmediate(r));
    const lines = fs.readFileSync(file, 'utf8').trimEnd().split('\n');
    assert.equal(lines.length, 3);
    assert.match(lines[0]!, /^[A-Z][a-z]{2} \d\d \d\d:\d\d:\d\d mx postfix\/master\[1\]: one$/);
    assert.match(lines[2]!, / mx postfix\/smtpd\[2\]: warning: three$/);
  } finally {
    fs.closeSync(fd);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('syslog severity, facility and tag', () => {
  assert.equal(syslogSeverity('connect from x'), 6);
  assert.equal(syslogSeverity('warning: x'), 4);
  assert.equal(syslogSeverity('error: x'), 3);
  assert.equal(syslogSeverity('fatal: x'), 2);
  assert.equal(syslogSeverity('panic: x'), 2);
  assert.equal(syslogFacility('mail'), 2);
  assert.equal(syslogFacility('LOCAL7'), 23);
  assert.equal(syslogFacility('bogus'), undefined);
  assert.deepEqual(splitTag('postfix/smtpd[42]'), { name: 'postfix/smtpd', pid: 42 });
});

const python = spawnSync('python3', ['-c', 'print(1)']).status === 0;
const logger = spawnSync('logger', ['--help']).status === 0;

test('syslogSink sends "<PRI>Mmm dd hh:mm:ss tag[pid]: text" to the socket', { skip: !(python && logger) && 'needs python3 and logger(1)' }, async () => {
  const dir = tmpdir();
  const sock = path.join(dir, 'log');
  const server = spawn('python3', ['-u', '-c', [
    'import socket, sys',
    's = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)',
    `s.bind(${JSON.stringify(sock)})`,
    'print("ready", flush=True)',
    'for i in range(2):',
    '    print(s.recv(65536).decode(), flush=True)',
  ].join('\n')]);
  let out = '';
  server.stdout.on('data', (b: Buffer) => (out += b.toString()));
  try {
    while (!out.includes('ready')) await new Promise((r) => setTimeout(r, 20));
    const trouble: string[] = [];
    const sink = syslogSink({ facility: 'mail', socketPath: sock, trouble: (t) => trouble.push(t) });
    sink.write('postfix/smtpd[4242]', 'connect from localhost[127.0.0.1]');
    sink.write('postfix/smtpd[4242]', 'warning: something odd');
    sink.close();
    const deadline = Date.now() + 5000;
    while (out.trim().split('\n').length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const lines = out.trim().split('\n').slice(1);
    assert.deepEqual(trouble, []);
    assert.match(lines[0]!, /^<22>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d postfix\/smtpd\[4242\]: connect from localhost\[127\.0\.0\.1\]$/);
    assert.match(lines[1]!, /^<20>.* postfix\/smtpd\[4242\]: warning: something odd$/);
  } finally {
    server.kill();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('syslogSink without a socket says so once and passes the lines on', () => {
  const trouble: string[] = [];
  const sink = syslogSink({ facility: 'mail', socketPath: '/nonexistent/log', trouble: (t) => trouble.push(t) });
  sink.write('postfix/master[1]', 'daemon started');
  sink.write('postfix/master[1]', 'reload');
  assert.deepEqual(trouble, [
    'warning: cannot log to syslog: /nonexistent/log does not exist; log lines follow here',
    'postfix/master[1]: daemon started',
    'postfix/master[1]: reload',
  ]);
});

test('inet service names as host_port() splits them', () => {
  assert.deepEqual(splitHostPort('127.0.0.1:10025'), { host: '127.0.0.1', port: '10025' });
  assert.deepEqual(splitHostPort('smtp'), { host: '', port: 'smtp' });
  assert.deepEqual(splitHostPort('[::1]:25'), { host: '::1', port: '25' });
  assert.deepEqual(splitHostPort('[ipv6:::1]:25'), { host: '::1', port: '25' });
  assert.deepEqual(splitHostPort('[::1]x'), { error: 'garbage after "]"' });
  assert.deepEqual(splitHostPort('[::1'), { error: 'missing "]"' });
  assert.deepEqual(splitHostPort('host:25x'), { error: 'garbage after numerical service' });
  assert.equal(servicePort('25'), 25);
  assert.equal(servicePort('70000'), null);
  if (fs.existsSync('/etc/services')) {
    assert.equal(servicePort('smtp'), 25);
    assert.equal(servicePort('submission'), 587);
  }
  assert.deepEqual(inetProtocols('ipv4'), { families: [4] });
  assert.deepEqual(inetProtocols('ipv4, ipv6'), { families: [4, 6] });
  assert.deepEqual(inetProtocols(''), { families: [] });
  assert.ok('error' in inetProtocols('ipx'));
});

test('daemon options and master_service_disable', () => {
  assert.deepEqual(daemonOptions(['-o', 'syslog_name=postfix/submission', '-v', '-osmtpd_tls_wrappermode=yes', '-o', 'smtpd_banner = x y']), {
    options: [['syslog_name', 'postfix/submission'], ['smtpd_tls_wrappermode', 'yes'], ['smtpd_banner', 'x y']],
    flags: ['-v'],
    rest: [],
  });
  assert.equal(serviceDisabled('', 'smtp', 'inet'), false);
  assert.equal(serviceDisabled('inet', 'smtp', 'inet'), true);
  assert.equal(serviceDisabled('smtp/inet', 'smtp', 'inet'), true);
  assert.equal(serviceDisabled('smtp.inet', 'smtp', 'inet'), true);
  assert.equal(serviceDisabled('!foo/inet, inet', 'foo', 'inet'), false);
  assert.equal(serviceDisabled('!foo/inet, inet', 'bar', 'inet'), true);
  assert.equal(serviceDisabled('unix', 'smtp', 'inet'), false);
});

test('lock files: the PID in 32 columns, one holder at a time', () => {
  const dir = tmpdir();
  const file = path.join(dir, 'master.pid');
  try {
    assert.equal(formatPidLine(137), `${' '.repeat(29)}137\n`);
    assert.equal(masterRunning(file), false);
    const first = openLock(file);
    assert.ok('fd' in first);
    writePid(first.fd, 4242);
    assert.equal(fs.readFileSync(file, 'latin1'), formatPidLine(4242));
    assert.equal(readMasterPid(file), 4242);
    assert.deepEqual(openLock(file), { error: 'unable to set exclusive lock: Resource temporarily unavailable' });
    assert.equal(masterRunning(file), true);
    fs.closeSync(first.fd);
    assert.equal(masterRunning(file), false);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('the registry: how each master.cf command runs, and the warning for the others', () => {
  assert.equal(programKind('smtpd', 'inet'), 'workers');
  assert.equal(programKind('/usr/lib/postfix/sbin/smtpd', 'inet'), 'workers');
  assert.equal(programKind('smtpd', 'pass'), 'missing');
  assert.equal(programKind('smtpd', 'unix'), 'missing');
  for (const name of ['cleanup', 'trivial-rewrite', 'postlogd', 'proxymap', 'anvil']) {
    assert.equal(programKind(name, 'unix'), 'in-process', name);
  }
  assert.equal(programKind('postlogd', 'unix-dgram'), 'in-process');
  // One process each, on a socket or FIFO.
  assert.equal(programKind('qmgr', 'unix'), 'single');
  assert.equal(programKind('pickup', 'fifo'), 'single');
  // The delivery agents: one process each, process_limit as its concurrent deliveries.
  for (const name of ['error', 'discard', 'local', 'virtual', 'pipe']) {
    assert.equal(programKind(name, 'unix'), 'workers', name);
    assert.equal(programModule(name)?.skeleton, 'stream', name);
    assert.equal(processCap(name), 1, name);
  }
  assert.equal(programKind('error', 'inet'), 'missing');
  assert.equal(processCap('smtpd'), undefined);
  for (const name of ['bounce', 'showq']) assert.equal(programKind(name, 'unix'), 'in-process', name);
  // Served by the master itself.
  assert.equal(programKind('flush', 'unix'), 'master');
  assert.equal(programKind('flush', 'fifo'), 'missing');
  for (const name of ['tlsmgr', 'scache', 'verify', 'postscreen']) {
    assert.equal(programKind(name, 'unix'), 'missing', name);
  }
  const smtpd = lookupProgram('smtpd', 'inet');
  assert.equal(smtpd.kind, 'workers');
  assert.equal('module' in smtpd && smtpd.module.skeleton, 'stream');
  assert.equal(programModule('smtpd')?.skeleton, 'stream');
  assert.equal(programModule('qmgr')?.skeleton, 'trigger');
  assert.equal(programModule('cleanup'), undefined);
  assert.equal(registerProgram('smtpd', 'single', ['unix'], { skeleton: 'trigger', start: () => { throw new Error('unused'); } }), false);
  assert.equal(commandName('/x/y/smtpd'), 'smtpd');
  assert.equal(missingProgramWarning('tlsmgr', 'unix', 'tlsmgr'), 'master.cf service "tlsmgr" (type unix): command "tlsmgr" is not implemented by this Postfix replacement yet: service not started');
  assert.equal(missingProgramWarning('flush', 'fifo', 'flush'), 'master.cf service "flush" (type fifo): command "flush" is implemented only for type "unix": service not started');
  for (const name of ['smtp', 'lmtp']) assert.equal(programKind(name, 'unix'), 'workers', name);
  assert.equal(missingProgramWarning('smtpd', 'pass', 'smtpd'), 'master.cf service "smtpd" (type pass): command "smtpd" is implemented only for type "inet": service not started');
});

test('a program registered with its kind, types and module', () => {
  const module = { skeleton: 'trigger' as const, start: () => { throw new Error('unused'); } };
  assert.equal(registerProgram('units-trigger', 'single', ['unix', 'fifo', 'pass'], module), true);
  assert.equal(programKind('units-trigger', 'fifo'), 'single');
  assert.equal(programKind('/x/units-trigger', 'unix'), 'single');
  assert.equal(programKind('units-trigger', 'inet'), 'missing');
  // A type the master cannot create endpoints for is not run.
  assert.equal(programKind('units-trigger', 'pass'), 'missing');
  assert.equal(programModule('units-trigger'), module);
  assert.equal(missingProgramWarning('t', 'inet', 'units-trigger'), 'master.cf service "t" (type inet): command "units-trigger" is implemented only for type "unix", "fifo": service not started');
});
