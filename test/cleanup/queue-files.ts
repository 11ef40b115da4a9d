// Finding and reading the queue files a session left behind, for the
// recorder (real Postfix's spool) and the replay test (this project's).
// A file may move (incoming -> active -> deferred) while it is looked for:
// lookups retry.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { checkSizeRecord, normalizePostcat, normalizeRecords, normalizeText, parseQueueFile, type Rec } from './normalize.js';

const QUEUES = ['incoming', 'active', 'deferred', 'hold', 'corrupt'];

/** Every queue file under spool: ID to path relative to spool. */
export function listQueueFiles(spool: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (rel: string): void => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(path.join(spool, rel), { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const r = `${rel}/${e.name}`;
      if (e.isDirectory()) walk(r);
      else if (/^[0-9A-Za-z]+$/.test(e.name)) out.set(e.name, r);
    }
  };
  for (const q of QUEUES) walk(q);
  return out;
}

/** Reads a queue file wherever it is now; null when it is gone. */
export function readQueueFile(spool: string, id: string): { rel: string; data: Buffer; mode: number } | null {
  for (let attempt = 0; attempt < 20; attempt++) {
    const rel = listQueueFiles(spool).get(id);
    if (rel === undefined) return null;
    try {
      const full = path.join(spool, rel);
      const st = fs.statSync(full);
      return { rel, data: fs.readFileSync(full), mode: st.mode & 0o7777 };
    } catch {
      // moved meanwhile: look again
    }
  }
  return null;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until the set of new queue files has been the same for quietMs. */
export async function waitNewFiles(spool: string, before: Map<string, string>, quietMs = 400, maxMs = 8000): Promise<string[]> {
  const deadline = Date.now() + maxMs;
  let last = '';
  let since = Date.now();
  for (;;) {
    const ids = [...listQueueFiles(spool).keys()].filter((id) => !before.has(id)).sort();
    const key = ids.join(',');
    if (key !== last) {
      last = key;
      since = Date.now();
    }
    if (Date.now() - since >= quietMs || Date.now() > deadline) return ids;
    await sleep(50);
  }
}

/** What a queue file shows, normalized: the queue it is in, its records, postcat's output. */
export interface QueueFileView {
  queue: string;
  records: Rec[];
  postcat?: string;
  /** postcat's stderr (should be empty). */
  postcatErrors?: string;
  /** SIZE record inconsistency, if any. */
  sizeProblem?: string | null;
  mode?: string;
  /** The message's trace log (trace/QUEUEID), normalized, when there is one. */
  trace?: string;
}

export const REAL_POSTCAT = '/usr/sbin/postcat';

/** Runs postcat (TZ=UTC) on a file. */
export function runPostcat(postcat: string, configDir: string, file: string): { stdout: string; stderr: string } {
  const r = spawnSync(postcat, ['-c', configDir, file], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', TZ: 'UTC', LANG: 'C' } });
  return { stdout: (r.stdout ?? Buffer.alloc(0)).toString('latin1'), stderr: (r.stderr ?? Buffer.alloc(0)).toString('latin1') };
}

/** The T record's time, for ordering the messages of one session. */
function arrival(records: Rec[]): number {
  const t = records.find(([type]) => type === 'T');
  if (!t) return 0;
  const [s, u] = t[1].split(' ');
  return Number(s) * 1e6 + Number(u ?? 0);
}

/** The files of new IDs, in arrival order, normalized against their own IDs. */
export function viewNewFiles(spool: string, ids: string[], configDir: string, postcat: string | null): { ids: string[]; views: QueueFileView[]; raw: Buffer[]; others: string[] } {
  const found: Array<{ id: string; rel: string; data: Buffer; mode: number; records: Rec[] }> = [];
  for (const id of ids) {
    const f = readQueueFile(spool, id);
    if (f) found.push({ id, ...f, records: parseQueueFile(f.data) });
  }
  found.sort((a, b) => arrival(a.records) - arrival(b.records));
  // Only the session's own messages: notices that Postfix generated meanwhile (bounces, DSN
  // success notices) have no client attributes.
  const others = found.filter((f) => !f.records.some(([t, d]) => t === 'A' && d.startsWith('client_address=')));
  for (const o of others) found.splice(found.indexOf(o), 1);
  const order = found.map((f) => f.id);
  const views = found.map((f): QueueFileView => {
    const view: QueueFileView = {
      // cleanup writes to incoming/ (or hold/); Postfix's qmgr may have moved the file on since.
      queue: ['active', 'deferred'].includes(f.rel.split('/')[0]!) ? 'incoming' : f.rel.split('/')[0]!,
      records: normalizeRecords(f.records, [f.id, ...order.filter((x) => x !== f.id)]),
      sizeProblem: checkSizeRecord(f.data),
      mode: (f.mode & 0o777).toString(8),
    };
    const trace = path.join(spool, 'trace', f.id);
    if (fs.existsSync(trace)) view.trace = normalizeText(fs.readFileSync(trace, 'latin1'), [f.id]);
    if (postcat) {
      // A copy: the original may move to another queue while postcat reads it.
      const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cleanup-postcat-'));
      const full = path.join(tmp, f.id);
      fs.writeFileSync(full, f.data, { mode: 0o600 });
      const r = runPostcat(postcat, configDir, full);
      fs.rmSync(tmp, { recursive: true, force: true });
      view.postcat = normalizePostcat(r.stdout, full, [f.id, ...order.filter((x) => x !== f.id)]);
      view.postcatErrors = r.stderr;
    }
    return view;
  });
  return { ids: order, views, raw: found.map((f) => f.data), others: others.map((o) => o.id) };
}
