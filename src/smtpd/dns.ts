// The name service as smtpd uses it: the client's reverse name and its
// forward check (smtpd_peer.c over getnameinfo/getaddrinfo, which honour
// /etc/hosts), and DNS record lookups for the reject_unknown_* restrictions
// (dns/dns_lookup.c over the resolver library, which does not). Node's
// dns.lookupService/lookup call the same libc functions; record lookups go
// through Node's DNS resolver. Failures are values: 'temp' or 'retry' when
// the name service could not answer (as without any network), 'perm' or
// 'notfound' when the name does not exist.
import dns from 'node:dns';
import type { DnsHooks, DnsStatus } from './context.js';

const TEMP_CODES = new Set(['EAI_AGAIN', 'EAI_MEMORY', 'EAI_SYSTEM', 'ETIMEOUT', 'ECONNREFUSED', 'ESERVFAIL', 'EREFUSED', 'ENETUNREACH', 'ECANCELLED', 'EAGAIN']);

function codeOf(e: unknown): string {
  return (e as NodeJS.ErrnoException).code ?? '';
}

/** A resolver that gives up quickly, so an unreachable name server fails fast. */
function makeResolver(): dns.promises.Resolver {
  return new dns.promises.Resolver({ timeout: 5000, tries: 2 });
}

export function systemDns(): DnsHooks {
  let resolver: dns.promises.Resolver | null = null;
  return {
    async reverse(addr) {
      try {
        const r = await dns.promises.lookupService(addr, 0);
        if (r.hostname === addr) return { error: 'perm' };
        return { name: r.hostname };
      } catch (e) {
        return { error: TEMP_CODES.has(codeOf(e)) ? 'temp' : 'perm' };
      }
    },
    async forward(name, family) {
      try {
        const all = await dns.promises.lookup(name, { all: true, family: family === 10 ? 6 : family === 2 ? 4 : 0 });
        return { addrs: all.map((a) => a.address) };
      } catch (e) {
        return { error: TEMP_CODES.has(codeOf(e)) ? 'temp' : 'perm' };
      }
    },
    async records(name, types, stopOn) {
      resolver ??= makeResolver();
      let best: DnsStatus | null = null;
      let status: DnsStatus = 'notfound';
      for (let i = 0; i < types.length; i++) {
        status = await lookupOne(resolver, name, types[i]!);
        if (status === 'ok' || (stopOn.includes(status) && status !== 'policy')) break;
        if (i + 1 === types.length) break;
        if (best === null || RANK[status] >= RANK[best]) best = status;
      }
      if (best !== null && RANK[status] < RANK[best]) status = best;
      return status;
    },
  };
}

/** dns.h's status values in preference order (DNS_OK highest). */
const RANK: Record<DnsStatus, number> = { ok: 0, policy: -1, retry: -2, inval: -3, fail: -4, nullmx: -5, notfound: -6 };

async function lookupOne(resolver: dns.promises.Resolver, name: string, type: string): Promise<DnsStatus> {
  try {
    if (type === 'MX') {
      const mx = await resolver.resolveMx(name);
      if (mx.length === 1 && (mx[0]!.exchange === '' || mx[0]!.exchange === '.')) return 'nullmx';
      return mx.length > 0 ? 'ok' : 'notfound';
    }
    const r = type === 'AAAA' ? await resolver.resolve6(name) : await resolver.resolve4(name);
    return r.length > 0 ? 'ok' : 'notfound';
  } catch (e) {
    const code = codeOf(e);
    if (code === 'ENOTFOUND' || code === 'ENODATA') return 'notfound';
    if (code === 'EBADRESP' || code === 'EFORMERR' || code === 'EBADNAME') return 'inval';
    return 'retry';
  }
}
