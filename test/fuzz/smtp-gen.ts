// Random and mutated SMTP client dialogues for the smtpd fuzzer: a seeded
// generator (same seed, same sessions) of command sequences with BDAT,
// DATA, pipelining, bare CR and LF, NUL bytes, over-long lines and
// random bytes, written by the client in one go or in pieces.

/** mulberry32: a small, fast, seedable PRNG. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class Gen {
  readonly next: () => number;
  constructor(seed: number) {
    this.next = prng(seed);
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  bytes(n: number): string {
    let s = '';
    for (let i = 0; i < n; i++) s += String.fromCharCode(this.int(256));
    return s;
  }
}

const ADDRS = ['<a@example.org>', '<>', '<postmaster@mx.example.com>', '<root@mx.example.com>', '<b@remote.example>', '<"q u"@example.org>', 'bare@example.org', '<a@[127.0.0.1]>', '<@route:a@b>', '<x@y'];
const VERBS = ['EHLO client.example', 'HELO client.example', 'RSET', 'NOOP', 'VRFY root', 'EXPN root', 'HELP', 'ETRN example.org', 'STARTTLS', 'AUTH PLAIN', 'XCLIENT NAME=x', 'XFORWARD ADDR=1.2.3.4', 'Subject: hello', 'GET / HTTP/1.0', '', ' ', 'QUIT'];
const EOLS = ['\r\n', '\r\n', '\r\n', '\n', '\r', '\r\r\n', '\n\r'];

/** A message body of a few lines, some odd. */
function body(g: Gen): string {
  const lines: string[] = [];
  const n = g.int(6);
  if (g.chance(0.7)) lines.push('Subject: fuzz ' + g.int(1000));
  if (g.chance(0.3)) lines.push('From: ' + g.pick(ADDRS));
  lines.push('');
  for (let i = 0; i < n; i++) {
    const r = g.int(10);
    if (r === 0) lines.push('.');
    else if (r === 1) lines.push('..dot');
    else if (r === 2) lines.push('x'.repeat(g.int(5000)));
    else if (r === 3) lines.push('nul\0byte');
    else if (r === 4) lines.push(g.bytes(g.int(40)).replace(/\r?\n/g, ' '));
    else lines.push('line ' + i);
  }
  return lines.map((l) => l + g.pick(EOLS)).join('');
}

/** One command (with its data, for DATA and BDAT). */
function command(g: Gen): string {
  const eol = g.chance(0.9) ? '\r\n' : g.pick(EOLS);
  switch (g.int(12)) {
    case 0:
    case 1:
      return `MAIL FROM:${g.pick(ADDRS)}${g.chance(0.2) ? ' SIZE=' + g.int(20000000) : ''}${g.chance(0.1) ? ' BODY=8BITMIME' : ''}${eol}`;
    case 2:
    case 3:
      return `RCPT TO:${g.pick(ADDRS)}${g.chance(0.1) ? ' NOTIFY=NEVER' : ''}${eol}`;
    case 4: {
      const end = g.chance(0.85) ? '.\r\n' : g.pick(['.\n', '', '\r\n.\r\n', '.\r']);
      return `DATA${eol}${body(g)}${end}`;
    }
    case 5: {
      const content = body(g);
      const declared = g.chance(0.85) ? content.length : g.int(content.length + 10);
      return `BDAT ${declared}${g.chance(0.6) ? ' LAST' : ''}${eol}${content.slice(0, declared)}`;
    }
    case 6:
      return g.pick(['BDAT 0 LAST\r\n', 'BDAT 0\r\n', 'BDAT x\r\n', 'BDAT 5 LAST extra\r\n', 'BDAT 99999999999999999999\r\n']);
    case 7:
      return 'A'.repeat(g.int(9000)) + eol;
    case 8:
      return g.bytes(g.int(60)) + eol;
    case 9:
      return g.pick(VERBS).replace(/ /g, () => (g.chance(0.1) ? '\0' : ' ')) + eol;
    default:
      return g.pick(VERBS) + eol;
  }
}

/** One session's client bytes, as the pieces the client writes. */
export function session(g: Gen): string[] {
  const cmds: string[] = [];
  if (g.chance(0.9)) cmds.push(g.chance(0.8) ? 'EHLO client.example\r\n' : 'HELO client.example\r\n');
  const n = 1 + g.int(10);
  for (let i = 0; i < n; i++) {
    // A well-formed transaction now and then, so that mail is queued too.
    if (g.chance(0.3)) {
      cmds.push('MAIL FROM:<a@example.org>\r\n', 'RCPT TO:<postmaster@mx.example.com>\r\n');
      if (g.chance(0.5)) cmds.push(`DATA\r\n${body(g)}.\r\n`);
      else {
        const content = body(g);
        cmds.push(`BDAT ${content.length} LAST\r\n${content}`);
      }
    } else {
      cmds.push(command(g));
    }
  }
  if (g.chance(0.7)) cmds.push('QUIT\r\n');
  const text = cmds.join('');
  // Written whole (pipelined), or cut at random points.
  if (g.chance(0.5)) return [text];
  const pieces: string[] = [];
  let pos = 0;
  while (pos < text.length) {
    const len = 1 + g.int(Math.max(1, Math.min(200, text.length - pos)));
    pieces.push(text.slice(pos, pos + len));
    pos += len;
  }
  return pieces;
}
