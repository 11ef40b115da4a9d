// The settings of smtp(8) and lmtp(8) (Postfix's smtp/smtp.c parameter
// tables): one program, two parameter families. Run as "smtp" it reads the
// smtp_* parameters, run as "lmtp" the lmtp_* ones, where a few names
// differ (lmtp_lhlo_name, lmtp_lhlo_timeout, lmtp_discard_lhlo_keywords).
// A feature this client does not have yet is refused with a clear message
// when its parameter is set, never accepted and ignored. Reads the
// configuration only.
import type { Config } from '../../config/config.js';
import { ConfigError } from '../../config/config.js';
import { type TlsSettings, readTlsSettings } from './tls.js';

/** The client's time limits, seconds (0: none). */
export interface SmtpTimeouts {
  connect: number;
  helo: number;
  xforward: number;
  mail: number;
  rcpt: number;
  /** DATA command, message content, end of data. */
  dataInit: number;
  dataXfer: number;
  dataDone: number;
  rset: number;
  quit: number;
  starttls: number;
}

export interface SmtpSettings {
  /** lmtp(8) rather than smtp(8). */
  lmtp: boolean;
  /** The parameter prefix: "smtp" or "lmtp". */
  prefix: 'smtp' | 'lmtp';
  heloName: string;
  myhostname: string;
  /** The default port of a destination (smtp_tcp_port, lmtp_tcp_port). */
  defaultPort: number;
  timeouts: SmtpTimeouts;
  skip5xxGreeting: boolean;
  skipQuitResponse: boolean;
  alwaysEhlo: boolean;
  neverEhlo: boolean;
  /** smtp_line_length_limit: content lines longer than this are folded (0: never). */
  lineLimit: number;
  /** line_length_limit: the longest reply line kept. */
  replyLineLimit: number;
  disableMimeConversion: boolean;
  /** Lower-case EHLO keywords to ignore. */
  discardEhlo: Set<string>;
  mxSessionLimit: number;
  /** smtp_mx_address_limit: servers tried per destination (0: no limit). */
  mxAddressLimit: number;
  cacheOnDemand: boolean;
  /** smtp_connection_cache_destinations as words (exact next-hop names). */
  cacheDestinations: string[];
  /** Idle time of a cached session, seconds. */
  cacheTimeLimit: number;
  reuseTimeLimit: number;
  reuseCountLimit: number;
  sendXforward: boolean;
  quoteRfc821: boolean;
  relayhost: string;
  assumeFinal: boolean;
  bindAddress: string;
  /** smtputf8_enable: UTF-8 in replies is shown as is. */
  smtputf8: boolean;
  /** smtp_fallback_relay / lmtp_fallback_relay (only warned about for unix-domain LMTP). */
  fallbackRelay: string;
  tls: TlsSettings;
  /** minimal_backoff_time, seconds. */
  minBackoff: number;
}

const PORTS: Record<string, number> = { smtp: 25, lmtp: 24, submission: 587, smtps: 465, submissions: 465 };

/** A port given as a number or a well-known service name; null when neither. */
export function portNumber(text: string): number | null {
  if (/^\d+$/.test(text)) {
    const n = Number(text);
    return n > 0 && n < 65536 ? n : null;
  }
  return PORTS[text] ?? null;
}

/** The settings of the client run as `command` ("smtp" or "lmtp"); throws ConfigError. */
export function readSmtpSettings(config: Config, lmtp: boolean): SmtpSettings {
  const p = lmtp ? 'lmtp' : 'smtp';
  const helo = lmtp ? 'lhlo' : 'helo';
  const time = (name: string): number => config.getTime(`${p}_${name}`, 's');
  refuseMissing(config, p);
  const portText = config.get(`${p}_tcp_port`);
  const defaultPort = portNumber(portText);
  if (defaultPort === null) throw new ConfigError(`unknown service: ${portText}/tcp`);
  const words = (name: string): string[] => config.get(name).split(/[\s,]+/).filter((w) => w !== '');
  return {
    lmtp,
    prefix: p,
    heloName: config.get(`${p}_${helo}_name`),
    myhostname: config.get('myhostname'),
    defaultPort,
    timeouts: {
      connect: time('connect_timeout'),
      helo: time(`${helo}_timeout`),
      xforward: time('xforward_timeout'),
      mail: time('mail_timeout'),
      rcpt: time('rcpt_timeout'),
      dataInit: time('data_init_timeout'),
      dataXfer: time('data_xfer_timeout'),
      dataDone: time('data_done_timeout'),
      rset: time('rset_timeout'),
      quit: time('quit_timeout'),
      starttls: time('starttls_timeout'),
    },
    skip5xxGreeting: config.getBool(`${p}_skip_5xx_greeting`),
    skipQuitResponse: config.getBool(`${p}_skip_quit_response`),
    alwaysEhlo: lmtp ? true : config.getBool('smtp_always_send_ehlo'),
    neverEhlo: lmtp ? false : config.getBool('smtp_never_send_ehlo'),
    lineLimit: config.getInt(`${p}_line_length_limit`),
    replyLineLimit: config.getInt('line_length_limit'),
    disableMimeConversion: config.getBool('disable_mime_output_conversion'),
    discardEhlo: new Set(words(`${p}_discard_${lmtp ? 'lhlo' : 'ehlo'}_keywords`).map((w) => w.toLowerCase())),
    mxSessionLimit: config.getInt(`${p}_mx_session_limit`),
    mxAddressLimit: config.getInt(`${p}_mx_address_limit`),
    cacheOnDemand: config.getBool(`${p}_connection_cache_on_demand`),
    cacheDestinations: words(`${p}_connection_cache_destinations`),
    cacheTimeLimit: time('connection_cache_time_limit'),
    reuseTimeLimit: time('connection_reuse_time_limit'),
    reuseCountLimit: config.getInt(`${p}_connection_reuse_count_limit`),
    sendXforward: config.getBool(`${p}_send_xforward_command`),
    quoteRfc821: config.getBool(`${p}_quote_rfc821_envelope`),
    relayhost: config.get('relayhost'),
    assumeFinal: lmtp ? config.getBool('lmtp_assume_final') : false,
    bindAddress: config.get(`${p}_bind_address`),
    smtputf8: config.getBool('smtputf8_enable'),
    fallbackRelay: config.get(`${p}_fallback_relay`),
    tls: readTlsSettings(config, p),
    minBackoff: config.getTime('minimal_backoff_time', 's'),
  };
}

/**
 * Parameters of features this client does not have yet: set to anything
 * but their default, they stop the program with a message that says so.
 */
function refuseMissing(config: Config, p: string): void {
  for (const name of [
    'reply_filter',
    'bind_address6', 'pix_workaround_maps', `discard_${p === 'lmtp' ? 'lhlo' : 'ehlo'}_keyword_address_maps`,
    'dns_reply_filter',
  ]) {
    const value = config.get(`${p}_${name}`);
    if (value.trim() !== '') {
      throw new ConfigError(`${p}_${name} = ${value}: not implemented by this Postfix replacement's ${p.toUpperCase()} client yet`);
    }
  }
  if (config.getBool(`${p}_per_request_deadline`)) {
    throw new ConfigError(`${p}_per_request_deadline = yes: not implemented by this Postfix replacement's ${p.toUpperCase()} client yet`);
  }
}
