// The connection cache of smtp(8)/lmtp(8), in the place of Postfix's
// scache(8) service (smtp_reuse.c, scache_multi.c): an idle session is
// kept open for smtp_connection_cache_time_limit under its server's
// address and port, and also under its next hop's label when the request
// asked for that; the next delivery to that next hop or server takes it
// back (and checks it with an RSET probe, see ./connect.ts). An idle
// session that times out, or whose server hangs up, is closed without
// QUIT, as scache does. One cache per agent process; the sessions belong
// to no request while they wait. Touches the cached sockets only.
import type { SmtpSession } from './state.js';

interface Idle {
  session: SmtpSession;
  destLabel: string | null;
  timer: NodeJS.Timeout;
}

export class SessionCache {
  private byEndpoint = new Map<string, Idle[]>();
  private byDest = new Map<string, Idle[]>();

  /** Keeps a session for idleSec seconds. */
  save(destLabel: string | null, session: SmtpSession, idleSec: number): void {
    const idle: Idle = { session, destLabel, timer: setTimeout(() => this.expire(idle), Math.max(idleSec, 1) * 1000) };
    idle.timer.unref();
    push(this.byEndpoint, session.endpoint, idle);
    if (destLabel !== null) push(this.byDest, destLabel, idle);
    session.stream.socket.once('close', () => this.forget(idle));
  }

  private expire(idle: Idle): void {
    this.forget(idle);
    idle.session.stream.close();
  }

  private forget(idle: Idle): void {
    clearTimeout(idle.timer);
    remove(this.byEndpoint, idle.session.endpoint, idle);
    if (idle.destLabel !== null) remove(this.byDest, idle.destLabel, idle);
  }

  private take(list: Idle[] | undefined): SmtpSession | null {
    for (;;) {
      const idle = list?.pop();
      if (!idle) return null;
      this.forget(idle);
      if (!idle.session.stream.broken) return idle.session;
      idle.session.stream.close();
    }
  }

  /** A session cached under a next hop's label, or null. */
  takeDest(label: string): SmtpSession | null {
    return this.take(this.byDest.get(label)?.slice());
  }

  /** A session cached under a server's address and port (or socket path), or null. */
  takeEndpoint(endpoint: string): SmtpSession | null {
    return this.take(this.byEndpoint.get(endpoint)?.slice());
  }

  /** Closes every idle session (the program stops). */
  closeAll(): void {
    for (const list of [...this.byEndpoint.values()]) for (const idle of [...list]) this.expire(idle);
  }
}

function push(map: Map<string, Idle[]>, key: string, idle: Idle): void {
  const list = map.get(key);
  if (list) list.push(idle);
  else map.set(key, [idle]);
}

function remove(map: Map<string, Idle[]>, key: string, idle: Idle): void {
  const list = map.get(key);
  if (!list) return;
  const i = list.indexOf(idle);
  if (i >= 0) list.splice(i, 1);
  if (list.length === 0) map.delete(key);
}
