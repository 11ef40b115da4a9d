// The qshape command (Postfix's auxiliary/qshape/qshape.pl): the shape of
// the queue as a table of recipient (or, with -s, sender) domains against
// message age buckets: [0, t), [t, 2t), [2t, 4t), ... minutes (-l: linear
// steps), -b buckets, -t minutes for the first one, -p parent-domain
// totals (shown from -m subdomains on), -w the table width. Queue names
// are relative to queue_directory unless absolute; the default is
// incoming and active. Messages are read the way the Perl script reads
// them (the same record walk, the same file filter), so the numbers are
// the same. The clock can be fixed for tests with POSTFIX_TS_NOW
// (seconds). Reads only.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Config, ConfigError, CONF_ENV_PATH } from '../config/config.js';
import { runMain } from '../util/main.js';
import { FatalExit } from '../util/msg.js';

const USAGE =
  'Usage: qshape [ -s ] [ -p ] [ -m <min_subdomains> ] [ -l ]\n' +
  '\t[ -b <bucket_count> ] [ -t <bucket_time> ] [ -w <terminal_width> ]\n' +
  '\t[ -N <batch_msg_count> ] [ -n <batch_top_domains> ]\n' +
  '\t[ -c <config_directory> ] [ <queue_name> ... ]\n';

interface Options {
  flags: Set<string>;
  values: Map<string, string>;
}

/** Perl's Getopt::Std getopts("lhc:psw:b:t:m:n:N:"). */
function getopts(argv: string[]): { opts: Options; rest: string[]; bad: string[] } {
  const opts: Options = { flags: new Set(), values: new Map() };
  const bad: string[] = [];
  let i = 0;
  while (i < argv.length) {
    const a = argv[i]!;
    if (a === '--') {
      i++;
      break;
    }
    if (!a.startsWith('-') || a === '-') break;
    i++;
    let rest = a.slice(1);
    while (rest) {
      const c = rest[0]!;
      rest = rest.slice(1);
      if ('cwbtmnN'.includes(c)) {
        opts.values.set(c, rest !== '' ? rest : (argv[i++] ?? ''));
        rest = '';
      } else if ('lhps'.includes(c)) opts.flags.add(c);
      else bad.push(c);
    }
  }
  return { opts, rest: argv.slice(i), bad };
}

/** Perl's numeric value of a string (leading number, else 0). */
function num(s: string | undefined): number {
  const m = /^\s*[-+]?(\d+\.?\d*(e[-+]?\d+)?|\.\d+(e[-+]?\d+)?)/i.exec(s ?? '');
  return m ? Number(m[0]) : 0;
}

interface Record {
  type: string;
  data: Buffer;
}

/** The script's rec_get(): type, 7-bit length bytes (at most three), data. */
class RecReader {
  pos = 0;
  constructor(private readonly buf: Buffer) {}
  get(): Record | null {
    if (this.pos >= this.buf.length) return null;
    const type = String.fromCharCode(this.buf[this.pos++]!);
    if (type === '0') return null; // getc() || return: "0" is false in Perl
    let len = 0;
    let shift = 0;
    while (this.pos < this.buf.length) {
      const o = this.buf[this.pos++]!;
      len |= (o & 0x7f) << shift;
      if ((o & 0x80) === 0) break;
      shift += 7;
      if (shift > 14) return null;
    }
    if (len !== 0 && this.pos + len > this.buf.length) return null;
    const data = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return { type, data };
  }
}

