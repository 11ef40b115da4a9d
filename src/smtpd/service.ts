// The SMTP server service: Postfix's smtpd(8) as a function that the
// master daemon calls with accepted sockets (smtpd.c's smtpd_service and
// the multi_server loop around it).
//
// Contract:
//   const svc = createSmtpdService({ config, serviceName, cleanup, resolver, logger,
//                                    connectionCounter?, hooks? });
//   svc.handle(socket)   // any accepted TCP socket; returns at once, the session
//                        // runs asynchronously and ends the socket itself
//   await svc.ready      // tables and lists opened (handle() waits for this too)
//   await svc.close()    // waits for the sessions in progress, then closes tables
//                        // and policy connections; later handle() calls end the
//                        // socket at once
// - config: the service's Config (main.cf plus the master.cf -o overrides).
// - serviceName: the master.cf service name ("smtp", "submission", ...), used
//   for the connection count and in log lines.
// - cleanup: where accepted mail goes (src/cleanup/api.ts); a session is opened
//   at the first accepted RCPT, "250 ... queued as" follows finish() == 0.
// - resolver: the address layer's AddressResolver for the same configuration;
//   its table cache is shared with smtpd's own tables.
// - logger: lines as "postfix/smtpd[pid]: ..." (the caller chooses the tag).
// - connectionCounter: anvil's role (src/smtpd/anvil.ts), shared by all
//   processes that serve the service, for smtpd_client_connection_count_limit
//   and the smtpd_client_*_rate_limit settings; localConnectionCounter()
//   keeps it in this process. Without one, nothing is limited.
// - hooks: sleep (tests shorten smtpd_error_sleep_time and "sleep"),
//   flushSite (ETRN), dns (name service stand-in for tests).
//
// Why not nodemailer's smtp-server: its replies are fixed ("250 Accepted",
// "221 Bye"), its EHLO list and order are fixed (no VRFY, ETRN or CHUNKING),
// it has no BDAT, and it ends DATA only at CRLF.CRLF with its own dot and
// bare-LF handling (REFERENCE.md section 7). Postfix's dialogue differs in
// each of these, so the protocol engine here is written on node:net.
import type { Socket } from 'node:net';
import type { Config } from '../config/config.js';
import type { CleanupService } from '../cleanup/api.js';
import type { MailLogger } from '../log/logger.js';
import type { AddressResolver } from '../address/resolve.js';
import { type AnvilClient, localAnvil } from './anvil.js';
import { TableCache } from '../address/maps.js';
import type { Dict } from '../dict/dict.js';
import { TableFileWatch } from '../dict/file-identity.js';
import { buildContext, type SmtpdContext, type SmtpdHooks } from './context.js';
import { peerInit, peerNotInet } from './peer.js';
import { formatCmdStats, smtpdProto } from './session.js';
import { SmtpdState } from './state.js';
import { SmtpStream } from './stream.js';
import { toText } from './text.js';

export type { ConnectionCounter, SmtpdHooks } from './context.js';
export type { AnvilClient } from './anvil.js';

export interface SmtpdServiceOptions {
  config: Config;
  serviceName: string;
  cleanup: CleanupService;
  resolver: AddressResolver;
  logger: MailLogger;
  connectionCounter?: AnvilClient;
  hooks?: SmtpdHooks;
  /** Stand-alone mode (sendmail -bs): one session on a pipe, see SmtpdContext.standAlone. */
  standAlone?: boolean;
}

export interface SmtpdService {
  handle(socket: Socket): void;
  close(): Promise<void>;
  /** Resolves once the configuration's tables are open; rejects if they cannot be. */
  readonly ready: Promise<void>;
}

/** anvil for a single process (smtpd without the master), with the rate limits too. */
export function localConnectionCounter(): AnvilClient {
  return localAnvil();
}

/** smtpd's own tables, with what their files looked like when opened. */
class WatchedTables extends TableCache {
  readonly watch = new TableFileWatch();

  override open(spec: string, openFlags: number, dictFlags: number): Promise<Dict> {
    // Identity before the open: a file replaced in between is then seen as changed, never missed.
    this.watch.add(spec);
    return super.open(spec, openFlags, dictFlags);
  }
}

/** One generation of the service's configuration state: what a fresh smtpd process would have opened. */
interface Generation {
  ctx: Promise<SmtpdContext>;
  tables: WatchedTables;
  built: boolean;
  /** Sessions served with it; a replaced generation is closed when the last one ends. */
  sessions: number;
}

