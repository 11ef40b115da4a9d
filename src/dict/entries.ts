// The (key, value, line) records of a bulk table build, kept as byte ranges
// in a few large buffers instead of a million small strings: postmap's
// 1,000,000-line build must beat Postfix's C, and JavaScript strings and
// Maps cost too much at that scale. Also the stable byte-order sort that
// LMDB's B-tree needs (MSD radix, then insertion sort in small buckets).
// Pure memory; no I/O.

/** Where a value's bytes live: the source file's buffer or the value arena. */
export const VAL_SOURCE = 0;
export const VAL_ARENA = 1;

function grow<T extends Uint32Array | Uint8Array>(a: T, need: number, make: (n: number) => T): T {
  if (need <= a.length) return a;
  let n = a.length * 2;
  while (n < need) n *= 2;
  const b = make(n);
  b.set(a);
  return b;
}

export class EntryList {
  count = 0;
  keyArena: Buffer = Buffer.allocUnsafe(1 << 16);
  keyUsed = 0;
  valArena: Buffer = Buffer.allocUnsafe(1 << 12);
  valUsed = 0;
  keyOff = new Uint32Array(1024);
  keyLen = new Uint32Array(1024);
  valWhere = new Uint8Array(1024);
  valOff = new Uint32Array(1024);
  valLen = new Uint32Array(1024);
  /** 1 when a NUL byte follows the value in the table (Postfix's TRY1NULL). */
  valNul = new Uint8Array(1024);
  line = new Uint32Array(1024);

  /** @param source the buffer that VAL_SOURCE offsets point into (postmap's source file). */
  constructor(public source: Buffer = Buffer.alloc(0)) {}

  private reserve(): number {
    const i = this.count;
    if (i === this.keyOff.length) {
      const n = i + 1;
      this.keyOff = grow(this.keyOff, n, (m) => new Uint32Array(m));
      this.keyLen = grow(this.keyLen, n, (m) => new Uint32Array(m));
      this.valWhere = grow(this.valWhere, n, (m) => new Uint8Array(m));
      this.valOff = grow(this.valOff, n, (m) => new Uint32Array(m));
      this.valLen = grow(this.valLen, n, (m) => new Uint32Array(m));
      this.valNul = grow(this.valNul, n, (m) => new Uint8Array(m));
      this.line = grow(this.line, n, (m) => new Uint32Array(m));
    }
    return i;
  }

  /** Room for `len` more key bytes; returns the offset to write them at. */
  keySpace(len: number): number {
    if (this.keyUsed + len > this.keyArena.length) {
      let n = Math.max(1 << 16, this.keyArena.length + (this.keyArena.length >> 1));
      while (n < this.keyUsed + len) n += n >> 1;
      const b = Buffer.allocUnsafe(n);
      this.keyArena.copy(b, 0, 0, this.keyUsed);
      this.keyArena = b;
    }
    return this.keyUsed;
  }

  private valSpace(len: number): number {
    if (this.valUsed + len > this.valArena.length) {
      let n = this.valArena.length * 2;
      while (n < this.valUsed + len) n *= 2;
      const b = Buffer.allocUnsafe(n);
      this.valArena.copy(b, 0, 0, this.valUsed);
      this.valArena = b;
    }
    return this.valUsed;
  }

  /** Adds a record whose key was written at keyArena[keyUsed..+keyLen] via keySpace(). */
  addRaw(keyLen: number, where: number, valOff: number, valLen: number, nul: number, line: number): void {
    this.addAt(this.keyUsed, keyLen, where, valOff, valLen, nul, line);
    this.keyUsed += keyLen;
  }

  /** Adds a record whose key already sits in keyArena at keyOff (postmap keys folded in place). */
  addAt(keyOff: number, keyLen: number, where: number, valOff: number, valLen: number, nul: number, line: number): void {
    const i = this.reserve();
    this.keyOff[i] = keyOff;
    this.keyLen[i] = keyLen;
    this.valWhere[i] = where;
    this.valOff[i] = valOff;
    this.valLen[i] = valLen;
    this.valNul[i] = nul;
    this.line[i] = line;
    this.count = i + 1;
  }

  /** Adds a record from byte buffers (postalias, -F, texts built in code); key bytes are final. */
  add(key: Uint8Array, value: Uint8Array, nul: number, line: number): void {
    const k = this.keySpace(key.length);
    this.keyArena.set(key, k);
    const v = this.valSpace(value.length);
    this.valArena.set(value, v);
    this.valUsed += value.length;
    this.addRaw(key.length, VAL_ARENA, v, value.length, nul, line);
  }

