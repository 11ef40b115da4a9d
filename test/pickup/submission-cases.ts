// The sendmail command lines and inputs recorded from Postfix 3.7.11 by
// tools/record-submission.ts and replayed by test/cli/sendmail.test.ts and
// test/pickup/pickup.test.ts. Inputs are byte strings (latin1). Every case
// runs with MAIL_CONFIG pointing at a private configuration whose
// queue_directory is a scratch spool; `pickup: true` cases also have their
// maildrop file taken through pickup and cleanup.

/** The main.cf of a recording or replay run; dir holds spool/, data/ and the maillog. */
export const SUBMISSION_MAIN = (dir: string) => `queue_directory = ${dir}/spool
data_directory = ${dir}/data
myhostname = host.example.test
mydomain = example.test
myorigin = $myhostname
maillog_file = ${dir}/maillog
maillog_file_prefixes = /tmp
compatibility_level = 3.6
`;

export interface SubmissionCase {
  name: string;
  args: string[];
  input: string;
  /** Also record the queue file after pickup and cleanup (default: when a maildrop file was written). */
  pickup?: boolean;
  /** Remove public/pickup before the run (the "unable to look up" warning). */
  noPickupEndpoint?: boolean;
}

const MSG = 'From: Sender <sender@example.test>\nTo: rcpt@example.test\nSubject: test\n\nHello.\n';

