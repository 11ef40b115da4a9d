// Mirrors enqueue() of Postfix's sendmail/sendmail.c: a message on
// standard input and the command line's envelope become the record stream
// that postdrop takes (envelope: A attributes, F full name, S sender, V,
// R recipients; M and the content as N/L records; X and the recipients
// extracted from headers for -t; E). Leading "From " lines are dropped,
// CR before LF is stripped as sendmail_fix_line_endings says, a lone "."
// ends the input unless -i, and -bv writes a probe instead of reading the
// input. Pure: bytes in, records out, failures as values. It lives beside
// the command (not in src/pickup) because it reads headers with cleanup's
// MIME and header tables, which a daemon part may not reach into.
import { TOK822_ADDR, tok822Grep, tok822Parse } from '../address/tok822.js';
import { TOK822_STR_DEFL, tok822Internalize } from '../address/tok822-format.js';
import { HDR_OPT_EXTRACT, HDR_OPT_RECIP, HDR_OPT_RR, HeaderOptsTable, type HeaderOpts } from '../mail/header-opts.js';
import { MIME_HDR_PRIMARY, MIME_OPT_DISABLE_MIME, MIME_OPT_REPORT_TRUNC_HEADER, MimeState, mimeStateError } from '../mail/mime-state.js';
import { DEL_REQ_FLAG_MTA_VRFY, DEL_REQ_FLAG_RECORD, DEL_REQ_FLAG_USR_VRFY } from '../delivery/api.js';
import { REC_TYPE } from '../queue/rec-type.js';
import { RecordWriter } from '../queue/record.js';
import { toBytes, toText } from '../util/bytes.js';

export const DEL_REQ_TRACE_FLAGS_MASK = DEL_REQ_FLAG_MTA_VRFY | DEL_REQ_FLAG_USR_VRFY | DEL_REQ_FLAG_RECORD;
export const DEL_REQ_TRACE_ONLY_MASK = DEL_REQ_FLAG_MTA_VRFY | DEL_REQ_FLAG_USR_VRFY;

export interface EnqueueRequest {
  /** A lone "." ends the input (no -i). */
  archaicEof: boolean;
  /** -t: recipients from the headers too. */
  extractRecipients: boolean;
  /** DEL_REQ_FLAG_* trace bits (-bv, -v). */
  traceFlags: number;
  encoding: string | null;
  dsnEnvid: string | null;
  dsnRet: number;
  dsnNotify: number;
  rewriteContext: string;
  /** The -f/-r address as given (null: the login name). Byte string. */
  sender: string | null;
  /** The login name of the submitting user, null when there is none. */
  loginName: string | null;
  /** -F, else fullname(); null for none. Byte string. */
  fullName: string | null;
  /** Operands, as byte strings. */
  recipients: string[];
  /** -XV: the VERP delimiters. */
  verpDelims: string | null;
  uid: number;
  input: Buffer;
  lineLimit: number;
  headerLimit: number;
  mimeBoundLimit: number;
  mimeNestingLimit: number;
  /** sendmail_fix_line_endings. */
  fixEol: string;
  /** Where sendmail's warnings go. */
  warn: (text: string) => void;
}

export type EnqueueResult =
  | { ok: true; records: Buffer; sender: string }
  | { ok: false; text: string };

/** The addresses of an RFC 822 address list, internalized (tok822_internalize, DEFL). */
export function parseAddresses(text: string): string[] {
  const tree = tok822Parse(toText(text));
  const out: string[] = [];
  for (let tp = tree; tp; tp = tp.next) if (tp.type === TOK822_ADDR) out.push(toBytes(tok822Internalize(tp.head, TOK822_STR_DEFL)));
  return out;
}

