// SASL authentication of smtp(8)/lmtp(8) (Postfix's smtp_sasl_proto.c,
// smtp_sasl_glue.c and xsasl/ with the Cyrus client's choices for the
// two mechanisms this client has, PLAIN and LOGIN): the server's AUTH
// keywords filtered by smtp_sasl_mechanism_filter, credentials from
// smtp_sasl_password_maps (the sender with
// smtp_sender_dependent_authentication, then the server's name, then the
// next-hop destination), the security options that forbid plaintext
// mechanisms, and the exchange with its failure texts. Touches its
// session's socket through the caller's chat functions.
import type { Config } from '../../config/config.js';
import { ConfigError } from '../../config/config.js';
import { Maps } from '../../address/maps.js';

export interface SaslSettings {
  enabled: boolean;
  maps: Maps | null;
  /** Lower-case mechanism names of smtp_sasl_mechanism_filter; empty: no filter. */
  filter: string[];
  senderDependent: boolean;
  /** smtp_sasl_security_options, smtp_sasl_tls_security_options, smtp_sasl_tls_verified_security_options. */
  options: string[];
  tlsOptions: string[];
  tlsVerifiedOptions: string[];
  softBounce: boolean;
}

const words = (text: string): string[] => text.split(/[\s,]+/).filter((w) => w !== '').map((w) => w.toLowerCase());
const KNOWN_OPTIONS = new Set(['noplaintext', 'noactive', 'nodictionary', 'noanonymous', 'mutual_auth']);

/** The SASL settings; the password tables open. Throws ConfigError. */
export async function readSaslSettings(config: Config, p: 'smtp' | 'lmtp'): Promise<SaslSettings> {
  const enabled = config.getBool(`${p}_sasl_auth_enable`);
  const type = config.get(`${p}_sasl_type`);
  if (enabled && type !== 'cyrus') throw new ConfigError(`unsupported SASL client implementation: ${type}`);
  const opts = (name: string): string[] => {
    const list = words(config.get(`${p}_${name}`));
    for (const o of list) if (!KNOWN_OPTIONS.has(o)) throw new ConfigError(`unknown ${p}_${name} value "${o}"`);
    return list;
  };
  const mapsText = config.get(`${p}_sasl_password_maps`);
  const maps = enabled && mapsText.trim() !== '' ? await Maps.create(`${p}_sasl_password_maps`, mapsText, 0) : null;
  return {
    enabled, maps, filter: words(config.get(`${p}_sasl_mechanism_filter`)),
    senderDependent: config.getBool(`${p}_sender_dependent_authentication`),
    options: opts('sasl_security_options'), tlsOptions: opts('sasl_tls_security_options'),
    tlsVerifiedOptions: opts('sasl_tls_verified_security_options'),
    softBounce: config.getBool(`${p}_sasl_auth_soft_bounce`),
  };
}

/** sasl_mech_filter(): the offered mechanisms the filter lets through, space separated, in the server's order. */
export function filterMechanisms(settings: SaslSettings, offered: string): string {
  const list = offered.split(/[\s]+/).filter((w) => w !== '');
  return (settings.filter.length ? list.filter((m) => settings.filter.includes(m.toLowerCase())) : list).join(' ');
}

export type Credentials = { user: string; password: string } | null | { error: string };

/** smtp_sasl_passwd_lookup(): the credentials for this server, null when none, or a table error. */
export async function findCredentials(settings: SaslSettings, sender: string, host: string, dest: string, lmtp: boolean): Promise<Credentials> {
  if (!settings.maps) return null;
  const keys: string[] = [];
  if (!lmtp && settings.senderDependent && sender !== '') {
    keys.push(sender);
    const at = sender.lastIndexOf('@');
    if (at >= 0) keys.push(sender.slice(at));
  }
  keys.push(host, dest);
  for (const key of keys) {
    const r = await settings.maps.find(key);
    if (r.status === 'error') return { error: `${settings.maps.title} lookup error` };
    if (r.status === 'found') {
      const colon = r.value.indexOf(':');
      return colon < 0 ? { user: r.value, password: '' } : { user: r.value.slice(0, colon), password: r.value.slice(colon + 1) };
    }
  }
  return null;
}

/** The mechanism the Cyrus client would pick among those offered, or null when the options forbid all of them. */
export function chooseMechanism(offered: string, options: string[]): string | null {
  const list = offered.toUpperCase().split(' ').filter((w) => w !== '');
  // PLAIN and LOGIN send the password in the clear: "noplaintext" rules them out.
  if (options.includes('noplaintext')) return null;
  if (list.includes('PLAIN')) return 'PLAIN';
  if (list.includes('LOGIN')) return 'LOGIN';
  return null;
}

const b64 = (text: string): string => Buffer.from(text, 'latin1').toString('base64');

/** The first client message of a mechanism (sent with AUTH), or '' when it has none. */
export function initialResponse(mech: string, cred: { user: string; password: string }): string {
  return mech === 'PLAIN' ? b64(`\0${cred.user}\0${cred.password}`) : '';
}

/** The answer to one server challenge (already without its reply code), base64 in and out. */
export function nextResponse(mech: string, challenge: string, cred: { user: string; password: string }): string {
  if (mech !== 'LOGIN') return '';
  const text = Buffer.from(challenge, 'base64').toString('latin1').toLowerCase();
  return b64(text.startsWith('password') ? cred.password : cred.user);
}
