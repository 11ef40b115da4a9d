// Mirrors Postfix's global/mime_state.c: a one-pass MIME parser over text
// records that glues folded header lines into one header, tells primary,
// multipart and nested (message/rfc822) headers apart, follows multipart
// boundaries, and reports MIME errors (nesting, header length, 8-bit data,
// encoding domain) when asked to. cleanup uses it on the way in; smtp(8)
// on the way out, where MIME_OPT_DOWNGRADE turns 8-bit leaf parts into
// quoted-printable and gives message/* and multipart/* parts a 7bit
// Content-Transfer-Encoding. Callbacks are async; the parser awaits each
// one, in the order Postfix calls them. Works on byte strings; no I/O.
import { HDR_CONTENT_TRANSFER_ENCODING, HDR_CONTENT_TYPE, type HeaderOpts, type HeaderOptsTable } from './header-opts.js';
import { isHeaderBuf } from './header.js';
import { HEADER_TOK_TOKEN, headerToken } from './header-token.js';

export const MIME_OPT_NONE = 0;
export const MIME_OPT_DOWNGRADE = 1 << 0;
export const MIME_OPT_REPORT_8BIT_IN_7BIT_BODY = 1 << 1;
export const MIME_OPT_REPORT_8BIT_IN_HEADER = 1 << 2;
export const MIME_OPT_REPORT_ENCODING_DOMAIN = 1 << 3;
export const MIME_OPT_REPORT_TRUNC_HEADER = 1 << 5;
export const MIME_OPT_DISABLE_MIME = 1 << 6;
export const MIME_OPT_REPORT_NESTING = 1 << 7;

export const MIME_ERR_NESTING = 1 << 0;
export const MIME_ERR_TRUNC_HEADER = 1 << 1;
export const MIME_ERR_8BIT_IN_HEADER = 1 << 2;
export const MIME_ERR_8BIT_IN_7BIT_BODY = 1 << 3;
export const MIME_ERR_ENCODING_DOMAIN = 1 << 4;

export const MIME_HDR_PRIMARY = 1;
export const MIME_HDR_MULTIPART = 2;
export const MIME_HDR_NESTED = 3;
const MIME_STATE_BODY = 4;

const CTYPE_OTHER = 0;
const CTYPE_TEXT = 1;
const CTYPE_MESSAGE = 2;
const CTYPE_MULTIPART = 3;

const STYPE_OTHER = 0;
const STYPE_PLAIN = 1;
const STYPE_RFC822 = 2;
const STYPE_PARTIAL = 3;
const STYPE_EXTERN_BODY = 4;
const STYPE_GLOBAL = 5;

const ENC_QP = 1;
const ENC_BASE64 = 2;
const ENC_7BIT = 7;
const ENC_8BIT = 8;
const ENC_BINARY = 9;

const ENCODINGS: ReadonlyArray<[string, number, number]> = [
  ['7bit', ENC_7BIT, ENC_7BIT],
  ['8bit', ENC_8BIT, ENC_8BIT],
  ['binary', ENC_BINARY, ENC_BINARY],
  ['base64', ENC_BASE64, ENC_7BIT],
  ['quoted-printable', ENC_QP, ENC_7BIT],
];

/** Most serious first: an error code reports the first entry it has. */
const ERROR_DETAIL: ReadonlyArray<{ code: number; dsn: string; text: string }> = [
  { code: MIME_ERR_NESTING, dsn: '5.6.0', text: 'MIME nesting exceeds safety limit' },
  { code: MIME_ERR_TRUNC_HEADER, dsn: '5.6.0', text: 'message header length exceeds safety limit' },
  { code: MIME_ERR_8BIT_IN_HEADER, dsn: '5.6.0', text: 'improper use of 8-bit data in message header' },
  { code: MIME_ERR_8BIT_IN_7BIT_BODY, dsn: '5.6.0', text: 'improper use of 8-bit data in message body' },
  { code: MIME_ERR_ENCODING_DOMAIN, dsn: '5.6.0', text: 'invalid message/* or multipart/* encoding domain' },
];

/** mime_state_detail(): DSN and text of the most serious error in the code. */
export function mimeStateDetail(code: number): { dsn: string; text: string } {
  const d = ERROR_DETAIL.find((e) => e.code & code);
  if (!d) throw new Error(`mime_state_detail: unknown error code ${code}`);
  return d;
}

