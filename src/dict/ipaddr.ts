// Mirrors glibc's inet_pton()/inet_ntop() as Postfix's util/cidr_match.c
// relies on them: strict dotted quads (no leading zeros, no short forms) and
// RFC 4291 IPv6 text with at most one "::" and an optional IPv4 tail. Postfix
// decides the family by the presence of a colon. Written here rather than
// taken from a package because the exact acceptance rules show up in the
// warnings a cidr: table prints.

/** inet_pton(AF_INET): 4 bytes, or null. */
export function parseIPv4(text: string): Uint8Array | null {
  const out = new Uint8Array(4);
  let octets = 0;
  let sawDigit = false;
  let cur = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (ch >= 48 && ch <= 57) {
      const next = out[cur]! * 10 + (ch - 48);
      if (sawDigit && out[cur] === 0) return null;
      if (next > 255) return null;
      out[cur] = next;
      if (!sawDigit) {
        if (++octets > 4) return null;
        sawDigit = true;
      }
    } else if (ch === 46 && sawDigit) {
      if (octets === 4) return null;
      cur++;
      sawDigit = false;
    } else {
      return null;
    }
  }
  return octets < 4 ? null : out;
}

/** inet_pton(AF_INET6): 16 bytes, or null. */
export function parseIPv6(text: string): Uint8Array | null {
  const tmp = new Uint8Array(16);
  let tp = 0;
  let colonp = -1;
  let i = 0;
  if (text.length === 0) return null;
  if (text[0] === ':') {
    i++;
    if (i >= text.length || text[i] !== ':') return null;
  }
  let curtok = i;
  let digits = 0;
  let val = 0;
  while (i < text.length) {
    const ch = text[i++]!;
    const d = parseInt(ch, 16);
    if (/^[0-9A-Fa-f]$/.test(ch)) {
      if (digits === 4) return null;
      val = (val << 4) | d;
      digits++;
      continue;
    }
    if (ch === ':') {
      curtok = i;
      if (digits === 0) {
        if (colonp >= 0) return null;
        colonp = tp;
        continue;
      } else if (i >= text.length) {
        return null;
      }
      if (tp + 2 > 16) return null;
      tmp[tp++] = (val >> 8) & 0xff;
      tmp[tp++] = val & 0xff;
      digits = 0;
      val = 0;
      continue;
    }
    if (ch === '.' && tp + 4 <= 16) {
      const v4 = parseIPv4(text.slice(curtok));
      if (v4) {
        tmp.set(v4, tp);
        tp += 4;
        digits = 0;
        break;
      }
    }
    return null;
  }
  if (digits > 0) {
    if (tp + 2 > 16) return null;
    tmp[tp++] = (val >> 8) & 0xff;
    tmp[tp++] = val & 0xff;
  }
  if (colonp >= 0) {
    if (tp === 16) return null;
    const n = tp - colonp;
    const moved = tmp.slice(colonp, tp);
    tmp.fill(0, colonp);
    tmp.set(moved, 16 - n);
    tp = 16;
  }
  return tp === 16 ? tmp : null;
}

/** inet_ntop() for 4 or 16 bytes, formatted exactly as glibc does. */
export function formatAddress(bytes: Uint8Array): string {
  if (bytes.length === 4) return Array.from(bytes).join('.');
  const words: number[] = [];
  for (let i = 0; i < 8; i++) words.push((bytes[2 * i]! << 8) | bytes[2 * i + 1]!);
  let best = { base: -1, len: 0 };
  let cur = { base: -1, len: 0 };
  for (let i = 0; i < 8; i++) {
    if (words[i] === 0) {
      if (cur.base === -1) cur = { base: i, len: 1 };
      else cur.len++;
    } else if (cur.base !== -1) {
      if (best.base === -1 || cur.len > best.len) best = cur;
      cur = { base: -1, len: 0 };
    }
  }
  if (cur.base !== -1 && (best.base === -1 || cur.len > best.len)) best = cur;
  if (best.base !== -1 && best.len < 2) best = { base: -1, len: 0 };
  let out = '';
  for (let i = 0; i < 8; i++) {
    if (best.base !== -1 && i >= best.base && i < best.base + best.len) {
      if (i === best.base) out += ':';
      continue;
    }
    if (i !== 0) out += ':';
    if (i === 6 && best.base === 0 && (best.len === 6 || (best.len === 5 && words[5] === 0xffff))) {
      out += Array.from(bytes.subarray(12)).join('.');
      return out;
    }
    out += words[i]!.toString(16);
  }
  if (best.base !== -1 && best.base + best.len === 8) out += ':';
  return out;
}

/** Postfix's family choice: a colon means IPv6. */
export function parseAddress(text: string): Uint8Array | null {
  return text.includes(':') ? parseIPv6(text) : parseIPv4(text);
}

/** mask_addr(): clears every bit after the first `bits`. */
export function maskAddress(bytes: Uint8Array, bits: number): Uint8Array {
  const out = Uint8Array.from(bytes);
  for (let i = 0; i < out.length; i++) {
    const keep = Math.max(0, Math.min(8, bits - i * 8));
    out[i]! &= keep === 0 ? 0 : (0xff << (8 - keep)) & 0xff;
  }
  return out;
}
