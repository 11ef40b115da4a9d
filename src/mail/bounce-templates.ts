// Bounce message templates (Postfix's bounce/bounce_templates.c and
// bounce_template.c): the four built-in templates whose text users read in
// non-delivery, delay, success and verify notices, the bounce_template_file
// format that replaces them, and the two listings `postconf -t` (dump) and
// `postconf -b` (expand) print. The wording of the built-in texts is
// Postfix's data, kept byte for byte. Problems are reported through the
// caller's warn; fatal ones come back as a thrown TemplateError whose text
// the caller prints as Postfix's bounce daemon would.
import { domainToUnicode } from 'node:url';
import { macExpand, MAC_PARSE_ERROR, MAC_PARSE_UNDEF } from '../config/expand.js';

export type TemplateClass = 'failure' | 'delay' | 'success' | 'verify';
export const TEMPLATE_CLASSES: readonly TemplateClass[] = ['failure', 'delay', 'success', 'verify'];

export interface BounceTemplate {
  class: TemplateClass;
  /** "[built-in]" or the template file that supplied it. */
  origin: string;
  charset: string;
  encoding: '7bit' | '8bit';
  /** From: text for header_from_format = obsolete and standard. */
  obsoleteFrom: string;
  standardFrom: string;
  subject: string;
  /** Only failure and delay notices have a postmaster copy. */
  postmasterSubject?: string;
  /** The message text, one entry per line; $name references unexpanded. */
  text: string[];
  /** Unparsed text from a template file, parsed on first use as Postfix does. */
  pending?: string;
}

export type BounceTemplates = Record<TemplateClass, BounceTemplate>;

export class TemplateError extends Error {}

const FROM_OBSOLETE = 'MAILER-DAEMON (Mail Delivery System)';
const FROM_STANDARD = 'Mail Delivery System <MAILER-DAEMON>';
const HELP_LINES = [
  'For further assistance, please send mail to postmaster.',
  '',
  'If you do so, please include this problem report. You can',
  'delete your own text from the attached returned message.',
];
const SIGNATURE = '                   The mail system';
const HELLO = 'This is the mail system at host $myhostname.';

function builtin(cls: TemplateClass, subject: string, postmasterSubject: string | undefined, text: string[]): BounceTemplate {
  return {
    class: cls,
    origin: '[built-in]',
    charset: 'us-ascii',
    encoding: '7bit',
    obsoleteFrom: FROM_OBSOLETE,
    standardFrom: FROM_STANDARD,
    subject,
    postmasterSubject,
    text,
  };
}

const BUILTIN: BounceTemplates = {
  failure: builtin('failure', 'Undelivered Mail Returned to Sender', 'Postmaster Copy: Undelivered Mail', [
    HELLO,
    '',
    "I'm sorry to have to inform you that your message could not",
    "be delivered to one or more recipients. It's attached below.",
    '',
    ...HELP_LINES,
    '',
    SIGNATURE,
  ]),
  delay: builtin('delay', 'Delayed Mail (still being retried)', 'Postmaster Warning: Delayed Mail', [
    HELLO,
    '',
    '####################################################################',
    '# THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR MESSAGE. #',
    '####################################################################',
    '',
    'Your message could not be delivered for more than $delay_warning_time_hours hour(s).',
    'It will be retried until it is $maximal_queue_lifetime_days day(s) old.',
    '',
    ...HELP_LINES,
    '',
    SIGNATURE,
  ]),
  success: builtin('success', 'Successful Mail Delivery Report', undefined, [
    HELLO,
    '',
    'Your message was successfully delivered to the destination(s)',
    'listed below. If the message was delivered to mailbox you will',
    'receive no further notifications. Otherwise you may still receive',
    'notifications of mail delivery errors from other systems.',
    '',
    SIGNATURE,
  ]),
  verify: builtin('verify', 'Mail Delivery Status Report', undefined, [
    HELLO,
    '',
    'Enclosed is the mail delivery report that you requested.',
    '',
    SIGNATURE,
  ]),
};

/** A fresh set of the built-in templates. */
export function defaultTemplates(): BounceTemplates {
  const copy = (t: BounceTemplate): BounceTemplate => ({ ...t, text: [...t.text] });
  return { failure: copy(BUILTIN.failure), delay: copy(BUILTIN.delay), success: copy(BUILTIN.success), verify: copy(BUILTIN.verify) };
}

