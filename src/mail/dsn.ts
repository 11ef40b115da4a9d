// Mirrors Postfix's global/dsn_mask.c and dsn_util.c (dsn_valid,
// dsn_split, dsn_prepend): the RFC 3461 NOTIFY and RET values as bit masks,
// and RFC 3463 enhanced status codes ("5.7.1") at the start of a reply
// text. Works on byte strings (one character per byte, as smtpd and cleanup
// hold their input); a malformed value is 0, never an exception.

export const DSN_RET_FULL = 1 << 0;
export const DSN_RET_HDRS = 1 << 1;

export const DSN_NOTIFY_NEVER = 1 << 0;
export const DSN_NOTIFY_SUCCESS = 1 << 1;
export const DSN_NOTIFY_FAILURE = 1 << 2;
export const DSN_NOTIFY_DELAY = 1 << 3;
export const DSN_NOTIFY_ANY = DSN_NOTIFY_SUCCESS | DSN_NOTIFY_FAILURE | DSN_NOTIFY_DELAY;
export const DSN_NOTIFY_OVERRIDE = DSN_NOTIFY_ANY | DSN_NOTIFY_NEVER;

/** DSN_RET_OK(): FULL or HDRS, exactly one. */
export const dsnRetOk = (v: number): boolean => v === DSN_RET_FULL || v === DSN_RET_HDRS;

/** DSN_NOTIFY_OK(): NEVER alone, or any mix of SUCCESS, FAILURE and DELAY (0 included). */
export const dsnNotifyOk = (v: number): boolean => v === DSN_NOTIFY_NEVER || v === (v & DSN_NOTIFY_ANY);

const NOTIFY_NAMES: ReadonlyArray<[string, number]> = [
  ['NEVER', DSN_NOTIFY_NEVER],
  ['SUCCESS', DSN_NOTIFY_SUCCESS],
  ['FAILURE', DSN_NOTIFY_FAILURE],
  ['DELAY', DSN_NOTIFY_DELAY],
];

/** strcasecmp() folds ASCII letters only. */
const asciiUpper = (s: string): string => s.replace(/[a-z]/g, (c) => c.toUpperCase());

/** dsn_ret_code(): "FULL" or "HDRS" in any case to its bit, else 0. */
export function dsnRetCode(text: string): number {
  const upper = asciiUpper(text);
  return upper === 'FULL' ? DSN_RET_FULL : upper === 'HDRS' ? DSN_RET_HDRS : 0;
}

/** dsn_ret_str(): the keyword of a RET bit ("" for none). */
export function dsnRetStr(code: number): string {
  return code === DSN_RET_FULL ? 'FULL' : code === DSN_RET_HDRS ? 'HDRS' : '';
}

/**
 * dsn_notify_mask(): a NOTIFY list ("SUCCESS,FAILURE", words split on
 * commas and blanks, any case) to its mask; 0 when a word is unknown or
 * NEVER is combined with another. An unknown word is reported to warn with
 * Postfix's text: unknown DSN NOTIFY command value "X" in "LIST".
 */
export function dsnNotifyMask(text: string, warn?: (text: string) => void): number {
  let mask = 0;
  for (const word of text.split(/[, \t\r\n]+/)) {
    if (word === '') continue;
    const upper = asciiUpper(word);
    const hit = NOTIFY_NAMES.find(([name]) => name === upper);
    if (!hit) {
      warn?.(`unknown DSN NOTIFY command value "${word}" in "${text}"`);
      return 0;
    }
    mask |= hit[1];
  }
  return dsnNotifyOk(mask) ? mask : 0;
}

/** dsn_notify_str(): a mask as "NEVER" or "SUCCESS,FAILURE,DELAY". */
export function dsnNotifyStr(mask: number): string {
  return NOTIFY_NAMES.filter(([, bit]) => mask & bit).map(([name]) => name).join(',');
}

const isCSpace = (ch: string | undefined): boolean =>
  ch === ' ' || ch === '\t' || ch === '\n' || ch === '\r' || ch === '\v' || ch === '\f';

function digitRun(text: string, from: number): number {
  let n = 0;
  while (from + n < text.length && text.charCodeAt(from + n) >= 0x30 && text.charCodeAt(from + n) <= 0x39) n++;
  return n;
}

/** dsn_valid(): the length of an RFC 3463 code ("4.7.1") at the start of text, else 0. */
export function dsnValid(text: string): number {
  if (!(text[0] === '2' || text[0] === '4' || text[0] === '5') || text[1] !== '.') return 0;
  let i = 2;
  let n = digitRun(text, i);
  if (n < 1 || n > 3 || text[i + n] !== '.') return 0;
  i += n + 1;
  n = digitRun(text, i);
  if (n < 1 || n > 3) return 0;
  const next = text[i + n];
  if (next !== undefined && next !== '\0' && !isCSpace(next)) return 0;
  return i + n;
}

export interface DsnSplit {
  /** The status code: the text's own, else the default's. */
  dsn: string;
  /** The text after the code and the blanks around it. */
  text: string;
}

/** dsn_split(): an optional leading status code, else defDsn; then the free text. */
export function dsnSplit(defDsn: string, text: string): DsnSplit {
  let i = 0;
  while (isCSpace(text[i])) i++;
  let dsn: string;
  const len = dsnValid(text.slice(i));
  if (len > 0) {
    dsn = text.slice(i, i + len);
    i += len + 1;
  } else {
    dsn = defDsn.slice(0, dsnValid(defDsn));
  }
  while (isCSpace(text[i])) i++;
  return { dsn, text: text.slice(Math.min(i, text.length)) };
}

/** dsn_prepend(): "D.D.D text", the code taken from the text when it starts with one. */
export function dsnPrepend(defDsn: string, text: string): string {
  const d = dsnSplit(defDsn, text);
  return `${d.dsn} ${d.text}`;
}