/** rec_streamlf_get(): a line without its LF (N), or at most limit bytes of one (L); null at the end. */
function* streamLines(input: Buffer, limit: number): Generator<{ type: number; text: string }> {
  let pos = 0;
  while (pos < input.length) {
    const nl = input.indexOf(0x0a, pos);
    const end = nl < 0 ? input.length : nl;
    if (end - pos > limit) {
      yield { type: REC_TYPE.CONT, text: input.toString('latin1', pos, pos + limit) };
      pos += limit;
      continue;
    }
    if (nl < 0) {
      yield { type: REC_TYPE.CONT, text: input.toString('latin1', pos, end) };
      return;
    }
    yield { type: REC_TYPE.NORM, text: input.toString('latin1', pos, end) };
    pos = nl + 1;
  }
}

class HeaderExtractor {
  readonly recipients: string[] = [];
  readonly resentRecipients: string[] = [];
  resent = false;

  constructor(private readonly out: RecordWriter, private readonly lineLimit: number) {}

  header(headerClass: number, info: HeaderOpts | null, text: string): void {
    if (
      headerClass === MIME_HDR_PRIMARY && info && info.flags & HDR_OPT_RECIP && info.flags & HDR_OPT_EXTRACT &&
      (!this.resent || info.flags & HDR_OPT_RR)
    ) {
      let list = this.recipients;
      if (info.flags & HDR_OPT_RR) {
        list = this.resentRecipients;
        this.resent = true;
      }
      const tree = tok822Parse(toText(text.slice(info.name.length + 1)));
      for (const tp of tok822Grep(tree, TOK822_ADDR)) list.push(toBytes(tok822Internalize(tp.head, TOK822_STR_DEFL)));
    }
    // The header as it came, one record a line, long lines cut at line_length_limit.
    for (let line of text.split('\n')) {
      while (line.length > this.lineLimit) {
        this.out.put(REC_TYPE.CONT, line.slice(0, this.lineLimit));
        line = line.slice(this.lineLimit);
      }
      this.out.put(REC_TYPE.NORM, line);
    }
  }

  get extracted(): string[] {
    return this.resent ? this.resentRecipients : this.recipients;
  }
}

/** Builds the record stream for postdrop. */
export async function buildSubmission(req: EnqueueRequest): Promise<EnqueueResult> {
  const out = new RecordWriter();
  let sender: string;
  if (req.sender !== null) {
    const addrs = parseAddresses(req.sender);
    sender = addrs[0] ?? '';
    if (addrs.length > 1) req.warn(`-f option specified malformed sender: ${req.sender}`);
  } else {
    if (req.loginName === null) return { ok: false, text: `no login name found for user ID ${req.uid}` };
    sender = req.loginName;
  }
  const who = `${sender}(${req.uid})`;
  const attr = (name: string, value: string | number) => out.put(REC_TYPE.ATTR, `${name}=${value}`);
  if (req.dsnEnvid !== null) attr('envelope_id', req.dsnEnvid);
  if (req.dsnRet) attr('ret_flags', req.dsnRet);
  attr('rewrite_context', req.rewriteContext);
  if (req.fullName !== null) out.put(REC_TYPE.FULL, req.fullName);
  out.put(REC_TYPE.FROM, sender);
  if (req.verpDelims !== null && sender === '') return { ok: false, text: `${who}: -V option requires non-null sender address` };
  if (req.encoding !== null) attr('encoding', req.encoding);
  const trace = req.traceFlags & DEL_REQ_TRACE_FLAGS_MASK;
  if (trace) attr('trace_flags', trace);
  if (req.verpDelims !== null) out.put(REC_TYPE.VERP, req.verpDelims);
  let rcptCount = 0;
  for (const arg of req.recipients) {
    const addrs = parseAddresses(arg);
    for (const a of addrs) {
      if (req.dsnNotify) attr('notify_flags', req.dsnNotify);
      out.put(REC_TYPE.RCPT, a);
      rcptCount++;
    }
    if (addrs.length === 0) {
      out.put(REC_TYPE.RCPT, '');
      rcptCount++;
    }
  }
  out.put(REC_TYPE.MESG, '');
  let extractor: HeaderExtractor | null = null;
  if (req.traceFlags & DEL_REQ_TRACE_ONLY_MASK) {
    if (req.extractRecipients) return { ok: false, text: `${who}: -t option cannot be used with -bv` };
    if (sender !== '') out.put(REC_TYPE.NORM, `From: ${sender}`);
    out.put(REC_TYPE.NORM, 'Subject: probe');
    if (req.recipients.length > 0) {
      out.put(REC_TYPE.CONT, 'To:');
      req.recipients.forEach((r, i) => out.put(REC_TYPE.NORM, `\t${r}${i + 1 < req.recipients.length ? ',' : ''}`));
    }
  } else {
    const failed = await copyContent(req, out, who, (e) => (extractor = e));
    if (failed) return failed;
  }
  out.put(REC_TYPE.XTRA, '');
  const ex = extractor as HeaderExtractor | null;
  if (ex) {
    for (const a of ex.extracted) {
      if (req.dsnNotify) attr('notify_flags', req.dsnNotify);
      out.put(REC_TYPE.RCPT, a);
      rcptCount++;
    }
  }
  if (rcptCount === 0) {
    return {
      ok: false,
      text: req.extractRecipients
        ? `${who}: No recipient addresses found in message header`
        : `${who}: Recipient addresses must be specified on the command line or via the -t option`,
    };
  }
  out.put(REC_TYPE.END, '');
  return { ok: true, records: out.take(), sender };
}

