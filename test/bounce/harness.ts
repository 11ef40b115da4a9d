// Runs this project's bounce service against a temporary queue directory
// with the real in-process cleanup service behind it: a test writes an
// original queue file and its status log, asks for a notice, and reads the
// notice's queue file back from incoming/. Also the normalisation of
// fixtures/delivery (queue IDs, dates, message-id stamps, boundaries).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AddressResolver } from '../../src/address/resolve.js';
import { createBounceService, type BounceService } from '../../src/bounce/api.js';
import { createCleanupService, type CleanupServiceHandle } from '../../src/cleanup/service.js';
import { Config } from '../../src/config/config.js';
import { createLogger, memorySink } from '../../src/log/logger.js';
import { DEFAULT_LAYOUT, mailQueuePath } from '../../src/queue/layout.js';
import { MemoryInput, RecordWriter, recGetRaw } from '../../src/queue/record.js';
import { REC_TYPE, formatSizeRecord } from '../../src/queue/rec-type.js';
import { readQueueBytes } from '../../src/queue/reader.js';
import { mailDate } from '../../src/mail/mail-date.js';
import { tempDir } from '../lib/tmp.js';

export interface Env {
  spool: string;
  lines: string[];
  bounce: BounceService;
  cleanup: CleanupServiceHandle;
  close(): Promise<void>;
}

const QUEUES = ['incoming', 'active', 'deferred', 'hold', 'corrupt', 'defer', 'bounce', 'trace', 'maildrop', 'saved'];
export const BASE_CF = 'compatibility_level = 3.6\nmyhostname = host.example.com\nmydomain = example.com\nmyorigin = $myhostname\n';

/** A queue directory, cleanup and bounce services for main.cf text. */
export async function makeEnv(mainCf: string, now?: () => Date): Promise<Env> {
  const dir = tempDir('bounce-test-');
  const conf = path.join(dir, 'conf');
  const spool = path.join(dir, 'spool');
  fs.mkdirSync(conf);
  for (const q of QUEUES) fs.mkdirSync(path.join(spool, q), { recursive: true, mode: 0o700 });
  fs.writeFileSync(path.join(conf, 'main.cf'), BASE_CF + mainCf);
  const config = Config.load(conf, [['queue_directory', spool]]);
  const lines: string[] = [];
  const sink = memorySink(lines);
  const cleanupLog = createLogger(sink, 'postfix/cleanup', 1);
  const resolver = new AddressResolver(config, { log: cleanupLog });
  const cleanup = createCleanupService({ config, resolver, logger: cleanupLog, queueDir: spool });
  await cleanup.ready;
  const bounce = createBounceService({
    config, cleanup, log: createLogger(sink, 'postfix/bounce', 2), queueDir: spool, layout: DEFAULT_LAYOUT, now,
  });
  return {
    spool, lines, bounce, cleanup,
    async close() {
      await cleanup.close();
      await resolver.close();
    },
  };
}

export interface OriginalSpec {
  id: string;
  sender: string;
  recipients: string[];
  arrival: number;
  /** Content lines (without line ends). */
  content: string[];
  queue?: string;
}

/** Writes a queue file as cleanup would lay it out: SIZE, T, S, R..., M, content, X, E. */
export function writeOriginal(spool: string, spec: OriginalSpec): void {
  const head = new RecordWriter();
  const sizeText = (content: number, data: number) => formatSizeRecord([content, data, spec.recipients.length, 0, content, 0]);
  head.put(REC_TYPE.SIZE, sizeText(0, 0));
  head.put(REC_TYPE.TIME, `${spec.arrival} 0`);
  head.put(REC_TYPE.FROM, spec.sender);
  for (const r of spec.recipients) head.put(REC_TYPE.RCPT, r);
  head.put(REC_TYPE.MESG, '');
  const dataOffset = head.offset;
  const body = new RecordWriter(dataOffset);
  for (const line of spec.content) body.put(REC_TYPE.NORM, line);
  const xOffset = body.offset;
  body.put(REC_TYPE.XTRA, '');
  body.put(REC_TYPE.END, '');
  // Now that the sizes are known, the SIZE record is written again with the same length.
  const first = new RecordWriter();
  first.put(REC_TYPE.SIZE, sizeText(xOffset - dataOffset, dataOffset));
  const headBytes = head.take();
  const sizeBytes = first.take();
  const file = Buffer.concat([sizeBytes, headBytes.subarray(sizeBytes.length), body.take()]);
  const rel = mailQueuePath(DEFAULT_LAYOUT, spec.queue ?? 'active', spec.id);
  fs.mkdirSync(path.dirname(path.join(spool, rel)), { recursive: true });
  fs.writeFileSync(path.join(spool, rel), file, { mode: 0o700 });
}

