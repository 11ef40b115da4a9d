// The `sendmail -bs` sessions recorded from Postfix 3.7.11 by
// tools/record-sendmail-bs.ts and replayed by test/cli/sendmail-bs.test.ts.
// Each case is one run of sendmail with its arguments, the SMTP dialogue the
// client sends on standard input (a byte string, latin1), and main.cf lines
// of its own. Every run uses a private configuration whose queue_directory
// is a scratch spool without a pickup service, so an accepted message stays
// in maildrop/ where postcat can show it.

import { SUBMISSION_MAIN } from '../pickup/submission-cases.js';

export interface BsCase {
  name: string;
  args: string[];
  input: string;
  /** main.cf lines added for this case; USER stands for the login name of whoever runs it. */
  main?: string;
}

/** What every case's main.cf starts with: the submission recordings' settings, and no alias table. */
export const BASE_MAIN = (dir: string) => `${SUBMISSION_MAIN(dir)}alias_maps =
local_recipient_maps = unix:passwd.byname
`;

const crlf = (lines: string[]): string => lines.map((l) => `${l}\r\n`).join('');

const MSG = ['From: Sender <sender@example.test>', 'To: rcpt@example.test', 'Subject: test', '', 'Hello.'];

export const BS_CASES: BsCase[] = [
  {
    name: 'plain',
    args: ['-bs'],
    input: crlf(['EHLO client.example.test', 'MAIL FROM:<sender@example.test>', 'RCPT TO:<rcpt@example.test>', 'DATA', ...MSG, '.', 'QUIT']),
  },
  {
    name: 'two-recipients-helo',
    args: ['-bs'],
    input: crlf(['HELO client', 'MAIL FROM:<sender@example.test>', 'RCPT TO:<a@example.test>', 'RCPT TO:<b@example.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;B@example.test', 'DATA', ...MSG, '.', 'QUIT']),
  },
  {
    name: '8bitmime',
    args: ['-bs'],
    input: crlf([
      'EHLO client', 'MAIL FROM:<sender@example.test> BODY=8BITMIME RET=HDRS ENVID=abc123', 'RCPT TO:<rcpt@example.test>', 'DATA',
      'Subject: caf\xe9', 'MIME-Version: 1.0', 'Content-Type: text/plain; charset=iso-8859-1', 'Content-Transfer-Encoding: 8bit', '', 'Gr\xfc\xdfe aus K\xf6ln.', '.', 'QUIT',
    ]),
  },
  {
    name: 'dot-stuffing',
    args: ['-bs'],
    input: crlf(['EHLO client', 'MAIL FROM:<sender@example.test>', 'RCPT TO:<rcpt@example.test>', 'DATA', 'Subject: dots', '', '..', '...leading dots', '.x', 'a.', ' .', '.', 'QUIT']),
  },
  {
    name: 'two-messages',
    args: ['-bs'],
    input: crlf([
      'EHLO client', 'MAIL FROM:<>', 'RCPT TO:<rcpt@example.test>', 'DATA', 'Subject: one', '', 'first', '.',
      'MAIL FROM:<sender@example.test> SIZE=100', 'RCPT TO:<other@example.test>', 'DATA', 'Subject: two', '', 'second', '.', 'QUIT',
    ]),
  },
  {
    name: 'misc-commands',
    args: ['-bs'],
    input: crlf([
      'NOOP', 'EHLO client', 'RSET', 'VRFY root', 'VRFY', 'HELP', 'bogus command', 'ETRN example.test', 'AUTH PLAIN AGFiYwBkZWY=', 'STARTTLS',
      'XCLIENT ADDR=192.0.2.1', 'XFORWARD ADDR=192.0.2.1', 'MAIL FROM:<sender@example.test>', 'RSET', 'EHLO again', 'HELO again', 'Subject: header-like', 'QUIT',
    ]),
  },
  {
    name: 'rejected-recipients',
    args: ['-bs'],
    input: crlf([
      'EHLO client', 'RCPT TO:<early@example.test>', 'DATA', 'MAIL FROM:<sender@example.test>', 'MAIL FROM:<again@example.test>', 'RCPT TO:<>', 'RCPT TO:<@bad>',
      'RCPT TO:bare@example.test', 'RCPT TO:<a b@example.test>', 'RCPT TO:<nosuchuser@host.example.test>', 'RCPT TO:<relay@elsewhere.test>', 'DATA', 'Subject: relay', '', 'x', '.', 'QUIT',
    ]),
  },
  {
    name: 'restrictions-not-applied',
    args: ['-bs'],
    main: 'smtpd_client_restrictions = reject\nsmtpd_helo_restrictions = reject\nsmtpd_sender_restrictions = reject\nsmtpd_recipient_restrictions = reject\nsmtpd_data_restrictions = reject\nsmtpd_end_of_data_restrictions = reject\nsmtpd_helo_required = yes\nsmtpd_delay_reject = no\nsmtpd_banner = $myhostname ESMTP stand-alone\n',
    input: crlf(['MAIL FROM:<sender@example.test>', 'EHLO client', 'MAIL FROM:<sender@example.test>', 'RCPT TO:<rcpt@example.test>', 'DATA', 'Subject: r', '', 'x', '.', 'QUIT']),
  },
  {
    name: 'eof-mid-data',
    args: ['-bs'],
    input: crlf(['EHLO client', 'MAIL FROM:<sender@example.test>', 'RCPT TO:<rcpt@example.test>', 'DATA', 'Subject: cut', '', 'partial line one']) + 'partial line two',
  },
  {
    name: 'eof-after-rcpt',
    args: ['-bs'],
    input: crlf(['EHLO client', 'MAIL FROM:<sender@example.test>', 'RCPT TO:<rcpt@example.test>']),
  },
  {
    name: 'eof-at-once',
    args: ['-bs'],
    input: '',
  },
  {
    name: 'bare-lf-and-pipelining',
    args: ['-bs'],
    main: 'smtpd_forbid_bare_newline = yes\nsmtpd_forbid_unauth_pipelining = yes\n',
    input: 'EHLO client\nMAIL FROM:<sender@example.test>\nRCPT TO:<rcpt@example.test>\nDATA\nSubject: lf\n\nbody\n.\nQUIT\n',
  },
  {
    name: 'sender-options-ignored',
    args: ['-bs', '-f', 'option@example.test', '-F', 'Full Name', '-oi', '-N', 'never', '-R', 'hdrs', '-V', 'envid'],
    input: crlf(['EHLO client', 'MAIL FROM:<sender@example.test>', 'RCPT TO:<rcpt@example.test>', 'DATA', 'Subject: f', '', 'x', '.', 'QUIT']),
  },
  {
    name: 'extract-option',
    args: ['-bs', '-t'],
    input: crlf(['QUIT']),
  },
  {
    name: 'size-limit',
    args: ['-bs'],
    main: 'message_size_limit = 200\n',
    input: crlf(['EHLO client', 'MAIL FROM:<sender@example.test> SIZE=5000', 'MAIL FROM:<sender@example.test>', 'RCPT TO:<rcpt@example.test>', 'DATA', 'Subject: big', '', 'x'.repeat(300), '.', 'QUIT']),
  },
  {
    name: 'recipient-operand',
    args: ['-bs', 'rcpt@example.test'],
    input: crlf(['QUIT']),
  },
  {
    name: 'unauthorized-user',
    args: ['-bs'],
    main: 'authorized_submit_users = !USER, static:anyone\n',
    input: crlf(['QUIT']),
  },
];
