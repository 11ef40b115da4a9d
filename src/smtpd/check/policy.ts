// Mirrors the client side of Postfix's policy delegation protocol
// (smtpd_check.c check_policy_service over util/attr_clnt.c,
// auto_clnt.c and attr_print_plain.c/attr_scan_plain.c): "name=value"
// lines and an empty line go to a unix: or inet: socket, an "action=..."
// reply comes back. The connection is kept for max_idle/max_ttl and
// re-established on trouble, try_limit times. Requests from concurrent
// sessions take turns on the one connection, as each Postfix smtpd process
// has its own. Per-service overrides use the "{ server, name=value }" form.
import net from 'node:net';
import { isAbsolute, join } from 'node:path';
import type { MailLogger } from '../../log/logger.js';
import { extractGroup, tokenizeQuoted, CHARS_COMMA_SP } from '../../util/tokens.js';
import type { PolicySettings } from '../params.js';

/** A time override such as "timeout=10s": seconds, or null when malformed. */
function parseTime(text: string): number | null {
  const m = /^([0-9]+)([smhdw]?)$/.exec(text);
  if (!m) return null;
  const mult = { '': 1, s: 1, m: 60, h: 3600, d: 86400, w: 604800 }[m[2] as ''] ?? 1;
  return Number(m[1]) * mult;
}

/** Applies "{ server, name=value, ... }" overrides; returns the server name. */
function applyOverrides(spec: string, base: PolicySettings, log: MailLogger): { server: string; settings: PolicySettings } {
  if (spec[0] !== '{') return { server: spec, settings: { ...base } };
  const group = extractGroup(spec, true);
  const words = tokenizeQuoted(group.text, CHARS_COMMA_SP);
  const settings = { ...base };
  const server = words.shift() ?? '';
  for (const w of words) {
    const eq = w.indexOf('=');
    const name = eq < 0 ? w : w.slice(0, eq);
    const value = eq < 0 ? '' : w.slice(eq + 1);
    const time = (): number => parseTime(value) ?? 0;
    switch (name) {
      case 'timeout': settings.timeoutSec = time(); break;
      case 'max_idle': settings.maxIdleSec = time(); break;
      case 'max_ttl': settings.maxTtlSec = time(); break;
      case 'retry_delay': settings.retryDelaySec = time(); break;
      case 'request_limit': settings.requestLimit = Number(value); break;
      case 'try_limit': settings.tryLimit = Number(value); break;
      case 'default_action': settings.defaultAction = value; break;
      case 'policy_context': settings.context = value; break;
      default: log.warning(`unknown smtpd_policy_service attribute "${name}"`);
    }
  }
  return { server, settings };
}

/** strerror() texts for the connect errors a policy client meets. */
const ERRNO_TEXT: Record<string, string> = {
  ENOENT: 'No such file or directory',
  ECONNREFUSED: 'Connection refused',
  EACCES: 'Permission denied',
  ETIMEDOUT: 'Connection timed out',
  ENETUNREACH: 'Network is unreachable',
  EHOSTUNREACH: 'No route to host',
};

type Endpoint = { path: string } | { host: string; port: number };

function endpointOf(server: string, queueDir: string): Endpoint | null {
  const colon = server.indexOf(':');
  if (colon < 0) return null;
  const type = server.slice(0, colon);
  const name = server.slice(colon + 1);
  if (type === 'unix') return { path: isAbsolute(name) ? name : join(queueDir, name) };
  if (type === 'inet') {
    const c = name.lastIndexOf(':');
    if (c < 0) return null;
    let host = name.slice(0, c);
    if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
    return { host: host || 'localhost', port: Number(name.slice(c + 1)) };
  }
  return null;
}