/** Closes what a generation opened: policy connections and tables. */
async function closeGeneration(g: Generation): Promise<void> {
  try {
    const ctx = await g.ctx;
    for (const p of ctx.policyClients.values()) p.close();
  } catch {
    // Nothing was opened.
  }
  await g.tables.close();
}

export function createSmtpdService(opts: SmtpdServiceOptions): SmtpdService {
  const hooks: SmtpdHooks = { ...opts.hooks, connectionCounter: opts.connectionCounter ?? opts.hooks?.connectionCounter };
  const generations: Generation[] = [];
  const newGeneration = (): Generation => {
    const tables = new WatchedTables(opts.resolver.cache.log, opts.resolver.cache.utf8);
    const g: Generation = { ctx: buildContext({ ...opts, hooks, cache: tables }), tables, built: false, sessions: 0 };
    g.ctx.then(() => (g.built = true), () => undefined);
    generations.push(g);
    return g;
  };
  let current = newGeneration();
  const sessions = new Set<Promise<void>>();
  let closing = false;
  const ready = current.ctx.then(() => undefined);
  ready.catch(() => undefined);

  // A table file removed or rebuilt since it was opened: new sessions get
  // freshly opened tables, as a new Postfix smtpd process would (a removed
  // table then answers "Server configuration error"); sessions under way
  // finish with what they have.
  const generationForSession = (): Generation => {
    if (current.built && current.tables.watch.changed() !== null) {
      const old = current;
      current = newGeneration();
      if (old.sessions === 0) retire(old);
    }
    return current;
  };
  const retire = (g: Generation): void => {
    generations.splice(generations.indexOf(g), 1);
    closeGeneration(g).catch(() => undefined);
  };

  const handle = (socket: Socket): void => {
    if (closing) {
      socket.destroy();
      return;
    }
    const gen = generationForSession();
    gen.sessions++;
    const run = (async () => {
      let ctx: SmtpdContext;
      try {
        ctx = await gen.ctx;
      } catch (e) {
        opts.logger.fatal(String((e as Error).message ?? e));
        socket.destroy();
        return;
      }
      if (ctx.fatal !== null) {
        opts.logger.fatal(ctx.fatal);
        socket.destroy();
        return;
      }
      await serveSession(ctx, opts.serviceName, socket);
    })();
    sessions.add(run);
    run.finally(() => {
      sessions.delete(run);
      if (--gen.sessions === 0 && gen !== current && generations.includes(gen)) retire(gen);
    }).catch(() => undefined);
  };

  const close = async (): Promise<void> => {
    closing = true;
    await Promise.allSettled([...sessions]);
    for (const g of generations.splice(0)) await closeGeneration(g);
  };

  return { handle, close, ready };
}

/** smtpd_service(): one connection. */
async function serveSession(ctx: SmtpdContext, serviceName: string, socket: Socket): Promise<void> {
  socket.setNoDelay(true);
  const stream = new SmtpStream(socket, ctx.params.timeoutSec * 1000, ctx.tls.wrappermode && ctx.tls.context !== null);
  const state = new SmtpdState(stream, serviceName);
  try {
    if (ctx.standAlone) peerNotInet(ctx, state);
    else await peerInit(ctx, state, socket);
    ctx.log.info(toText(`connect from ${state.namaddr}`));
    if (!ctx.standAlone) {
      state.xclientAllowed = await ctx.xclientHosts.match(toText(state.name), state.addr);
      state.xforwardAllowed = await ctx.xforwardHosts.match(toText(state.name), state.addr);
      stream.detectBareLf = ctx.bareLfMask && !(await ctx.bareLfExclusions.match(toText(state.name), state.addr)) ? ctx.bareLfMask : 0;
    }
    // Asked once: a client that may not use XCLIENT cannot change its name or address.
    state.anvilExempt = ctx.anvil === null || state.xclientAllowed || (await ctx.eventLimitExceptions.match(toText(state.name), state.addr));
    await smtpdProto(ctx, state);
  } catch (e) {
    ctx.log.warning(`${state.namaddr}: unexpected error: ${(e as Error).stack ?? String(e)}`);
  } finally {
    if (state.anvilConnected) ctx.anvil!.disconnect(serviceName, state.addr);
    ctx.log.info(toText(`disconnect from ${state.namaddr}${formatCmdStats(state)}`));
    stream.close();
  }
}