  key(i: number): Buffer {
    return this.keyArena.subarray(this.keyOff[i]!, this.keyOff[i]! + this.keyLen[i]!);
  }

  value(i: number): Buffer {
    const buf = this.valWhere[i] === VAL_SOURCE ? this.source : this.valArena;
    return buf.subarray(this.valOff[i]!, this.valOff[i]! + this.valLen[i]!);
  }

  valueBuffer(i: number): Buffer {
    return this.valWhere[i] === VAL_SOURCE ? this.source : this.valArena;
  }

  /** Forgets records from index n on (a fatal error stops the build at a line). */
  truncate(n: number): void {
    if (n < this.count) this.count = n;
  }

  keysEqual(a: number, b: number): boolean {
    const la = this.keyLen[a]!;
    if (la !== this.keyLen[b]) return false;
    const k = this.keyArena;
    const oa = this.keyOff[a]!;
    const ob = this.keyOff[b]!;
    for (let j = 0; j < la; j++) if (k[oa + j] !== k[ob + j]) return false;
    return true;
  }
}

const SMALL = 24;

/** Length of the prefix that all keys share. */
function commonPrefix(e: EntryList): number {
  const n = e.count;
  const ko = e.keyOff;
  const kl = e.keyLen;
  const ka = e.keyArena;
  let common = n > 0 ? kl[0]! : 0;
  const a = n > 0 ? ko[0]! : 0;
  for (let i = 1; i < n && common > 0; i++) {
    const b = ko[i]!;
    const m = common < kl[i]! ? common : kl[i]!;
    let j = 0;
    while (j < m && ka[a + j] === ka[b + j]) j++;
    common = j;
  }
  return common;
}

/**
 * Indices 0..count-1 ordered by key bytes (memcmp, shorter first), ties in
 * input order. Each round packs the next few key bytes and the position
 * into one float and sorts the floats natively (TypedArray sort, no
 * comparator); runs that still tie go another round, deeper into the keys.
 */
export function sortedOrder(e: EntryList): Uint32Array {
  const n = e.count;
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  if (n < 2) return order;
  const ko = e.keyOff;
  const kl = e.keyLen;
  const ka = e.keyArena;
  const tags = new Float64Array(n);
  const held = new Uint32Array(n);
  const stack: number[] = [0, n, commonPrefix(e)];
  while (stack.length > 0) {
    const depth = stack.pop()!;
    const hi = stack.pop()!;
    const lo = stack.pop()!;
    const m = hi - lo;
    if (m <= SMALL) {
      insertionSort(order, lo, hi, depth, ko, kl, ka);
      continue;
    }
    if (m > RADIX_MIN) {
      radixRound(order, lo, hi, depth, ko, kl, ka, stack);
      continue;
    }
    const bits = Math.ceil(Math.log2(m));
    const width = Math.floor((52 - bits) / 8);
    const scale = 2 ** bits;
    for (let j = 0; j < m; j++) {
      const k = order[lo + j]!;
      const off = ko[k]! + depth;
      const left = kl[k]! - depth;
      let v = 0;
      for (let b = 0; b < width; b++) v = v * 256 + (b < left ? ka[off + b]! : 0);
      tags[j] = v * scale + j;
      held[j] = k;
    }
    const t = tags.subarray(0, m);
    t.sort();
    for (let j = 0; j < m; j++) {
      const x = t[j]!;
      order[lo + j] = held[x - Math.floor(x / scale) * scale]!;
    }
    // Runs whose packed bytes tie need the next round (or, when every key
    // in the run has ended, only an exact check of the lengths).
    let a = 0;
    while (a < m) {
      const va = Math.floor(t[a]! / scale);
      let b = a + 1;
      while (b < m && Math.floor(t[b]! / scale) === va) b++;
      if (b - a > 1) {
        let longer = false;
        let lens = false;
        const l0 = kl[order[lo + a]!]!;
        for (let j = a; j < b; j++) {
          const l = kl[order[lo + j]!]!;
          if (l > depth + width) longer = true;
          if (l !== l0) lens = true;
        }
        if (longer) stack.push(lo + a, lo + b, depth + width);
        else if (lens) insertionSort(order, lo + a, lo + b, depth, ko, kl, ka);
      }
      a = b;
    }
  }
  return order;
}

/** Buckets larger than this are split by an LSD radix sort on 4 key bytes instead of a float sort. */
const RADIX_MIN = 1 << 14;