/** mime_state_error(): the text of the most serious error in the code. */
export function mimeStateError(code: number): string {
  return mimeStateDetail(code).text;
}

export interface MimeCallbacks {
  /** A complete header (folded lines joined with newlines); headerClass is MIME_HDR_*. */
  headOut(headerClass: number, info: HeaderOpts | null, header: string): Promise<void>;
  /** The end of the primary headers. */
  headEnd(): Promise<void>;
  /** One body record ('N' or 'L'); offset counts bytes from the start of this body part. */
  bodyOut(type: string, text: string, offset: number): Promise<void>;
  /** One error of a kind (reported once). */
  error(code: number, text: string): void;
}

export interface MimeLimits {
  headerLimit: number;
  boundLimit: number;
  maxDepth: number;
}

interface Boundary {
  defCtype: number;
  defStype: number;
  boundary: string;
}

const isSpaceTab = (c: string | undefined): boolean => c === ' ' || c === '\t';
// eslint-disable-next-line no-control-regex
const has8bit = (s: string): boolean => /[\x80-\xff]/.test(s);
const TSPECIALS = '()<>@,;:\\"/[]?=';
const qpEncode = (ch: number): string => `=${ch.toString(16).toUpperCase().padStart(2, '0')}`;

export class MimeState {
  private state = MIME_HDR_PRIMARY;
  private ctype = CTYPE_TEXT;
  private stype = STYPE_PLAIN;
  private encoding = ENC_7BIT;
  private domain = ENC_7BIT;
  private output = '';
  /** The quoted-printable line being built while downgrading. */
  private qp = '';
  private prevType = '';
  // Postfix starts at -1 so that the primary multipart header is level 0.
  private nesting = -1;
  private stack: Boundary[] = [];
  private errFlags = 0;
  private bodyOffset = 0;

  constructor(
    private readonly flags: number,
    private readonly headers: HeaderOptsTable,
    private readonly limits: MimeLimits,
    private readonly cb: MimeCallbacks,
  ) {}

  private report(code: number, text: string): void {
    if (this.errFlags & code) return;
    this.cb.error(code, text);
    this.errFlags |= code;
  }

  private setState(state: number, ctype?: number, stype?: number): void {
    this.state = state;
    if (ctype !== undefined) {
      this.ctype = ctype;
      this.stype = stype!;
      this.encoding = ENC_7BIT;
      this.domain = ENC_7BIT;
    }
    if (state === MIME_STATE_BODY) this.bodyOffset = 0;
  }

  private push(defCtype: number, defStype: number, boundary: string): void {
    this.nesting += 1;
    this.stack.unshift({ defCtype, defStype, boundary: boundary.slice(0, this.limits.boundLimit) });
  }

  private pop(): void {
    this.nesting -= 1;
    this.stack.shift();
  }

  private contentType(info: HeaderOpts): void {
    let pos = info.name.length + 1;
    let r = headerToken(this.output, pos, 3, TSPECIALS, ';');
    if (r.count <= 0) {
      this.ctype = CTYPE_OTHER;
      return;
    }
    const tok = r.tokens;
    const match = (i: number, text: string): boolean =>
      tok[i]?.type === HEADER_TOK_TOKEN && tok[i]!.value.toLowerCase() === text;
    if (match(0, 'text')) {
      this.ctype = CTYPE_TEXT;
      this.stype = r.count >= 3 && tok[1]!.type === 0x2f && match(2, 'plain') ? STYPE_PLAIN : STYPE_OTHER;
      return;
    }
    if (match(0, 'message')) {
      this.ctype = CTYPE_MESSAGE;
      this.stype = STYPE_OTHER;
      if (r.count >= 3 && tok[1]!.type === 0x2f) {
        if (match(2, 'rfc822')) this.stype = STYPE_RFC822;
        else if (match(2, 'partial')) this.stype = STYPE_PARTIAL;
        else if (match(2, 'external-body')) this.stype = STYPE_EXTERN_BODY;
        else if (match(2, 'global')) this.stype = STYPE_GLOBAL;
      }
      return;
    }
    if (match(0, 'multipart')) {
      this.ctype = CTYPE_MULTIPART;
      const digest = r.count >= 3 && tok[1]!.type === 0x2f && match(2, 'digest');
      const defCtype = digest ? CTYPE_MESSAGE : CTYPE_TEXT;
      const defStype = digest ? STYPE_RFC822 : STYPE_PLAIN;
      pos = r.next;
      for (;;) {
        r = headerToken(this.output, pos, 3, TSPECIALS, ';');
        if (r.count < 0) break;
        pos = r.next;
        const t = r.tokens;
        if (r.count >= 3 && t[0]!.type === HEADER_TOK_TOKEN && t[0]!.value.toLowerCase() === 'boundary' && t[1]!.type === 0x3d) {
          if (this.nesting > this.limits.maxDepth) {
            if (this.flags & MIME_OPT_REPORT_NESTING) this.report(MIME_ERR_NESTING, this.output);
          } else {
            this.push(defCtype, defStype, t[2]!.value);
          }
        }
      }
    }
    // Other types (application/..., image/...) leave the current type alone, as in Postfix.
  }

