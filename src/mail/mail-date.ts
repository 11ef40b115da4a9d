// Mirrors Postfix's global/mail_date.c: the RFC 2822 date of smtpd's
// Received: header and of the Date: header cleanup adds, "Sat, 21 Nov 2026
// 23:32:47 +0000 (UTC)", in the local time zone with the day of month
// padded by a space. The offset is printed as Postfix computes it
// ("%+03d%02d" of whole hours and minutes, so -00:30 prints as +0030).
// Also the GMT stamp of cleanup's Message-Id. Pure formatting.

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const two = (n: number): string => String(n).padStart(2, '0');

/** A POSIX TZ string ("EST5EDT", "CET-1CEST"): its standard and daylight names. */
function posixZoneNames(tz: string): { std: string; dst: string | null } | null {
  const m = /^(<[^>]+>|[A-Za-z]{3,})[-+]?[0-9]{1,2}(?::[0-9]{2}){0,2}(<[^>]+>|[A-Za-z]{3,})?/.exec(tz);
  if (!m) return null;
  const strip = (s: string): string => s.replace(/^<|>$/g, '');
  return { std: strip(m[1]!), dst: m[2] ? strip(m[2]) : null };
}

let formatter: Intl.DateTimeFormat | null = null;
let formatterZone: string | undefined;
const zoneCache = new Map<string, string>();

/** The last answer, checked first: the zone only changes with TZ or daylight saving time. */
let lastZone: { tz: string | undefined; offset: number; name: string } | null = null;

/** strftime's %Z: the zone's abbreviation for that moment (cached per TZ and UTC offset). */
export function zoneName(d: Date): string {
  const tz = process.env.TZ;
  const offset = d.getTimezoneOffset();
  if (lastZone !== null && lastZone.offset === offset && lastZone.tz === tz) return lastZone.name;
  const key = `${tz ?? ''}\0${offset}`;
  let name = zoneCache.get(key);
  if (name === undefined) {
    name = computeZoneName(d);
    if (zoneCache.size > 64) zoneCache.clear();
    zoneCache.set(key, name);
  }
  lastZone = { tz, offset, name };
  return name;
}

function computeZoneName(d: Date): string {
  const tz = process.env.TZ;
  if (tz !== undefined && tz !== '' && !tz.startsWith(':')) {
    const p = posixZoneNames(tz);
    if (p) {
      const jan = new Date(d.getFullYear(), 0, 1).getTimezoneOffset();
      const jul = new Date(d.getFullYear(), 6, 1).getTimezoneOffset();
      const isDst = p.dst !== null && d.getTimezoneOffset() < Math.max(jan, jul);
      return isDst ? p.dst! : p.std;
    }
  }
  if (formatter === null || formatterZone !== tz) {
    formatter = new Intl.DateTimeFormat('en-US', { timeZoneName: 'short' });
    formatterZone = tz;
  }
  const part = formatter.formatToParts(d).find((x) => x.type === 'timeZoneName');
  const name = part?.value ?? 'UTC';
  if ((name === 'GMT' || name === 'UTC') && d.getTimezoneOffset() === 0) {
    const id = formatter.resolvedOptions().timeZone;
    return id === 'UTC' || id === 'Etc/UTC' || id === 'Universal' || id === 'Zulu' || id === 'Etc/Universal' ? 'UTC' : 'GMT';
  }
  return name;
}

/** mail_date(): seconds since the epoch as a local RFC 2822 date. */
export function mailDate(sec: number): string {
  const d = new Date(sec * 1000);
  const gmtoff = -d.getTimezoneOffset();
  const hours = Math.trunc(gmtoff / 60);
  const sign = hours < 0 ? '-' : '+';
  return `${DAYS[d.getDay()]}, ${String(d.getDate()).padStart(2, ' ')} ${MONTHS[d.getMonth()]} ${d.getFullYear()} `
    + `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())} `
    + `${sign}${two(Math.abs(hours))}${two(Math.abs(gmtoff) % 60)} (${zoneName(d)})`;
}

/** strftime("%Y%m%d%H%M%S", gmtime(sec)): the stamp in a short-ID Message-Id. */
export function gmtStamp(sec: number): string {
  const d = new Date(sec * 1000);
  return `${d.getUTCFullYear()}${two(d.getUTCMonth() + 1)}${two(d.getUTCDate())}`
    + `${two(d.getUTCHours())}${two(d.getUTCMinutes())}${two(d.getUTCSeconds())}`;
}
