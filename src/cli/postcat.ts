// The postcat command (Postfix's postcat/postcat.c): shows queue files in
// readable form: envelope records, header and body text, with offsets (-o),
// decimal types (-d), raw order (-r), a start offset (-s) and queue search
// (-q). Reads main.cf for queue_directory, the hash layout and
// import_environment. Reads only; prints to stdout and stderr.
// It walks records through the queue reader's lower layer (queue/record.ts
// recGetRaw, queue/rec-type.ts field scanners), not queue/reader.ts itself:
// it must print every record, malformed ones included, where the reader
// stops at the first problem and skips the content.
import { writeAllStdout } from '../util/output.js';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { Config, ConfigError, CONF_ENV_PATH } from '../config/config.js';
import { Getopt } from '../util/getopt.js';
import { runMain } from '../util/main.js';
import { FatalExit, getProgName } from '../util/msg.js';
import { errnoText } from '../util/errno.js';
import { CHARS_COMMA_SP, extractGroup, tokenizeQuoted } from '../util/tokens.js';
import {
  type ByteInput, RecGotoState, REC_FLAG_DEFAULT, REC_FLAG_NONE, cString, inputFromFd, ioErrorText, openInput, recGetRaw, recGoto,
} from '../queue/record.js';
import {
  REC_TYPE, REC_TYPE_ENVELOPE, REC_TYPE_EOF, REC_TYPE_ERROR, asctimeLocal, atol, recTypeIn, recTypeName, scanSizeRecord, splitNameValue,
} from '../queue/rec-type.js';
import { type QueueLayout, layoutFromConfig, mailQueuePath } from '../queue/layout.js';
import { mailQueueIdOk } from '../queue/queue-id.js';
import { isHeader } from '../mail/header.js';

const PC_FLAG_SEARCH_QUEUE = 1 << 0;
const PC_FLAG_PRINT_OFFSET = 1 << 1;
const PC_FLAG_PRINT_ENV = 1 << 2;
const PC_FLAG_PRINT_HEADER = 1 << 3;
const PC_FLAG_PRINT_BODY = 1 << 4;
const PC_FLAG_PRINT_RTYPE_DEC = 1 << 5;
const PC_FLAG_RAW = 1 << 7;
const PC_MASK_PRINT_TEXT = PC_FLAG_PRINT_HEADER | PC_FLAG_PRINT_BODY;
const PC_MASK_PRINT_ALL = PC_FLAG_PRINT_ENV | PC_MASK_PRINT_TEXT;

const STATE_ENV = 0;
const STATE_HEADER = 1;
const STATE_BODY = 2;

// Searched in this order, twice (a file may move between queues meanwhile).
const SEARCH_QUEUES = ['maildrop', 'incoming', 'active', 'deferred', 'hold', 'saved'];

const USAGE =
  '[-b (body text)] [-c config_dir] [-d (decimal record type)] [-e (envelope records)] [-h (header text)] [-q (access queue)] [-v] [file(s)...]';

/**
 * Standard output as Postfix's VSTREAM uses it here: text is buffered and
 * becomes final only at a flush (after each record). Nothing flushes at
 * exit, so a line still pending then is lost, exactly as with postcat.
 */
class RecordOutput {
  private pending: Buffer[] = [];
  private done: Buffer[] = [];
  private doneSize = 0;

  text(s: string): void {
    this.pending.push(Buffer.from(s, 'utf8'));
  }

  bytes(b: Buffer): void {
    this.pending.push(b);
  }

  flush(): void {
    for (const b of this.pending) {
      this.done.push(b);
      this.doneSize += b.length;
    }
    this.pending = [];
    if (this.doneSize > 1 << 16) this.drain();
  }

  /** Writes what was flushed; what is pending stays pending. */
  drain(): void {
    const data = Buffer.concat(this.done);
    this.done = [];
    this.doneSize = 0;
    writeAllStdout(data);
  }
}

