// Unit tests for the master.cf reader (src/config/mastercf.ts). Expected
// values are what Postfix 3.7.11 does with the same text (checked with
// /usr/sbin/postconf -M, -F and -P; see fixtures/postconf-master/).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  extractBraced,
  formatMasterEntry,
  formatMasterField,
  masterOptionSettings,
  normalizeDaemonArgs,
  parseDaemonEntry,
  parseFieldName,
  parseMasterEntry,
  parseMasterFile,
  parseServicePattern,
  readLogicalLines,
  splitQuoted,
} from '../../src/config/mastercf.js';

function collect(): { warn: (t: string) => void; warnings: string[] } {
  const warnings: string[] = [];
  return { warn: (t) => warnings.push(t), warnings };
}

function argvOf(text: string): string[] {
  const w = collect();
  const r = parseMasterEntry(text, w.warn);
  assert.ok(r.ok);
  return r.argv;
}

test('logical lines: comments and blank lines vanish, indented lines continue', () => {
  const w = collect();
  const data = '# c\nsmtp inet n - n - - smtpd\n  -o a=b\n# inside\n\n\t-o c=d\npickup unix n - n 60 1 pickup';
  assert.deepEqual(readLogicalLines(data, '/x/master.cf', w.warn), [
    { text: 'smtp inet n - n - - smtpd  -o a=b\t-o c=d', firstLine: 2, lastLine: 6 },
    { text: 'pickup unix n - n 60 1 pickup', firstLine: 7, lastLine: 7 },
  ]);
  assert.deepEqual(w.warnings, []);
});

test('logical lines: text starting with whitespace is skipped with a warning', () => {
  const w = collect();
  const lines = readLogicalLines('  -o this_line_starts_with_whitespace\n  -o more\nok unix - - n - - smtp\n', '/x/master.cf', w.warn);
  assert.deepEqual(lines.map((l) => l.text), ['ok unix - - n - - smtp']);
  assert.deepEqual(w.warnings, ['/x/master.cf: logical line must not start with whitespace: "  -o this_line_starts_with_whi..."']);
});

test('splitQuoted keeps {...} groups, nesting counted', () => {
  assert.deepEqual(splitQuoted('a {b c} {d {e} f}g h'), ['a', '{b c}', '{d {e} f}g', 'h']);
  assert.deepEqual(splitQuoted('x {unterminated y z'), ['x', '{unterminated y z']);
});

test('extractBraced strips braces and blanks, and words errors as extpar does', () => {
  assert.deepEqual(extractBraced('{ a b }'), { value: 'a b' });
  assert.deepEqual(extractBraced('{a}b'), { value: 'a', error: `syntax error after '}' in "{a}b"` });
  assert.deepEqual(extractBraced('{ab'), { value: 'ab', error: `missing '}' in "{ab"` });
});

test('daemon options: -o forms become "-o" "name=value"', () => {
  assert.deepEqual(argvOf('s unix - - n - - smtpd -o { a = b c } -vo x=y -oz=1').slice(7), ['smtpd', '-o', 'a=b c', '-v', '-o', 'x=y', '-o', 'z=1']);
  // The split looks for "o" anywhere after the first option letter, as Postfix 3.7 does.
  assert.deepEqual(argvOf('s unix - - n - - smtpd -osmtpd_tls_wrappermode=yes').slice(8), ['-o', 'smtpd_tls_wrapperm', '-o', 'de=yes']);
  // After the first plain argument nothing is an option any more.
  assert.deepEqual(argvOf('s unix - - n - - pipe {flags=R x} -o z=1').slice(8), ['flags=R x', '-o', 'z=1']);
});

test('daemon options: brace problems are warnings naming master.cf', () => {
  const w = collect();
  const argv = ['s', 'unix', '-', '-', 'n', '-', '-', 'smtpd', '-o', '{ smtpd_foo }', '{a}b'];
  normalizeDaemonArgs(argv, w.warn);
  assert.deepEqual(argv.slice(8), ['-o', 'smtpd_foo', 'a']);
  assert.deepEqual(w.warnings, [`master.cf: missing '=' after attribute name: "smtpd_foo"`, `master.cf: syntax error after '}' in "{a}b"`]);
});

test('-o settings: in order, "-" swallows the next word like -o', () => {
  assert.deepEqual(masterOptionSettings(argvOf('s unix - - n - - smtp -o a=1 -v -o b=2 -o bad -o a=3 x -o c=4')), [
    ['a', '1'],
    ['b', '2'],
    ['a', '3'],
  ]);
  assert.deepEqual(masterOptionSettings(argvOf('s unix - - n - - pipe - -o x=y')), []);
});

test('field checks: Postfix wording, newlines shown as blanks', () => {
  const w = collect();
  assert.deepEqual(parseMasterEntry('s unix - - n -', w.warn), { ok: false, kind: 'count', error: 'bad field count' });
  assert.deepEqual(parseMasterEntry('s inetd - - n - - smtpd', w.warn), {
    ok: false,
    kind: 'field',
    error: 'invalid type field "inetd" in "s inetd - - n - - smtpd"',
  });
  assert.deepEqual(parseMasterEntry('s unix - - N - - smtpd\n  -o a=b\n', w.warn), {
    ok: false,
    kind: 'field',
    error: 'invalid chroot field "N" in "s unix - - N - - smtpd   -o a=b "',
  });
  for (const ok of ['60', '60?', '-', '-?', '?']) assert.ok(parseMasterEntry(`s unix - - n ${ok} 1 x`, w.warn).ok, ok);
  for (const bad of ['1m', '-1', '10??']) assert.equal(parseMasterEntry(`s unix - - n ${bad} 1 x`, w.warn).ok, false, bad);
});

