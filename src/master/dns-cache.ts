// A short memory in front of the name service for smtpd's client lookups
// (the reverse name of the client address and the forward check of that
// name, smtpd_peer.c's getnameinfo/getaddrinfo pair), as nscd or a caching
// resolver gives Postfix on most systems. A busy client (a relay, a load
// generator) opens many connections from one address; each lookup costs a
// round trip through libuv's thread pool. Answers are kept for a few
// seconds; "try again" failures are not kept. Record lookups for the
// reject_unknown_* restrictions pass through unchanged. Touches nothing.
import type { DnsHooks } from '../smtpd/context.js';

/** How long an answer is reused. */
export const DNS_CACHE_MS = 5000;
const MAX_ENTRIES = 10000;

type Reverse = Awaited<ReturnType<DnsHooks['reverse']>>;
type Forward = Awaited<ReturnType<DnsHooks['forward']>>;

class TtlCache<T> {
  private readonly entries = new Map<string, { value: Promise<T>; until: number }>();

  constructor(private readonly keep: (value: T) => boolean) {}

  get(key: string, load: () => Promise<T>): Promise<T> {
    const now = Date.now();
    const hit = this.entries.get(key);
    if (hit && hit.until > now) return hit.value;
    if (this.entries.size >= MAX_ENTRIES) this.entries.clear();
    const value = load();
    this.entries.set(key, { value, until: now + DNS_CACHE_MS });
    value.then((v) => {
      if (!this.keep(v)) this.entries.delete(key);
    }, () => this.entries.delete(key));
    return value;
  }
}

export function cachingDns(inner: DnsHooks): DnsHooks {
  const reverse = new TtlCache<Reverse>((r) => !('error' in r) || r.error !== 'temp');
  const forward = new TtlCache<Forward>((r) => !('error' in r) || r.error !== 'temp');
  return {
    reverse: (addr) => reverse.get(addr, () => inner.reverse(addr)),
    forward: (name, family) => forward.get(`${family} ${name}`, () => inner.forward(name, family)),
    records: (name, types, stopOn) => inner.records(name, types, stopOn),
  };
}