/** The message content: From_ lines, line ends, the archaic dot, and -t's header scan. */
async function copyContent(
  req: EnqueueRequest, out: RecordWriter, who: string, setExtractor: (e: HeaderExtractor) => void,
): Promise<EnqueueResult | null> {
  let mime: MimeState | null = null;
  if (req.extractRecipients) {
    const ex = new HeaderExtractor(out, req.lineLimit);
    setExtractor(ex);
    mime = new MimeState(
      MIME_OPT_DISABLE_MIME | MIME_OPT_REPORT_TRUNC_HEADER,
      new HeaderOptsTable(''),
      { headerLimit: req.headerLimit, boundLimit: req.mimeBoundLimit, maxDepth: req.mimeNestingLimit },
      {
        headOut: async (cls, info, text) => ex.header(cls, info, text),
        headEnd: async () => undefined,
        bodyOut: async (type, text) => {
          out.put(type.charCodeAt(0), text);
        },
        error: () => undefined,
      },
    );
  }
  let stripCr: 'do' | 'dont' | 'dunno';
  if (req.fixEol === 'always') stripCr = 'do';
  else if (req.fixEol === 'strict') stripCr = 'dunno';
  else if (req.fixEol === 'never') stripCr = 'dont';
  else return { ok: false, text: `invalid sendmail_fix_line_endings value: ${req.fixEol}` };
  let skipFrom = true;
  let prevType = 0;
  const failure = (errs: number): EnqueueResult => ({ ok: false, text: `${who}: unable to extract recipients: ${mimeStateError(errs)}` });
  for (const line of streamLines(req.input, req.lineLimit)) {
    const type = line.type;
    let text = line.text;
    if (stripCr === 'dunno' && type === REC_TYPE.NORM) stripCr = text.endsWith('\r') ? 'do' : 'dont';
    if (skipFrom) {
      if (type === REC_TYPE.NORM && text.replace(/^>*/, '').startsWith('From ')) {
        prevType = type;
        continue;
      }
      skipFrom = false;
    }
    if (stripCr === 'do' && type === REC_TYPE.NORM) text = text.replace(/\r+$/, '');
    if (req.archaicEof && prevType !== REC_TYPE.CONT && text === '.') break;
    if (mime) {
      const errs = await mime.update(String.fromCharCode(type), text);
      if (errs) return failure(errs);
    } else {
      out.put(type, text);
    }
    prevType = type;
  }
  if (mime) {
    const errs = await mime.update('E', '');
    if (errs) return failure(errs);
  }
  return null;
}
