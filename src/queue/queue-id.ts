// Mirrors Postfix's queue ID rules: global/mail_queue.h (the MQID_ macros),
// global/file_id.c, global/safe_ultostr.c, and the name checks of
// global/mail_queue.c (mail_queue_id_ok, mail_queue_name_ok).
// Short IDs: 5 hex digits of microseconds + the inode in hex. Long IDs:
// base-52 seconds (6+ chars) + base-52 microseconds (4 chars) + 'z' +
// base-51 inode. Pure functions: no I/O.

/** The vowel-free alphabet; base 51 (inode) stops before 'z', the separator. */
export const SAFE_CHARS = '0123456789BCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz';

export const MQID_LG_SEC_BASE = 52;
export const MQID_LG_SEC_PAD = 6;
export const MQID_LG_USEC_BASE = 52;
export const MQID_LG_USEC_PAD = 4;
export const MQID_LG_TIME_PAD = MQID_LG_SEC_PAD + MQID_LG_USEC_PAD;
export const MQID_LG_INUM_SEP = 'z';
export const MQID_LG_INUM_BASE = 51;
export const MQID_SH_USEC_PAD = 5;

const ULONG_MAX = (1n << 64n) - 1n;
const VALID_HOSTNAME_LEN = 255;

/** safe_ultostr(): value in the safe alphabet, left-padded to padlen with padchar. */
export function safeUltostr(value: bigint | number, base: number, padlen = 0, padchar = '0'): string {
  if (base < 2 || base > SAFE_CHARS.length) throw new Error(`safe_ultostr: bad base: ${base}`);
  let v = BigInt(value) & ULONG_MAX;
  const b = BigInt(base);
  let out = '';
  while (v !== 0n) {
    out = SAFE_CHARS[Number(v % b)]! + out;
    v /= b;
  }
  return out.padStart(padlen, padchar);
}

/**
 * safe_strtoul(): leading blanks skipped, then digits of the alphabet.
 * end is the index after the last digit (0 when none); overflow gives
 * ULONG_MAX with range set.
 */
export function safeStrtoul(text: string, base: number): { value: bigint; end: number; range: boolean } {
  if (base < 2 || base > SAFE_CHARS.length) throw new Error(`safe_strtoul: bad base: ${base}`);
  let i = 0;
  while (i < text.length && /[ \t\n\v\f\r]/.test(text[i]!)) i++;
  const start = i;
  const b = BigInt(base);
  let sum = 0n;
  let range = false;
  for (; i < text.length; i++) {
    const d = SAFE_CHARS.indexOf(text[i]!);
    if (d < 0 || d >= base) break;
    if (!range) {
      sum = sum * b + BigInt(d);
      if (sum > ULONG_MAX) {
        sum = ULONG_MAX;
        range = true;
      }
    }
  }
  return { value: sum, end: i === start ? 0 : i, range };
}

/** %05X of (int) usec: the first part of a short ID. */
export function shortUsec(usec: number): string {
  return ((usec | 0) >>> 0).toString(16).toUpperCase().padStart(MQID_SH_USEC_PAD, '0');
}

/** The inode part (get_file_id_st): %lX for short IDs, base 51 for long ones. */
export function fileId(inode: bigint | number, long: boolean): string {
  return long ? safeUltostr(inode, MQID_LG_INUM_BASE) : BigInt(inode).toString(16).toUpperCase();
}

/** A short queue ID from the clock's microseconds and the file's inode. */
export function shortQueueId(usec: number, inode: bigint | number): string {
  return shortUsec(usec) + fileId(inode, false);
}

/** A long queue ID from seconds, microseconds and inode. */
export function longQueueId(sec: bigint | number, usec: number, inode: bigint | number): string {
  return (
    safeUltostr(sec, MQID_LG_SEC_BASE, MQID_LG_SEC_PAD) +
    safeUltostr(usec, MQID_LG_USEC_BASE, MQID_LG_USEC_PAD) +
    MQID_LG_INUM_SEP +
    fileId(inode, true)
  );
}

/** MQID_FIND_LG_INUM_SEPARATOR: index of the last 'z' when it is at position 10 or later, else -1. */
export function longIdSeparator(id: string): number {
  const z = id.lastIndexOf(MQID_LG_INUM_SEP);
  return z >= MQID_LG_TIME_PAD ? z : -1;
}

export interface ParsedQueueId {
  long: boolean;
  /** undefined when the inode part does not decode (MQID_GET_INUM's error). */
  inode?: bigint;
  usec?: number;
  /** Long IDs only. */
  sec?: bigint;
}

/** Takes a queue ID apart (MQID_GET_INUM, plus the time parts). */
export function parseQueueId(id: string): ParsedQueueId {
  const z = longIdSeparator(id);
  if (z >= 0) {
    const ino = safeStrtoul(id.slice(z + 1), MQID_LG_INUM_BASE);
    const us = decodeLongUsec(id, z);
    const secText = id.slice(0, z - MQID_LG_USEC_PAD);
    const sec = safeStrtoul(secText, MQID_LG_SEC_BASE);
    const r: ParsedQueueId = { long: true };
    if (ino.end === id.length - z - 1 && ino.end > 0 && !ino.range) r.inode = ino.value;
    if (us !== null) r.usec = us;
    if (sec.end === secText.length && sec.end > 0 && !sec.range) r.sec = sec.value;
    return r;
  }
  const r: ParsedQueueId = { long: false };
  // strtoul(..., 16) of what follows the microseconds; an empty rest is inode 0.
  const inoText = id.slice(MQID_SH_USEC_PAD);
  if (id.length >= MQID_SH_USEC_PAD && /^((0[xX])?[0-9A-Fa-f]+)?$/.test(inoText)) {
    const v = BigInt('0x0' + inoText.replace(/^0[xX]/, ''));
    if (v < ULONG_MAX) r.inode = v;
  }
  const usText = id.slice(0, MQID_SH_USEC_PAD);
  if (/^[0-9A-F]{5}$/.test(usText)) r.usec = parseInt(usText, 16);
  return r;
}

/** The 4 base-52 microsecond characters before the separator at z, decoded; null if bad. */
function decodeLongUsec(id: string, z: number): number | null {
  const text = id.slice(z - MQID_LG_USEC_PAD, z);
  const r = safeStrtoul(text, MQID_LG_USEC_BASE);
  if (r.end !== text.length || r.range) return null;
  return Number(r.value);
}

/**
 * The key that picks a hashed subdirectory (mail_queue_dir): a short ID
 * itself; for a long ID, its microseconds as %05X (0 when they do not decode).
 */
export function queueIdHashKey(id: string): string {
  const z = longIdSeparator(id);
  if (z < 0) return id;
  const us = decodeLongUsec(id, z);
  return shortUsec(us ?? 0);
}

/** mail_queue_id_ok(): 1..255 characters of [A-Za-z0-9_]. */
export function mailQueueIdOk(id: string): boolean {
  return id.length > 0 && id.length <= VALID_HOSTNAME_LEN && /^[A-Za-z0-9_]+$/.test(id);
}

/** mail_queue_name_ok(): 1..100 characters of [A-Za-z0-9]. */
export function mailQueueNameOk(name: string): boolean {
  return name.length > 0 && name.length <= 100 && /^[A-Za-z0-9]+$/.test(name);
}
