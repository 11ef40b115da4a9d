// The anvil(8) limits of fixture 19-anvil played against a running daemon
// (real Postfix 3.7.11 when recording, this project's master in the test):
// the connection count across processes, the connection, message,
// recipient and new-TLS-session rate limits, their reset after
// anvil_rate_time_unit (2s), and clients in mynetworks that are never
// limited. Returns each part's dialogue and the smtpd warnings it caused,
// so that the recording (expected.json) and the test compare the same
// things. Only ever runs inside a private network namespace.
import * as net from 'node:net';
import * as tls from 'node:tls';

const OUTSIDE = '127.0.1.5';
const INSIDE = '127.0.0.1';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A small SMTP client: whole replies, STARTTLS, wrapper mode. */
export class Client {
  private buf = '';
  private closedFlag = false;
  private wake: (() => void) | null = null;
  private socket: net.Socket | tls.TLSSocket;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    this.attach(socket);
  }

  static open(port: number, localAddress: string, wrapper = false): Promise<Client> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ port, host: '127.0.0.1', localAddress }, () => {
        if (!wrapper) return resolve(new Client(s));
        const t = tls.connect({ socket: s, rejectUnauthorized: false });
        const c = new Client(s);
        c.detach(s);
        c.socket = t;
        c.attach(t);
        t.once('secureConnect', () => resolve(c));
        t.once('error', () => resolve(c));
      });
      s.once('error', reject);
    });
  }

  private onData = (d: Buffer): void => {
    this.buf += d.toString('latin1');
    this.poke();
  };

  private onClose = (): void => {
    this.closedFlag = true;
    this.poke();
  };

  private poke(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  private attach(s: net.Socket): void {
    s.on('data', this.onData);
    s.on('close', this.onClose);
    s.on('error', () => undefined);
  }

  private detach(s: net.Socket): void {
    s.removeListener('data', this.onData);
    s.removeListener('close', this.onClose);
  }

  get closed(): boolean {
    return this.closedFlag && this.buf === '';
  }

  /** One complete reply, '' once the server has closed, or "(no reply)" after 10 seconds. */
  async reply(): Promise<string> {
    const deadline = Date.now() + 10000;
    for (;;) {
      if (Date.now() > deadline) return '(no reply)';
      const m = /^(?:\d{3}-[^\n]*\n)*\d{3}(?: [^\n]*)?\n/.exec(this.buf);
      if (m) {
        this.buf = this.buf.slice(m[0].length);
        return m[0];
      }
      if (this.closedFlag) {
        const rest = this.buf;
        this.buf = '';
        return rest;
      }
      await new Promise<void>((r) => {
        this.wake = r;
        setTimeout(r, 1000);
      });
    }
  }

  /** A reply that arrives within ms, or null (without consuming anything later). */
  async replyWithin(ms: number): Promise<string | null> {
    const deadline = Date.now() + ms;
    while (!this.closedFlag && !/^(?:\d{3}-[^\n]*\n)*\d{3}(?: [^\n]*)?\n/.test(this.buf) && Date.now() < deadline) await sleep(20);
    return this.buf !== '' || this.closedFlag ? this.reply() : null;
  }

  async cmd(line: string): Promise<string> {
    this.socket.write(`${line}\r\n`);
    return this.reply();
  }

  /** The TLS handshake after "220 2.0.0 Ready to start TLS"; false when it failed. */
  upgrade(): Promise<boolean> {
    const plain = this.socket as net.Socket;
    this.detach(plain);
    const t = tls.connect({ socket: plain, rejectUnauthorized: false });
    this.socket = t;
    this.attach(t);
    return new Promise((resolve) => {
      t.once('secureConnect', () => resolve(true));
      t.once('error', () => resolve(false));
    });
  }

  /** Everything until the server closes. */
  async rest(): Promise<string> {
    let out = '';
    for (let r = await this.reply(); r !== ''; r = await this.reply()) out += r;
    return out;
  }

  async quit(): Promise<string> {
    const r = await this.cmd('QUIT');
    this.socket.end();
    return r;
  }

  end(): void {
    this.socket.end();
  }
}

export interface ScenarioResult {
  /** Per part: the dialogue lines ("C: ..." and "S: ...", replies without CRLF). */
  dialogue: Record<string, string[]>;
  /** Per part: the smtpd warnings it caused, without time, host and pid. */
  warnings: Record<string, string[]>;
  /** Process IDs that served the held connections of the count part (from the log). */
  countPids: number[];
}

