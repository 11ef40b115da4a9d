// A scripted SMTP/LMTP server for the smtp(8)/lmtp(8) client tests and
// fixtures: it listens on a loopback port (or a unix socket), greets, and
// answers each command as the script says -- per command verb, optionally
// per recipient, per session -- recording every line it received and the
// message bytes after DATA. A reply may also be "close" (hang up at that
// point) or "hang" (say nothing: the client's time limit runs out). The
// recorder (tools/record-smtp.ts) and the replay tests use the same peer,
// so a fixture means the same to Postfix and to this project.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import * as tls from 'node:tls';
import { repoRoot } from './cases.js';

/** A reply: text lines (joined with CRLF, each sent as is), or an action. */
export type ScriptReply = string | string[];

export interface PeerScript {
  /** LMTP: one reply per accepted recipient after the final dot. */
  lmtp?: boolean;
  greeting?: ScriptReply;
  ehlo?: ScriptReply;
  helo?: ScriptReply;
  lhlo?: ScriptReply;
  mail?: ScriptReply;
  /** Default reply to RCPT TO. */
  rcpt?: ScriptReply;
  /** Replies to RCPT TO by address (the text between < and >). */
  rcptBy?: Record<string, ScriptReply>;
  data?: ScriptReply;
  /** Reply after the final dot (SMTP), or the default per recipient (LMTP). */
  dot?: ScriptReply;
  /** LMTP: replies after the final dot by recipient address. */
  dotBy?: Record<string, ScriptReply>;
  rset?: ScriptReply;
  quit?: ScriptReply;
  /** Reply to STARTTLS; a 220 starts TLS with the certificate named by `cert`. */
  starttls?: ScriptReply;
  /** The EHLO reply once TLS is on (default: the EHLO reply without STARTTLS). */
  ehloTls?: ScriptReply;
  /** Replies to AUTH and each client line that follows it, in turn (a 334 asks for the next line). */
  auth?: string[];
  /** The certificate of fixtures/smtp/tls/ the peer shows ("server", "other"). */
  cert?: string;
  /** Record the SNI name the client sent, as a "<sni: NAME>" command line after the handshake ("<sni: none>" without one). */
  recordSni?: boolean;
  /** Replies that apply to the Nth connection only (1-based), over the defaults above. */
  sessions?: Record<string, Omit<PeerScript, 'sessions' | 'lmtp'>>;
}

/** What one connection received. */
export interface PeerSession {
  /** Command lines, in order ("<data: N bytes>" stands for the message). */
  commands: string[];
  /** The message bytes of each DATA (latin1, with CRLFs, dot-stuffed as received, without the final dot line). */
  messages: string[];
}

const DEFAULTS: Required<Omit<PeerScript, 'sessions' | 'lmtp' | 'rcptBy' | 'dotBy' | 'auth' | 'recordSni'>> = {
  greeting: '220 peer.example.test ESMTP',
  ehlo: ['250-peer.example.test', '250-PIPELINING', '250-SIZE 10240000', '250-8BITMIME', '250-DSN', '250 SMTPUTF8'],
  helo: '250 peer.example.test',
  lhlo: ['250-peer.example.test', '250-PIPELINING', '250-8BITMIME', '250 ENHANCEDSTATUSCODES'],
  mail: '250 2.1.0 Ok',
  rcpt: '250 2.1.5 Ok',
  data: '354 End data with <CR><LF>.<CR><LF>',
  dot: '250 2.0.0 Ok: queued as PEERQ1',
  rset: '250 2.0.0 Ok',
  quit: '221 2.0.0 Bye',
  starttls: '220 2.0.0 Ready to start TLS',
  ehloTls: [],
  cert: 'server',
};

export class ScriptedPeer {
  readonly sessions: PeerSession[] = [];
  private server: net.Server;
  private sockets = new Set<net.Socket>();
  private waiters: Array<() => void> = [];
  private closedCount = 0;

  private constructor(private readonly script: PeerScript) {
    this.server = net.createServer((s) => this.serve(s));
  }

  /** Starts a peer on 127.0.0.1:port (0: any free port) or on a unix socket path. */
  static async start(script: PeerScript, where: { port?: number; path?: string } = {}): Promise<ScriptedPeer> {
    const peer = new ScriptedPeer(script);
    await new Promise<void>((resolve, reject) => {
      peer.server.once('error', reject);
      if (where.path) {
        fs.rmSync(where.path, { force: true });
        peer.server.listen(where.path, () => resolve());
      } else peer.server.listen(where.port ?? 0, '127.0.0.1', () => resolve());
    });
    return peer;
  }

  get port(): number {
    const a = this.server.address();
    return typeof a === 'object' && a ? a.port : 0;
  }

  /** Resolves once `count` connections have ended. */
  async closedSessions(count: number): Promise<void> {
    while (this.closedCount < count) await new Promise<void>((r) => this.waiters.push(r));
  }

  private reply(n: number, key: keyof typeof DEFAULTS): ScriptReply {
    const per = this.script.sessions?.[String(n)];
    return (per?.[key] as ScriptReply | undefined) ?? (this.script[key] as ScriptReply | undefined) ?? DEFAULTS[key];
  }

  private byAddr(n: number, key: 'rcptBy' | 'dotBy', addr: string): ScriptReply | undefined {
    return this.script.sessions?.[String(n)]?.[key]?.[addr] ?? this.script[key]?.[addr];
  }

