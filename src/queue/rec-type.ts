// Mirrors Postfix's global/rec_type.h and rec_type.c, with the record-field
// helpers that go with them (util/split_nameval.c for named attributes).
// Record type codes, the names postcat prints, the per-segment type sets,
// and the fixed text formats of the SIZE, TIME, WARN and PTR records.
// Pure functions: no I/O.

/** Record type codes (one byte in the file). 'L' is both FILT and CONT, as in Postfix. */
export const REC_TYPE = {
  SIZE: 0x43, // 'C' first record, created by cleanup
  TIME: 0x54, // 'T' arrival time
  CTIME: 0x63, // 'c' create time
  FULL: 0x46, // 'F' sender full name
  INSP: 0x49, // 'I' content inspector
  FILT: 0x4c, // 'L' content filter (envelope)
  FROM: 0x53, // 'S' sender
  DONE: 0x44, // 'D' delivered recipient
  RCPT: 0x52, // 'R' recipient to do
  ORCP: 0x4f, // 'O' original recipient
  DRCP: 0x2f, // '/' canceled recipient
  WARN: 0x57, // 'W' delay warning time
  ATTR: 0x41, // 'A' named attribute
  KILL: 0x4b, // 'K' killed record
  RDR: 0x3e, // '>' redirect target
  FLGS: 0x66, // 'f' cleanup flags (cleanup input only)
  DELAY: 0x64, // 'd' cleanup delay (cleanup input only)
  MESG: 0x4d, // 'M' start of content
  CONT: 0x4c, // 'L' text line without its end (content)
  NORM: 0x4e, // 'N' text line
  DTXT: 0x77, // 'w' padding
  XTRA: 0x58, // 'X' start of extracted segment
  RRTO: 0x72, // 'r' return-receipt
  ERTO: 0x65, // 'e' errors-to
  PRIO: 0x50, // 'P' priority
  PTR: 0x70, // 'p' pointer
  VERP: 0x56, // 'V' VERP delimiters
  DSN_RET: 0x3c, // '<'
  DSN_ENVID: 0x69, // 'i'
  DSN_ORCPT: 0x6f, // 'o'
  DSN_NOTIFY: 0x6e, // 'n'
  MILT_COUNT: 0x6d, // 'm'
  END: 0x45, // 'E' last record
} as const;

/** Reader results that are not records. */
export const REC_TYPE_EOF = -1;
export const REC_TYPE_ERROR = -2;

/** Types allowed in each segment; the first one ends the segment. */
export const REC_TYPE_ENVELOPE = 'MCTcFILSDRO/WVA>K<ion';
export const REC_TYPE_CONTENT = 'XLNw';
export const REC_TYPE_EXTRACT = 'EDRO/PreAFIL>Kon';
export const REC_TYPE_ENV_RECIPIENT = 'MDRO/Kon';
export const REC_TYPE_EXT_RECIPIENT = 'EDRO/Kon';
export const REC_TYPE_POST_ENVELOPE = 'MFSRVAin';
export const REC_TYPE_POST_CONTENT = 'XLN';
export const REC_TYPE_POST_EXTRACT = 'EAR';

/**
 * Membership as Postfix tests it, with strchr(): a NUL type byte "matches"
 * every set (strchr finds the terminator), so a file starting with a zero
 * byte passes postcat's first-byte check.
 */
export function recTypeIn(set: string, type: number): boolean {
  return type === 0 || (type > 0 && type < 256 && set.includes(String.fromCharCode(type)));
}