export const SUBMISSION_CASES: SubmissionCase[] = [
  { name: 'basic', args: ['-f', 'me@example.test', 'you@example.test'], input: MSG },
  { name: 'no-sender-option', args: ['you@example.test'], input: MSG },
  { name: 'r-sender', args: ['-r', 'bounce@example.test', 'you@example.test'], input: MSG },
  { name: 'fullname', args: ['-F', 'Joe Public', '-f', 'joe@example.test', 'you@example.test'], input: 'Subject: no from\n\nbody\n' },
  { name: 'fullname-specials', args: ['-F', 'Joe Q. (Public), Jr.', '-f', 'joe@example.test', 'you@example.test'], input: 'Subject: no from\n\nbody\n' },
  { name: 'sender-with-phrase', args: ['-f', 'Some One <one@example.test>', 'you@example.test'], input: MSG },
  { name: 'null-sender', args: ['-f', '<>', 'you@example.test'], input: MSG },
  { name: 'two-senders', args: ['-f', 'a@example.test, b@example.test', 'you@example.test'], input: MSG },
  { name: 'recipient-list', args: ['-f', 'me@example.test', 'a@example.test, b@example.test', 'Name <c@example.test>', 'local'], input: MSG },
  { name: 'empty-recipient', args: ['-f', 'me@example.test', ''], input: MSG },
  {
    name: 't-to-cc-bcc',
    args: ['-t', '-f', 'me@example.test'],
    input: 'From: me@example.test\nTo: a@example.test, B <b@example.test>\nCc: c@example.test\nBcc: d@example.test\nSubject: t\n\nbody\nTo: not@example.test\n',
  },
  {
    name: 't-resent',
    args: ['-t', '-f', 'me@example.test'],
    input: 'To: a@example.test\nResent-To: r1@example.test\nCc: c@example.test\nResent-Cc: r2@example.test\nResent-Bcc: r3@example.test\nSubject: resent\n\nbody\n',
  },
  {
    name: 't-with-args',
    args: ['-t', '-f', 'me@example.test', 'a@example.test', 'extra@example.test'],
    input: 'To: a@example.test, b@example.test\nSubject: t\n\nbody\n',
  },
  {
    name: 't-folded',
    args: ['-t', '-f', 'me@example.test'],
    input: 'To: a@example.test,\n\tb@example.test,\n  "C D" <c@example.test>\nSubject: folded\n\nbody\n',
  },
  { name: 't-no-recipients', args: ['-t', '-f', 'me@example.test'], input: 'Subject: none\n\nbody\n' },
  { name: 'no-recipients', args: ['-f', 'me@example.test'], input: MSG },
  { name: 'no-headers', args: ['-f', 'me@example.test', 'you@example.test'], input: 'just a body line\nand another\n' },
  { name: 'empty-input', args: ['-f', 'me@example.test', 'you@example.test'], input: '' },
  { name: 'crlf-input', args: ['-f', 'me@example.test', 'you@example.test'], input: 'Subject: crlf\r\n\r\nline one\r\nline two\r\n' },
  { name: 'mixed-eol', args: ['-f', 'me@example.test', 'you@example.test'], input: 'Subject: mixed\n\nline one\r\nline two\n' },
  { name: 'no-final-newline', args: ['-f', 'me@example.test', 'you@example.test'], input: 'Subject: x\n\nlast line' },
  { name: 'from-line', args: ['-f', 'me@example.test', 'you@example.test'], input: 'From me@example.test Sun Dec  6 00:00:00 2026\n' + MSG },
  { name: 'quoted-from-lines', args: ['-f', 'me@example.test', 'you@example.test'], input: '>From x\n>>From y\nFrom z\n' + MSG + 'From inside\n' },
  { name: 'eight-bit', args: ['-f', 'me@example.test', 'you@example.test'], input: 'Subject: caf\xe9\n\nna\xefve body \xff\n' },
  { name: 'B-8bitmime', args: ['-B', '8BITMIME', '-f', 'me@example.test', 'you@example.test'], input: 'Subject: 8\n\n\xe9\n' },
  { name: 'B-7bit', args: ['-B', '7BIT', '-f', 'me@example.test', 'you@example.test'], input: MSG },
  { name: 'B-bad', args: ['-B', 'binary', '-f', 'me@example.test', 'you@example.test'], input: MSG },
  { name: 'dot-ends', args: ['-f', 'me@example.test', 'you@example.test'], input: 'Subject: dot\n\nbefore\n.\nafter\n' },
  { name: 'dot-i', args: ['-i', '-f', 'me@example.test', 'you@example.test'], input: 'Subject: dot\n\nbefore\n.\nafter\n' },
  { name: 'dot-oi', args: ['-oi', '-f', 'me@example.test', 'you@example.test'], input: 'Subject: dot\n\nbefore\n.\nafter\n' },
  { name: 'dot-crlf', args: ['-f', 'me@example.test', 'you@example.test'], input: 'Subject: dot\r\n\r\nbefore\r\n.\r\nafter\r\n' },
  { name: 'dot-lines', args: ['-f', 'me@example.test', 'you@example.test'], input: 'Subject: dots\n\n..double\n.x\n. \n' },
  { name: 'long-line', args: ['-f', 'me@example.test', 'you@example.test'], input: 'Subject: long\n\n' + 'x'.repeat(5000) + '\nend\n' },
  { name: 'long-header-t', args: ['-t', '-f', 'me@example.test'], input: 'To: a@example.test\nX-Long: ' + 'y'.repeat(3000) + '\n\nbody\n' },
  { name: 'N-success-delay', args: ['-N', 'success,delay', '-f', 'me@example.test', 'a@example.test', 'b@example.test'], input: MSG },
  { name: 'N-never-t', args: ['-N', 'never', '-t', '-f', 'me@example.test'], input: MSG },
  { name: 'N-bad', args: ['-N', 'sometimes', '-f', 'me@example.test', 'you@example.test'], input: MSG },
  { name: 'R-full', args: ['-R', 'full', '-f', 'me@example.test', 'you@example.test'], input: MSG },
  { name: 'R-hdrs', args: ['-R', 'hdrs', '-f', 'me@example.test', 'you@example.test'], input: MSG },
  { name: 'R-bad', args: ['-R', 'body', '-f', 'me@example.test', 'you@example.test'], input: MSG },
  { name: 'V-envid', args: ['-V', 'env-id-123', '-f', 'me@example.test', 'you@example.test'], input: MSG },
  { name: 'V-too-long', args: ['-V', 'e'.repeat(101), '-f', 'me@example.test', 'you@example.test'], input: MSG },
  { name: 'V-unprintable', args: ['-V', 'a\tb', '-f', 'me@example.test', 'you@example.test'], input: MSG },
  { name: 'V-verp-deprecated', args: ['-V', '+=', '-f', 'me@example.test', 'you@example.test'], input: MSG },
  { name: 'XV-verp', args: ['-XV', '-f', 'me@example.test', 'you@example.test'], input: MSG },
  { name: 'XV-verp-null-sender', args: ['-XV', '-f', '', 'you@example.test'], input: MSG },
  { name: 'XVxy-bad', args: ['-XVab', '-f', 'me@example.test', 'you@example.test'], input: MSG },
  { name: 'Xz-unsupported', args: ['-Xz', '-f', 'me@example.test', 'you@example.test'], input: MSG },
  { name: 'bv', args: ['-bv', '-f', 'me@example.test', 'a@example.test', 'b@example.test'], input: '' },
  { name: 'bv-t', args: ['-bv', '-t', '-f', 'me@example.test', 'a@example.test'], input: '' },
  { name: 'bv-N', args: ['-bv', '-N', 'never', 'a@example.test'], input: '' },
  { name: 'bv-v', args: ['-bv', '-v', 'a@example.test'], input: '' },
  { name: 'v-record', args: ['-v', '-f', 'me@example.test', 'you@example.test'], input: MSG },
  { name: 'G-remote', args: ['-G', '-f', 'me@example.test', 'you@example.test'], input: MSG },
  { name: 'ignored-o', args: ['-oem', '-oep', '-oee', '-om', '-o7', '-o8', '-oQ/x', '-f', 'me@example.test', 'you@example.test'], input: MSG },
  { name: 'ignored-misc', args: ['-L', 'tag', '-U', '-c', '-m', '-x', '-h', '20', '-p', 'smtp:host', '-e', 'x', '-O', 'x=y', '-A', 'c', '-f', 'me@example.test', 'you@example.test'], input: MSG },
  { name: 'oA-empty', args: ['-oA', 'you@example.test'], input: MSG },
  { name: 'n-unsupported', args: ['-n', 'you@example.test'], input: MSG },
  { name: 'bm-explicit', args: ['-bm', '-f', 'me@example.test', 'you@example.test'], input: MSG },
  { name: 'bx-unsupported', args: ['-bx', 'you@example.test'], input: MSG },
  { name: 'bh-ignored', args: ['-bh'], input: '' },
  { name: 'bd-recipient', args: ['-bd', 'you@example.test'], input: '' },
  { name: 'bs-recipient', args: ['-bs', 'you@example.test'], input: '' },
  { name: 'bp-recipient', args: ['-bp', 'you@example.test'], input: '' },
  { name: 'bi-recipient', args: ['-bi', 'you@example.test'], input: '' },
  { name: 'I-recipient', args: ['-I', 'you@example.test'], input: '' },
  { name: 'q-recipient', args: ['-q', 'you@example.test'], input: '' },
  { name: 'q-time', args: ['-q30m', 'you@example.test'], input: '' },
  { name: 'qR-empty', args: ['-qR'], input: '' },
  { name: 'qR-recipient', args: ['-qRexample.test', 'you@example.test'], input: '' },
  { name: 'qI-recipient', args: ['-qIABCDEF', 'you@example.test'], input: '' },
  { name: 'qX-unsupported', args: ['-qX'], input: '' },
  { name: 'bp-t', args: ['-bp', '-t'], input: '' },
  { name: 'qR-bp', args: ['-qRsite', '-bp'], input: '' },
  { name: 'bd-q', args: ['-q', '-bd', 'x'], input: '' },
  { name: 'bad-option', args: ['-Z', 'you@example.test'], input: MSG },
  { name: 'missing-argument', args: ['-f'], input: MSG },
  { name: 'option-after-recipient', args: ['you@example.test', '-f', 'me@example.test'], input: MSG },
  { name: 'double-dash', args: ['-f', 'me@example.test', '--', '-you@example.test'], input: MSG },
  { name: 'no-pickup-endpoint', args: ['-f', 'me@example.test', 'you@example.test'], input: MSG, noPickupEndpoint: true },
];