  private contentEncoding(info: HeaderOpts): void {
    const r = headerToken(this.output, info.name.length + 1, 1, null, '');
    if (r.count > 0 && r.tokens[0]!.type === HEADER_TOK_TOKEN) {
      const name = r.tokens[0]!.value.toLowerCase();
      const hit = ENCODINGS.find(([n]) => n === name);
      if (hit) {
        this.encoding = hit[1];
        this.domain = hit[2];
      }
    }
  }

  /** Hands the saved header to the application. */
  private async flushHeader(): Promise<void> {
    const info = this.headers.find(this.output);
    if (!(this.flags & MIME_OPT_DISABLE_MIME) && info !== null) {
      if (info.type === HDR_CONTENT_TYPE) this.contentType(info);
      if (info.type === HDR_CONTENT_TRANSFER_ENCODING) this.contentEncoding(info);
    }
    if (this.flags & MIME_OPT_REPORT_8BIT_IN_HEADER && !(this.errFlags & MIME_ERR_8BIT_IN_HEADER) && has8bit(this.output)) {
      this.report(MIME_ERR_8BIT_IN_HEADER, this.output);
    }
    const header = this.output;
    this.output = '';
    this.prevType = '';
    // Downgrading holds back an 8-bit Content-Transfer-Encoding: the right one is written at the end of the headers.
    if (info === null || info.type !== HDR_CONTENT_TRANSFER_ENCODING || !(this.flags & MIME_OPT_DOWNGRADE) || this.domain === ENC_7BIT) {
      await this.cb.headOut(this.state, info, header);
    }
  }

  /** The end of a header block: which state the next lines are in. */
  private async endOfHeaders(isText: boolean, text: string): Promise<void> {
    if (this.flags & MIME_OPT_DOWNGRADE && this.domain !== ENC_7BIT) {
      // Containers keep an identity encoding; leaf parts become quoted-printable (never base64).
      const container = (this.ctype === CTYPE_MESSAGE && this.stype !== STYPE_GLOBAL) || this.ctype === CTYPE_MULTIPART;
      await this.cb.headOut(this.state, null, `Content-Transfer-Encoding: ${container ? '7bit' : 'quoted-printable'}`);
    }
    if (this.state === MIME_HDR_PRIMARY) await this.cb.headEnd();
    if (this.flags & MIME_OPT_REPORT_ENCODING_DOMAIN) this.checkDomain();
    if (!isText) {
      this.setState(MIME_STATE_BODY);
      return;
    }
    if (text.length === 0) {
      this.bodyOffset = 0;
      if (this.ctype === CTYPE_MESSAGE) {
        if (this.stype === STYPE_RFC822
          || (this.stype === STYPE_GLOBAL && (!(this.flags & MIME_OPT_DOWNGRADE) || this.domain === ENC_7BIT))) {
          this.setState(MIME_HDR_NESTED, CTYPE_TEXT, STYPE_PLAIN);
        }
        else this.setState(MIME_STATE_BODY);
      } else if (this.ctype === CTYPE_MULTIPART) {
        this.setState(MIME_STATE_BODY, CTYPE_OTHER, STYPE_OTHER);
      } else {
        this.setState(MIME_STATE_BODY);
      }
      return;
    }
    // Not a header and not the empty line: Postfix adds the missing empty line after primary headers only.
    if (this.state === MIME_HDR_PRIMARY) await this.bodyOut('N', '');
    this.setState(MIME_STATE_BODY);
  }