/** One policy server endpoint with its settings. */
export class PolicyClient {
  private sock: net.Socket | null = null;
  private buffered = '';
  private openedAt = 0;
  private idleTimer: NodeJS.Timeout | null = null;
  private requests = 0;
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    readonly server: string,
    readonly settings: PolicySettings,
    private readonly queueDir: string,
    private readonly log: MailLogger,
  ) {}

  static create(spec: string, params: PolicySettings, log: MailLogger, queueDir = ''): PolicyClient {
    const { server, settings } = applyOverrides(spec, params, log);
    return new PolicyClient(server, settings, queueDir, log);
  }

  /** attr_clnt_request(): the action text, or null when the server could not be reached or answered badly. */
  request(attrs: Array<[string, string]>): Promise<string | null> {
    const run = this.queue.then(() => this.tryRequest(attrs));
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** auto_clnt_name(): the endpoint without its transport prefix. */
  private get endpointName(): string {
    const colon = this.server.indexOf(':');
    return colon < 0 ? this.server : this.server.slice(colon + 1);
  }

  private async tryRequest(attrs: Array<[string, string]>): Promise<string | null> {
    for (let count = 1; ; count++) {
      const r = await this.once(attrs);
      if (r.ok) {
        if (this.settings.requestLimit > 0 && ++this.requests >= this.settings.requestLimit) this.disconnect();
        return r.action;
      }
      const last = count >= this.settings.tryLimit && this.settings.tryLimit > 0;
      // Postfix stays quiet about the expected errors until the last try.
      if (last || (r.code !== '' && r.code !== 'EPIPE' && r.code !== 'ENOENT' && r.code !== 'ECONNRESET')) {
        this.log.warning(`problem talking to server ${this.endpointName}: ${r.why}`);
      }
      if (last) {
        this.disconnect();
        return null;
      }
      await new Promise((res) => setTimeout(res, this.settings.retryDelaySec * 1000));
      this.disconnect();
    }
  }

  private disconnect(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    this.sock?.destroy();
    this.sock = null;
    this.buffered = '';
    this.requests = 0;
  }

  private async connect(): Promise<net.Socket> {
    const now = Date.now();
    if (this.sock && !this.sock.destroyed && now - this.openedAt < this.settings.maxTtlSec * 1000) return this.sock;
    this.disconnect();
    const ep = endpointOf(this.server, this.queueDir);
    if (!ep) throw new Error(`unsupported transport type: ${this.server}`);
    const sock = await new Promise<net.Socket>((resolve, reject) => {
      const s = 'path' in ep ? net.connect(ep.path) : net.connect(ep.port, ep.host);
      s.once('connect', () => resolve(s));
      s.once('error', reject);
    });
    sock.on('error', () => this.disconnect());
    sock.on('close', () => {
      if (this.sock === sock) this.sock = null;
    });
    this.sock = sock;
    this.openedAt = now;
    this.buffered = '';
    return sock;
  }

  private async once(attrs: Array<[string, string]>): Promise<{ ok: true; action: string } | { ok: false; why: string; code: string }> {
    let sock: net.Socket;
    try {
      sock = await this.connect();
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      const why = ERRNO_TEXT[err.code ?? ''] ?? err.message;
      this.log.warning(`connect to ${this.endpointName}: ${why}`);
      return { ok: false, why, code: err.code ?? '' };
    }
    if (this.idleTimer) clearTimeout(this.idleTimer);
    const text = attrs.map(([k, v]) => `${k}=${v}\n`).join('') + '\n';
    sock.write(Buffer.from(text, 'latin1'));
    const reply = await this.readReply(sock);
    if (reply === null) return { ok: false, why: 'Connection reset by peer', code: 'ECONNRESET' };
    this.idleTimer = setTimeout(() => this.disconnect(), this.settings.maxIdleSec * 1000);
    this.idleTimer.unref();
    const action = reply.find(([k]) => k === 'action');
    if (!action) {
      this.log.warning(`missing attribute action in input from ${this.endpointName}`);
      // errno is 0 here: Postfix's %m then reads "Application error".
      return { ok: false, why: 'Application error', code: '' };
    }
    return { ok: true, action: action[1] };
  }

  /** attr_scan_plain(): name=value lines up to an empty line; null on end of input or timeout. */
  private readReply(sock: net.Socket): Promise<Array<[string, string]> | null> {
    return new Promise((resolve) => {
      const done = (v: Array<[string, string]> | null): void => {
        clearTimeout(timer);
        sock.off('data', onData);
        sock.off('close', onClose);
        resolve(v);
      };
      const tryParse = (): boolean => {
        const end = this.buffered.indexOf('\n\n');
        const start = this.buffered.startsWith('\n') ? 0 : -1;
        const stop = start === 0 ? 0 : end;
        if (stop < 0) return false;
        const block = this.buffered.slice(0, stop);
        this.buffered = this.buffered.slice(stop + (start === 0 ? 1 : 2));
        const out: Array<[string, string]> = [];
        for (const line of block.split('\n')) {
          if (line === '') continue;
          const eq = line.indexOf('=');
          out.push(eq < 0 ? [line, ''] : [line.slice(0, eq), line.slice(eq + 1)]);
        }
        done(out);
        return true;
      };
      const onData = (d: Buffer): void => {
        this.buffered += d.toString('latin1');
        tryParse();
      };
      const onClose = (): void => done(null);
      const timer = setTimeout(() => {
        this.disconnect();
        done(null);
      }, this.settings.timeoutSec * 1000);
      sock.on('data', onData);
      sock.on('close', onClose);
      if (!tryParse() && sock.destroyed) done(null);
    });
  }

  close(): void {
    this.disconnect();
  }
}