const isSpace = (ch: string | undefined): boolean => ch !== undefined && ' \t\n\v\f\r'.includes(ch);
const isAscii = (text: string): boolean => /^[\x00-\x7f]*$/.test(text);

/**
 * Postfix reads template files through one reused line buffer, and its
 * "missing end marker" warning prints whatever that buffer holds at the
 * marker's old offset. This models the buffer so that the warning reads the
 * same: each line overwrites the start and ends with a NUL, older bytes stay.
 */
class ReusedLineBuffer {
  private mem: string[] = [];

  write(line: string): void {
    for (let i = 0; i < line.length; i++) this.mem[i] = line[i]!;
    this.mem[line.length] = '\0';
  }

  terminateAt(offset: number): void {
    this.mem[offset] = '\0';
  }

  stringAt(offset: number): string {
    let text = '';
    for (let i = offset; i < this.mem.length && this.mem[i] !== undefined && this.mem[i] !== '\0'; i++) text += this.mem[i];
    return text;
  }
}

/**
 * Reads a bounce_template_file (bounce_templates_load): "name = value" or
 * "name = <<MARKER" ... "MARKER". Postfix numbers the first line 2, and so do
 * its messages; so do ours. Templates are stored unparsed, as in Postfix.
 */
export function loadTemplateFile(data: string, path: string, templates: BounceTemplates, warn: (text: string) => void): void {
  const lines = data.split('\n');
  const endsWithNewline = lines[lines.length - 1] === '';
  if (endsWithNewline) lines.pop();
  const buffer = new ReusedLineBuffer();
  let lineno = 1;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    buffer.write(line);
    lineno++;
    let p = 0;
    while (isSpace(line[p])) p++;
    if (p === line.length || line[p] === '#') continue;
    const nv = splitNameValue(line);
    if ('error' in nv) throw new TemplateError(`${path}, line ${lineno}: ${nv.error}: "${line}"`);
    const { name } = nv;
    let { value } = nv;
    buffer.terminateAt(nv.nameEnd);
    buffer.terminateAt(nv.valueStart + value.length);
    if (value.startsWith('<<')) {
      const marker = value.slice(2).replace(/^[ \t\n\v\f\r]+/, '');
      const markerOffset = nv.valueStart + value.length - marker.length;
      if (marker === '') throw new TemplateError(`${path}, line ${lineno}: missing end marker after <<`);
      if (!/^[A-Za-z0-9]/.test(marker)) throw new TemplateError(`${path}, line ${lineno}: malformed end marker after <<`);
      let body = '';
      let found = false;
      while (i + 1 < lines.length) {
        const text = lines[++i]!;
        buffer.write(text);
        lineno++;
        if (text === marker) {
          found = true;
          break;
        }
        // Leading empty lines vanish: Postfix adds a newline only after some text.
        if (body.length > 0) body += '\n';
        body += text;
      }
      // Postfix checks for end of file, which a marker on an unterminated last line also reaches.
      if (!found || (i === lines.length - 1 && !endsWithNewline)) {
        if (!found) buffer.write('');
        warn(`${path}, line ${lineno}: missing "${buffer.stringAt(markerOffset)}" end marker`);
      }
      value = body;
    }
    const cls = TEMPLATE_CLASSES.find((c) => name === `${c}_template`);
    if (cls) templates[cls] = { ...BUILTIN[cls], text: [...BUILTIN[cls].text], origin: path, pending: value };
    else warn(`${path}, line ${lineno}: unknown template name: ${name} -- ignoring this template`);
  }
}

/** split_nameval(), with the offsets where Postfix writes its terminating NULs. */
function splitNameValue(text: string): { name: string; value: string; nameEnd: number; valueStart: number } | { error: string } {
  const m = /^[ \t\n\v\f\r]*([^ \t\n\v\f\r=]*)[ \t\n\v\f\r]*(=?)[ \t\n\v\f\r]*/.exec(text)!;
  if (m[1] === '') return { error: 'missing attribute name' };
  if (m[2] !== '=') return { error: "missing '=' after attribute name" };
  const nameEnd = text.indexOf(m[1]!) + m[1]!.length;
  return { name: m[1]!, value: text.slice(m[0].length).replace(/[ \t\n\v\f\r]+$/, ''), nameEnd, valueStart: m[0].length };
}

