// Where one request's mail goes, server by server, as Postfix's
// smtp/smtp_connect.c does it: the next hop's servers in order (from
// ./addr.ts, passed in as findHosts), a TCP or unix-domain connection to
// each with smtp_connect_timeout, the greeting and EHLO, then the mail
// transaction, until every recipient is dealt with, smtp_mx_session_limit
// sessions were had, or the servers ran out. A server that cannot be
// reached is logged ("connect to H[A]:P: Connection refused") and the next
// one tried; whatever is left at the end fails with the last reason. A
// cached session (./cache.ts) is tried first when session caching is on.
// Touches sockets to the servers.
import * as net from 'node:net';
import { errnoText } from '../../util/errno.js';
import { NO_TIME } from '../api.js';
import { type SessionCache } from './cache.js';
import { smtpHelo, smtpQuit, smtpRset, smtpXfer } from './proto.js';
import {
  FEATURE_BEST_MX, FEATURE_FROM_CACHE, FEATURE_RSET_REJECTED, type SmtpSession, type SmtpState, newSession, sessionIsCached,
  sessionIsExpired,
} from './state.js';
import { SmtpStream } from './stream.js';
import { LEV_MAY, LEV_NONE, type TlsPolicyEngine } from './tls-policy.js';

/** One server to try (the shape of ./addr.ts's SmtpHost). */
export interface HostEntry {
  name: string;
  addr: string;
  family: 4 | 6 | 0;
  pref: number;
  port: number;
  path?: string;
}

/** Why a destination has no servers (the shape of ./addr.ts's HopFailure). */
export interface HopFailureEntry {
  status: string;
  reason: string;
  dead?: boolean;
  fatal?: string;
}

/** One destination of the next hop's list (the shape of ./addr.ts's HopDestination). */
export interface DestinationEntry {
  dest: string;
  domain: string;
  port: number;
  fallback: boolean;
  first: boolean;
}

/** The servers of one destination (the shape of ./addr.ts's HopLookup). */
export interface LookupEntry {
  destination: DestinationEntry;
  hosts: HostEntry[];
  failure?: HopFailureEntry;
  final: boolean;
}

/** How the next hop's destinations are found, and what is reported for recipients left over (./addr.ts). */
export interface HopFinder {
  lookups(nexthop: string, defaultPort: number): AsyncIterable<LookupEntry>;
  leftover(why: HopFailureEntry | undefined, stoppedAt: DestinationEntry | undefined, nexthop: string): { failure: HopFailureEntry; warning?: string };
}

/** What the connection loop needs besides the request's state. */
export interface ConnectDeps {
  hops: HopFinder;
  cache: SessionCache;
  /** The master.cf service, part of the cache labels. */
  service: string;
  /** The TLS policy of each server (./tls-policy.ts). */
  tlsPolicy: TlsPolicyEngine;
}

/**
 * smtp_tls_policy_cache_query() for the server about to be tried: sets
 * state.tls, or logs `what` with the reason, leaves that reason as the
 * delivery's, and returns false.
 */
async function tlsPolicy(state: SmtpState, deps: ConnectDeps, dest: string, host: string, port: number, what: string): Promise<boolean> {
  const r = await deps.tlsPolicy.query(dest, host, port);
  if ('invalid' in r) {
    state.setWhy(r.invalid.status, r.invalid.reason);
    state.log.warning(`${what}: ${r.invalid.reason}`);
    return false;
  }
  state.tls = r.policy;
  return true;
}

const DEL_REQ_FLAG_CONN_LOAD = 1 << 11;
const DEL_REQ_FLAG_CONN_STORE = 1 << 12;