// Order matters: 'L' is listed as content_filter before unterminated_text,
// and the first match wins, as in rec_type.c.
const NAMES: Array<[number, string]> = [
  [REC_TYPE.SIZE, 'message_size'],
  [REC_TYPE.TIME, 'message_arrival_time'],
  [REC_TYPE.CTIME, 'queue_file_create_time'],
  [REC_TYPE.FULL, 'sender_fullname'],
  [REC_TYPE.INSP, 'content_inspector'],
  [REC_TYPE.FILT, 'content_filter'],
  [REC_TYPE.FROM, 'sender'],
  [REC_TYPE.DONE, 'done_recipient'],
  [REC_TYPE.DRCP, 'canceled_recipient'],
  [REC_TYPE.RCPT, 'recipient'],
  [REC_TYPE.ORCP, 'original_recipient'],
  [REC_TYPE.WARN, 'warning_message_time'],
  [REC_TYPE.ATTR, 'named_attribute'],
  [REC_TYPE.PTR, 'pointer_record'],
  [REC_TYPE.KILL, 'killed_record'],
  [REC_TYPE.MESG, 'message_content'],
  [REC_TYPE.CONT, 'unterminated_text'],
  [REC_TYPE.NORM, 'regular_text'],
  [REC_TYPE.DTXT, 'padding'],
  [REC_TYPE.XTRA, 'extracted_info'],
  [REC_TYPE.RRTO, 'return_receipt'],
  [REC_TYPE.ERTO, 'errors_to'],
  [REC_TYPE.PRIO, 'priority'],
  [REC_TYPE.VERP, 'verp_delimiters'],
  [REC_TYPE.END, 'message_end'],
  [REC_TYPE.RDR, 'redirect_to'],
  [REC_TYPE.FLGS, 'flags'],
  [REC_TYPE.DSN_RET, 'dsn_return_flags'],
  [REC_TYPE.DSN_ENVID, 'dsn_envelope_id'],
  [REC_TYPE.DSN_ORCPT, 'dsn_original_recipient'],
  [REC_TYPE.DSN_NOTIFY, 'dsn_notify_flags'],
];
const NAME_BY_TYPE = new Map<number, string>();
for (const [type, name] of NAMES) if (!NAME_BY_TYPE.has(type)) NAME_BY_TYPE.set(type, name);
NAME_BY_TYPE.set(REC_TYPE_EOF, 'end-of-file');
NAME_BY_TYPE.set(REC_TYPE_ERROR, 'error');

/** The name postcat prints for a record type. */
export function recTypeName(type: number): string {
  return NAME_BY_TYPE.get(type) ?? 'unknown_record_type';
}

// ---- fixed formats (updated in place, hence fixed widths) ----

const pad15 = (n: number | bigint) => String(n).padStart(15, ' ');

/** SIZE record text, "%15ld" six times: content size, data offset, recipients, qmgr flags, content length, SMTPUTF8 flags. */
export function formatSizeRecord(fields: ReadonlyArray<number | bigint>): string {
  return fields.map(pad15).join(' ');
}

/** TIME record text, "%ld %ld" (usec not zero-padded). */
export function formatTimeRecord(sec: number | bigint, usec: number | bigint): string {
  return `${sec} ${usec}`;
}

/** WARN and PTR record text, "%15ld". */
export function formatWarnRecord(sec: number | bigint): string {
  return pad15(sec);
}
export const formatPtrRecord = formatWarnRecord;
export const REC_TYPE_PTR_PAYL_SIZE = 15;

// ---- scanning, with the C library's conversions ----

const LONG_MAX = (1n << 63n) - 1n;
const LONG_MIN = -(1n << 63n);

/** C isspace() in the C locale. */
export function isCSpace(ch: number): boolean {
  return ch === 0x20 || (ch >= 0x09 && ch <= 0x0d);
}

/** strtol(s, &end, 10) as glibc does it: leading space, sign, saturation. */
export function strtol(text: string, from = 0): { value: bigint; end: number } {
  let i = from;
  while (i < text.length && isCSpace(text.charCodeAt(i))) i++;
  let neg = false;
  if (text[i] === '+' || text[i] === '-') neg = text[i++] === '-';
  const start = i;
  while (i < text.length && text[i]! >= '0' && text[i]! <= '9') i++;
  if (i === start) return { value: 0n, end: from };
  let value = BigInt(text.slice(start, i));
  if (neg) value = -value;
  if (value > LONG_MAX) value = LONG_MAX;
  if (value < LONG_MIN) value = LONG_MIN;
  return { value, end: i };
}

/** atol(): strtol without the end pointer. */
export function atol(text: string): bigint {
  return strtol(text).value;
}

/** Seconds of a TIME record (REC_TYPE_TIME_SCAN; the usec part is not needed for display). */
export function scanTimeRecord(text: string): bigint {
  return atol(text);
}

/** Seconds of a WARN record (REC_TYPE_WARN_SCAN). */
export function scanWarnRecord(text: string): bigint {
  return atol(text);
}

/**
 * sscanf(text, "%ld %ld") on a SIZE record: how many fields converted, and
 * their values (content size, data offset).
 */