/** Record streams fed straight to postdrop: [type letter, data] pairs, encoded as rec_put() does. */
export interface PostdropCase {
  name: string;
  records: Array<[string, string]>;
  /** Bytes appended after the records (a malformed tail). */
  tail?: string;
}

const ENV: Array<[string, string]> = [['A', 'rewrite_context=local'], ['F', 'Some One'], ['S', 'me@example.test'], ['R', 'you@example.test']];
const BODY: Array<[string, string]> = [['M', ''], ['N', 'Subject: x'], ['N', ''], ['N', 'body'], ['X', '']];

export const POSTDROP_CASES: PostdropCase[] = [
  { name: 'plain', records: [...ENV, ...BODY, ['E', '']] },
  { name: 'attributes', records: [['A', 'encoding=8bit'], ['A', 'encoding=binary'], ['A', 'log_ident=x'], ['A', 'envelope_id=abc'], ['A', 'trace_flags=512'], ['A', 'rewrite_context=elsewhere'], ['A', '=broken'], ...ENV, ...BODY, ['A', 'notify_flags=2'], ['R', 'x@example.test'], ['E', '']] },
  { name: 'caller-time', records: [['T', '1 2'], ...ENV, ...BODY, ['E', '']] },
  { name: 'unexpected-type', records: [...ENV, ['C', '1 2 3'], ...BODY, ['E', '']] },
  { name: 'content-in-envelope', records: [...ENV, ['N', 'early'], ...BODY, ['E', '']] },
  { name: 'canceled', records: [...ENV, ...BODY] },
  { name: 'no-sender', records: [['R', 'you@example.test'], ...BODY, ['E', '']] },
  { name: 'no-recipient', records: [['S', 'me@example.test'], ...BODY, ['E', '']] },
  { name: 'nul-in-sender', records: [['S', 'me\0x@example.test'], ['R', 'you@example.test'], ...BODY, ['E', '']] },
  { name: 'malformed', records: [...ENV], tail: 'N\xff\xff\xff\xff\xff\x7f' },
  { name: 'verp-and-dsn-records', records: [...ENV, ['V', '+='], ['i', 'x'], ['n', '2'], ...BODY, ['E', '']] },
];

/** rec_put(): type byte, length in 7-bit groups (low first), data. Byte strings. */
export function encodeRecords(c: PostdropCase): string {
  let out = '';
  for (const [type, data] of c.records) {
    let len = data.length;
    let head = type;
    do {
      let b = len & 0x7f;
      len >>= 7;
      if (len) b |= 0x80;
      head += String.fromCharCode(b);
    } while (len);
    out += head + data;
  }
  return out + (c.tail ?? '');
}