/** Opens a connection; a stream, or Postfix's reason text for the failure. */
function openConnection(
  opts: net.NetConnectOpts, timeoutSec: number, describe: (why: string) => string,
): Promise<{ stream: SmtpStream } | { reason: string }> {
  return new Promise((resolve) => {
    const sock = net.connect(opts);
    let timer: NodeJS.Timeout | undefined;
    const fail = (why: string): void => {
      if (timer) clearTimeout(timer);
      sock.destroy();
      resolve({ reason: describe(why) });
    };
    if (timeoutSec > 0) timer = setTimeout(() => fail('Connection timed out'), timeoutSec * 1000);
    sock.once('error', (e: NodeJS.ErrnoException) => fail(errnoText(e)));
    sock.once('connect', () => {
      if (timer) clearTimeout(timer);
      sock.removeAllListeners('error');
      sock.setNoDelay(true);
      resolve({ stream: new SmtpStream(sock) });
    });
  });
}

/** smtp_connect_addr / smtp_connect_unix: a new session with one server, or null (state.why says why). */
async function connectHost(state: SmtpState, host: HostEntry): Promise<SmtpSession | null> {
  const s = state.settings;
  const start = Date.now();
  let opened: { stream: SmtpStream } | { reason: string };
  let endpoint: string;
  if (host.path !== undefined) {
    endpoint = host.path;
    opened = await openConnection({ path: host.path }, s.timeouts.connect, (why) => `connect to ${host.name}[${host.path}]: ${why}`);
  } else {
    endpoint = `${host.addr}:${host.port}`;
    const bind = s.bindAddress.replace(/^\[(.*)\]$/, '$1');
    opened = await openConnection(
      { host: host.addr, port: host.port, ...(bind && host.family === 4 ? { localAddress: bind } : {}) },
      s.timeouts.connect,
      (why) => `connect to ${host.name}[${host.addr}]:${host.port}: ${why}`,
    );
  }
  if ('reason' in opened) {
    state.setWhy('4.4.1', opened.reason);
    return null;
  }
  const session = newSession(opened.stream, host.name, host.path ?? host.addr, host.path !== undefined ? 0 : host.port, endpoint);
  session.expireTime = state.cacheStore ? start + s.reuseTimeLimit * 1000 : 0;
  return session;
}

/** smtp_cache_policy(). */
function cachePolicy(state: SmtpState, dest: string): void {
  const s = state.settings;
  state.cacheLoad = state.cacheStore = false;
  if (s.cacheDestinations.some((d) => d.toLowerCase() === dest.toLowerCase())) {
    state.cacheLoad = state.cacheStore = true;
  } else if (s.cacheOnDemand) {
    state.cacheLoad = (state.request.flags & DEL_REQ_FLAG_CONN_LOAD) !== 0;
    state.cacheStore = (state.request.flags & DEL_REQ_FLAG_CONN_STORE) !== 0;
  }
}

/** Closes a session: whatever is still queued (QUIT) goes out first. */
export function freeSession(session: SmtpSession): void {
  const sock = session.stream.socket;
  const rest = session.stream.pending;
  if (rest > 0 && !session.stream.broken) void session.stream.flush(5).catch(() => undefined).finally(() => sock.end());
  else sock.end();
  sock.setTimeout(10000, () => sock.destroy());
}

/** smtp_cleanup_session(): the session goes to the cache or away; the recipient marks are swept. */
async function cleanupSession(state: SmtpState, deps: ConnectDeps, destLabel: string | null): Promise<void> {
  const session = state.session!;
  const s = state.settings;
  if (sessionIsExpired(session, s.reuseCountLimit)) await smtpQuit(state);
  if (sessionIsCached(session) && !session.stream.broken && !session.tls && !session.authenticated) {
    deps.cache.save(destLabel, session, s.cacheTimeLimit);
  } else {
    freeSession(session);
  }
  state.session = null;
  state.cleanupRecipients();
  const stats = state.request.stats;
  stats.connSetupDone = NO_TIME;
  stats.deliverDone = NO_TIME;
  stats.reuseCount = 0;
}

/** smtp_reuse_common(): a cached session, checked with an RSET probe; null when it is no good. */
async function reuse(state: SmtpState, session: SmtpSession | null): Promise<SmtpSession | null> {
  if (!session) return null;
  state.session = session;
  session.features |= FEATURE_FROM_CACHE;
  session.reuseCount += 1;
  if ((await smtpRset(state)) < 0 || session.features & FEATURE_RSET_REJECTED) {
    freeSession(session);
    state.session = null;
    return null;
  }
  return session;
}

