// Unit tests of cleanup's parts that need no daemon and no network: the
// MIME parser, the header table, DSN texts, dates, and the service driven
// with the record stream smtpd sends (queue file order, SIZE record, HOLD,
// DISCARD, header_checks, malformed input, the size limit).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Config } from '../../src/config/config.js';
import { AddressResolver } from '../../src/address/resolve.js';
import { createLogger, memorySink } from '../../src/log/logger.js';
import {
  CLEANUP_FLAG_BCC_OK, CLEANUP_FLAG_FILTER, CLEANUP_FLAG_MAP_OK, CLEANUP_FLAG_SMTP_REPLY, CLEANUP_STAT_BAD,
  CLEANUP_STAT_CONT, CLEANUP_STAT_HOPS, CLEANUP_STAT_RCPT, CLEANUP_STAT_SIZE,
} from '../../src/cleanup/api.js';
import { createCleanupService } from '../../src/cleanup/service.js';
import type { CleanupSession } from '../../src/cleanup/api.js';
import { HeaderOptsTable, HDR_OPT_DROP } from '../../src/mail/header-opts.js';
import { isHeaderBuf } from '../../src/mail/header.js';
import { MimeState, MIME_ERR_NESTING, MIME_HDR_MULTIPART, MIME_HDR_NESTED, MIME_HDR_PRIMARY, MIME_OPT_REPORT_NESTING } from '../../src/mail/mime-state.js';
import { dsnPrepend } from '../../src/mail/dsn.js';
import { gmtStamp, mailDate } from '../../src/mail/mail-date.js';
import { checkSizeRecord, parseQueueFile, type Rec } from './normalize.js';

const FLAGS = CLEANUP_FLAG_FILTER | CLEANUP_FLAG_BCC_OK | CLEANUP_FLAG_MAP_OK | CLEANUP_FLAG_SMTP_REPLY;

test('is_header: name, optional blanks, colon', () => {
  assert.equal(isHeaderBuf('Subject: x'), 7);
  assert.equal(isHeaderBuf('Subject : x'), 7);
  assert.equal(isHeaderBuf(' Subject: x'), 0);
  assert.equal(isHeaderBuf('Sub ject: x'), 0);
  assert.equal(isHeaderBuf('no colon'), 0);
  assert.equal(isHeaderBuf(': empty'), 0);
  assert.equal(isHeaderBuf('Caf\u00e9: x'), 0);
});

test('header table: known names in any case, message_drop_headers adds DROP', () => {
  const t = new HeaderOptsTable('bcc, X-Custom');
  assert.equal(t.find('FROM: x')?.name, 'From');
  assert.ok((t.find('Bcc: x')!.flags & HDR_OPT_DROP) !== 0);
  assert.ok((t.find('x-custom : y')!.flags & HDR_OPT_DROP) !== 0);
  assert.equal(t.find('Return-Path: <>')!.flags & HDR_OPT_DROP, 0);
  assert.equal(t.find('X-Other: y'), null);
});

test('dsn_prepend: a status in the text wins, else the default', () => {
  assert.equal(dsnPrepend('5.7.1', 'go away'), '5.7.1 go away');
  assert.equal(dsnPrepend('5.7.1', '4.2.0   later'), '4.2.0 later');
  assert.equal(dsnPrepend('5.7.1', '4.2.0x later'), '5.7.1 4.2.0x later');
});

test('mail_date and the Message-Id stamp', () => {
  const saved = process.env.TZ;
  process.env.TZ = 'UTC';
  try {
    assert.equal(mailDate(1795303967), 'Sat, 21 Nov 2026 23:32:47 +0000 (UTC)');
    assert.equal(mailDate(1672628645), 'Mon,  2 Jan 2023 03:04:05 +0000 (UTC)');
    assert.equal(gmtStamp(1795303967), '20261121233247');
  } finally {
    if (saved === undefined) delete process.env.TZ;
    else process.env.TZ = saved;
  }
});

