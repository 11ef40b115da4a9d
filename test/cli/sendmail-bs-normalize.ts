// Normalization shared by tools/record-sendmail-bs.ts and
// test/cli/sendmail-bs.test.ts: queue IDs, times, dates, process IDs and
// the submitting user change from run to run; every other byte of the
// dialogue, the maillog lines and postcat's view of the maildrop files must
// match. Strings are byte strings (latin1).
import { normalizePostcat } from '../pickup/submission-normalize.js';

/** One session as recorded: what the client saw, what was logged, what was queued. */
export interface BsRecorded {
  name: string;
  status: number;
  stdout: string;
  stderr: string;
  /** Maillog lines without the date, host and process ID ("postfix/smtpd: connect from ..."). */
  log: string[];
  /** postcat -q of each maildrop file left behind, in the order the log names their queue IDs. */
  maildrop: string[];
}

/** The queue IDs in the order the maillog mentions them ("ID: client=..."), then any others. */
export function queueIdLabels(log: string, stdout: string, files: string[]): Array<[string, string]> {
  const ids = [...log.matchAll(/: ([0-9A-Za-z]+): client=/g)].map((m) => m[1]!);
  for (const m of stdout.matchAll(/queued as ([0-9A-Za-z]+)/g)) if (!ids.includes(m[1]!)) ids.push(m[1]!);
  for (const f of files) if (!ids.includes(f)) ids.push(f);
  return ids.map((id, i) => [id, `MAILDROP_ID_${i + 1}`]);
}

export function relabel(text: string, labels: Array<[string, string]>): string {
  let out = text;
  for (const [id, label] of labels) out = out.split(id).join(label);
  return out;
}

/** The lines of one session: smtpd's, postdrop's and sendmail's (not the master's start-up lines). */
export function sessionLogLines(text: string): string[] {
  return text.split('\n').filter((l) => / postfix\/(smtpd|postdrop|sendmail)\[\d+\]: /.test(l));
}

/** A maillog line: "Dec  6 17:32:55 host postfix/smtpd[12038]: text" becomes "postfix/smtpd: text". */
export function normalizeLogLine(line: string, labels: Array<[string, string]>): string {
  return relabel(line.replace(/^.*? ([^ \[]+)\[\d+\]: /, '$1: '), labels);
}

export function normalizeMaildrop(postcat: string, labels: Array<[string, string]>): string {
  return normalizePostcat(postcat, labels)
    .replace(/^(\tfor <.*>; ).*$/gm, '$1DATE')
    .replace(/^(\t[A-Z][a-z][a-z], [ \d]\d [A-Z][a-z][a-z] \d{4} \d\d:\d\d:\d\d [-+]\d{4} \(\w+\))$/gm, '\tDATE');
}

/** The submitting user as the fatal messages name it: "root(0)" becomes "USER(UID)". */
export function normalizeUser(text: string, name: string, uid: number): string {
  return text.split(`User ${name}(${uid})`).join('User USER(UID)');
}
