// The cases of each cleanup fixture directory (fixtures/cleanup/NN-name/).
// Each case is one SMTP session; the recorder stores the replies, the queue
// files and cleanup's log lines that real Postfix 3.7.11 produced for it.
import { msg, type CaseSpec } from './cases.js';

const LONG = 'x'.repeat(3000);
const H = {
  from: 'From: Sender <sender@example.org>',
  to: 'To: Alice <alice@remote.example>',
  subject: 'Subject: test',
  date: 'Date: Mon, 2 Jan 2023 03:04:05 +0000',
  id: 'Message-ID: <fixed.1@example.org>',
};
const ALL = [H.from, H.to, H.subject, H.date, H.id];
const without = (...drop: string[]): string[] => ALL.filter((h) => !drop.includes(h));

const basic: CaseSpec[] = [
  { name: 'all-headers', messages: [msg()] },
  { name: 'missing-message-id', messages: [msg({ headers: without(H.id) })] },
  { name: 'missing-date', messages: [msg({ headers: without(H.date) })] },
  { name: 'missing-from', messages: [msg({ headers: without(H.from) })] },
  { name: 'missing-all', messages: [msg({ headers: [H.subject] })] },
  { name: 'no-headers-at-all', messages: [{ from: 'sender@example.org', rcpts: ['alice@remote.example'], lines: ['just a body line', 'second'] }] },
  { name: 'empty-message', messages: [{ from: 'sender@example.org', rcpts: ['alice@remote.example'], lines: [] }] },
  { name: 'headers-only', messages: [{ from: 'sender@example.org', rcpts: ['alice@remote.example'], lines: [H.subject, H.to] }] },
  { name: 'null-sender', messages: [msg({ from: '<>', headers: [H.subject] })] },
  { name: 'mailer-daemon-sender', messages: [msg({ from: 'MAILER-DAEMON@mx.example.com', headers: [H.subject] })] },
  { name: 'dropped-headers', messages: [msg({ headers: [...ALL, 'Return-Path: <evil@example.net>', 'Bcc: hidden@example.net', 'Content-Length: 1234', 'Resent-Bcc: x@example.net'] })] },
  { name: 'resent-headers', messages: [msg({ headers: [...ALL, 'Resent-From: resender@example.org', 'Resent-To: bob@remote.example'] })] },
  { name: 'resent-with-id', messages: [msg({ headers: [...ALL, 'Resent-From: resender@example.org', 'Resent-Message-Id: <resent.1@example.org>', 'Resent-Date: Tue, 3 Jan 2023 03:04:05 +0000'] })] },
  { name: 'resent-only', messages: [msg({ headers: [H.subject, 'Resent-Sender: someone'] })] },
  { name: 'unqualified-header-addresses', messages: [msg({ headers: ['From: joe', 'To: bob, carol@remote.example, "Dee Dee" <dee>', 'Cc: (comment) eve', 'Reply-To: frank', H.subject] })] },
  { name: 'unqualified-envelope', messages: [msg({ from: 'joe', rcpts: ['alice@remote.example'], headers: [H.subject] })] },
  { name: 'two-recipients', messages: [msg({ rcpts: ['alice@remote.example', 'bob@remote.example'] })] },
  { name: 'duplicate-recipients', messages: [msg({ rcpts: ['alice@remote.example', 'alice@remote.example', 'Alice@Remote.Example', 'bob@remote.example'] })] },
  { name: 'dsn-parameters', messages: [msg({ mailParams: 'RET=HDRS ENVID=abc123', rcpts: ['alice@remote.example NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;orig@remote.example', 'bob@remote.example NOTIFY=NEVER', 'carol@remote.example NOTIFY=DELAY'] })] },
  { name: 'body-8bitmime', messages: [msg({ mailParams: 'BODY=8BITMIME', body: ['caf\u00e9 cr\u00e8me'] })] },
  { name: 'header-utf8', messages: [msg({ headers: [...ALL.slice(0, 2), 'Subject: caf\u00e9', H.date, H.id] })] },
  { name: 'smtputf8', messages: [msg({ mailParams: 'SMTPUTF8', headers: [...ALL.slice(0, 2), 'Subject: caf\u00e9', H.date, H.id] })] },
  { name: 'latin1-bytes', latin1: true, messages: [msg({ headers: [...ALL.slice(0, 2), 'Subject: caf\u00e9', H.date, H.id], body: ['na\u00efve \u00ff'] })] },
  { name: 'cte-8bit', messages: [msg({ headers: [...ALL, 'MIME-Version: 1.0', 'Content-Type: text/plain; charset=utf-8', 'Content-Transfer-Encoding: 8bit'], body: ['caf\u00e9'] })] },
  { name: 'cte-binary', messages: [msg({ headers: [...ALL, 'Content-Transfer-Encoding: BINARY'] })] },
  { name: 'long-header', messages: [msg({ headers: [...ALL, `X-Long: ${LONG}`] })] },
  { name: 'long-body-line', messages: [msg({ body: [LONG, 'y'.repeat(5000), 'end'] })] },
  { name: 'folded-headers', messages: [msg({ headers: [H.from, 'To: Alice <alice@remote.example>,', '\tBob <bob@remote.example>', 'Subject: a', '  folded subject', H.date, H.id, 'X-Multi: one', '\ttwo', ' three'] })] },
  { name: 'obsolete-header-syntax', messages: [msg({ headers: ['From : Sender <sender@example.org>', 'Subject\t: spaced', 'To:alice@remote.example'] })] },
  { name: 'mbox-from-line', messages: [{ from: 'sender@example.org', rcpts: ['alice@remote.example'], lines: ['From sender@example.org Mon Jan  2 03:04:05 2023', H.subject, '', 'body'] }] },
  { name: 'leading-whitespace', messages: [{ from: 'sender@example.org', rcpts: ['alice@remote.example'], lines: [' indented first line', H.subject, '', 'body'] }] },
  { name: 'dot-stuffing', messages: [msg({ body: ['.leading dot', '..two dots', '.'] })] },
  { name: 'multipart', messages: [msg({ headers: [...ALL, 'MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary="BOUND"'], body: ['preamble', '--BOUND', 'Content-Type: text/plain', 'Content-Disposition: inline', '', 'part one', '--BOUND', 'Content-Type: message/rfc822', '', 'From: inner@example.org', 'Subject: inner', 'To: x', '', 'inner body', '--BOUND--', 'epilogue'] })] },
  { name: 'remote-client', client: '127.0.1.5', messages: [msg({ rcpts: ['postmaster@mx.example.com'], headers: [H.subject, 'To: bob'] })] },
  { name: 'remote-client-full', client: '127.0.1.5', messages: [msg({ rcpts: ['postmaster@mx.example.com'] })] },
  { name: 'remote-client-resent', client: '127.0.1.5', messages: [msg({ rcpts: ['postmaster@mx.example.com'], headers: [H.subject, 'Resent-From: joe'] })] },
  { name: 'local-recipient', messages: [msg({ rcpts: ['postmaster@mx.example.com', 'root', 'team@mx.example.com'] })] },
  { name: 'bdat', messages: [msg({ bdat: 40 })] },
  { name: 'two-messages', messages: [msg({ headers: [H.subject] }), msg({ from: 'other@example.org', rcpts: ['bob@remote.example'], headers: ['Subject: second'] })] },
  { name: 'hop-count', messages: [msg({ headers: [...Array.from({ length: 49 }, (_, i) => `Received: from hop${i}.example.org by x; Mon, 2 Jan 2023 03:04:05 +0000`), H.subject] })] },
  { name: 'hop-count-49', messages: [msg({ headers: [...Array.from({ length: 48 }, (_, i) => `Received: from hop${i}.example.org by x; Mon, 2 Jan 2023 03:04:05 +0000`), H.subject] })] },
  { name: 'folded-message-id', messages: [msg({ headers: [H.from, H.subject, 'Message-Id:', ' <folded.1@example.org>'] })] },
  { name: 'bare-cr-in-header', latin1: true, messages: [msg({ headers: [...ALL, 'X-CR: a\rb'] , body: ['c\rd'] })] },
];

