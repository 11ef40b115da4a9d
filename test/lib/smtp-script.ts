// Scripted SMTP client for the recorded smtpd fixtures (fixtures/smtpd/*/sessions.json).
// It connects from a chosen loopback source address (inside or outside
// mynetworks) to 127.0.0.1:PORT, writes each step's bytes (several commands in
// one write = pipelining), reads complete replies (a multi-line "250-..." reply
// up to its "250 ..." line) and returns what the server said. The recorder
// (tools/record-smtpd.ts), the end-to-end test and the conformance suite all
// use it, so a fixture means the same thing to each of them.
// Only ever used inside a private network namespace (test/lib/netns.ts).

import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';

/** One step of a session: what the client writes, and what the server answered. */
export interface Step {
  /** Bytes to write, as UTF-8 text ("\r\n" line ends spelled out). Absent: only read (the greeting). */
  send?: string;
  /** The send text is one character per byte (to send bytes that are not UTF-8). */
  latin1?: boolean;
  /** The recorded replies to this write, each complete with its CRLFs, normalized (see normalizeReply). */
  expect?: string[];
  /** Recorder hint: how many replies to wait for before the quiet period (default: counted from send). */
  replies?: number;
  /** The server closed the connection after these replies (QUIT, 421, "I can break rules"). */
  closed?: boolean;
}

/** A scripted SMTP session. */
export interface Session {
  name: string;
  /** Port on 127.0.0.1 (a port of the fixture's master.cf). */
  port: number;
  /** Loopback source address to bind: 127.0.0.1 is inside the fixtures' mynetworks, 127.0.1.x outside. */
  client: string;
  note?: string;
  steps: Step[];
}

/** What the server said after one step. */
export interface StepResult {
  replies: string[];
  closed: boolean;
  /** Connection-level trouble (refused, reset, timeout), if any. */
  error?: string;
}

export interface PlayOptions {
  /** 'replay' reads exactly the recorded number of replies; 'record' reads until the server goes quiet. */
  mode: 'record' | 'replay';
  host?: string;
  /** Longest wait for one step's replies (the server may sleep smtpd_error_sleep_time per error). */
  stepTimeoutMs?: number;
  /** Record mode: silence after the expected replies that ends a step. */
  quietMs?: number;
}

const DEFAULT_STEP_TIMEOUT = 20000;
const DEFAULT_QUIET = 250;

/**
 * The placeholder rules, applied to every reply before it is stored or compared.
 * They are the only run-specific text Postfix puts in a reply when myhostname is
 * fixed by the fixture's main.cf:
 *   - the queue ID in "queued as QID" (DATA and BDAT LAST) becomes "@QID@".
 */
export const PLACEHOLDERS: { pattern: RegExp; replacement: string; why: string }[] = [
  { pattern: /(queued as )[0-9A-Za-z]+/g, replacement: '$1@QID@', why: 'queue IDs differ per run' },
];

export function normalizeReply(reply: string): string {
  let out = reply;
  for (const p of PLACEHOLDERS) out = out.replace(p.pattern, p.replacement);
  return out;
}

/** Postfix writes bytes: keep them as UTF-8 text when valid, else one char per byte (latin1). */
export function decodeBytes(buf: Buffer): string {
  const utf8 = buf.toString('utf8');
  return Buffer.from(utf8, 'utf8').equals(buf) ? utf8 : buf.toString('latin1');
}

/** Buffers a socket's input and cuts it into complete SMTP replies. */
class ReplyReader {
  private buf = Buffer.alloc(0);
  private readonly replies: string[] = [];
  ended = false;
  error: string | undefined;
  private wake: (() => void) | null = null;

  constructor(socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buf = Buffer.concat([this.buf, chunk]);
      this.split();
      this.notify();
    });
    socket.on('end', () => {
      this.ended = true;
      this.notify();
    });
    socket.on('close', () => {
      this.ended = true;
      this.notify();
    });
    socket.on('error', (e: NodeJS.ErrnoException) => {
      this.error ??= e.code ?? e.message;
      this.ended = true;
      this.notify();
    });
  }

  private notify(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  /** Move every complete reply out of the byte buffer. */
  private split(): void {
    let start = 0;
    for (;;) {
      let pos = start;
      let complete = -1;
      for (;;) {
        const nl = this.buf.indexOf(0x0a, pos);
        if (nl < 0) break;
        // "ddd-" continues a multi-line reply; any other line ends it.
        const cont = nl - pos >= 4 && this.buf[pos + 3] === 0x2d && /^\d{3}$/.test(this.buf.toString('latin1', pos, pos + 3));
        pos = nl + 1;
        if (!cont) {
          complete = pos;
          break;
        }
      }
      if (complete < 0) break;
      this.replies.push(decodeBytes(this.buf.subarray(start, complete)));
      start = complete;
    }
    if (start > 0) this.buf = this.buf.subarray(start);
  }

  count(): number {
    return this.replies.length;
  }

  /** Bytes received that do not (yet) form a complete reply. */
  partial(): string {
    return decodeBytes(this.buf);
  }

  take(): string[] {
    return this.replies.splice(0, this.replies.length);
  }

  /** Resolve when new input, end of stream or the timeout arrives; true unless it timed out. */
  waitInput(ms: number): Promise<boolean> {
    if (this.ended) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wake = null;
        resolve(false);
      }, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve(true);
      };
    });
  }
}