test('parseMasterFile reports the first bad entry with file and line', () => {
  const w = collect();
  assert.deepEqual(parseMasterFile('ok unix - - n - - smtp\n# c\nbad unix - - n - -\n', '/x/master.cf', w.warn), {
    ok: false,
    error: 'file /x/master.cf: line 3: bad field count',
  });
  const good = parseMasterFile('smtp inet n - n - - smtpd\n  -o a=b\n', '/x/master.cf', w.warn);
  assert.ok(good.ok);
  assert.equal(good.entries[0]!.service, 'smtp');
  assert.deepEqual(good.entries[0]!.options, [['a', 'b']]);
});

test('formatMasterEntry: columns, folding, braces back around blanks', () => {
  const argv = argvOf('submission inet n - y - - smtpd -v -o syslog_name=postfix/submission -o { a = b c } {x y} z {p q}');
  assert.equal(
    formatMasterEntry(argv, false),
    'submission inet  n       -       y       -       -       smtpd -v -o syslog_name=postfix/submission -o {a=b c} x y z {p q}\n',
  );
  assert.equal(
    formatMasterEntry(argv, true),
    'submission inet  n       -       y       -       -       smtpd -v\n    -o syslog_name=postfix/submission\n    -o {a=b c}\n    x y z {p q}\n',
  );
  assert.equal(formatMasterEntry(argvOf('scalemail-backend unix - n n - 2 pipe'), false), 'scalemail-backend unix - n       n       -       2       pipe\n');
});

test('formatMasterField: name = value, -h/-H, the command with its arguments', () => {
  const argv = argvOf('maildrop unix - n n - - pipe flags=DRXhu user=vmail argv=/usr/bin/maildrop -d ${recipient}');
  const opts = { hideName: false, hideValue: false, fold: false };
  assert.equal(formatMasterField(argv, 6, opts), 'maildrop/unix/process_limit = -\n');
  assert.equal(formatMasterField(argv, 7, opts), 'maildrop/unix/command = pipe flags=DRXhu user=vmail argv=/usr/bin/maildrop -d ${recipient}\n');
  // With -h, a 4-byte command is followed by no blank (Postfix 3.7 does the same).
  assert.equal(formatMasterField(argv, 7, { ...opts, hideName: true }), 'pipeflags=DRXhu user=vmail argv=/usr/bin/maildrop -d ${recipient}\n');
  assert.equal(formatMasterField(argv, 7, { ...opts, hideValue: true }), 'maildrop/unix/command\n');
});

test('service patterns: parts, defaults, wildcards', () => {
  assert.deepEqual(parseServicePattern('smtp', 1, 2), ['smtp', '*']);
  assert.deepEqual(parseServicePattern('smtp//inet/', 1, 2), ['smtp', 'inet']);
  assert.deepEqual(parseServicePattern('*/unix/command', 1, 3), ['*', 'unix', 'command']);
  assert.equal(parseServicePattern('/smtp', 1, 2), null);
  assert.equal(parseServicePattern('sm*', 1, 2), null);
  assert.equal(parseServicePattern('a/b/c', 1, 2), null);
  assert.equal(parseServicePattern('smtp', 2, 2), null);
  assert.equal(parseFieldName('process_limit'), 6);
  assert.equal(parseFieldName('*'), -1);
  assert.equal(parseFieldName('Command'), undefined);
});

test('the daemon view: defaults, wording of master(8)', () => {
  const defaults = { processLimit: 100, chroot: false };
  const e = parseDaemonEntry('pickup unix n - - 60? 1 pickup -o { a = b }', defaults);
  assert.ok(!('error' in e));
  assert.deepEqual(
    { ...e },
    {
      service: 'pickup',
      type: 'unix',
      private: false,
      unprivileged: true,
      chroot: false,
      chrootDefaulted: true,
      wakeup: 60,
      wakeupConditional: true,
      maxProc: 1,
      command: 'pickup',
      args: ['-o', 'a = b'],
    },
  );
  assert.deepEqual(parseDaemonEntry('x unix - - - - 0x', defaults), { error: 'missing "command" field' });
  assert.deepEqual(parseDaemonEntry('x unix maybe - - - - cmd', defaults), { error: 'field "private": bad value: "maybe"' });
  assert.deepEqual(parseDaemonEntry('x tcp - - - - - cmd', defaults), { error: 'bad transport type: tcp' });
  assert.deepEqual(parseDaemonEntry('x -', defaults), { error: 'field "transport type" has no default value' });
  assert.deepEqual(parseDaemonEntry('x inet y - - - - cmd', defaults), { error: 'inet service cannot be private' });
  assert.deepEqual(parseDaemonEntry('x unix - - - x - cmd', defaults), { error: 'field "wakeup_time": bad value: "x"' });
});