const subjects = [
  'reject me', 'reject default', 'reject dsn', 'reject 4xx', 'reject 2xx', 'warn me', 'warn plain', 'info me', 'hold me',
  'discard me', 'redirect me', 'bad redirect', 'bcc me', 'bad bcc', 'filter me', 'bad filter', 'empty filter',
  'prepend me', 'bad prepend', 'replace me', 'bad replace', 'strip me', 'ignore me', 'dunno me', 'ok me', 'pass me',
  'unknown action', 'lower case',
];
const bodies = [
  'reject this line', 'warn this line', 'replace this line', 'ignore this line', 'prepend before this',
  'hold this body', 'discard this body', 'bcc this body', 'filter this body', 'redirect this body', 'defer this body',
];

const checks: CaseSpec[] = [
  ...subjects.map((sub) => ({ name: `header-${sub.replace(/ /g, '-')}`, messages: [msg({ headers: [H.from, H.to, `Subject: ${sub}`, H.date, H.id] })] })),
  ...bodies.map((b) => ({ name: `body-${b.replace(/ /g, '-')}`, messages: [msg({ headers: [H.from, H.subject], body: ['first line', `${b} please`, 'last line'] })] })),
  { name: 'header-remote-client-reject', client: '127.0.1.5', messages: [msg({ rcpts: ['postmaster@mx.example.com'], headers: [H.from, 'Subject: reject me'] })] },
  { name: 'header-multi-line', messages: [msg({ headers: [H.from, H.subject, 'X-Multi: first', '	second line'] })] },
  { name: 'header-received', messages: [msg({ headers: ['Received: from hop99.example.org by x', H.from, H.subject] })] },
  { name: 'header-from-spammer', messages: [msg({ headers: ['From: The spammer <x@example.org>', H.subject] })] },
  { name: 'header-replace-to', messages: [msg({ headers: [H.from, 'To: replace-to@remote.example', H.subject] })] },
  { name: 'header-ignore-message-id', messages: [msg({ headers: [H.from, H.subject, 'Message-ID: <ignored.1@example.org>'] })] },
  { name: 'header-replace-date', messages: [msg({ headers: [H.from, H.subject, 'Date: Thu, 30 Dec 1999 00:00:00 +0000'] })] },
  { name: 'hold-and-discard', messages: [msg({ headers: [H.from, 'Subject: hold me', 'Subject: discard me'] })] },
  { name: 'discard-then-hold', messages: [msg({ headers: [H.from, 'Subject: discard me', 'Subject: hold me'] })] },
  { name: 'reject-then-warn', messages: [msg({ headers: [H.from, 'Subject: reject me', 'Subject: warn me'], body: ['warn this line'] })] },
  { name: 'two-bcc', messages: [msg({ headers: [H.from, 'Subject: bcc me'], body: ['bcc this body'] })] },
  { name: 'two-filters', messages: [msg({ headers: [H.from, 'Subject: filter me'], body: ['filter this body'] })] },
  { name: 'redirect-and-body', messages: [msg({ headers: [H.from, 'Subject: redirect me'], body: ['redirect this body'] })] },
  { name: 'pass-skips-body', messages: [msg({ headers: [H.from, 'Subject: pass me'], body: ['reject this line'] })] },
  { name: 'mime-evil-attachment', messages: [msg({ headers: [H.from, H.subject, 'MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary="b1"'], body: ['--b1', 'Content-Type: text/plain', '', 'hello', '--b1', 'Content-Type: application/x-evil', 'Content-Disposition: attachment; filename="evil.exe"', '', 'AAAA', '--b1--'] })] },
  { name: 'mime-evil-file-name', messages: [msg({ headers: [H.from, H.subject, 'MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary="b1"'], body: ['--b1', 'Content-Type: application/octet-stream', 'Content-Disposition: attachment; filename="evil.exe"', '', 'AAAA', '--b1--'] })] },
  { name: 'mime-primary-content-type', messages: [msg({ headers: [H.from, H.subject, 'Content-Type: application/x-evil'] })] },
  { name: 'nested-message', messages: [msg({ headers: [H.from, H.subject, 'MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary="b1"'], body: ['--b1', 'Content-Type: message/rfc822', '', 'From: inner@example.org', 'Subject: nested reject', '', 'inner body', '--b1--'] })] },
  { name: 'nested-no-boundary-match', messages: [msg({ headers: [H.from, H.subject, 'Content-Type: message/rfc822'], body: ['Subject: nested reject', '', 'x'] })] },
  { name: 'body-in-mime-part', messages: [msg({ headers: [H.from, H.subject, 'MIME-Version: 1.0', 'Content-Type: multipart/alternative; boundary=xyz'], body: ['--xyz', '', 'warn this line', '--xyz--', 'replace this line'] })] },
  { name: 'reject-character', latin1: true, messages: [msg({ headers: [H.from, H.subject], body: ['bell \x07 here'] })] },
  { name: 'strip-character', latin1: true, messages: [msg({ headers: [H.from, 'Subject: a\x01b'], body: ['c\x01d\x01'] })] },
];