/** How many replies a write should provoke: one per command line, one per message end. */
export function countExpectedReplies(send: string, dataMode: boolean): { replies: number; dataMode: boolean } {
  const bytes = Buffer.from(send, 'utf8');
  let replies = 0;
  let pos = 0;
  let inData = dataMode;
  while (pos < bytes.length) {
    if (inData) {
      // The message ends at a line holding only "."; it is answered once.
      const atStart = pos === 0 && dataMode;
      let end = -1;
      if (atStart && bytes.subarray(pos, pos + 3).toString('latin1') === '.\r\n') end = pos + 3;
      else {
        const i = bytes.indexOf('\r\n.\r\n', pos, 'latin1');
        if (i >= 0) end = i + 5;
      }
      if (end < 0) return { replies, dataMode: true };
      replies++;
      pos = end;
      inData = false;
      continue;
    }
    const nl = bytes.indexOf(0x0a, pos);
    if (nl < 0) break; // an unfinished line gets no answer yet
    const line = bytes.toString('latin1', pos, nl).replace(/\r$/, '');
    replies++;
    pos = nl + 1;
    const bdat = /^BDAT\s+(\d+)/i.exec(line);
    if (bdat) pos += Number(bdat[1]);
    else if (/^DATA$/i.test(line)) {
      // Assume DATA is accepted; the data that follows in the same write is a message.
      inData = true;
    }
  }
  return { replies, dataMode: inData };
}

/** Connect to host:port from the session's source address. */
function connect(session: Session, host: string, timeoutMs: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port: session.port, localAddress: session.client });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`connect to ${host}:${session.port} from ${session.client}: timeout`));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.setNoDelay(true);
      resolve(socket);
    });
    socket.once('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`connect to ${host}:${session.port} from ${session.client}: ${e.message}`));
    });
  });
}

/** Run one session; returns one StepResult per step (normalized replies). */
export async function playSession(session: Session, opts: PlayOptions): Promise<StepResult[]> {
  const host = opts.host ?? '127.0.0.1';
  const stepTimeout = opts.stepTimeoutMs ?? DEFAULT_STEP_TIMEOUT;
  const quiet = opts.quietMs ?? DEFAULT_QUIET;
  const results: StepResult[] = [];
  let socket: net.Socket;
  try {
    socket = await connect(session, host, stepTimeout);
  } catch (e) {
    return session.steps.map(() => ({ replies: [], closed: false, error: (e as Error).message }));
  }
  const reader = new ReplyReader(socket);
  let dataMode = false;
  try {
    for (const step of session.steps) {
      if (reader.ended && step.send !== undefined) {
        results.push({ replies: [], closed: true, error: reader.error ?? 'connection closed before this step' });
        continue;
      }
      let want: number;
      if (opts.mode === 'replay') want = step.expect?.length ?? 0;
      else if (step.replies !== undefined) want = step.replies;
      else if (step.send === undefined) want = 1;
      else want = countExpectedReplies(step.send, dataMode).replies;
      if (step.send !== undefined) socket.write(Buffer.from(step.send, step.latin1 ? 'latin1' : 'utf8'));
      const deadline = Date.now() + stepTimeout;
      let timedOut = false;
      while (reader.count() < want && !reader.ended) {
        const left = deadline - Date.now();
        if (left <= 0 || !(await reader.waitInput(left))) {
          timedOut = true;
          break;
        }
      }
      if (opts.mode === 'record' && !timedOut) {
        // Catch replies nobody predicted (and a close right after the last one).
        while (!reader.ended && (await reader.waitInput(quiet))) {
          /* keep reading until the server has been quiet for a while */
        }
      }
      if (opts.mode === 'replay' && step.closed) {
        while (!reader.ended && Date.now() < deadline) await reader.waitInput(deadline - Date.now());
      }
      const replies = reader.take().map(normalizeReply);
      const result: StepResult = { replies, closed: reader.ended };
      if (timedOut && replies.length < want) {
        const partial = reader.partial();
        result.error = `timeout after ${replies.length} of ${want} replies` + (partial ? `; partial: ${JSON.stringify(partial)}` : '');
      } else if (reader.error) result.error = reader.error;
      results.push(result);
      if (opts.mode === 'replay' && timedOut) {
        // The dialogue is out of step: the remaining steps cannot tell anything.
        for (let k = results.length; k < session.steps.length; k++) {
          results.push({ replies: [], closed: reader.ended, error: 'not run: an earlier step timed out' });
        }
        break;
      }
      const last = replies[replies.length - 1];
      if (step.send !== undefined) dataMode = countExpectedReplies(step.send, dataMode).dataMode;
      if (last !== undefined) dataMode = last.startsWith('354 ');
    }
    // Replay: bytes left over after the last step are replies nobody recorded.
    if (opts.mode === 'replay' && results.length) {
      const extra = reader.take().concat(reader.partial() ? [reader.partial()] : []);
      if (extra.length) results[results.length - 1]!.error = `unexpected extra output: ${JSON.stringify(extra.join(''))}`;
    }
  } finally {
    socket.destroy();
  }
  return results;
}