interface Context {
  flags: number;
  verbose: number;
  startOffset: bigint;
  out: RecordOutput;
  gotoState: RecGotoState;
}

// util_utf8_enable: Postfix lets UTF-8 through its messages when smtputf8_enable is on.
let utf8Enable = false;

/** printable(text, '?'): what msg_output does to every message before it is written. */
function printable(b: Buffer): Buffer {
  const out = Buffer.from(b);
  for (let i = 0; i < out.length; i++) {
    const ch = out[i]!;
    if (ch >= 0x20 && ch < 0x7f) continue;
    if (utf8Enable && ch >= 194 && ch <= 254 && (out[i + 1] ?? 0) >= 128 && (out[i + 1] ?? 0) < 192) {
      while ((out[i + 1] ?? 0) >= 128 && (out[i + 1] ?? 0) < 192) i++;
      continue;
    }
    out[i] = 0x3f;
  }
  return out;
}

/** A message on stderr as msg_vstream writes it: "<program>: <level>: <text>". */
function message(level: string, parts: Array<string | Buffer>): void {
  const text = Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : p)));
  const tag = level ? `${getProgName()}: ${level}: ` : `${getProgName()}: `;
  fs.writeSync(2, Buffer.concat([Buffer.from(tag), printable(text), Buffer.from('\n')]));
}

function warn(ctx: Context, ...parts: Array<string | Buffer>): void {
  ctx.out.drain();
  message('warning', parts);
}

function fatal(ctx: Context, ...parts: Array<string | Buffer>): never {
  ctx.out.drain();
  message('fatal', parts);
  throw new FatalExit(1);
}

/** Where the C library gives asctime() no result, postcat dereferences NULL; so do we. */
function crash(ctx: Context): never {
  ctx.out.drain();
  process.kill(process.pid, 'SIGSEGV');
  // The signal ends the process; wait for it rather than run on.
  for (;;) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1000);
}

function asctimeOrCrash(ctx: Context, sec: bigint): string {
  return asctimeLocal(sec) ?? crash(ctx);
}

/** The "%9lu %3d " prefixes: an offset of -1 (a pipe) prints as an unsigned long. */
function prefix(ctx: Context, offset: number, type: number): void {
  if (ctx.flags & PC_FLAG_PRINT_OFFSET) ctx.out.text(`${offset < 0 ? '18446744073709551615' : String(offset).padStart(9)} `);
  if (ctx.flags & PC_FLAG_PRINT_RTYPE_DEC) ctx.out.text(`${String(type).padStart(3)} `);
}

function marker(ctx: Context, input: ByteInput, offset: number, type: number, text: string): void {
  prefix(ctx, offset, type);
  ctx.out.text(`*** ${text} ${input.path} ***\n`);
  ctx.out.flush();
}

function printRecord(ctx: Context, offset: number, type: number, value: Buffer): void {
  prefix(ctx, offset, type);
  ctx.out.text(`${recTypeName(type)}: `);
  ctx.out.bytes(value);
  ctx.out.text('\n');
  ctx.out.flush();
}

function seekOrDie(ctx: Context, input: ByteInput, offset: bigint): void {
  const s = input.seek(offset);
  if (!s.ok) fatal(ctx, `seek error: ${s.text}`);
}

/** Skips the -s offset: stdin is read over, anything else is sought. */
function skipStart(ctx: Context, input: ByteInput, isStdin: boolean): void {
  const start = ctx.startOffset;
  if (start <= 0n) return;
  if (!isStdin) {
    const s = input.seek(start);
    if (!s.ok) fatal(ctx, `${input.path}: seek to ${start}: ${s.text}`);
    return;
  }
  let done = 0n;
  while (done < start) {
    const want = start - done > 65536n ? 65536 : Number(start - done);
    const got = input.read(want).length;
    done += BigInt(got);
    if (got < want) fatal(ctx, `${input.path}: skip ${start} bytes failed after ${done}`);
  }
}