async function mimeRun(lines: string[], flags = 0): Promise<{ out: string[]; errs: number }> {
  const out: string[] = [];
  let errs = 0;
  const m = new MimeState(flags, new HeaderOptsTable(''), { headerLimit: 102400, boundLimit: 2048, maxDepth: 1 }, {
    headOut: async (cls, _info, h) => {
      out.push(`H${cls} ${h}`);
    },
    headEnd: async () => {
      out.push('END');
    },
    bodyOut: async (type, text) => {
      out.push(`B${type} ${text}`);
    },
    error: (code) => {
      errs |= code;
    },
  });
  for (const l of lines) await m.update('N', l);
  errs |= await m.update('X', '');
  return { out, errs };
}

test('MIME: folded headers are one header; obsolete "Name :" is normalized', async () => {
  const r = await mimeRun(['Subject : a', '\tb', 'To: x', '', 'body']);
  assert.deepEqual(r.out, [`H${MIME_HDR_PRIMARY} Subject: a\n\tb`, `H${MIME_HDR_PRIMARY} To: x`, 'END', 'BN ', 'BN body']);
});

test('MIME: a body without the empty line gets one after the primary headers', async () => {
  const r = await mimeRun(['Subject: a', 'not a header']);
  assert.deepEqual(r.out, [`H${MIME_HDR_PRIMARY} Subject: a`, 'END', 'BN ', 'BN not a header']);
});

test('MIME: multipart and nested header classes, nesting limit', async () => {
  const r = await mimeRun([
    'Content-Type: multipart/mixed; boundary="a"', '', '--a', 'Content-Type: message/rfc822', '',
    'Subject: inner', '', 'x', '--a--',
  ]);
  assert.ok(r.out.includes(`H${MIME_HDR_MULTIPART} Content-Type: message/rfc822`));
  assert.ok(r.out.includes(`H${MIME_HDR_NESTED} Subject: inner`));
  const deep = await mimeRun([
    'Content-Type: multipart/mixed; boundary=a', '', '--a', 'Content-Type: multipart/mixed; boundary=b', '',
    '--b', 'Content-Type: multipart/mixed; boundary=c', '', '--c', 'Content-Type: multipart/mixed; boundary=d', '',
  ], MIME_OPT_REPORT_NESTING);
  assert.equal(deep.errs & MIME_ERR_NESTING, MIME_ERR_NESTING);
});

interface Run {
  spool: string;
  conf: string;
  lines: string[];
  open(): Promise<CleanupSession>;
  send(records: Array<[string, string]>, flags?: number): Promise<{ status: number; reason: string; id: string; file?: string; recs?: Rec[] }>;
  close(): Promise<void>;
}

