// What differs between two runs of the same SMTP session, taken out of a
// queue file, its postcat output and cleanup's log lines so that files
// written by real Postfix 3.7.11 and by this project can be compared: queue
// IDs, arrival and creation times, dates in headers, Message-Id stamps,
// client ports, and the offsets of the SIZE record (they move with the
// length of the queue ID, which depends on the file's inode). The SIZE
// offsets are checked separately for consistency (checkSizeRecord).

/** One record: type letter and data, one character per byte. */
export type Rec = [string, string];

/** A queue file's records, in file order (no pointer following: cleanup writes none here). */
export function parseQueueFile(buf: Buffer): Rec[] {
  const out: Rec[] = [];
  let i = 0;
  while (i < buf.length) {
    const type = String.fromCharCode(buf[i++]!);
    let len = 0;
    for (let shift = 0; ; shift += 7) {
      const b = buf[i++];
      if (b === undefined) throw new Error('truncated length');
      len += (b & 0x7f) * 2 ** shift;
      if (!(b & 0x80)) break;
    }
    if (i + len > buf.length) throw new Error('truncated record');
    out.push([type, buf.toString('latin1', i, i + len)]);
    i += len;
  }
  return out;
}

const DATE = /(Mon|Tue|Wed|Thu|Fri|Sat|Sun), [ 0-9]\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d [-+]\d{4} \([A-Za-z0-9+-]+\)/g;
const ASCTIME = /(Mon|Tue|Wed|Thu|Fri|Sat|Sun) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ 0-9]\d \d\d:\d\d:\d\d \d{4}/g;

/** Replaces every queue ID (longest first) and the run-specific text of a line. */
export function normalizeText(text: string, queueIds: readonly string[]): string {
  let t = text;
  [...queueIds].sort((a, b) => b.length - a.length).forEach((id, k) => {
    t = t.split(id).join(`@QID${queueIds.indexOf(id) + 1 || k + 1}@`);
  });
  return t
    .replace(DATE, '@DATE@')
    .replace(/<\d{14}\.@QID/g, '<@STAMP@.@QID')
    .replace(/\b((?:log_)?client_port=)\d+/g, '$1@PORT@');
}

/** Records with the run-specific parts replaced; the W record becomes its distance from T. */
export function normalizeRecords(records: readonly Rec[], queueIds: readonly string[]): Rec[] {
  const t = records.find(([type]) => type === 'T');
  const arrival = t ? Number(t[1].split(' ')[0]) : 0;
  return records.map(([type, data]): Rec => {
    if (type === 'C') {
      const f = data.trim().split(/\s+/);
      return [type, `@SIZE@ @OFFSET@ ${f[2]} ${f[3]} @SIZE@ ${f[5]}`];
    }
    if (type === 'T') return [type, '@TIME@'];
    // cleanup writes R; Postfix's delivery agents turn it into D afterwards (a bounce, here).
    if (type === 'D') return ['R', normalizeText(data, queueIds)];
    if (type === 'W') return [type, `@TIME@+${Number(data) - arrival}`];
    if (type === 'A' && data.startsWith('create_time=')) return [type, 'create_time=@TIME@'];
    return [type, normalizeText(data, queueIds)];
  });
}

/** postcat output with run-specific parts replaced (the file's path included). */
export function normalizePostcat(text: string, path: string, queueIds: readonly string[]): string {
  return normalizeText(text.split(path).join('@PATH@'), queueIds)
    .replace(/^(message_size:).*$/m, '$1 @SIZE@')
    .replace(/^done_recipient: /gm, 'recipient: ')
    .replace(ASCTIME, '@ASCTIME@');
}

/**
 * The queue IDs a session's log lines name (a rejected message has no
 * file), appended to the IDs already known, in order of appearance.
 */
export function logQueueIds(lines: readonly string[], known: readonly string[]): string[] {
  const ids = [...known];
  for (const line of lines) {
    const m = /postfix\/cleanup\[\d+\]: (?:warning: )?([0-9A-Za-z]{10,}): /.exec(line);
    if (m && !ids.includes(m[1]!)) ids.push(m[1]!);
  }
  return ids;
}

/** A maillog line reduced to the text after "postfix/cleanup[PID]: ", normalized. */
export function normalizeLogLine(line: string, queueIds: readonly string[]): string {
  const text = line.replace(/^.*?postfix\/cleanup\[\d+\]: /, '');
  return normalizeText(text, queueIds);
}

/**
 * The SIZE record must describe its file: content size = offset of X -
 * offset after M, the recipient count, and so on. null when it does.
 */
export function checkSizeRecord(buf: Buffer): string | null {
  const recs: Array<{ type: string; offset: number; data: string }> = [];
  let i = 0;
  while (i < buf.length) {
    const offset = i;
    const type = String.fromCharCode(buf[i++]!);
    let len = 0;
    for (let shift = 0; ; shift += 7) {
      const b = buf[i++]!;
      len += (b & 0x7f) * 2 ** shift;
      if (!(b & 0x80)) break;
    }
    recs.push({ type, offset, data: buf.toString('latin1', i, i + len) });
    i += len;
  }
  const c = recs[0];
  if (!c || c.type !== 'C') return 'no SIZE record first';
  const f = c.data.trim().split(/\s+/).map(Number);
  const m = recs.findIndex((r) => r.type === 'M');
  const x = recs.findIndex((r) => r.type === 'X');
  if (m < 0 || x < 0) return 'no M or X record';
  const dataOffset = recs[m + 1]!.offset;
  const xtra = recs[x]!.offset;
  const rcpts = recs.filter((r) => r.type === 'R').length;
  if (f[0] !== xtra - dataOffset) return `content size ${f[0]}, expected ${xtra - dataOffset}`;
  if (f[1] !== dataOffset) return `data offset ${f[1]}, expected ${dataOffset}`;
  if (f[2] !== rcpts) return `recipient count ${f[2]}, expected ${rcpts}`;
  if (f[4] !== xtra - dataOffset) return `content length ${f[4]}, expected ${xtra - dataOffset}`;
  if (c.data.length !== 95) return `SIZE record length ${c.data.length}`;
  return null;
}