  private checkDomain(): void {
    const name = ENCODINGS.find(([, e]) => e === this.encoding)?.[0] ?? 'unknown';
    if (this.ctype === CTYPE_MESSAGE) {
      if (this.stype === STYPE_PARTIAL || this.stype === STYPE_EXTERN_BODY) {
        if (this.domain !== ENC_7BIT) this.report(MIME_ERR_ENCODING_DOMAIN, name);
      } else if (this.stype === STYPE_RFC822) {
        if (this.encoding !== this.domain) this.report(MIME_ERR_ENCODING_DOMAIN, name);
      }
    } else if (this.ctype === CTYPE_MULTIPART) {
      if (this.encoding !== this.domain) this.report(MIME_ERR_ENCODING_DOMAIN, name);
    }
  }

  private async bodyOut(type: string, text: string): Promise<void> {
    const offset = this.bodyOffset;
    this.bodyOffset += text.length + 1;
    await this.cb.bodyOut(type, text, offset);
  }

  /** Body text: boundaries, 8-bit checks, output. */
  private async body(type: string, text: string): Promise<void> {
    if (this.flags & MIME_OPT_REPORT_8BIT_IN_7BIT_BODY && this.encoding === ENC_7BIT
      && !(this.errFlags & MIME_ERR_8BIT_IN_7BIT_BODY) && has8bit(text)) {
      this.report(MIME_ERR_8BIT_IN_7BIT_BODY, text);
    }
    if (this.stack.length > 0 && this.prevType !== 'L' && text.length > 2 && text.startsWith('--')) {
      for (let k = 0; k < this.stack.length; k++) {
        const sp = this.stack[k]!;
        if (text.length >= 2 + sp.boundary.length && text.startsWith(sp.boundary, 2)) {
          for (let n = 0; n < k; n++) this.pop();
          if (text.length >= 4 + sp.boundary.length && text.startsWith('--', 2 + sp.boundary.length)) {
            this.pop();
            this.setState(MIME_STATE_BODY, CTYPE_OTHER, STYPE_OTHER);
          } else {
            this.setState(MIME_HDR_MULTIPART, sp.defCtype, sp.defStype);
          }
          break;
        }
      }
    }
    if (this.flags & MIME_OPT_DOWNGRADE && this.domain !== ENC_7BIT) await this.downgrade(type, text);
    else await this.bodyOut(type, text);
  }

  /**
   * mime_state_downgrade(): one record as quoted-printable. A line that
   * grows past 72 bytes gets a soft break ("="); a hard line end flushes,
   * with a trailing space or tab encoded.
   */
  private async downgrade(type: string, text: string): Promise<void> {
    for (let i = 0; i < text.length; i++) {
      if (this.qp.length > 72) {
        await this.bodyOut('N', `${this.qp}=`);
        this.qp = '';
      }
      const ch = text.charCodeAt(i);
      this.qp += (ch < 32 && ch !== 9) || ch === 0x3d || ch > 126 ? qpEncode(ch) : text[i];
    }
    if (type === 'N') {
      const last = this.qp.charCodeAt(this.qp.length - 1);
      if (last === 0x20 || last === 0x09) this.qp = this.qp.slice(0, -1) + qpEncode(last);
      const line = this.qp;
      this.qp = '';
      await this.bodyOut('N', line);
    }
  }

  /** mime_state_update(): one record; type 'N' or 'L' for text, anything else ends the content. Returns the error flags. */
  async update(type: string, text: string): Promise<number> {
    const isText = type === 'N' || type === 'L';
    if (!isText && this.prevType === 'L') await this.update('N', '');
    if (this.state !== MIME_STATE_BODY) {
      if (this.output.length > 0) {
        if (isText && (this.prevType === 'L' || isSpaceTab(text[0]))) {
          if (this.output.length < this.limits.headerLimit) {
            this.output += this.prevType === 'L' ? text : `\n${text}`;
          } else if (this.flags & MIME_OPT_REPORT_TRUNC_HEADER) {
            this.report(MIME_ERR_TRUNC_HEADER, this.output);
          }
          this.prevType = type;
          return this.errFlags;
        }
        await this.flushHeader();
      }
      if (isText) {
        const nameLen = isHeaderBuf(text);
        if (nameLen > 0) {
          let rest = nameLen;
          while (rest < text.length && isSpaceTab(text[rest])) rest++;
          this.output = text.slice(0, nameLen) + text.slice(rest);
          this.prevType = type;
          return this.errFlags;
        }
      }
      await this.endOfHeaders(isText, text);
    }
    if (isText) await this.body(type, text);
    this.prevType = type;
    return this.errFlags;
  }
}
