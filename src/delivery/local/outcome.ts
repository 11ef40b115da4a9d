// The result of one local delivery primitive (a mailbox, a file, a maildir,
// a command), in the shape Postfix's local(8) and virtual(8) hand to
// sent()/bounce_append()/defer_append(): a DSN status and the reason text.
// Also the errno-to-text and errno-to-DSN mappings those reasons use
// (global/mbox_open.c mbox_dsn(), strerror()). No I/O here.
import { errnoText } from '../../util/errno.js';

export type LocalOutcome =
  | { ok: true; reason: string }
  /** corrupt: the queue file's content was bad; Postfix defers the request without logging the recipient. */
  /** dtext: the diagnostic of a failure (Postfix's dsb_unix), shown as "Diagnostic-Code: x-unix; TEXT" in a notice. */
  | { ok: false; soft: boolean; dsn: string; reason: string; corrupt?: boolean; dtext?: string };

export function delivered(reason: string): LocalOutcome {
  return { ok: true, reason };
}

/** A failure whose class follows the DSN's first digit. */
export function failed(dsn: string, reason: string, dtext?: string): LocalOutcome {
  return { ok: false, soft: dsn.startsWith('4'), dsn, reason, ...(dtext !== undefined ? { dtext } : {}) };
}

/** The DSN fields of a failed outcome, for the status calls: x-unix diagnostics when there is one. */
export function outcomeDsn(o: { dsn: string; reason: string; dtext?: string }): { status: string; reason: string; dtype?: string; dtext?: string } {
  return { status: o.dsn, reason: o.reason, ...(o.dtext !== undefined ? { dtype: 'x-unix', dtext: o.dtext } : {}) };
}

/** The errors a delivery can meet that util/errno.ts does not spell out. */
const MORE_TEXT: Record<string, string> = {
  EFBIG: 'File too large',
  EDQUOT: 'Disk quota exceeded',
  ESTALE: 'Stale file handle',
  EWOULDBLOCK: 'Resource temporarily unavailable',
  EMLINK: 'Too many links',
  EPIPE: 'Broken pipe',
  EBADF: 'Bad file descriptor',
  EIO: 'Input/output error',
  EINVAL: 'Invalid argument',
  ETXTBSY: 'Text file busy',
  EFAULT: 'Bad address',
  ENOLCK: 'No locks available',
};

/** strerror(errno) for a Node error or a bare code. */
export function errText(err: NodeJS.ErrnoException | string): string {
  const e: NodeJS.ErrnoException = typeof err === 'string' ? Object.assign(new Error(err), { code: err }) : err;
  return (e.code !== undefined ? MORE_TEXT[e.code] : undefined) ?? errnoText(e);
}

export function errCode(err: unknown): string {
  return (err as NodeJS.ErrnoException | null)?.code ?? 'EIO';
}

/** mbox_dsn(): which DSN an errno gives a mailbox-style failure. */
export function mboxDsn(code: string, defDsn: string): string {
  if (code === 'EAGAIN' || code === 'EWOULDBLOCK' || code === 'ESTALE') return '4.2.0';
  if (code === 'ENOSPC') return '4.3.0';
  if (code === 'EDQUOT' || code === 'EFBIG') return '5.2.2';
  return defDsn;
}

/** An error value with a code, as the primitives pass failures around. */
export function codeError(code: string, message?: string): NodeJS.ErrnoException {
  return Object.assign(new Error(message ?? code), { code });
}
