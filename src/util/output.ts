// Buffered standard output. Commands build their output in memory and write it
// once: one write(2) is far cheaper than thousands, and a fatal error part-way
// prints exactly what Postfix would have printed before it.
import { writeSync } from 'node:fs';

let chunks: string[] = [];
let size = 0;

export function out(text: string): void {
  chunks.push(text);
  size += text.length;
  if (size > 1 << 20) flushOut();
}

export function flushOut(): void {
  if (chunks.length === 0) return;
  const data = Buffer.from(chunks.join(''), 'utf8');
  chunks = [];
  size = 0;
  writeAllStdout(data);
}

/** Writes all of data to standard output, retrying EAGAIN; a reader that went away (EPIPE) ends it quietly. */
export function writeAllStdout(data: Buffer): void {
  let off = 0;
  while (off < data.length) {
    try {
      off += writeSync(1, data, off, data.length - off);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      if (err.code === 'EAGAIN') continue;
      if (err.code === 'EPIPE') return;
      throw e;
    }
  }
}