export interface QueuedMessage {
  sender: string;
  recipients: string[];
  /** Content lines joined with "\n", with a final "\n". */
  content: string;
}

/** Reads a queue file cleanup left in incoming/. */
export function readQueued(spool: string, id: string): QueuedMessage {
  const data = fs.readFileSync(path.join(spool, mailQueuePath(DEFAULT_LAYOUT, 'incoming', id)));
  const { file } = readQueueBytes(data);
  const input = new MemoryInput(data, id);
  input.seek(file.contentOffset);
  let content = '';
  let pending = '';
  for (;;) {
    const r = recGetRaw(input);
    if (!('data' in r) || (r.type !== REC_TYPE.NORM && r.type !== REC_TYPE.CONT)) break;
    pending += r.data.toString('latin1');
    if (r.type === REC_TYPE.NORM) {
      content += pending + '\n';
      pending = '';
    }
  }
  return { sender: file.sender ?? '', recipients: file.recipients.map((r) => r.address), content };
}

/** The queue IDs of the notices the bounce log lines name, in order. */
export function noticeIds(lines: string[]): string[] {
  return lines.flatMap((l) => {
    const m = /notification: ([0-9A-Za-z]+)$/.exec(l);
    return m ? [m[1]!] : [];
  });
}

const DATE_RE = /[A-Z][a-z]{2}, [ \d]\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d [+-]\d{4}(?: \([^)]*\))?/g;

/** The fixture normalisation for one notice: real IDs to placeholders, dates, stamps, boundary times. */
export function normalise(text: string, ids: Array<[string, string]>): string {
  let out = text;
  for (const [real, placeholder] of ids) out = out.split(real).join(placeholder);
  out = out.replace(DATE_RE, '@DATE@');
  out = out.replace(/<\d{14}\.(@QID\d+@)/g, '<@STAMP@.$1');
  out = out.replace(/(@QID\d+@)\.\d+\//g, '$1.@TIME@/');
  return out;
}

/** Placeholders back to real values, for building an original message from a fixture's returned copy. */
export function denormalise(text: string, ids: Array<[string, string]>, sec: number): string {
  let out = text;
  for (const [real, placeholder] of ids) out = out.split(placeholder).join(real);
  return out.split('@DATE@').join(mailDate(sec)).split('@STAMP@').join('20261206020000');
}

/** One notice from a fixture file (mbox or Maildir): the part from the notice's own Received: header on. */
export function fixtureNotice(file: string, noticePlaceholder: string): string {
  const text = fs.readFileSync(file, 'latin1');
  const marker = `Received: by host.example.com (Postfix)\n\tid ${noticePlaceholder};`;
  const start = text.indexOf(marker);
  if (start < 0) throw new Error(`${file}: no notice ${noticePlaceholder}`);
  const rest = text.slice(start);
  const close = /^--[^\n]*--\n/m.exec(rest);
  if (!close) throw new Error(`${file}: notice ${noticePlaceholder} has no closing boundary`);
  return rest.slice(0, close.index + close[0].length);
}

/** The returned message in a notice: the lines after its Return-Path: up to the closing boundary. */
export function returnedContent(notice: string): string[] {
  const lines = notice.split('\n');
  const rp = lines.findIndex((l, i) => l.startsWith('Return-Path: <') && i > 20);
  const end = lines.findIndex((l, i) => i > rp && /^--.*--$/.test(l));
  return lines.slice(rp + 1, end - 1);
}