export function scanSizeRecord(text: string): { count: number; size?: bigint; offset?: bigint } {
  const [size, offset] = scanLongs(text, 2);
  if (size === undefined) return { count: 0 };
  if (offset === undefined) return { count: 1, size };
  return { count: 2, size, offset };
}

/** sscanf(text, "%ld %ld ...") with up to max conversions: the values converted, in order. */
export function scanLongs(text: string, max: number): bigint[] {
  const values: bigint[] = [];
  let at = 0;
  while (values.length < max) {
    const r = strtol(text, at);
    if (r.end === at) break;
    values.push(r.value);
    at = r.end;
  }
  return values;
}

/**
 * split_nameval(): "name = value" with blanks around both trimmed. Returns
 * Postfix's error text for a malformed attribute.
 */
export function splitNameValue(text: string): { name: string; value: string } | { error: string } {
  const sp = (i: number) => isCSpace(text.charCodeAt(i));
  let np = 0;
  while (np < text.length && sp(np)) np++;
  if (np >= text.length || text[np] === '=') return { error: 'missing attribute name' };
  let ep = np;
  while (ep < text.length && !sp(ep) && text[ep] !== '=') ep++;
  let cp = ep;
  while (cp < text.length && sp(cp)) cp++;
  if (text[cp] !== '=') return { error: "missing '=' after attribute name" };
  let vp = cp + 1;
  while (vp < text.length && sp(vp)) vp++;
  let end = text.length;
  while (end > vp && sp(end - 1)) end--;
  return { name: text.slice(np, ep), value: text.slice(vp, end) };
}

// ---- time fields as postcat shows them ----

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const INT_MAX = 2147483647n;
const INT_MIN = -2147483648n;
// JavaScript dates end at +-8.64e12 s; keep a day of room for the zone offset.
const JS_DATE_LIMIT = 8_639_900_000_000n;
// The Gregorian calendar, weekdays included, repeats every 400 years, and so
// do rule-based zone offsets: times beyond Date's range are shifted by whole
// cycles, converted, and given their years back.
const CYCLE_SECONDS = 12_622_780_800n;

/**
 * asctime(localtime(&t)): "Sat Nov 21 23:32:47 2026\n" in the zone that TZ
 * names. null where the C library gives no result (the year does not fit
 * in an int), on which real postcat crashes.
 */
export function asctimeLocal(sec: bigint): string | null {
  let t = sec;
  let shift = 0n;
  if (t > JS_DATE_LIMIT) {
    const k = (t - JS_DATE_LIMIT) / CYCLE_SECONDS + 1n;
    t -= k * CYCLE_SECONDS;
    shift = 400n * k;
  } else if (t < -JS_DATE_LIMIT) {
    const k = (-JS_DATE_LIMIT - t) / CYCLE_SECONDS + 1n;
    t += k * CYCLE_SECONDS;
    shift = -400n * k;
  }
  const d = new Date(Number(t) * 1000);
  const year = BigInt(d.getFullYear()) + shift;
  if (year > INT_MAX || year - 1900n < INT_MIN) return null;
  const two = (n: number) => String(n).padStart(2, '0');
  return (
    `${DAYS[d.getDay()]} ${MONTHS[d.getMonth()]}${String(d.getDate()).padStart(3, ' ')} ` +
    `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())} ${year}\n`
  );
}

/** The six SIZE record fields; absent fields are 0, as sscanf leaves them in qmgr. */
export interface SizeFields {
  /** How many fields converted (1 for Postfix < 1.0 files, 3..6 later). */
  count: number;
  /** Distance from the first content record to the X record. */
  contentSize: number;
  /** File offset of the first record after M. */
  dataOffset: number;
  rcptCount: number;
  /** qmgr flags: bit 0 mixed recipients, then the DSN NOTIFY mask shifted by 1. */
  qmgrFlags: number;
  /** Content length (Postfix >= 2.4; else 0). */
  contentLength: number;
  /** SMTPUTF8 flags: 1 requested, 2 header, 4 sender. */
  smtputf8: number;
}

/** sscanf(text, "%ld %ld %d %d %ld %d") on a SIZE record. */
export function scanSizeFields(text: string): SizeFields {
  const values = scanLongs(text, 6);
  const v = (i: number) => Number(values[i] ?? 0n);
  return {
    count: values.length, contentSize: v(0), dataOffset: v(1), rcptCount: v(2), qmgrFlags: v(3), contentLength: v(4), smtputf8: v(5),
  };
}