/** Short one-line rendering of bytes for messages. */
function show(text: string | undefined, max = 200): string {
  if (text === undefined) return '(nothing)';
  const j = JSON.stringify(text);
  return j.length > max ? j.slice(0, max) + '..."' : j;
}

/** null when the results reproduce the session's recorded replies byte for byte, else a description. */
export function compareSession(session: Session, results: StepResult[]): string | null {
  const diffs: string[] = [];
  session.steps.forEach((step, i) => {
    const got = results[i] ?? { replies: [], closed: false, error: 'not run' };
    const want = step.expect ?? [];
    const problems: string[] = [];
    const n = Math.max(want.length, got.replies.length);
    for (let k = 0; k < n; k++) {
      if (want[k] !== got.replies[k]) problems.push(`  reply ${k + 1}: expected ${show(want[k])}\n           actual   ${show(got.replies[k])}`);
    }
    if (step.closed && !got.closed) problems.push('  expected the server to close the connection');
    if (!step.closed && got.closed) problems.push('  the server closed the connection');
    // A reset after an expected close is only the server dropping unread input.
    if (got.error && !step.closed) problems.push(`  ${got.error}`);
    if (problems.length) diffs.push(`step ${i + 1}, sent ${show(step.send, 120)}:\n${problems.join('\n')}`);
  });
  return diffs.length ? `${session.name} (port ${session.port}, from ${session.client})\n${diffs.join('\n')}` : null;
}

/** Total number of recorded replies in a list of sessions. */
export function countReplies(sessions: Session[]): number {
  return sessions.reduce((n, s) => n + s.steps.reduce((m, st) => m + (st.expect?.length ?? 0), 0), 0);
}

/** Run sessions a few at a time; results in session order. */
export async function playSessions(sessions: Session[], opts: PlayOptions, parallel = 4): Promise<StepResult[][]> {
  const out: StepResult[][] = new Array(sessions.length);
  let next = 0;
  const worker = async () => {
    while (next < sessions.length) {
      const k = next++;
      out[k] = await playSession(sessions[k]!, opts);
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, sessions.length) }, worker));
  return out;
}

// ---- Fixture files -------------------------------------------------------

/** Fixture directories (those holding sessions.json) under root, sorted. */
export function listSmtpdFixtures(root: string): string[] {
  if (!fs.existsSync(root)) return [];
  return fs
    .readdirSync(root, { withFileTypes: true })
    .filter((e) => e.isDirectory() && fs.existsSync(path.join(root, e.name, 'sessions.json')))
    .map((e) => path.join(root, e.name))
    .sort();
}

export function loadSessions(fixtureDir: string): Session[] {
  return JSON.parse(fs.readFileSync(path.join(fixtureDir, 'sessions.json'), 'utf8')) as Session[];
}

/** sessions.json text: one session field per line, one step per line, for readable diffs. */
export function formatSessions(sessions: Session[]): string {
  const parts = sessions.map((s) => {
    const head = [`"name": ${JSON.stringify(s.name)}`, `"port": ${s.port}`, `"client": ${JSON.stringify(s.client)}`];
    if (s.note !== undefined) head.push(`"note": ${JSON.stringify(s.note)}`);
    const steps = s.steps.map((st) => {
      const o: Step = {};
      if (st.send !== undefined) o.send = st.send;
      if (st.latin1) o.latin1 = true;
      if (st.replies !== undefined) o.replies = st.replies;
      o.expect = st.expect ?? [];
      if (st.closed) o.closed = true;
      return `      ${JSON.stringify(o)}`;
    });
    return `  {\n    ${head.join(',\n    ')},\n    "steps": [\n${steps.join(',\n')}\n    ]\n  }`;
  });
  return `[\n${parts.join(',\n')}\n]\n`;
}

export interface ReplayReport {
  identical: number;
  total: number;
  failures: string[];
}

/** Replay sessions against a running daemon; counts identical replies (an unexpected close or extra output fails its step). */
export async function replaySessions(sessions: Session[], label: string, parallel = 4): Promise<ReplayReport> {
  const results = await playSessions(sessions, { mode: 'replay' }, parallel);
  const report: ReplayReport = { identical: 0, total: 0, failures: [] };
  sessions.forEach((s, i) => {
    s.steps.forEach((st, k) => {
      const want = st.expect ?? [];
      const got = results[i]![k];
      const stepOk = !!got && !!st.closed === got.closed && (!got.error || !!st.closed) && got.replies.length === want.length;
      for (let r = 0; r < want.length; r++) {
        report.total++;
        if (stepOk && got.replies[r] === want[r]) report.identical++;
      }
    });
    const diff = compareSession(s, results[i]!);
    if (diff) report.failures.push(`${label}: ${diff}`);
  });
  return report;
}
