// Mirrors Postfix's util/dict_tcp.c: tcp:host:port, the simple line
// protocol of tcp_table(5). The client sends "get KEY\n" and reads one reply
// line "NNN text": 2xx found (text is the value), 4xx temporary failure,
// 5xx not found. Both directions %XX-encode '%', whitespace and
// non-printable bytes. The connection opens on the first lookup and stays
// open; a failed exchange is retried up to 10 times, a second apart.
import type { MsgLog } from '../util/msg.js';
import {
  type Dict, type DictOpener, type LookupResult, NOT_FOUND, found, lookupError, surrogateDict,
  O_RDONLY, DICT_FLAG_PATTERN, DICT_FLAG_NO_UNAUTH, DICT_FLAG_FOLD_MUL, STDERR_DICT_ENV,
} from './dict.js';
import { asciiLower, fromBytes, toBytes } from './pattern-common.js';
import { StreamClient } from './socketmap.js';

const MAX_TRY = 10;
const TIMEOUT_MS = 100_000;
const MAX_LEN = 4096;
let retryDelayMs = 1000;

/** Tests shorten the pause between attempts; Postfix waits one second. */
export function setRetryDelay(ms: number): void {
  retryDelayMs = ms;
}

/** hex_quote(): %XX for '%', whitespace and anything not printable ASCII. */
export function hexQuote(bytes: string): string {
  let out = '';
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes.charCodeAt(i);
    const printable = c > 0x20 && c < 0x7f && c !== 0x25;
    out += printable ? bytes[i] : '%' + c.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

/** hex_unquote(): null when a '%' is not followed by two hex digits. */
export function hexUnquote(text: string): string | null {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    if (text[i] !== '%') {
      out += text[i];
      continue;
    }
    const hex = text.slice(i + 1, i + 3);
    if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return null;
    out += String.fromCharCode(parseInt(hex, 16));
    i += 2;
  }
  return out;
}

/** printable(text, '_') as the warnings show server replies. */
function printable(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, '_');
}

class TcpDict implements Dict {
  readonly type = 'tcp';
  private client: StreamClient | null = null;
  constructor(readonly name: string, public flags: number, private readonly log: MsgLog) {}

  private disconnect(): void {
    this.client?.close();
    this.client = null;
  }

  /** One request/reply exchange, retried as dict_tcp_lookup() does; null after the last failure. */
  private async exchange(key: string): Promise<string | null> {
    for (let tries = 0; ; ) {
      if (!this.client || this.client.closed) {
        this.client = null;
        try {
          this.client = await StreamClient.connect('inet', this.name, TIMEOUT_MS);
        } catch (e) {
          this.log.warning(`connect to TCP map ${this.name}: ${(e as Error).message}`);
        }
      }
      if (this.client) {
        this.client.write(Buffer.from(`get ${hexQuote(key)}\n`, 'latin1'));
        try {
          const r = await this.client.readLine(MAX_LEN);
          if (!r.eof && !r.bounded) return r.line.toString('latin1');
          if (r.eof) this.log.warning(`read TCP map reply from ${this.name}: unexpected EOF (Success)`);
          else this.log.warning(`read TCP map reply from ${this.name}: text longer than ${MAX_LEN}`);
        } catch {
          this.log.warning(`read TCP map reply from ${this.name}: unexpected EOF (Connection timed out)`);
        }
        this.disconnect();
      }
      if (++tries >= MAX_TRY) return null;
      await new Promise((resolve) => setTimeout(resolve, retryDelayMs));
    }
  }

  async lookup(key: string): Promise<LookupResult> {
    const k = toBytes(this.flags & DICT_FLAG_FOLD_MUL ? asciiLower(key) : key);
    const reply = await this.exchange(k);
    if (reply === null) return lookupError('retry');
    const value = /^[0-9]{3}[ \t\n\r\v\f]/.test(reply) ? hexUnquote(reply.slice(4)) : null;
    if (value === null) {
      this.log.warning(`read TCP map reply from ${this.name}: malformed reply: ${printable(reply).slice(0, 100)}`);
      this.disconnect();
      return lookupError('retry');
    }
    switch (reply[0]) {
      case '2':
        return found(fromBytes(value));
      case '5':
        return NOT_FOUND;
      case '4':
        this.disconnect();
        return lookupError('retry');
      default:
        this.log.warning(`read TCP map reply from ${this.name}: bad status code: ${printable(reply).slice(0, 100)}`);
        this.disconnect();
        return lookupError('retry');
    }
  }

  close(): void {
    this.disconnect();
  }
}

export const open: DictOpener = (name, openFlags, dictFlags, env = STDERR_DICT_ENV) => {
  if (dictFlags & DICT_FLAG_NO_UNAUTH) {
    return surrogateDict('tcp', name, dictFlags, `tcp:${name} map is not allowed for security sensitive data`);
  }
  if (openFlags !== O_RDONLY) return surrogateDict('tcp', name, dictFlags, `tcp:${name} map requires O_RDONLY access mode`);
  return new TcpDict(name, dictFlags | DICT_FLAG_PATTERN, env.log);
};