/**
 * One round for a big bucket: order[lo..hi) by the 4 key bytes at depth
 * (as one 32-bit number, missing bytes as 0), two stable 16-bit counting
 * passes; tied runs go back on the stack one level deeper.
 */
function radixRound(order: Uint32Array, lo: number, hi: number, depth: number, ko: Uint32Array, kl: Uint32Array, ka: Buffer, stack: number[]): void {
  const m = hi - lo;
  const idx = order.subarray(lo, hi);
  const pre = packPrefixes(idx, depth, ko, kl, ka);
  const pre2 = new Uint32Array(m);
  const idx2 = new Uint32Array(m);
  const count = new Int32Array(65536);
  countingPass(pre, idx, pre2, idx2, count, 0);
  count.fill(0);
  countingPass(pre2, idx2, pre, idx, count, 16);
  pushTiedRuns(pre, idx, lo, depth, kl, order, ko, ka, stack);
}

/** The 4 key bytes at depth of each key, as one unsigned 32-bit number (missing bytes 0). */
function packPrefixes(idx: Uint32Array, depth: number, ko: Uint32Array, kl: Uint32Array, ka: Buffer): Uint32Array {
  const m = idx.length;
  const pre = new Uint32Array(m);
  for (let j = 0; j < m; j++) {
    const k = idx[j]!;
    const o = ko[k]! + depth;
    const left = kl[k]! - depth;
    let v = 0;
    for (let b = 0; b < 4; b++) v = v * 256 + (b < left ? ka[o + b]! : 0);
    pre[j] = v;
  }
  return pre;
}

/** One stable counting pass on 16 bits of the prefix (shift 0 or 16), from (pre, idx) to (pre2, idx2). */
function countingPass(pre: Uint32Array, idx: Uint32Array, pre2: Uint32Array, idx2: Uint32Array, count: Int32Array, shift: number): void {
  const m = pre.length;
  for (let j = 0; j < m; j++) count[(pre[j]! >>> shift) & 0xffff]!++;
  let sum = 0;
  for (let b = 0; b < 65536; b++) {
    const c = count[b]!;
    count[b] = sum;
    sum += c;
  }
  for (let j = 0; j < m; j++) {
    const p = pre[j]!;
    const at = count[(p >>> shift) & 0xffff]!++;
    pre2[at] = p;
    idx2[at] = idx[j]!;
  }
}

/** Runs of equal prefixes: deeper rounds for keys that go on, an exact check when they all ended. */
function pushTiedRuns(pre: Uint32Array, idx: Uint32Array, lo: number, depth: number, kl: Uint32Array, order: Uint32Array, ko: Uint32Array, ka: Buffer, stack: number[]): void {
  const m = pre.length;
  let a = 0;
  while (a < m) {
    const v = pre[a]!;
    let b = a + 1;
    while (b < m && pre[b] === v) b++;
    if (b - a > 1) {
      let longer = false;
      let lens = false;
      const l0 = kl[idx[a]!]!;
      for (let j = a; j < b; j++) {
        const l = kl[idx[j]!]!;
        if (l > depth + 4) longer = true;
        if (l !== l0) lens = true;
      }
      if (longer) stack.push(lo + a, lo + b, depth + 4);
      else if (lens) insertionSort(order, lo + a, lo + b, depth, ko, kl, ka);
    }
    a = b;
  }
}

function compareFrom(a: number, b: number, depth: number, ko: Uint32Array, kl: Uint32Array, ka: Buffer): number {
  const la = kl[a]!;
  const lb = kl[b]!;
  const m = la < lb ? la : lb;
  const oa = ko[a]!;
  const ob = ko[b]!;
  for (let j = depth; j < m; j++) {
    const d = ka[oa + j]! - ka[ob + j]!;
    if (d !== 0) return d;
  }
  if (la !== lb) return la - lb;
  return a - b;
}

function insertionSort(idx: Uint32Array, lo: number, hi: number, depth: number, ko: Uint32Array, kl: Uint32Array, ka: Buffer): void {
  for (let i = lo + 1; i < hi; i++) {
    const v = idx[i]!;
    let j = i - 1;
    while (j >= lo && compareFrom(idx[j]!, v, depth, ko, kl, ka) > 0) {
      idx[j + 1] = idx[j]!;
      j--;
    }
    idx[j + 1] = v;
  }
}

/** An order good for lookups: the exact order, now that it is cheap. */
export const localityOrder = sortedOrder;