/** Length of the header label when line looks like "Label:" (is_header), else 0. */
function headerLabelLength(line: string): number {
  let len = 0;
  let state: 'init' | 'char' | 'space' = 'init';
  for (const ch of line) {
    if (ch === ':') return state === 'init' ? 0 : len;
    if (ch === ' ' || ch === '\t') {
      if (state === 'init') return 0;
      state = 'space';
      continue;
    }
    const code = ch.charCodeAt(0);
    if (code >= 0x80 || code < 0x20 || code === 0x7f || state === 'space') return 0;
    state = 'char';
    len++;
  }
  return 0;
}

/**
 * Turns a template's pending file text into headers and message lines
 * (bounce_template_parse_buffer). A template with a problem is dropped with a
 * warning, and the built-in one is used instead.
 */
export function resolveTemplate(templates: BounceTemplates, cls: TemplateClass, warn: (text: string) => void): BounceTemplate {
  const tp = templates[cls];
  if (tp.pending === undefined) return tp;
  const lines = tp.pending.split('\n');
  const parsed: BounceTemplate = { ...tp, pending: undefined };
  const reject = (why: string): BounceTemplate => {
    warn(`${tp.origin}: ${why}`);
    return restoreBuiltin(templates, cls);
  };
  let i = 0;
  for (let hlen: number; i < lines.length && (hlen = headerLabelLength(lines[i]!)) > 0; i++) {
    const line = lines[i]!;
    const label = line.slice(0, hlen);
    let v = hlen;
    while (v < line.length && (line[v] === ':' || isSpace(line[v]))) v++;
    const value = line.slice(v);
    if (value === '') return reject(`empty "${label}" header value in ${cls} template -- ignoring this template`);
    if (!isAscii(value)) return reject(`non-ASCII "${label}" header value in ${cls} template -- ignoring this template`);
    const key = label.toLowerCase();
    if (key === 'charset') parsed.charset = value;
    else if (key === 'from') parsed.standardFrom = parsed.obsoleteFrom = value;
    else if (key === 'subject') parsed.subject = value;
    else if (key === 'postmaster-subject') {
      if (parsed.postmasterSubject === undefined) return reject(`inapplicable "${label}" header label in ${cls} template -- ignoring this template`);
      parsed.postmasterSubject = value;
    } else return reject(`unknown "${label}" header label in ${cls} template -- ignoring this template`);
  }
  while (i < lines.length && /^[ \t\n\v\f\r]*$/.test(lines[i]!)) i++;
  if (i >= lines.length) return reject(`missing message text in ${cls} template -- ignoring this template`);
  const text = lines.slice(i);
  if (!text.every(isAscii)) {
    if (parsed.charset.toLowerCase() === 'us-ascii') {
      warn(`${tp.origin}: 8-bit message text in ${cls} template`);
      warn('please specify a charset value other than us-ascii');
      warn('-- ignoring this template for now');
      return restoreBuiltin(templates, cls);
    }
    parsed.encoding = '8bit';
  }
  parsed.text = text;
  return (templates[cls] = parsed);
}

function restoreBuiltin(templates: BounceTemplates, cls: TemplateClass): BounceTemplate {
  return (templates[cls] = { ...BUILTIN[cls], text: [...BUILTIN[cls].text] });
}

/** What template expansion may consult: the bounce daemon's view of main.cf. */
export interface TemplateEnv {
  /** A parameter's value with $name expanded (mail_conf_lookup_eval); undefined when unknown. */
  lookup(name: string): string | undefined;
  /** delay_warning_time or maximal_queue_lifetime in seconds. */
  seconds(name: string): number;
  /** smtputf8_enable: show $myhostname and $mydomain in UTF-8, keep UTF-8 in values. */
  smtputf8: boolean;
  /** header_from_format = standard (else obsolete). */
  standardFrom: boolean;
}

const TIME_PARAMS = ['delay_warning_time', 'maximal_queue_lifetime'];
const TIME_DIVISORS: Record<string, number> = { seconds: 1, minutes: 60, hours: 3600, days: 86400, weeks: 604800 };
const UTF8_PARAMS = ['myhostname', 'mydomain'];