const rewrite: CaseSpec[] = [
  { name: 'sender-canonical-masquerade', messages: [msg({ headers: [H.from, H.to, H.subject] })] },
  { name: 'header-canonical', messages: [msg({ from: 'joe@example.org', headers: ['From: joe@example.org', 'To: joe@example.org, user@old.example', 'Cc: alice@remote.example', 'Reply-To: <joe@example.org> (Joe)', H.subject] })] },
  { name: 'canonical-loop', messages: [msg({ from: 'loop1@example.org', headers: [H.subject] })] },
  { name: 'canonical-multi', messages: [msg({ from: 'multi@example.org', headers: [H.subject] })] },
  { name: 'recipient-canonical-envelope-only', messages: [msg({ rcpts: ['alice@remote.example'], headers: ['To: alice@remote.example', H.subject] })] },
  { name: 'masquerade-exception', messages: [msg({ from: 'root@sub.example.org', headers: ['From: root@sub.example.org', 'To: x@sub.example.org, y@keep.example.org', H.subject] })] },
  { name: 'virtual-list', messages: [msg({ rcpts: ['list@virt.example'] })] },
  { name: 'virtual-self', messages: [msg({ rcpts: ['self@virt.example'] })] },
  { name: 'virtual-alias', messages: [msg({ rcpts: ['alias@virt.example', 'alias-target@remote.example'] })] },
  { name: 'virtual-dup', messages: [msg({ rcpts: ['dup@virt.example'] })] },
  { name: 'virtual-extension', messages: [msg({ rcpts: ['ext+tag@virt.example'] })] },
  { name: 'virtual-catchall', messages: [msg({ rcpts: ['anyone@catch.example'] })] },
  { name: 'virtual-notify-success', messages: [msg({ rcpts: ['list@virt.example NOTIFY=SUCCESS,FAILURE', 'alias@virt.example NOTIFY=SUCCESS'] })] },
  { name: 'sender-bcc', messages: [msg({ from: 'bccsender@example.org', headers: [H.subject] })] },
  { name: 'recipient-bcc', messages: [msg({ rcpts: ['bob@remote.example', 'alice@remote.example'], headers: [H.subject] })] },
  { name: 'null-sender-bcc', messages: [msg({ from: '<>', headers: [H.subject] })] },
  { name: 'undisclosed-recipients', messages: [msg({ headers: [H.from, H.subject] })] },
  { name: 'undisclosed-with-cc', messages: [msg({ headers: [H.from, 'Cc: someone@remote.example', H.subject] })] },
  { name: 'remote-header-rewrite', client: '127.0.1.5', messages: [msg({ rcpts: ['postmaster@mx.example.com'], headers: ['From: joe', 'To: bob, carol@remote.example', H.subject] })] },
  { name: 'remote-envelope', client: '127.0.1.5', messages: [msg({ from: 'joe', rcpts: ['postmaster'], headers: [H.subject] })] },
  { name: 'access-hold', messages: [msg({ rcpts: ['hold@remote.example'], headers: [H.subject] })] },
  { name: 'access-discard', messages: [msg({ rcpts: ['discard@remote.example'], headers: [H.subject] })] },
  { name: 'access-redirect', messages: [msg({ rcpts: ['redirect@remote.example'], headers: [H.subject] })] },
  { name: 'access-filter', messages: [msg({ rcpts: ['filter@remote.example'], headers: [H.subject] })] },
  { name: 'access-bcc', messages: [msg({ rcpts: ['bcc@remote.example'], headers: [H.subject] })] },
  { name: 'access-prepend', messages: [msg({ rcpts: ['prepend@remote.example'], headers: [H.subject] })] },
  { name: 'access-all', messages: [msg({ rcpts: ['hold@remote.example', 'redirect@remote.example', 'filter@remote.example', 'bcc@remote.example', 'prepend@remote.example'], headers: [H.subject] })] },
];