/** The script's qenv(): [arrival, sender, recipients] or null. */
function qenv(file: string, name: string): [number, string, string[]] | null {
  if (!/(^|\/)[A-Za-z0-9]{6,}$/.test(name)) return null;
  let st: fs.Stats;
  try {
    st = fs.lstatSync(file);
  } catch {
    return null;
  }
  if (!st.isFile() || (st.mode & 0o733) !== 0o700) return null;
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch {
    return null;
  }
  const h = new RecReader(buf);
  let t: number | undefined;
  let s: string | undefined;
  const r: string[] = [];
  let dlen: number | undefined;
  let rec = h.get();
  if (!rec) return null;
  const text = (x: Record) => x.data.toString('latin1');
  if (rec.type === 'C') {
    const m = /^\s*(\d+)\s+\d+\s+\d+/.exec(text(rec));
    if (m) dlen = Number(m[1]);
    rec = h.get();
    if (!rec || rec.type !== 'T') return null;
    t = num(text(rec).split(/\s+/)[0]);
  } else if (rec.type === 'S' || rec.type === 'F') {
    t = Math.floor(st.mtimeMs / 1000);
    if (rec.type !== 'S') {
      rec = h.get();
      if (!rec || rec.type !== 'S') return null;
    }
    s = text(rec);
  } else {
    // The script's "return undef" is a one-element list, which its caller
    // takes as a message: arrival time 0, the null sender, no recipients.
    return [0, '', []];
  }
  for (;;) {
    rec = h.get();
    if (!rec) break;
    const d = text(rec);
    if (rec.type === 'p' && num(d) > 0) h.pos = num(d);
    if (rec.type === 'R') r.push(d);
    else if (rec.type === 'S') s = d;
    else if (rec.type === 'M') {
      if (s === undefined) break;
      if (dlen !== undefined) {
        h.pos += dlen;
        rec = h.get();
      } else {
        for (;;) {
          rec = h.get();
          if (!rec || !/^[NLp]$/.test(rec.type)) break;
          if (rec.type === 'p' && num(text(rec)) > 0) h.pos = num(text(rec));
        }
      }
      if (!rec || rec.type !== 'X') return null;
    } else if (rec.type === 'E') {
      if (t === undefined || s === undefined || r.length === 0) break;
      return [t, s, r];
    }
  }
  return null;
}

/** Perl's lc() on a byte string: ASCII letters only. */
const lcBytes = (s: string) => s.replace(/[A-Z]+/g, (m) => m.toLowerCase());

class Shape {
  q = new Map<string, number[]>();
  sub = new Map<string, number>();
  constructor(private readonly o: Options, private readonly bnum: number, private readonly tick: number, private readonly now: number) {}

  bucket(qt: number): number {
    const m = (this.now - qt) / (60 * this.tick);
    if (m < 1) return 1;
    const b = this.o.flags.has('l') ? Math.trunc(m + 1) : 2 + Math.trunc(Math.log(m) / Math.log(2));
    return b < this.bnum ? b : this.bnum;
  }

  private inc(key: string, i: number): number {
    let row = this.q.get(key);
    if (!row) this.q.set(key, (row = []));
    row[i] = (row[i] ?? 0) + 1;
    return row[i]!;
  }

  add(t: number, s: string, r: string[]): void {
    const b = this.bucket(t);
    for (const addr of (this.o.flags.has('s') ? [s] : r).map(lcBytes)) {
      this.inc('TOTAL', 0);
      this.inc('TOTAL', b);
      let a = addr === '' ? 'MAILER-DAEMON' : addr;
      a = a.replace(/.*@/, '');
      a = a.replace(/\.\./g, '.');
      a = a.replace(/\.?(.+?)\.?$/, '$1');
      let isNew = false;
      for (;;) {
        const old = this.inc(a, 0) > 1;
        this.inc(a, b);
        if (isNew) this.sub.set(a, (this.sub.get(a) ?? 0) + 1);
        isNew = !old;
        if (!this.o.flags.has('p')) break;
        const parent = /^(?:\.)?[^.]+\.(.*\.)/;
        if (!parent.test(a)) break;
        a = a.replace(parent, '.$1');
      }
    }
  }

