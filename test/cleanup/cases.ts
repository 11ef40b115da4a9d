// The SMTP sessions of the cleanup fixtures (fixtures/cleanup/NN-name/),
// written compactly: a client, EHLO name, and one or more messages (sender
// with MAIL parameters, recipients, the message lines). toSession() turns
// one into the scripted-session format of test/lib/smtp-script.ts: one
// command per step, the message dot-stuffed with CRLF line ends (or BDAT
// chunks), then QUIT. The recorder plays them against real Postfix, the
// replay test against this project.
import type { Session, Step } from '../lib/smtp-script.js';

export interface MessageSpec {
  from: string;
  /** MAIL FROM parameters, e.g. "BODY=8BITMIME". */
  mailParams?: string;
  /** RCPT TO arguments: "<addr>" is added around a bare address; parameters may follow after a space. */
  rcpts: string[];
  /** Message lines (no line ends); a trailing line without end is not possible with DATA. */
  lines: string[];
  /** Send with BDAT in chunks of this many bytes instead of DATA. */
  bdat?: number;
}

export interface CaseSpec {
  name: string;
  /** Source address: 127.0.0.1 is inside mynetworks, 127.0.1.x outside. */
  client?: string;
  helo?: string;
  /** Send one byte per character (bytes that are not UTF-8). */
  latin1?: boolean;
  messages: MessageSpec[];
  note?: string;
}

const CRLF = '\r\n';

function rcptCommand(arg: string): string {
  const sp = arg.indexOf(' ');
  const addr = sp < 0 ? arg : arg.slice(0, sp);
  const params = sp < 0 ? '' : arg.slice(sp);
  return `RCPT TO:${addr.startsWith('<') ? addr : `<${addr}>`}${params}${CRLF}`;
}

function messageSteps(m: MessageSpec): Step[] {
  const steps: Step[] = [];
  const from = m.from.startsWith('<') ? m.from : `<${m.from}>`;
  steps.push({ send: `MAIL FROM:${from}${m.mailParams ? ` ${m.mailParams}` : ''}${CRLF}` });
  for (const r of m.rcpts) steps.push({ send: rcptCommand(r) });
  if (m.bdat) {
    const body = m.lines.map((l) => l + CRLF).join('');
    for (let pos = 0; pos < body.length || pos === 0; pos += m.bdat) {
      const chunk = body.slice(pos, pos + m.bdat);
      const last = pos + m.bdat >= body.length;
      steps.push({ send: `BDAT ${Buffer.byteLength(chunk, 'utf8')}${last ? ' LAST' : ''}${CRLF}${chunk}`, replies: 1 });
      if (last) break;
    }
  } else {
    steps.push({ send: `DATA${CRLF}` });
    const body = m.lines.map((l) => (l.startsWith('.') ? `.${l}` : l) + CRLF).join('');
    steps.push({ send: `${body}.${CRLF}`, replies: 1 });
  }
  return steps;
}

/** The scripted session of a case. */
export function toSession(spec: CaseSpec, port: number): Session {
  const steps: Step[] = [{}, { send: `EHLO ${spec.helo ?? 'client.example.org'}${CRLF}` }];
  for (const m of spec.messages) steps.push(...messageSteps(m));
  steps.push({ send: `QUIT${CRLF}` });
  if (spec.latin1) for (const s of steps) if (s.send !== undefined) s.latin1 = true;
  return { name: spec.name, port, client: spec.client ?? '127.0.0.1', note: spec.note, steps };
}

/** A message with the usual headers; override or drop any with the options. */
export function msg(opts: {
  from?: string; rcpts?: string[]; headers?: string[]; body?: string[]; mailParams?: string; bdat?: number;
} = {}): MessageSpec {
  const headers = opts.headers ?? [
    'From: Sender <sender@example.org>',
    'To: Alice <alice@remote.example>',
    'Subject: test',
    'Date: Mon, 2 Jan 2023 03:04:05 +0000',
    'Message-ID: <fixed.1@example.org>',
  ];
  return {
    from: opts.from ?? 'sender@example.org',
    rcpts: opts.rcpts ?? ['alice@remote.example'],
    lines: [...headers, '', ...(opts.body ?? ['hello world'])],
    mailParams: opts.mailParams,
    bdat: opts.bdat,
  };
}