  private serve(raw: net.Socket): void {
    let sock: net.Socket = raw;
    let secure = false;
    this.sockets.add(raw);
    const n = this.sessions.length + 1;
    const rec: PeerSession = { commands: [], messages: [] };
    this.sessions.push(rec);
    let buf = Buffer.alloc(0);
    let inData = false;
    let hung = false;
    const accepted: string[] = [];
    let current: string[] = [];
    const send = (r: ScriptReply): boolean => {
      if (r === 'close') {
        sock.destroy();
        return false;
      }
      if (r === 'hang') {
        hung = true;
        return false;
      }
      const lines = Array.isArray(r) ? r : [r];
      sock.write(lines.map((l) => `${l}\r\n`).join(''), 'latin1');
      return true;
    };
    const finish = (): void => {
      this.sockets.delete(sock);
      this.closedCount++;
      for (const w of this.waiters.splice(0)) w();
    };
    raw.on('close', finish);
    raw.on('error', () => undefined);
    let authStep = -1;
    const authReplies = this.script.sessions?.[String(n)]?.auth ?? this.script.auth ?? ['235 2.7.0 Authentication successful'];
    const authReply = (): void => {
      const r = authReplies[authStep] ?? '535 5.7.8 Error: authentication failed';
      authStep = r.startsWith('334') ? authStep + 1 : -1;
      send(r);
    };
    const onLine = (line: string): void => {
      if (hung) {
        rec.commands.push(line);
        return;
      }
      rec.commands.push(line);
      if (authStep >= 0) {
        authReply();
        return;
      }
      const verb = line.split(/[ :]/)[0]!.toUpperCase();
      switch (verb) {
        case 'EHLO': {
          const plain = this.reply(n, 'ehlo');
          const after = this.reply(n, 'ehloTls');
          const lines = Array.isArray(plain) ? plain : [plain];
          const withoutTls = lines.filter((l) => !/^250[- ]STARTTLS$/i.test(l)).map((l, i, all) => (i === all.length - 1 ? l.replace(/^250-/, '250 ') : l));
          send(secure ? (Array.isArray(after) && after.length === 0 ? withoutTls : after) : plain);
          break;
        }
        case 'STARTTLS': {
          const r = this.reply(n, 'starttls');
          if (send(r) && !Array.isArray(r) && r.startsWith('220')) startTls();
          break;
        }
        case 'HELO': send(this.reply(n, 'helo')); break;
        case 'LHLO': send(this.reply(n, 'lhlo')); break;
        case 'MAIL': accepted.length = 0; send(this.reply(n, 'mail')); break;
        case 'RCPT': {
          const addr = /<([^>]*)>/.exec(line)?.[1] ?? '';
          const r = this.byAddr(n, 'rcptBy', addr) ?? this.reply(n, 'rcpt');
          if (typeof r !== 'string' || r.startsWith('2')) accepted.push(addr);
          send(r);
          break;
        }
        case 'DATA': {
          // Like a real server: no accepted recipient, no DATA (unless the script says otherwise).
          const scripted = this.script.sessions?.[String(n)]?.data ?? this.script.data;
          const r = accepted.length === 0 && scripted === undefined ? '554 5.5.1 Error: no valid recipients' : this.reply(n, 'data');
          if (send(r) && (Array.isArray(r) ? r[r.length - 1]! : r).startsWith('354')) {
            inData = true;
            current = [];
          }
          break;
        }
        case 'AUTH': authStep = 0; authReply(); break;
        case 'RSET': accepted.length = 0; send(this.reply(n, 'rset')); break;
        case 'QUIT': if (send(this.reply(n, 'quit'))) sock.end(); break;
        default: send('502 5.5.2 Error: command not recognized');
      }
    };
    const endData = (): void => {
      inData = false;
      const msg = current.join('');
      rec.messages.push(msg);
      rec.commands.push(`<data: ${Buffer.byteLength(msg, 'latin1')} bytes>`);
      if (this.script.lmtp) {
        for (const addr of accepted) if (!send(this.byAddr(n, 'dotBy', addr) ?? this.reply(n, 'dot'))) return;
      } else send(this.reply(n, 'dot'));
    };
    const onData = (chunk: Buffer): void => {
      buf = Buffer.concat([buf, chunk]);
      for (let nl = buf.indexOf(10); nl >= 0; nl = buf.indexOf(10)) {
        const raw = buf.subarray(0, nl + 1).toString('latin1');
        buf = buf.subarray(nl + 1);
        if (inData) {
          if (raw === '.\r\n') endData();
          else current.push(raw);
        } else onLine(raw.replace(/\r?\n$/, ''));
        if (sock.destroyed) return;
      }
    };
    const startTls = (): void => {
      const dir = path.join(repoRoot(), 'fixtures', 'smtp', 'tls');
      const name = String(this.reply(n, 'cert'));
      raw.off('data', onData);
      buf = Buffer.alloc(0);
      secure = true;
      sock = new tls.TLSSocket(raw, {
        isServer: true, key: fs.readFileSync(path.join(dir, `${name}.key`)), cert: fs.readFileSync(path.join(dir, `${name}.pem`)),
      });
      sock.on('data', onData);
      sock.on('error', () => raw.destroy());
      if (this.script.recordSni) {
        (sock as tls.TLSSocket).once('secure', () => {
          const sni = (sock as tls.TLSSocket & { servername?: string | false }).servername;
          rec.commands.push(`<sni: ${sni || 'none'}>`);
        });
      }
    };
    raw.on('data', onData);
    send(this.reply(n, 'greeting'));
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}