/** One input, start to end: the state machine of postcat(). */
function postcat(ctx: Context, input: ByteInput, isStdin: boolean): void {
  const { flags, out } = ctx;
  const recFlags = ctx.verbose ? REC_FLAG_NONE : REC_FLAG_DEFAULT;
  input.gotoState = ctx.gotoState;
  skipStart(ctx, input, isStdin);
  if (ctx.startOffset === 0n) {
    const ch = input.getc();
    if (ch >= 0) {
      if (!recTypeIn(REC_TYPE_ENVELOPE, ch)) return warn(ctx, `${input.path}: input is not a valid queue file`);
      input.ungetc();
    }
  }
  if (ctx.startOffset === 0n && flags & PC_FLAG_PRINT_ENV) out.text(`*** ENVELOPE RECORDS ${input.path} ***\n`);
  let state = STATE_ENV;
  let doPrint = flags & PC_FLAG_PRINT_ENV;
  let dataOffset = -1n;
  let dataSize = -1n;
  let prevType = 0;
  for (;;) {
    const offset = flags & PC_FLAG_PRINT_OFFSET ? input.tell() : 0;
    const r = recGetRaw(input, 0, recFlags);
    if (r.type === REC_TYPE_ERROR) {
      if ('warning' in r) warn(ctx, r.warning);
      fatal(ctx, 'record read error');
    }
    if (r.type === REC_TYPE_EOF || !('data' in r)) break;
    let type = r.type;
    const data = r.data;
    const str = cString(data);
    if (type === REC_TYPE.CONT || type === REC_TYPE.NORM) {
      if (state === STATE_HEADER && flags & PC_MASK_PRINT_TEXT && prevType !== REC_TYPE.CONT
        && !(isHeader(str.toString('latin1')) || str[0] === 0x20 || str[0] === 0x09)) {
        state = STATE_BODY;
        doPrint = flags & PC_FLAG_PRINT_BODY;
        if (!doPrint && !(flags & PC_FLAG_PRINT_ENV)) break;
        if (!doPrint && flags & PC_FLAG_PRINT_ENV && dataOffset >= 0n && dataSize >= 0n) seekOrDie(ctx, input, dataOffset + dataSize);
      }
    } else if (type === REC_TYPE.MESG) {
      if (state !== STATE_ENV) warn(ctx, `${input.path}: out-of-order message content marker`);
      if (flags & PC_FLAG_PRINT_ENV) marker(ctx, input, offset, type, 'MESSAGE CONTENTS');
      if (!(flags & PC_MASK_PRINT_TEXT) && dataOffset >= 0n && dataSize >= 0n) seekOrDie(ctx, input, dataOffset + dataSize);
      state = STATE_HEADER;
      doPrint = flags & PC_FLAG_PRINT_HEADER;
      continue;
    } else if (type === REC_TYPE.XTRA) {
      if (state !== STATE_HEADER && state !== STATE_BODY) warn(ctx, `${input.path}: out-of-order extracted segment marker`);
      if (doPrint && prevType === REC_TYPE.CONT) out.text('\n');
      if (flags & PC_FLAG_PRINT_ENV) marker(ctx, input, offset, type, 'HEADER EXTRACTED');
      state = STATE_ENV;
      doPrint = flags & PC_FLAG_PRINT_ENV;
      if (!doPrint) break;
      continue;
    } else if (type === REC_TYPE.END) {
      if (state !== STATE_ENV) warn(ctx, `${input.path}: out-of-order message end marker`);
      if (flags & PC_FLAG_PRINT_ENV) marker(ctx, input, offset, type, 'MESSAGE FILE END');
      if (flags & PC_FLAG_RAW) continue;
      break;
    } else if (type === REC_TYPE.PTR) {
      if (doPrint) printRecord(ctx, offset, type, str);
      if (!(flags & PC_FLAG_RAW)) {
        const g = recGoto(input, data);
        if (g !== null) {
          warn(ctx, g.warning);
          fatal(ctx, 'bad pointer record, or input is not seekable');
        }
      }
      continue;
    } else if (type === REC_TYPE.SIZE) {
      if (doPrint) printRecord(ctx, offset, type, str);
      if (dataSize >= 0n || dataOffset >= 0n) {
        warn(ctx, 'file contains multiple size records');
      } else {
        const s = scanSizeRecord(str.toString('latin1'));
        if (s.size !== undefined) dataSize = s.size;
        if (s.offset !== undefined) dataOffset = s.offset;
        if (s.count !== 2 || dataOffset <= 0n || dataSize <= 0n) warn(ctx, 'invalid size record: ', str.subarray(0, 100));
        if (!(flags & PC_FLAG_PRINT_ENV)) {
          seekOrDie(ctx, input, dataOffset);
          state = STATE_HEADER;
          doPrint = flags & PC_FLAG_PRINT_HEADER;
        }
      }
      continue;
    }
    if (!doPrint) continue;
    prefix(ctx, offset, type);
    type = printBody(ctx, input, type, data, str, state);
    prevType = type;
    out.flush();
  }
}