async function service(mainCf: string, files: Record<string, string> = {}): Promise<Run> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cleanup-unit-'));
  const conf = path.join(dir, 'conf');
  const spool = path.join(dir, 'spool');
  fs.mkdirSync(conf);
  for (const q of ['incoming', 'hold', 'defer', 'bounce', 'trace']) fs.mkdirSync(path.join(spool, q), { recursive: true });
  fs.writeFileSync(path.join(conf, 'main.cf'), `compatibility_level = 3.6\nmyhostname = mx.example.com\nmydomain = example.com\n${mainCf}`);
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(conf, name), text);
  const config = Config.load(conf, [['queue_directory', spool]]);
  const lines: string[] = [];
  const logger = createLogger(memorySink(lines), 'postfix/cleanup');
  const resolver = new AddressResolver(config, { log: logger });
  const svc = createCleanupService({ config, resolver, logger, queueDir: spool });
  await svc.ready;
  return {
    spool, conf, lines,
    open: () => svc.open(FLAGS),
    async send(records, flags = FLAGS) {
      const s = await svc.open(flags);
      for (const [t, d] of records) s.record(t, d.replace(/@QID@/g, s.queueId));
      const r = await s.finish();
      for (const q of ['incoming', 'hold']) {
        const file = path.join(spool, q, s.queueId);
        if (fs.existsSync(file)) {
          const data = fs.readFileSync(file);
          assert.equal(checkSizeRecord(data), null);
          assert.equal(fs.statSync(file).mode & 0o777, 0o700);
          return { ...r, id: s.queueId, file: `${q}/${s.queueId}`, recs: parseQueueFile(data) };
        }
      }
      return { ...r, id: s.queueId };
    },
    async close() {
      await svc.close();
      await resolver.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The record stream smtpd sends for a small message. */
function stream(opts: { sender?: string; rcpts?: string[]; lines?: string[]; flags?: number; extra?: Array<[string, string]> } = {}): Array<[string, string]> {
  const out: Array<[string, string]> = [
    ['T', '1795303967 68429'], ['A', 'log_ident=@QID@'], ['A', 'rewrite_context=local'], ['S', opts.sender ?? 'sender@example.org'],
    ['A', 'log_client_name=localhost'], ['A', 'log_message_origin=localhost[127.0.0.1]'], ['A', 'log_protocol_name=ESMTP'],
  ];
  for (const r of opts.rcpts ?? ['alice@remote.example']) out.push(['A', `dsn_orig_rcpt=rfc822;${r}`], ['R', r]);
  if (opts.flags) out.push(['f', String(opts.flags)]);
  out.push(['M', ''], ['N', 'Received: from client (localhost [127.0.0.1])'], ['N', '\tby mx.example.com (Postfix) with ESMTP id @QID@']);
  for (const l of opts.lines ?? ['Subject: test', '', 'body']) out.push(['N', l]);
  out.push(['X', ''], ...(opts.extra ?? []), ['E', '']);
  return out;
}

test('a message: record order, added headers, SIZE record, mode 0700 in incoming/', async () => {
  const run = await service('');
  try {
    const r = await run.send(stream());
    assert.equal(r.status, 0);
    assert.equal(r.file, `incoming/${r.id}`);
    const types = r.recs!.map(([t]) => t).join('');
    assert.equal(types, 'CTAAASAAAAORMNNNNNNNNXE');
    assert.match(r.recs![2]![1], /^create_time=\d+$/);
    const content = r.recs!.filter(([t]) => t === 'N').map(([, d]) => d);
    assert.equal(content[2], 'Subject: test');
    assert.match(content[3]!, new RegExp(`^Message-Id: <\\d{14}\\.${r.id}@mx\\.example\\.com>$`));
    assert.match(content[4]!, /^Date: \w{3}, [ \d]\d \w{3} \d{4} \d\d:\d\d:\d\d [-+]\d{4} \(.+\)$/);
    assert.equal(content[5], 'From: sender@example.org');
    assert.deepEqual(content.slice(6), ['', 'body']);
    assert.ok(run.lines.some((l) => l.endsWith(`: ${r.id}: message-id=<${content[3]!.slice(13, -1)}>`)));
  } finally {
    await run.close();
  }
});

test('HOLD goes to hold/, DISCARD leaves no file and succeeds', async () => {
  const run = await service('');
  try {
    const held = await run.send(stream({ flags: 4 }));
    assert.equal(held.status, 0);
    assert.equal(held.file, `hold/${held.id}`);
    const gone = await run.send(stream({ flags: 8 }));
    assert.equal(gone.status, 0);
    assert.equal(gone.file, undefined);
  } finally {
    await run.close();
  }
});

test('header_checks REJECT: status, reason, log line, no file', async () => {
  const run = await service('header_checks = regexp:$config_directory/hc\n', { hc: '/^Subject: bad/ REJECT go away\n' });
  try {
    const r = await run.send(stream({ lines: ['Subject: bad thing', '', 'body'] }));
    assert.equal(r.status, CLEANUP_STAT_CONT);
    assert.equal(r.reason, '5.7.1 go away');
    assert.equal(r.file, undefined);
    assert.ok(run.lines.some((l) => l.endsWith(`${r.id}: reject: header Subject: bad thing from localhost[127.0.0.1]; from=<sender@example.org> to=<alice@remote.example> proto=ESMTP: 5.7.1 go away`)), run.lines.join('\n'));
  } finally {
    await run.close();
  }
});

test('malformed streams: no recipient, recipient before sender, bad attribute', async () => {
  const run = await service('');
  try {
    assert.equal((await run.send(stream({ rcpts: [] }))).status, CLEANUP_STAT_RCPT);
    const early: Array<[string, string]> = [['T', '1 0'], ['R', 'a@b.c'], ['S', 'x@y.z'], ['M', ''], ['X', ''], ['E', '']];
    assert.equal((await run.send(early)).status, CLEANUP_STAT_BAD);
    assert.ok(run.lines.some((l) => l.includes('message rejected: missing sender envelope record')));
    const bad = stream();
    bad.splice(2, 0, ['A', '=value']);
    assert.equal((await run.send(bad)).status, CLEANUP_STAT_BAD);
    assert.ok(run.lines.some((l) => l.includes('message rejected: malformed attribute: missing attribute name: =value')));
  } finally {
    await run.close();
  }
});

test('hopcount_limit and message_size_limit', async () => {
  const run = await service('hopcount_limit = 2\nmessage_size_limit = 5000\n');
  try {
    const hops = await run.send(stream({ lines: ['Received: from a by b', 'Subject: x', '', 'y'] }));
    assert.equal(hops.status, CLEANUP_STAT_HOPS);
    const big = await run.send(stream({ lines: ['Subject: x', '', ...Array.from({ length: 60 }, () => 'z'.repeat(100))] }));
    assert.equal(big.status, CLEANUP_STAT_SIZE);
    assert.ok(run.lines.some((l) => l.endsWith(`${big.id}: queue file size limit exceeded`)));
    assert.ok(run.lines.some((l) => l.endsWith('warning: mail_stream_cleanup: close error')));
    assert.equal(fs.readdirSync(path.join(run.spool, 'incoming')).length, 0);
  } finally {
    await run.close();
  }
});

test('long text records are cut at line_length_limit into L records', async () => {
  const run = await service('');
  try {
    const r = await run.send(stream({ extra: [], lines: ['Subject: x', '', 'a'.repeat(5000)] }));
    const body = r.recs!.slice(r.recs!.findIndex(([t, d]) => t === 'N' && d === '') + 1, -2);
    assert.deepEqual(body.map(([t, d]) => [t, d.length]), [['L', 2048], ['L', 2048], ['N', 904]]);
  } finally {
    await run.close();
  }
});

test('virtual aliases, duplicates and always_bcc', async () => {
  const run = await service('virtual_alias_maps = inline:{ {list@example.com = a@remote.example, b@remote.example} }\nalways_bcc = archive@remote.example\n');
  try {
    const r = await run.send(stream({ rcpts: ['list@example.com', 'a@remote.example', 'a@remote.example'] }));
    assert.equal(r.status, 0, run.lines.join('\n'));
    const rcpts = r.recs!.filter(([t]) => t === 'O' || t === 'R').map(([t, d]) => `${t}:${d}`);
    assert.deepEqual(rcpts, [
      'O:list@example.com', 'R:a@remote.example', 'O:list@example.com', 'R:b@remote.example',
      'O:a@remote.example', 'R:a@remote.example', 'O:archive@remote.example', 'R:archive@remote.example',
    ]);
  } finally {
    await run.close();
  }
});

test('concurrent sessions: distinct queue IDs, every file complete when its finish() resolves', async () => {
  const run = await service('');
  try {
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => run.send(stream({ lines: [`Subject: ${i}`, '', 'x'] }))));
    assert.equal(new Set(results.map((r) => r.id)).size, 40);
    for (const r of results) {
      assert.equal(r.status, 0);
      assert.equal(r.file, `incoming/${r.id}`);
    }
  } finally {
    await run.close();
  }
});

test('an unknown record type rejects the message and leaves no file', async () => {
  const run = await service('');
  try {
    const s = { dir: path.join(run.spool, 'incoming'), before: fs.readdirSync(path.join(run.spool, 'incoming')).length };
    const bad = stream();
    bad.splice(4, 0, ['Q', 'unknown record']);
    const r = await run.send(bad);
    assert.equal(r.status, CLEANUP_STAT_BAD);
    assert.ok(run.lines.some((l) => l.includes('message rejected: unexpected record type 81 in envelope')));
    assert.equal(fs.readdirSync(s.dir).length, s.before);
  } finally {
    await run.close();
  }
});

test('abort() removes the unfinished file', async () => {
  const run = await service('');
  try {
    const s = await run.open();
    for (const [t, d] of stream().slice(0, 10)) s.record(t, d);
    assert.ok(fs.existsSync(path.join(run.spool, 'incoming', s.queueId)));
    await s.abort();
    assert.ok(!fs.existsSync(path.join(run.spool, 'incoming', s.queueId)));
    assert.equal((await s.finish()).status !== 0, true);
  } finally {
    await run.close();
  }
});