/** A maillog line without time, host and process ID. */
export function stripLogLine(line: string): string {
  return line.replace(/^[A-Z][a-z]{2} [ 0-9]\d \d\d:\d\d:\d\d \S+ /, '').replace(/^(\S+)\[\d+\]: /, '$1: ');
}

/** Plays every part; log() returns the daemon's maillog so far. */
export async function playAnvilScenario(log: () => string): Promise<ScenarioResult> {
  const dialogue: Record<string, string[]> = {};
  const warnings: Record<string, string[]> = {};
  let countPids: number[] = [];

  const settle = async (part: string, mark: number, disconnects: number): Promise<void> => {
    // The log is written asynchronously: wait for the sessions' disconnect lines.
    const count = () => (log().slice(mark).match(/: disconnect from /g) ?? []).length;
    for (let i = 0; i < 100 && count() < disconnects; i++) await sleep(50);
    await sleep(150);
    warnings[part] = log().slice(mark).split('\n').filter((l) => /\/smtpd\[\d+\]: warning: /.test(l)).map(stripLogLine);
  };

  // anvil counts in whole seconds (time(3)) and starts a client's rates
  // afresh once its window start plus anvil_rate_time_unit (2s, main.cf) lies
  // in the past: with the window started no earlier than the part before,
  // that is certain from the third whole second after that part began.
  const TIME_UNIT_S = 2;
  let partStart = 0;
  const nextWindow = () => sleep(Math.max(0, (Math.floor(partStart / 1000) + TIME_UNIT_S + 1) * 1000 + 150 - Date.now()));

  const part = async (name: string, disconnects: number, body: (say: (s: string) => void) => Promise<void>): Promise<void> => {
    partStart = Date.now();
    const mark = log().length;
    const lines: string[] = [];
    await body((s) => lines.push(...s.replace(/\r\n$/, '').split('\r\n')));
    dialogue[name] = lines;
    await settle(name, mark, disconnects);
  };

  const greet = async (c: Client, say: (s: string) => void) => say(`S: ${await c.reply()}`);
  const cmd = async (c: Client, line: string, say: (s: string) => void) => {
    say(`C: ${line}`);
    say(`S: ${await c.cmd(line)}`);
  };

  // The connection count: three held sessions, then every further one is refused,
  // whichever process it reaches; mynetworks clients still get in.
  await part('count', 11, async (say) => {
    const mark = log().length;
    const held: Client[] = [];
    for (let i = 0; i < 3; i++) {
      const c = await Client.open(11901, OUTSIDE);
      await greet(c, say);
      held.push(c);
    }
    // Wait until the three are logged, to know which processes serve them.
    const connects = () => log().slice(mark).split('\n').filter((l) => l.includes(`connect from unknown[${OUTSIDE}]`) && !l.includes('disconnect'));
    for (let i = 0; i < 100 && connects().length < 3; i++) await sleep(50);
    countPids = [...new Set(connects().map((l) => Number(/\[(\d+)\]: /.exec(l)?.[1])))];
    for (let i = 0; i < 4; i++) {
      const c = await Client.open(11901, OUTSIDE);
      // A session let in (wrongly) must not hang the test.
      const first = await c.reply();
      if (first.startsWith('220')) {
        say(`S: ${first}`);
        say(`S: ${await c.quit()}`);
      } else {
        say(`S: ${first}${await c.rest()}`);
      }
    }
    for (let i = 0; i < 4; i++) {
      const c = await Client.open(11901, INSIDE);
      await greet(c, say);
      say(`S: ${await c.quit()}`);
    }
    for (const c of held) say(`S: ${await c.quit()}`);
  });

  // The connection rate: the third connection within the time unit is refused.
  await part('connection-rate', 7, async (say) => {
    for (let i = 0; i < 3; i++) {
      const c = await Client.open(11902, OUTSIDE);
      const first = await c.reply();
      say(`S: ${first}`);
      if (first.startsWith('220')) say(`S: ${await c.quit()}`);
      else say(`S: ${await c.rest()}`);
    }
    for (let i = 0; i < 4; i++) {
      const c = await Client.open(11902, INSIDE);
      await greet(c, say);
      say(`S: ${await c.quit()}`);
    }
  });
  await nextWindow();
  await part('connection-rate-reset', 1, async (say) => {
    const c = await Client.open(11902, OUTSIDE);
    await greet(c, say);
    say(`S: ${await c.quit()}`);
  });

  // The message rate: MAIL commands, counted before the sender is looked at.
  await part('message-rate', 2, async (say) => {
    const c = await Client.open(11903, OUTSIDE);
    await greet(c, say);
    await cmd(c, 'EHLO client.example', say);
    await cmd(c, 'MAIL FROM:<a@example.com>', say);
    await cmd(c, 'RSET', say);
    await cmd(c, 'MAIL FROM:<<bad>', say);
    await cmd(c, 'MAIL FROM:<a@example.com>', say);
    await cmd(c, 'MAIL FROM:<a@example.com>', say);
    say(`S: ${await c.quit()}`);
    const d = await Client.open(11903, INSIDE);
    await greet(d, say);
    for (let i = 0; i < 4; i++) {
      await cmd(d, 'MAIL FROM:<a@example.com>', say);
      await cmd(d, 'RSET', say);
    }
    say(`S: ${await d.quit()}`);
  });
  await nextWindow();
  await part('message-rate-reset', 1, async (say) => {
    const c = await Client.open(11903, OUTSIDE);
    await greet(c, say);
    await cmd(c, 'MAIL FROM:<a@example.com>', say);
    say(`S: ${await c.quit()}`);
  });

  // The recipient rate: RCPT (accepted or not) and VRFY count.
  await part('recipient-rate', 2, async (say) => {
    const c = await Client.open(11904, OUTSIDE);
    await greet(c, say);
    await cmd(c, 'EHLO client.example', say);
    await cmd(c, 'MAIL FROM:<a@example.com>', say);
    await cmd(c, 'RCPT TO:<postmaster@mx.example.com>', say);
    await cmd(c, 'RCPT TO:<someone@elsewhere.example>', say);
    await cmd(c, 'VRFY postmaster', say);
    await cmd(c, 'RCPT TO:<postmaster@mx.example.com>', say);
    await cmd(c, 'VRFY postmaster', say);
    await cmd(c, 'RSET', say);
    say(`S: ${await c.quit()}`);
    const d = await Client.open(11904, INSIDE);
    await greet(d, say);
    await cmd(d, 'MAIL FROM:<a@example.com>', say);
    for (let i = 0; i < 5; i++) await cmd(d, 'RCPT TO:<postmaster@mx.example.com>', say);
    say(`S: ${await d.quit()}`);
  });
  await nextWindow();
  await part('recipient-rate-reset', 1, async (say) => {
    const c = await Client.open(11904, OUTSIDE);
    await greet(c, say);
    await cmd(c, 'MAIL FROM:<a@example.com>', say);
    await cmd(c, 'RCPT TO:<postmaster@mx.example.com>', say);
    say(`S: ${await c.quit()}`);
  });

  // New TLS sessions after STARTTLS: the second handshake is one too many
  // (421 over TLS), the next STARTTLS is refused before the handshake.
  await part('newtls-rate', 3, async (say) => {
    for (let i = 0; i < 3; i++) {
      const c = await Client.open(11905, OUTSIDE);
      await greet(c, say);
      await cmd(c, 'EHLO client.example', say);
      say('C: STARTTLS');
      const r = await c.cmd('STARTTLS');
      say(`S: ${r}`);
      if (!r.startsWith('220')) {
        say(`S: ${await c.quit()}`);
        continue;
      }
      say(`TLS: ${(await c.upgrade()) ? 'ok' : 'failed'}`);
      // A refused session says 421 as soon as the handshake is over.
      const refused = await c.replyWithin(500);
      if (refused !== null) {
        say(`S: ${refused}`);
        say(`S: ${await c.rest()}`);
        continue;
      }
      await cmd(c, 'EHLO client.example', say);
      say(`S: ${await c.quit()}`);
    }
  });
  await nextWindow();
  await part('newtls-rate-reset', 1, async (say) => {
    const c = await Client.open(11905, OUTSIDE);
    await greet(c, say);
    await cmd(c, 'EHLO client.example', say);
    await cmd(c, 'STARTTLS', say);
    say(`TLS: ${(await c.upgrade()) ? 'ok' : 'failed'}`);
    say(`S: ${await c.quit()}`);
  });

  // Wrapper mode: the refusal after the handshake, then no handshake at all.
  await part('newtls-wrapper', 3, async (say) => {
    for (let i = 0; i < 3; i++) {
      const c = await Client.open(11906, OUTSIDE, true);
      const first = await c.reply();
      say(`S: ${first}`);
      if (first.startsWith('220')) say(`S: ${await c.quit()}`);
      else if (first !== '') say(`S: ${await c.rest()}`);
    }
  });
  return { dialogue, warnings, countPids };
}