/** The record's own output; returns the type to remember as the previous one. */
function printBody(ctx: Context, input: ByteInput, type: number, data: Buffer, str: Buffer, state: number): number {
  const out = ctx.out;
  switch (type) {
    case REC_TYPE.TIME:
    case REC_TYPE.WARN:
      out.text(`${recTypeName(type)}: ${asctimeOrCrash(ctx, atol(str.toString('latin1')))}`);
      return type;
    case REC_TYPE.CONT:
      if (state === STATE_ENV) out.text(`${recTypeName(type)}: `);
      else if (ctx.verbose) out.text('unterminated_text: ');
      out.bytes(data);
      if (state === STATE_ENV || ctx.verbose || ctx.flags & PC_FLAG_PRINT_OFFSET) {
        out.text('\n');
        return 0;
      }
      return type;
    case REC_TYPE.NORM:
      if (ctx.verbose) out.text(`${recTypeName(type)}: `);
      out.bytes(data);
      out.text('\n');
      return type;
    case REC_TYPE.DTXT:
      out.text(`${recTypeName(type)}: `);
      out.bytes(data);
      out.text('\n');
      return type;
    case REC_TYPE.ATTR: {
      const nv = splitNameValue(str.toString('latin1'));
      if ('error' in nv) {
        warn(ctx, `${input.path}: malformed attribute: ${nv.error}: `, str.subarray(0, 100));
        return type;
      }
      if (nv.name === 'create_time') {
        out.text(`create_time: ${asctimeOrCrash(ctx, atol(nv.value))}`);
      } else {
        out.text(`${recTypeName(type)}: `);
        out.bytes(Buffer.from(`${nv.name}=${nv.value}`, 'latin1'));
        out.text('\n');
      }
      return type;
    }
    default:
      out.text(`${recTypeName(type)}: `);
      out.bytes(str);
      out.text('\n');
      return type;
  }
}

// ---- mail_params_init()'s verbose trace (-v), as every Postfix command prints it ----

/** inet_ntop() for IPv6 as glibc writes it: the longest run of two or more zero groups becomes "::". */
function formatIpv6(words: number[]): string {
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j;
  }
  const hex = (ws: number[]) => ws.map((w) => w.toString(16)).join(':');
  if (best < 0) return hex(words);
  return `${hex(words.slice(0, best))}::${hex(words.slice(best + bestLen))}`;
}