const longIds: CaseSpec[] = [
  { name: 'long-id-all-headers', messages: [msg()] },
  { name: 'long-id-missing', messages: [msg({ headers: [H.subject, 'Return-Path: <x@example.org>', 'X-Drop-Me: yes', 'Bcc: kept@example.org'] })] },
  { name: 'long-id-resent', messages: [msg({ headers: [H.subject, 'Resent-From: joe'] })] },
  { name: 'remote-always-add', client: '127.0.1.5', messages: [msg({ rcpts: ['postmaster@mx.example.com'], headers: [H.subject, 'To: bob'] })] },
  { name: 'dup-filter-limit', messages: [msg({ rcpts: ['a@remote.example', 'b@remote.example', 'c@remote.example', 'a@remote.example', 'c@remote.example', 'c@remote.example'], headers: [H.subject] })] },
  { name: 'no-orcpt-dups', messages: [msg({ rcpts: ['a@remote.example ORCPT=rfc822;x@remote.example', 'a@remote.example ORCPT=rfc822;y@remote.example'], headers: [H.subject] })] },
  { name: 'long-id-two-messages', messages: [msg({ headers: [H.subject] }), msg({ headers: ['Subject: two'] })] },
];

const hops = (n: number): string[] => Array.from({ length: n }, (_, i) => `Received: from hop${i}.example.org by x; Mon, 2 Jan 2023 03:04:05 +0000`);
const limits: CaseSpec[] = [
  { name: 'small-message', messages: [msg()] },
  { name: 'queue-file-too-big', messages: [msg({ body: Array.from({ length: 18 }, (_, i) => `line ${i} ${'z'.repeat(100)}`) })] },
  { name: 'queue-file-too-big-in-headers', messages: [msg({ headers: [H.subject, ...Array.from({ length: 22 }, (_, i) => `X-Filler-${i}: ${'q'.repeat(90)}`)], body: ['x'] })] },
  { name: 'hops-4', messages: [msg({ headers: [...hops(3), H.subject] })] },
  { name: 'hops-5', messages: [msg({ headers: [...hops(4), H.subject] })] },
  { name: 'header-truncated', messages: [msg({ headers: [H.subject, 'X-Long: start', ...Array.from({ length: 20 }, (_, i) => `\tcontinued line ${i} ${'w'.repeat(40)}`)] })] },
  { name: 'long-line-600', messages: [msg({ headers: [H.subject, `X-Wide: ${'v'.repeat(700)}`], body: ['u'.repeat(1300)] })] },
  { name: 'body-checks-limit', messages: [msg({ headers: [H.subject], body: ['check one', 'padding '.repeat(12), 'check two', 'check three'] })] },
  { name: 'header-check-multipart', messages: [msg({ headers: [H.subject, 'X-Check: top', 'MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary=a'], body: ['--a', 'X-Check: part', '', 'check in part', '--a--'] })] },
  { name: 'mime-nesting', messages: [msg({ headers: [H.subject, 'MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary=a'], body: ['--a', 'Content-Type: multipart/mixed; boundary=b', '', '--b', 'Content-Type: multipart/mixed; boundary=c', '', '--c', 'Content-Type: multipart/mixed; boundary=d', '', '--d', '', 'deep', '--d--', '--c--', '--b--', '--a--'] })] },
  { name: 'strict-8bit-header', messages: [msg({ headers: [H.subject, 'X-Eight: caf\u00e9'] })] },
  { name: 'strict-8bit-body', messages: [msg({ headers: [H.subject], body: ['caf\u00e9'] })] },
  { name: 'strict-8bit-body-declared', messages: [msg({ mailParams: 'BODY=8BITMIME', headers: [H.subject, 'MIME-Version: 1.0', 'Content-Type: text/plain', 'Content-Transfer-Encoding: 8bit'], body: ['caf\u00e9'] })] },
  { name: 'strict-encoding-domain', messages: [msg({ headers: [H.subject, 'MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary=a', 'Content-Transfer-Encoding: base64'], body: ['--a', '', 'x', '--a--'] })] },
  { name: 'strict-message-rfc822-encoding', messages: [msg({ headers: [H.subject, 'MIME-Version: 1.0', 'Content-Type: message/rfc822', 'Content-Transfer-Encoding: quoted-printable'], body: ['Subject: inner', '', 'x'] })] },
];

export const FIXTURE_CASES: Record<string, CaseSpec[]> = {
  '01-basic': basic,
  '02-checks': checks,
  '03-rewrite': rewrite,
  '04-long-ids': longIds,
  '05-limits': limits,
};
