// Mirrors Postfix's global/mail_conf_int.c, mail_conf_nint.c,
// mail_conf_long.c, mail_conf_time.c (with conv_time.c), mail_conf_bool.c,
// mail_conf_nbool.c and the length check of mail_conf_str.c: turning the
// text of a parameter into a number, a boolean or a bounded string, and
// checking the bounds a daemon's parameter table gives it (0: no bound).
// A bad value is returned as Postfix's fatal text; nothing here throws.

export interface Bounds {
  /** Lower bound, 0 for none (Postfix checks "min && value < min"). */
  min: number;
  /** Upper bound, 0 for none. */
  max: number;
}

export type Converted<T> = { ok: true; value: T } | { ok: false; error: string };

export const NO_BOUNDS: Bounds = { min: 0, max: 0 };

const INT_MAX = 2147483647;
const INT_MIN = -2147483648;
const LONG_MAX = (1n << 63n) - 1n;
const LONG_MIN = -(1n << 63n);

const ok = <T>(value: T): Converted<T> => ({ ok: true, value });
const fail = <T>(error: string): Converted<T> => ({ ok: false, error });

const isCSpace = (c: string | undefined): boolean =>
  c === ' ' || c === '\t' || c === '\n' || c === '\v' || c === '\f' || c === '\r';

/**
 * strtol(text, &end, 10): the value and the index where parsing stopped.
 * Without digits the value is 0 and end is 0, as in C. Overflow beyond a
 * 64-bit long is flagged as ERANGE.
 */
export function strtol(text: string): { value: bigint; end: number; erange: boolean } {
  let i = 0;
  while (isCSpace(text[i])) i++;
  let neg = false;
  if (text[i] === '+' || text[i] === '-') neg = text[i++] === '-';
  const start = i;
  while (i < text.length && text.charCodeAt(i) >= 0x30 && text.charCodeAt(i) <= 0x39) i++;
  if (i === start) return { value: 0n, end: 0, erange: false };
  let value = BigInt(text.slice(start, i));
  if (neg) value = -value;
  if (value > LONG_MAX) return { value: LONG_MAX, end: i, erange: true };
  if (value < LONG_MIN) return { value: LONG_MIN, end: i, erange: true };
  return { value, end: i, erange: false };
}

function badNumber<T>(name: string, text: string): Converted<T> {
  return fail(`bad numerical configuration: ${name} = ${text}`);
}

/** The bounds check of mail_conf_int.c and mail_conf_long.c. */
function checkRange<T>(name: string, value: T, shown: string, b: Bounds): Converted<T> {
  const n = Number(value);
  if (b.min && n < b.min) return fail(`invalid ${name} parameter value ${shown} < ${b.min}`);
  if (b.max && n > b.max) return fail(`invalid ${name} parameter value ${shown} > ${b.max}`);
  return ok(value);
}

/** An int or nint parameter: the whole text is one decimal number that fits a C int. */
export function convInt(name: string, text: string, b: Bounds = NO_BOUNDS): Converted<number> {
  const r = strtol(text);
  if (text === '' || r.end !== text.length || r.erange || r.value > BigInt(INT_MAX) || r.value < BigInt(INT_MIN)) {
    return badNumber(name, text);
  }
  const v = Number(r.value);
  return checkRange(name, v, String(v), b);
}

/** A long parameter (message_size_limit, queue_minfree, ...): as int, 64 bits wide. */
export function convLong(name: string, text: string, b: Bounds = NO_BOUNDS): Converted<number> {
  const r = strtol(text);
  if (text === '' || r.end !== text.length || r.erange) return badNumber(name, text);
  return checkRange(name, Number(r.value), r.value.toString(), b);
}

const UNIT_SECONDS: Record<string, number> = { w: 604800, d: 86400, h: 3600, m: 60, s: 1 };

/**
 * conv_time(): a non-negative number with an optional unit letter (w, d,
 * h, m, s; anything after the letter is ignored), the bare number taken in
 * defUnit. undefined when malformed, negative, or past a C int.
 */
export function convTimeValue(text: string, defUnit: string): number | undefined {
  const r = strtol(text);
  if (text === '' || r.erange || r.value > BigInt(INT_MAX) || r.value < 0n) return undefined;
  const n = Number(r.value);
  const unit = r.end < text.length ? text[r.end]! : defUnit;
  const mult = Object.prototype.hasOwnProperty.call(UNIT_SECONDS, unit) ? UNIT_SECONDS[unit]! : 0;
  if (mult === 0) return undefined;
  if (mult > 1 && !(n < Math.trunc(INT_MAX / mult))) return undefined;
  return n * mult;
}

/** A time parameter in seconds, with mail_conf_time.c's messages. */
export function convTime(name: string, text: string, defUnit: string, b: Bounds = NO_BOUNDS): Converted<number> {
  const v = convTimeValue(text, defUnit);
  if (v === undefined) return fail(`parameter ${name}: bad time value or unit: ${text}`);
  if (b.min && v < b.min) return fail(`invalid ${name}: ${v} (min ${b.min})`);
  if (b.max && v > b.max) return fail(`invalid ${name}: ${v} (max ${b.max})`);
  return ok(v);
}

/** A bool or nbool parameter: "yes" or "no" in any ASCII case. */
export function convBool(name: string, text: string): Converted<boolean> {
  const lower = text.replace(/[A-Z]/g, (c) => c.toLowerCase());
  if (lower === 'yes') return ok(true);
  if (lower === 'no') return ok(false);
  return fail(`bad boolean configuration: ${name} = ${text}`);
}

/** A string parameter whose length in bytes the daemon bounds. */
export function checkStrLength(name: string, text: string, b: Bounds = NO_BOUNDS): Converted<string> {
  const len = Buffer.byteLength(text, 'utf8');
  if (b.min && len < b.min) return fail(`bad string length ${len} < ${b.min}: ${name} = ${text}`);
  if (b.max && len > b.max) return fail(`bad string length ${len} > ${b.max}: ${name} = ${text}`);
  return ok(text);
}