/** One session: greeting and EHLO unless reused, then the transaction; the session is cleaned up. */
async function runSession(state: SmtpState, deps: ConnectDeps, destLabel: string | null, afterHelo: () => void): Promise<boolean> {
  const session = state.session!;
  let transacted = false;
  if (!(session.features & FEATURE_FROM_CACHE) && (await smtpHelo(state)) !== 0) {
    if (!session.forbidden && !session.stream.broken) await smtpQuit(state);
  } else {
    afterHelo();
    await smtpXfer(state);
    transacted = true;
  }
  await cleanupSession(state, deps, destLabel);
  return transacted;
}

/** The label under which sessions to a next hop are cached. */
function destLabelOf(deps: ConnectDeps, state: SmtpState, dest: string): string {
  return `${deps.service}\u0000${state.request.sender === '' ? '' : 's'}\u0000${dest.toLowerCase()}`;
}

/** smtp_connect_local(): an LMTP server on a unix-domain socket. */
async function connectLocal(state: SmtpState, deps: ConnectDeps, path: string): Promise<void> {
  const s = state.settings;
  const fallback = s.fallbackRelay;
  if (fallback) state.log.warning(`ignoring "lmtp_fallback_relay = ${fallback}" setting for non-TCP connections`);
  cachePolicy(state, path);
  state.dest = path;
  const destLabel = state.cacheLoad || state.cacheStore ? destLabelOf(deps, state, `unix:${path}`) : null;
  const host: HostEntry = { name: s.myhostname, addr: '', family: 0, pref: 0, port: 0, path };
  if (!(await tlsPolicy(state, deps, path, s.myhostname, 0, `TLS policy lookup error for ${s.myhostname}/${path}`))) return;
  let session = state.cacheLoad && destLabel ? await reuse(state, deps.cache.takeDest(destLabel)) : null;
  session ??= await connectHost(state, host);
  if (!session) return;
  state.session = session;
  state.tlsNexthop = s.myhostname;
  if (state.tls.level === LEV_MAY) {
    state.log.warning(`${s.lmtp ? 'lmtp' : 'smtp'}_connect_local: opportunistic TLS encryption is not appropriate for unix-domain destinations.`);
    state.tls.level = LEV_NONE;
  }
  state.finalServer = true;
  await runSession(state, deps, destLabel, () => undefined);
}

/** Sessions cached for this destination: under its name, then under a best server's address. */
async function reuseSessions(
  state: SmtpState, deps: ConnectDeps, destLabel: string | null, hosts: HostEntry[], finalNexthop: boolean, dest: string,
): Promise<{ count: number; used: Set<string> }> {
  const used = new Set<string>();
  let count = 0;
  if (!state.cacheLoad || state.left.length === 0 || hosts.length === 0) return { count, used };
  const cached = destLabel ? await reuse(state, deps.cache.takeDest(destLabel)) : null;
  if (cached) {
    count++;
    used.add(cached.endpoint);
    state.finalServer = finalNexthop && hosts.length <= 1;
    await runSession(state, deps, destLabel, () => undefined);
  }
  const bestPref = hosts[0]!.pref;
  for (const [i, h] of hosts.entries()) {
    if (state.left.length === 0 || h.pref !== bestPref) break;
    const endpoint = `${h.addr}:${h.port}`;
    if (!(await tlsPolicy(state, deps, dest, h.name, h.port, `TLS policy lookup error for ${dest}/${h.name}`))) continue;
    // Only plaintext sessions are cached: none is good for a server this policy wants TLS from.
    if (state.tls.level > LEV_NONE) continue;
    const byAddr = await reuse(state, deps.cache.takeEndpoint(endpoint));
    if (!byAddr) continue;
    byAddr.features |= FEATURE_BEST_MX;
    count++;
    used.add(endpoint);
    state.finalServer = finalNexthop && i === hosts.length - 1;
    await runSession(state, deps, destLabel, () => undefined);
  }
  return { count, used };
}

