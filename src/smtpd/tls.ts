// Mirrors the TLS parts of Postfix's smtpd/smtpd.c (pre_jail_init's
// smtpd_tls_security_level handling, smtpd_start_tls(), tls_reset()) over
// node:tls: whether STARTTLS is offered or required, the server's
// certificate, and turning a session's plaintext socket into TLS, either
// after STARTTLS or at once in wrapper mode (smtps). Certificate checks of
// clients (smtpd_tls_ask_ccert and friends) are not implemented.
import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import type { MailLogger } from '../log/logger.js';
import type { SmtpdParams } from './params.js';

export interface TlsPolicy {
  /** STARTTLS is offered (smtpd_use_tls, or a level of may or encrypt). */
  useTls: boolean;
  /** Mail is refused before STARTTLS (encrypt, smtpd_enforce_tls, or wrapper mode). */
  enforceTls: boolean;
  wrappermode: boolean;
  authOnly: boolean;
  /** The server's key and certificate; null when they could not be loaded (STARTTLS then gets 454). */
  context: tls.SecureContext | null;
  /** A configuration error that stops the service (an unknown level). */
  fatal: string | null;
}

const LEVELS = new Set(['none', 'may', 'encrypt', 'dane', 'dane-only', 'fingerprint', 'verify', 'secure']);

/** Reads one PEM file, or null. */
function readPem(path: string): Buffer | null {
  try {
    return readFileSync(path);
  } catch {
    return null;
  }
}

/** The server's TLS context from smtpd_tls_chain_files or smtpd_tls_cert_file/smtpd_tls_key_file. */
function loadContext(p: SmtpdParams['tls'], log: MailLogger): tls.SecureContext | null {
  const chain = p.chainFiles.split(/[\s,]+/).filter((f) => f !== '');
  const files = chain.length ? chain : p.certFile !== '' && p.certFile.toLowerCase() !== 'none' ? [p.certFile] : [];
  if (files.length === 0) {
    log.warning("No server certs available. TLS won't be enabled");
    return null;
  }
  const certs = files.map(readPem);
  const key = chain.length ? certs.find((c) => c && /PRIVATE KEY/.test(c.toString('latin1'))) ?? null : readPem(p.keyFile || p.certFile);
  if (certs.some((c) => c === null) || key === null) {
    log.warning(`cannot load certificate and key from ${files.join(', ')}`);
    log.warning('TLS library problem: error loading the server certificate');
    return null;
  }
  try {
    return tls.createSecureContext({ cert: Buffer.concat(certs as Buffer[]), key });
  } catch (e) {
    log.warning(`cannot load certificate and key: ${(e as Error).message}`);
    return null;
  }
}

/** pre_jail_init(): the TLS settings of a service. */
export function tlsPolicy(p: SmtpdParams['tls'], log: MailLogger): TlsPolicy {
  let useTls = p.useTls;
  let enforceTls = p.enforceTls;
  let fatal: string | null = null;
  if (!p.wrappermode && p.securityLevel !== '') {
    const level = p.securityLevel.toLowerCase();
    if (!LEVELS.has(level)) {
      fatal = `Invalid TLS level "${p.securityLevel}"`;
    } else if (level === 'may') {
      enforceTls = false;
      useTls = true;
    } else if (level === 'none') {
      enforceTls = useTls = false;
    } else {
      if (level !== 'encrypt') log.warning(`smtpd_tls_security_level: unsupported TLS level "${p.securityLevel}", using "encrypt"`);
      enforceTls = useTls = true;
    }
  }
  enforceTls = p.wrappermode || enforceTls;
  const authOnly = p.authOnly || enforceTls;
  useTls = useTls || enforceTls;
  return { useTls, enforceTls, wrappermode: p.wrappermode, authOnly, context: useTls ? loadContext(p, log) : null, fatal };
}