/** Value of $key inside a template (bounce_template_lookup). */
function templateLookup(tp: BounceTemplate, key: string, env: TemplateEnv, warn: (text: string) => void): string | undefined {
  for (const param of TIME_PARAMS) {
    if (!key.startsWith(param) || key[param.length] !== '_') continue;
    const unit = key.slice(param.length + 1);
    const divisor = TIME_DIVISORS[unit];
    if (divisor === undefined) throw new TemplateError(`${tp.origin}: unrecognized suffix "${unit}" in parameter "${key}"`);
    const seconds = env.seconds(param);
    const result = Math.trunc(seconds / divisor);
    if (result > 999 && divisor < 86400) {
      warn(`${tp.origin}: excessive result "${result}" in ${tp.class} template conversion of parameter "${key}"`);
      warn(`please increase time unit "${unit}" of "${key}" in ${tp.class} template`);
      warn('for instructions see the bounce(5) manual');
    } else if (result === 0 && seconds !== 0 && divisor > 1) {
      warn(`${tp.origin}: zero result in ${tp.class} template conversion of parameter "${key}"`);
      warn(`please reduce time unit "${unit}" of "${key}" in ${tp.class} template`);
      warn('for instructions see the bounce(5) manual');
    }
    return String(result);
  }
  if (env.smtputf8 && UTF8_PARAMS.includes(key)) {
    const ascii = env.lookup(key) ?? '';
    if (!isAscii(ascii)) {
      warn(`${tp.origin}: conversion "${key}" failed: non-ASCII input value: "${ascii}"`);
      return ascii;
    }
    const utf8 = domainToUnicode(ascii);
    if (utf8 === '' && ascii !== '') {
      warn(`${tp.origin}: conversion "${key}" failed: input value: "${ascii}"`);
      return ascii;
    }
    return utf8;
  }
  return env.lookup(key);
}

/** Control characters become "_"; non-ASCII too, unless UTF-8 is enabled (printable()). */
function printable(text: string, utf8: boolean): string {
  return text.replace(/[^\x20-\x7e]/gu, (ch) => (utf8 && ch.charCodeAt(0) >= 0x80 ? ch : '_'.repeat(Buffer.byteLength(ch))));
}

/** The message lines with $name expanded (bounce_template_expand). */
export function expandTemplateText(tp: BounceTemplate, env: TemplateEnv, warn: (text: string) => void): string[] {
  return tp.text.map((line) => {
    const lookup = (name: string) => {
      const v = templateLookup(tp, name, env, warn);
      return v === undefined ? undefined : printable(v, env.smtputf8);
    };
    const r = macExpand(line, lookup, 0, warn);
    if (r.status & MAC_PARSE_ERROR) throw new TemplateError(`${tp.origin}: bad $name syntax in ${tp.class} template: ${line}`);
    if (r.status & MAC_PARSE_UNDEF) throw new TemplateError(`${tp.origin}: undefined $name in ${tp.class} template: ${line}`);
    return r.result;
  });
}

/** `postconf -t`: each template as a template file would spell it (bounce_templates_dump). */
export function dumpTemplates(templates: BounceTemplates, env: TemplateEnv, warn: (text: string) => void): string {
  return TEMPLATE_CLASSES.map((cls) => {
    const tp = resolveTemplate(templates, cls, warn);
    let text = `${cls}_template = <<EOF\n`;
    text += `Charset: ${tp.charset}\n`;
    text += `From: ${env.standardFrom ? tp.standardFrom : tp.obsoleteFrom}\n`;
    text += `Subject: ${tp.subject}\n`;
    if (tp.postmasterSubject !== undefined) text += `Postmaster-Subject: ${tp.postmasterSubject}\n`;
    text += '\n';
    for (const line of tp.text) text += line + '\n';
    return text + 'EOF\n';
  }).join('\n');
}

/**
 * `postconf -b`: each template's text with $name expanded
 * (bounce_templates_expand). The output so far is passed to emit before a
 * failing template throws, so that the caller can print what Postfix printed.
 */
export function expandTemplates(templates: BounceTemplates, env: TemplateEnv, warn: (text: string) => void, emit: (text: string) => void): void {
  TEMPLATE_CLASSES.forEach((cls, i) => {
    const tp = resolveTemplate(templates, cls, warn);
    emit(`expanded_${cls}_text = <<EOF\n`);
    for (const line of expandTemplateText(tp, env, warn)) emit(line + '\n');
    emit(i < TEMPLATE_CLASSES.length - 1 ? 'EOF\n\n' : 'EOF\n');
  });
}