/** smtp_connect_inet(): the servers of a next hop and its fallback relays. */
async function connectInet(state: SmtpState, deps: ConnectDeps, nexthop: string): Promise<void> {
  const s = state.settings;
  let stoppedAt: DestinationEntry | undefined;
  let destLabel: string | null = null;
  let retryPlain = false;
  for await (const lookup of deps.hops.lookups(nexthop, s.defaultPort)) {
    stoppedAt = lookup.destination;
    state.dest = lookup.destination.dest;
    if (lookup.failure) {
      if (lookup.failure.fatal) state.log.warning(lookup.failure.fatal);
      state.setWhy(lookup.failure.status, lookup.failure.reason);
    }
    const hosts = lookup.hosts;
    if (hosts.length > 0 && lookup.destination.first) {
      cachePolicy(state, lookup.destination.domain);
      if (state.cacheLoad || state.cacheStore) destLabel = destLabelOf(deps, state, lookup.destination.dest);
    }
    const reused = await reuseSessions(state, deps, destLabel, hosts, lookup.final, lookup.destination.dest);
    let sessions = reused.count;
    let addrCount = reused.count;
    const bestPref = hosts[0]?.pref ?? 0;
    const usable = hosts.filter((h) => !reused.used.has(`${h.addr}:${h.port}`));
    for (let i = 0; i < usable.length && state.left.length > 0; i++) {
      const host = usable[i]!;
      let last = i === usable.length - 1;
      if (++addrCount === s.mxAddressLimit) last = true;
      state.loopDetect = !s.lmtp && host.port === 25;
      if (!(await tlsPolicy(state, deps, lookup.destination.dest, host.name, host.port, `TLS policy lookup for ${lookup.destination.dest}/${host.name}`))) {
        if (last) break;
        continue;
      }
      // Retrying after a failed opportunistic handshake: in plaintext.
      if (retryPlain) state.tls.level = LEV_NONE;
      retryPlain = false;
      const session = await connectHost(state, host);
      if (!session) {
        state.log.info(state.why!.reason);
        if (last) break;
        continue;
      }
      state.session = session;
      state.tlsNexthop = lookup.destination.domain;
      if (host.pref === bestPref) session.features |= FEATURE_BEST_MX;
      state.finalServer = lookup.final && last;
      let counted = false;
      await runSession(state, deps, destLabel, () => {
        counted = true;
        if (++sessions === s.mxSessionLimit) last = true;
        state.finalServer = lookup.final && last;
      });
      if (state.retryPlain) {
        // The TLS handshake failed under "may": the same server again, in plaintext.
        state.retryPlain = false;
        retryPlain = true;
        if (counted) sessions--;
        addrCount--;
        i--;
        continue;
      }
      if (last) break;
    }
    if (lookup.final || state.left.length === 0) break;
  }
  if (state.left.length > 0) {
    const why = state.why ? { status: state.why.status, reason: state.why.reason } : undefined;
    const left = deps.hops.leftover(why, stoppedAt, nexthop);
    if (left.warning) state.log.warning(left.warning);
    if (!state.why || state.why.status !== left.failure.status || state.why.reason !== left.failure.reason) {
      state.why = { ...(state.why ?? { mname: '', dtext: '' }), status: left.failure.status, reason: left.failure.reason };
    }
  }
}

/** smtp_connect(): deliver what can be delivered; whatever is left fails with the last reason. */
export async function smtpConnect(state: SmtpState, deps: ConnectDeps): Promise<void> {
  const nexthop = state.request.nexthop;
  if (state.settings.lmtp && nexthop.startsWith('unix:')) await connectLocal(state, deps, nexthop.slice(5));
  else await connectInet(state, deps, state.settings.lmtp && nexthop.startsWith('inet:') ? nexthop.slice(5) : nexthop);
  if (state.left.length > 0) {
    state.finalServer = true;
    await state.bulkFail(true);
    state.cleanupRecipients();
  }
}

