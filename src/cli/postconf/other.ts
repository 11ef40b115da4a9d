// postconf's informational modes (Postfix's postconf/postconf_other.c, and the
// bounce daemon's template listings that postconf -b/-t hands over to):
// -m table types, -l mailbox lock methods, -a/-A SASL plug-in types, -T TLS
// library facts, -b expanded and -t raw bounce templates. Each lists what this
// project really implements, in Postfix's format.
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { Config, ConfigError } from '../../config/config.js';
import { getParam, isRawParam, timeUnit } from '../../config/registry.js';
import { computedDefault, isComputed, type ConfigView } from '../../config/computed.js';
import { macExpand, MAC_EXP_FLAG_RECURSE } from '../../config/expand.js';
import {
  TemplateError,
  defaultTemplates,
  dumpTemplates,
  expandTemplates,
  loadTemplateFile,
  type TemplateEnv,
} from '../../mail/bounce-templates.js';
import { dictTypeNames } from '../../dict/registry.js';
import { errnoText } from '../../util/errno.js';
import { FatalExit, msgFatal, msgWarn } from '../../util/msg.js';
import { parseCompatLevel } from '../../config/expand.js';
import { out } from '../../util/output.js';
import type { PcfContext } from './context.js';

/** Mailbox locking styles of mailbox_delivery_lock on Linux (mbox_lock_names()). */
export const MAILBOX_LOCK_METHODS = ['flock', 'fcntl', 'dotlock'];

/** SASL plug-in types: none yet (Postfix lists cyrus and dovecot when built with them). */
export const SASL_SERVER_TYPES: string[] = [];
export const SASL_CLIENT_TYPES: string[] = [];

/** Public-key algorithms the TLS engine offers certificates for (tls_pkey_algorithms()). */
const PKEY_ALGORITHMS = ['dsa', 'ecdsa', 'rsa'];

/**
 * -m: the lookup table types, one a line, sorted. Postfix reads main.cf
 * first, so a missing one is fatal here too; the directory is ctx's, else
 * -c/MAIL_CONFIG's.
 */
export function showMaps(ctx?: PcfContext): void {
  loadConfig(ctx?.configDir);
  const names = [...dictTypeNames()].sort();
  for (const name of names) out(name + '\n');
}

/** -l: the mailbox lock methods. */
export function showLocks(): void {
  for (const name of MAILBOX_LOCK_METHODS) out(name + '\n');
}

/** -a (server) and -A (client): the SASL plug-in types. */
export function showSasl(which: 'server' | 'client'): void {
  for (const name of which === 'server' ? SASL_SERVER_TYPES : SASL_CLIENT_TYPES) out(name + '\n');
}

/** -T: compile-version, run-version or public-key-algorithms of the OpenSSL in use. */
export function showTls(what: string): void {
  if (what === 'compile-version' || what === 'run-version') {
    out(openSslVersionText() + '\n');
  } else if (what === 'public-key-algorithms') {
    for (const name of PKEY_ALGORITHMS) out(name + '\n');
  } else {
    msgWarn(`unknown 'postconf -T' mode: ${what}`);
    throw new FatalExit(1);
  }
}

/**
 * OpenSSL's own version text ("OpenSSL 3.0.19 27 Jan 2026"). Node reports
 * only the number, so the text is looked up in the library that holds it:
 * a shared libcrypto when node uses one, else the node binary itself.
 */
export function openSslVersionText(): string {
  const version = process.versions.openssl.replace(/\+.*$/, '');
  const needle = Buffer.from(`OpenSSL ${version} `);
  for (const file of [...sharedCryptoLibraries(), process.execPath]) {
    const found = findNulTerminated(file, needle);
    if (found && /^OpenSSL \S+ \d{1,2} \w{3} \d{4}$/.test(found)) return found;
  }
  return `OpenSSL ${version}`;
}

function sharedCryptoLibraries(): string[] {
  try {
    const maps = readFileSync('/proc/self/maps', 'latin1');
    const paths = maps.split('\n').map((l) => l.split(/\s+/)[5] ?? '').filter((p) => /\/libcrypto[^/]*\.so/.test(p));
    return [...new Set(paths)];
  } catch {
    return [];
  }
}