  results(width: number, minsub: number): string {
    const heads: string[] = [];
    const widths: number[] = [];
    let dw = width;
    const total = this.q.get('TOTAL') ?? [];
    if (!this.q.has('TOTAL')) this.q.set('TOTAL', total);
    let t: number | string = 0;
    for (let i = 0; i <= this.bnum; ) {
      total[i] ??= 0;
      let l = String(total[i]).length;
      const h = i === 0 ? 'T' : String(t);
      if (h.length >= l) l = h.length;
      l = l > 2 ? l + 1 : 3;
      heads.push(h);
      widths.push(l);
      dw -= l;
      if (++i < this.bnum) t = (t as number) + (t && !this.o.flags.has('l') ? (t as number) : this.tick);
      else t = `${t}+`;
    }
    if (dw < 18) dw = 18;
    const line = (d: string, cells: Array<string | number>) => {
      let s: string;
      if (d.length > dw) s = d.startsWith('.') ? `.+${d.substr(d.length - dw + 2, dw - 2)}` : `+${d.substr(d.length - dw + 1, dw - 1)}`;
      else s = ' '.repeat(dw - d.length) + d;
      for (let i = 0; i <= this.bnum; i++) s += String(cells[i] ?? 0).padStart(widths[i]!);
      return `${s}\n`;
    };
    let out = line('', heads);
    const keys = [...this.q.keys()].sort((x, y) => this.q.get(y)![0]! - this.q.get(x)![0]! || x.length - y.length);
    for (const d of keys) {
      if (d.startsWith('.') && (this.sub.get(d) ?? 0) < minsub) continue;
      out += line(d, this.q.get(d)!);
    }
    return out;
  }
}

/** File::Find over one queue: every file below it. */
function findFiles(dir: string, visit: (file: string, name: string) => void): void {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(dir);
  } catch {
    return;
  }
  if (!st.isDirectory()) {
    visit(dir, path.basename(dir));
    return;
  }
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return;
  }
  for (const n of names) {
    const p = path.join(dir, n);
    visit(p, n);
    const s = fs.lstatSync(p, { throwIfNoEntry: false });
    if (s?.isDirectory()) findFiles(p, visit);
  }
}

function main(argv: string[]): number {
  const { opts, rest, bad } = getopts(argv);
  if (bad.length > 0 || opts.flags.has('h')) {
    let err = bad.map((c) => `qshape: Unknown option: ${c}\n`).join('');
    if (opts.flags.has('h') && bad.length === 0) err = '';
    process.stderr.write(err + USAGE);
    throw new FatalExit(255);
  }
  const qlist = rest.length > 0 ? rest : ['incoming', 'active'];
  let base = '';
  if (qlist.some((q) => !q.startsWith('/'))) {
    if (opts.values.has('c')) process.env[CONF_ENV_PATH] = opts.values.get('c')!;
    try {
      base = Config.load().get('queue_directory');
    } catch (e) {
      if (e instanceof ConfigError) {
        process.stderr.write(`postconf: fatal: ${e.message}\nqshape: postconf failed\n`);
        throw new FatalExit(255);
      }
      throw e;
    }
    try {
      if (!fs.statSync(base).isDirectory()) throw new Error('Not a directory');
    } catch (e) {
      process.stderr.write(`qshape: chdir(${base}): ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'No such file or directory' : (e as Error).message}\n`);
      throw new FatalExit(2);
    }
  }
  const pos = (name: string, dflt: number, min: number) => {
    const v = opts.values.get(name);
    return v !== undefined && num(v) > min ? num(v) : dflt;
  };
  const width = pos('w', 80, 80);
  const bnum = pos('b', 10, 0);
  const tick = pos('t', 5, 0);
  const minsub = pos('m', 5, 0);
  const now = process.env.POSTFIX_TS_NOW ? Number(process.env.POSTFIX_TS_NOW) : Math.floor(Date.now() / 1000);
  const shape = new Shape(opts, bnum, tick, now);
  for (const q of qlist) {
    findFiles(q.startsWith('/') ? q : path.join(base, q), (file, name) => {
      const env = qenv(file, name);
      if (env) shape.add(...env);
    });
  }
  const out = Buffer.from(shape.results(width, minsub), 'latin1');
  fs.writeSync(1, out);
  return 0;
}

void runMain('qshape', main);
