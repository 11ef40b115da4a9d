// Mirrors Postfix's smtpd/smtpd_peer.c: the client's address and port in
// printable form (IPv4-mapped IPv6 shown as IPv4, IPv6 literals with the
// "IPv6:" prefix in headers), the server side of the connection, and the
// client hostname: a reverse lookup whose answer counts only when it is a
// valid, non-numeric name that resolves back to the client address.
// Otherwise the name is "unknown", with a temporary or permanent status
// that reject_unknown_client_hostname reports differently.
import type { Socket } from 'node:net';
import { numericAddress } from '../address/resolve-local.js';
import { validHostaddr, validHostname } from './hostname.js';
import type { SmtpdContext } from './context.js';
import { PEER_CODE_FORGED, PEER_CODE_OK, PEER_CODE_PERM, PEER_CODE_TEMP, type SmtpdState } from './state.js';

/** The printable bare address; "::ffff:1.2.3.4" becomes "1.2.3.4". */
function bareAddress(addr: string | undefined): { addr: string; v6: boolean } {
  if (!addr) return { addr: 'unknown', v6: false };
  const mapped = /^::ffff:([0-9.]+)$/i.exec(addr);
  if (mapped) return { addr: mapped[1]!, v6: false };
  return { addr: addr.replace(/%.*$/, ''), v6: addr.includes(':') };
}

/** smtpd_peer_init(): fills in the endpoint fields and namaddr. */
export async function peerInit(ctx: SmtpdContext, state: SmtpdState, socket: Socket): Promise<void> {
  const client = bareAddress(socket.remoteAddress);
  if (client.addr === 'unknown') {
    state.namaddr = 'unknown[unknown]';
    return;
  }
  state.addr = client.addr;
  state.rfcAddr = client.v6 ? `IPv6:${client.addr}` : client.addr;
  state.addrFamily = client.v6 ? 10 : 2;
  state.port = String(socket.remotePort ?? 'unknown');
  state.destAddr = bareAddress(socket.localAddress).addr;
  state.destPort = String(socket.localPort ?? 'unknown');
  await lookupName(ctx, state);
  state.namaddr = buildNamaddr(ctx, state.name, state.addr, state.port);
}

/**
 * smtpd_peer_not_inet(): a client on a pipe (stand-alone mode) is taken to
 * be this host, without asking the naming service: localhost at 127.0.0.1
 * (::1 when inet_protocols enables IPv6 only), port 0, no address family.
 */
export function peerNotInet(ctx: SmtpdContext, state: SmtpdState): void {
  const v6 = ctx.families.v6 && !ctx.families.v4;
  state.name = 'localhost';
  state.reverseName = 'localhost';
  state.addr = v6 ? '::1' : '127.0.0.1';
  state.rfcAddr = v6 ? 'IPv6:::1' : '127.0.0.1';
  state.addrFamily = 0;
  state.nameStatus = PEER_CODE_OK;
  state.reverseNameStatus = PEER_CODE_OK;
  state.port = '0';
  state.destAddr = state.addr;
  state.destPort = state.port;
  state.namaddr = buildNamaddr(ctx, state.name, state.addr, state.port);
}

/** SMTPD_BUILD_NAMADDRPORT(). */
export function buildNamaddr(ctx: SmtpdContext, name: string, addr: string, port: string): string {
  return `${name}[${addr}]${ctx.params.clientPortLogging ? `:${port}` : ''}`;
}

/** smtpd_peer_sockaddr_to_hostname(). */
async function lookupName(ctx: SmtpdContext, state: SmtpdState): Promise<void> {
  const unknown = (code: number): void => {
    state.name = 'unknown';
    state.reverseName = 'unknown';
    state.nameStatus = code;
    state.reverseNameStatus = code;
  };
  if (!ctx.params.peernameLookup) return unknown(PEER_CODE_PERM);
  const rev = await ctx.dns.reverse(state.addr);
  if ('error' in rev) return unknown(rev.error === 'temp' ? PEER_CODE_TEMP : PEER_CODE_PERM);
  // sockaddr_to_hostname() refuses numeric and malformed names.
  if (validHostaddr(rev.name) || !validHostname(rev.name)) return unknown(PEER_CODE_PERM);
  state.name = rev.name;
  state.reverseName = rev.name;
  state.nameStatus = PEER_CODE_OK;
  state.reverseNameStatus = PEER_CODE_OK;
  const fwd = await ctx.dns.forward(rev.name, state.addrFamily);
  if ('error' in fwd) {
    ctx.log.warning(`hostname ${rev.name} does not resolve to address ${state.addr}: ${fwd.error === 'temp' ? 'Temporary failure in name resolution' : 'Name or service not known'}`);
    state.name = 'unknown';
    state.nameStatus = fwd.error === 'temp' ? PEER_CODE_TEMP : PEER_CODE_FORGED;
    return;
  }
  const mine = numericAddress(state.addr);
  const same = fwd.addrs.some((a) => {
    const b = numericAddress(bareAddress(a).addr);
    return b && mine && b.length === mine.length && b.every((x, i) => x === mine[i]);
  });
  if (!same) {
    ctx.log.warning(`hostname ${rev.name} does not resolve to address ${state.addr}`);
    state.name = 'unknown';
    state.nameStatus = PEER_CODE_FORGED;
  }
}