/** The NUL-terminated string in file that starts with needle, read in chunks. */
function findNulTerminated(file: string, needle: Buffer): string | undefined {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return undefined;
  }
  try {
    const chunk = Buffer.alloc(8 << 20);
    let offset = 0;
    let carry = Buffer.alloc(0);
    for (;;) {
      const n = readSync(fd, chunk, 0, chunk.length, offset);
      if (n <= 0) return undefined;
      offset += n;
      const data = Buffer.concat([carry, chunk.subarray(0, n)]);
      const at = data.indexOf(needle);
      if (at >= 0) {
        const end = data.indexOf(0, at);
        if (end >= 0) return data.subarray(at, end).toString('latin1');
      }
      carry = data.subarray(Math.max(0, data.length - 256));
    }
  } finally {
    closeSync(fd);
  }
}

/** main.cf as the daemons see it; a missing or broken one is fatal, as mail_conf_read() makes it. */
function loadConfig(configDir: string | undefined): Config {
  try {
    return Config.load(configDir);
  } catch (e) {
    if (e instanceof ConfigError) return msgFatal(e.message);
    throw e;
  }
}

// Postfix's bounce daemon writes through a 4096-byte stdio buffer, and a fatal
// error loses what the buffer still holds.
const STDOUT_BUFFER = 4096;

/**
 * -b ('expand') and -t ('dump'): what Postfix's bounce daemon prints for
 * `bounce -SVnexpand_templates` or `-SVndump_templates`. The template file is
 * args[0], else bounce_template_file from main.cf; none means the built-ins.
 * Messages carry the daemon's name, "$syslog_name/bounce", as in Postfix.
 */
export function showBounceTemplates(ctx: PcfContext, how: 'expand' | 'dump', args: readonly string[]): void {
  if (args.length > 1) msgFatal('options -b and -t require at most one template file');
  const config = loadConfig(ctx.configDir);
  // postconf reads main.cf the way every Postfix program does before it runs
  // the bounce daemon: a malformed compatibility_level stops it there.
  parseCompatLevel(config.get('compatibility_level'), (text) => msgFatal(text));
  const prefix = `${config.get('syslog_name')}/bounce`;
  const env = templateEnv(config);
  // Postfix's message layer shows control characters (and non-ASCII text,
  // unless SMTPUTF8 is on) as "?".
  const printable = (text: string) => text.replace(/[^\x20-\x7e]/gu, (ch) => (env.smtputf8 && ch >= '\x80' ? ch : '?'.repeat(Buffer.byteLength(ch))));
  const say = (level: string, text: string) => process.stderr.write(`${prefix}: ${level}: ${printable(text)}\n`);
  const warn = (text: string) => say('warning', text);
  const fail = (text: string): never => {
    say('fatal', text);
    throw new FatalExit(1);
  };
  const templates = defaultTemplates();
  const file = args[0] ?? config.get('bounce_template_file');
  try {
    if (file !== '') {
      let data: string;
      try {
        data = readFileSync(file, 'utf8');
      } catch (e) {
        return fail(`open ${file}: ${errnoText(e as NodeJS.ErrnoException)}`);
      }
      loadTemplateFile(data, file, templates, warn);
    }
    if (how === 'dump') {
      out(dumpTemplates(templates, env, warn));
      return;
    }
    let text = '';
    try {
      expandTemplates(templates, env, warn, (t) => (text += t));
    } catch (e) {
      const bytes = Buffer.from(text);
      out(bytes.subarray(0, bytes.length - (bytes.length % STDOUT_BUFFER)).toString());
      throw e;
    }
    out(text);
  } catch (e) {
    if (e instanceof TemplateError || e instanceof ConfigError) fail(e.message);
    throw e;
  }
}

/**
 * The bounce daemon's view of main.cf, for $name in templates. Host-computed
 * defaults (myhostname, mydomain) are worked out from this main.cf, so that
 * mydomain follows a myhostname set there, as in Postfix.
 */
function templateEnv(config: Config): TemplateEnv {
  const view: ConfigView = {
    mainValue: (name) => (config.isSet(name) ? config.get(name) : undefined),
    expandedDefault: (name) => config.expand(getParam(name)?.defaultValue() ?? ''),
  };
  const raw = (name: string): string | undefined =>
    config.isSet(name) || !isComputed(name) ? config.raw(name) : computedDefault(name, view);
  const lookup = (name: string): string | undefined => {
    const value = raw(name);
    if (value === undefined || isRawParam(name)) return value;
    return macExpand(value, raw, MAC_EXP_FLAG_RECURSE, msgWarn).result;
  };
  return {
    lookup,
    seconds: (name) => config.getTime(name, timeUnit(name) ?? 's'),
    smtputf8: (lookup('smtputf8_enable') ?? '').toLowerCase() === 'yes',
    standardFrom: (lookup('header_from_format') ?? '').toLowerCase() !== 'obsolete',
  };
}