function parseIpv6(text: string): number[] {
  const [head, tail] = text.split('::') as [string, string | undefined];
  const h = head ? head.split(':').map((w) => parseInt(w, 16)) : [];
  const t = tail ? tail.split(':').map((w) => parseInt(w, 16)) : [];
  return tail === undefined ? h : [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
}

/** The interface addresses inet_addr_local() finds, by family, in the system's order. */
function localAddresses(family: 'IPv4' | 'IPv6'): os.NetworkInterfaceInfo[] {
  return Object.values(os.networkInterfaces()).flatMap((list) => (list ?? []).filter((a) => a.family === family));
}

/** One mynetworks entry for an interface address (mynetworks_core). */
function networkOf(a: os.NetworkInterfaceInfo, style: string): string {
  if (a.family === 'IPv4') {
    const toNum = (t: string) => t.split('.').reduce((n, o) => n * 256 + Number(o), 0);
    const addr = toNum(a.address);
    let mask = toNum(a.netmask);
    let bits = Number(a.cidr?.split('/')[1] ?? 32);
    if (style === 'host') [mask, bits] = [0xffffffff, 32];
    else if (style === 'class') {
      bits = addr < 0x80000000 ? 8 : addr < 0xc0000000 ? 16 : addr < 0xe0000000 ? 24 : 4;
      mask = (0xffffffff << (32 - bits)) >>> 0;
    }
    const net = (addr & mask) >>> 0;
    return `${[24, 16, 8, 0].map((s) => (net >>> s) & 255).join('.')}/${bits}`;
  }
  const bits = style === 'host' ? 128 : Number(a.cidr?.split('/')[1] ?? 128);
  const words = parseIpv6(a.address.split('%')[0]!).map((w, i) => {
    const keep = Math.max(0, Math.min(16, bits - 16 * i));
    return keep === 0 ? 0 : w & ((0xffff << (16 - keep)) & 0xffff);
  });
  return `[${formatIpv6(words)}]/${bits}`;
}

/** The lines -v adds while main.cf is applied: protocol names, interfaces, the default mynetworks. */
function paramsInitTrace(config: Config): void {
  const info = (text: string) => message('', [text]);
  const protocols = config.get('inet_protocols').split(/[\s,]+/).filter(Boolean);
  for (const p of protocols) info(`name_mask: ${p}`);
  const families: Array<'IPv4' | 'IPv6'> = protocols.some((p) => p === 'all')
    ? ['IPv4', 'IPv6']
    : (['IPv4', 'IPv6'] as const).filter((f) => protocols.includes(f === 'IPv4' ? 'ipv4' : 'ipv6'));
  const addrs = families.flatMap((f) => localAddresses(f));
  const interfaces = () => {
    if (families.length === 0) return info('skipping inet_interfaces setting - all network protocols are disabled');
    for (const f of families) info(`inet_addr_local: configured ${localAddresses(f).length} ${f} addresses`);
  };
  if (config.isSet('mynetworks')) return interfaces();
  if (families.length === 0) {
    info('skipping mynetworks setting - all network protocols are disabled');
    return interfaces();
  }
  const style = config.get('mynetworks_style');
  info(`name_mask: ${style}`);
  interfaces();
  let nets = addrs.map((a) => networkOf(a, style.toLowerCase()));
  if (nets.length > 1) {
    const seen = new Set<string>();
    nets = nets.filter((n) => {
      const dup = seen.has(n);
      info(`been_here: ${n}: ${dup ? 1 : 0}`);
      seen.add(n);
      return !dup;
    });
  }
  info(`mynetworks_core: ${nets.map((n) => `${n} `).join('')}`);
}

/** update_env(import_environment): name=value entries are set in our environment (TZ among them). */
function importEnvironment(ctx: Context, value: string): void {
  for (let arg of tokenizeQuoted(value, CHARS_COMMA_SP)) {
    if (arg.startsWith('{')) {
      const g = extractGroup(arg, true);
      if (g.error) fatal(ctx, `import_environment: ${g.error}`);
      arg = g.text;
    }
    if (!arg.includes('=')) continue;
    const nv = splitNameValue(arg);
    if ('error' in nv) fatal(ctx, `update_env: ${nv.error} in: ${arg}`);
    process.env[nv.name] = nv.value;
  }
}

function closeInput(ctx: Context, input: ByteInput, fd: number, name: string): void {
  try {
    fs.closeSync(fd);
  } catch {
    // the descriptor is gone either way
  }
  if (input.error) warn(ctx, `close ${name}: ${errText(input.error)}`);
}

function errText(e: NodeJS.ErrnoException): string {
  const t = ioErrorText(e.code ?? '', '');
  return t || errnoText(e);
}

/** -q: find each ID in the queues (two passes), with paths relative to queue_directory. */
function catQueueFiles(ctx: Context, config: Config, layout: QueueLayout, ids: string[]): void {
  const queueDir = config.get('queue_directory');
  try {
    process.chdir(queueDir);
  } catch (e) {
    fatal(ctx, `chdir ${queueDir}: ${errText(e as NodeJS.ErrnoException)}`);
  }
  for (const id of ids) {
    if (!mailQueueIdOk(id)) fatal(ctx, `bad mail queue ID: ${id}`);
    let opened: ReturnType<typeof openInput> | null = null;
    search: for (let tries = 0; tries < 2; tries++) {
      for (const q of SEARCH_QUEUES) {
        opened = openInput(mailQueuePath(layout, q, id));
        if ('input' in opened) break search;
      }
    }
    if (opened === null || 'error' in opened) fatal(ctx, `open queue file ${id}: ${opened ? errText(opened.error) : ''}`);
    postcat(ctx, opened.input, false);
    closeInput(ctx, opened.input, opened.fd, id);
  }
}

function catFiles(ctx: Context, files: string[]): void {
  for (const file of files) {
    const opened = openInput(file);
    if ('error' in opened) fatal(ctx, `open ${file}: ${errText(opened.error)}`);
    postcat(ctx, opened.input, false);
    closeInput(ctx, opened.input, opened.fd, file);
  }
}

function main(argv: string[]): number {
  const ctx: Context = { flags: 0, verbose: 0, startOffset: 0n, out: new RecordOutput(), gotoState: new RecGotoState() };
  const getopt = new Getopt(argv, 'bc:dehoqrs:v');
  for (const { opt, arg } of getopt) {
    switch (opt) {
      case 'b': ctx.flags |= PC_FLAG_PRINT_BODY; break;
      case 'c': process.env[CONF_ENV_PATH] = arg!; break;
      case 'd': ctx.flags |= PC_FLAG_PRINT_RTYPE_DEC; break;
      case 'e': ctx.flags |= PC_FLAG_PRINT_ENV; break;
      case 'h': ctx.flags |= PC_FLAG_PRINT_HEADER; break;
      case 'o': ctx.flags |= PC_FLAG_PRINT_OFFSET; break;
      case 'q': ctx.flags |= PC_FLAG_SEARCH_QUEUE; break;
      case 'r': ctx.flags |= PC_FLAG_RAW; break;
      case 's':
        if (!/^[0-9]+$/.test(arg!)) fatal(ctx, `bad offset: ${arg}`);
        ctx.startOffset = atol(arg!);
        break;
      case 'v': ctx.verbose++; break;
      default: fatal(ctx, `usage: ${getProgName()} ${USAGE}`);
    }
  }
  if ((ctx.flags & PC_MASK_PRINT_ALL) === 0) ctx.flags |= PC_MASK_PRINT_ALL;
  let config: Config;
  let layout: QueueLayout;
  try {
    config = Config.load();
    const l = layoutFromConfig(config);
    if ('error' in l) fatal(ctx, l.error);
    layout = l;
    if (ctx.verbose) paramsInitTrace(config);
    utf8Enable = config.getBool('smtputf8_enable');
    importEnvironment(ctx, config.get('import_environment'));
  } catch (e) {
    if (e instanceof ConfigError) fatal(ctx, e.message);
    throw e;
  }
  const args = argv.slice(getopt.optind);
  if (args.length === 0) postcat(ctx, inputFromFd(0, 'stdin', '/dev/stdin'), true);
  else if (ctx.flags & PC_FLAG_SEARCH_QUEUE) catQueueFiles(ctx, config, layout, args);
  else catFiles(ctx, args);
  ctx.out.drain();
  return 0;
}

void runMain('postcat', main);
