// The leaves of local(8)'s delivery graph that write somewhere (Postfix's
// local/file.c, command.c and maildir.c around their primitives): the
// checks that precede a delivery (duplicates, allow_mail_to_files, the
// default_privs fallback for root), the command environment, and the
// outcome logged through the status library. The writing itself is done
// by ./mailbox-file.ts, ./maildir.ts and ./command.ts.
import { MAC_PARSE_ERROR } from '../../config/expand.js';
import { DEL_REQ_TRACE_ONLY_MASK } from '../api.js';
import { DELIVER_HDR_CMD, DELIVER_HDR_FILE, type DeliverAttr, type UserAttr, deeper } from './attr.js';
import type { LocalRequest, Status } from './request.js';
import { localExpand } from './expand.js';
import { outcomeDsn, type LocalOutcome } from './outcome.js';
import {
  MAIL_COPY_DELIVERED, MAIL_COPY_FROM, MAIL_COPY_MBOX, MAIL_COPY_ORIG_RCPT, MAIL_COPY_RETURN, MAIL_COPY_TOFILE,
} from './mail-copy.js';
import { deliverMboxFile } from './mailbox-file.js';
import { deliverMaildir } from './maildir.js';
import { deliverCommand } from './command.js';

/** An outcome logged: sent, or (viaOwner: through bounce_workaround) deferred or bounced by its DSN class. */
export function reportOutcome(lr: LocalRequest, attr: DeliverAttr, outcome: LocalOutcome, viaOwner: boolean): Promise<Status> {
  if (outcome.ok) return lr.sent(attr, { status: '2.0.0', reason: outcome.reason });
  // A bad queue file: the request is deferred, the recipient not logged.
  if (outcome.corrupt) return Promise.resolve(1);
  const dsn = outcomeDsn(outcome);
  return viaOwner ? lr.bounceWorkaround(attr, dsn) : lr.fail(attr, dsn);
}

/** A file or command never runs as root: default_privs stands in. */
function unprivileged(lr: LocalRequest, usr: UserAttr): UserAttr {
  return { ...usr, uid: usr.uid === 0 ? lr.env.defaultUid : usr.uid, gid: usr.gid === 0 ? lr.env.defaultGid : usr.gid };
}

function runAs(usr: UserAttr, attr: DeliverAttr) {
  return { uid: usr.uid, gid: usr.gid, name: usr.logname ?? attr.user, home: usr.home, shell: usr.shell };
}

/** deliver_maildir. */
export async function deliverMaildirLeaf(lr: LocalRequest, attr0: DeliverAttr, usr: UserAttr, path: string, kind: 'mailbox' | 'file'): Promise<Status> {
  const attr = deeper(attr0);
  if (lr.req.flags & DEL_REQ_TRACE_ONLY_MASK) return lr.sent(attr, { status: '2.0.0', reason: 'delivers to maildir' });
  if (!lr.settings.frozenDeliveredTo) attr.delivered = attr.rcpt.address;
  let copyFlags = MAIL_COPY_TOFILE | MAIL_COPY_RETURN | MAIL_COPY_ORIG_RCPT;
  if (lr.settings.deliverHdrMask & DELIVER_HDR_FILE) copyFlags |= MAIL_COPY_DELIVERED;
  const outcome = await deliverMaildir(path, runAs(usr, attr), {
    source: lr.copySource(attr), copyFlags, sizeLimit: lr.settings.mailboxSizeLimit, kind, warn: lr.warn,
  });
  return reportOutcome(lr, attr, outcome, kind === 'file');
}

/** deliver_file: "/path" (or "/path/" for a Maildir) from an alias, .forward or :include:. */
export async function deliverFile(lr: LocalRequest, attr0: DeliverAttr, usr0: UserAttr, path: string): Promise<Status> {
  const attr = deeper(attr0);
  if (lr.dup.check(`file ${usr0.uid} ${path}`)) return 0;
  if ((lr.settings.fileDeliverMask & attr.expType) === 0) {
    return lr.bounceWorkaround(attr, { status: '5.7.1', reason: 'mail to file is restricted' });
  }
  if (lr.req.flags & DEL_REQ_TRACE_ONLY_MASK) return lr.sent(attr, { status: '2.0.0', reason: `delivers to file: ${path}` });
  const usr = unprivileged(lr, usr0);
  if (path.endsWith('/')) return deliverMaildirLeaf(lr, attr, usr, path, 'file');
  let copyFlags = MAIL_COPY_MBOX;
  if ((lr.settings.deliverHdrMask & DELIVER_HDR_FILE) === 0) copyFlags &= ~MAIL_COPY_DELIVERED;
  const outcome = await deliverMboxFile(path, runAs(usr, attr), {
    source: lr.copySource(attr), copyFlags, locks: lr.settings.mailboxLocks, sizeLimit: lr.settings.mailboxSizeLimit, kind: 'file',
    strictOwner: lr.settings.strictMailboxOwnership, timing: lr.settings.lockTiming, warn: lr.warn,
  });
  return reportOutcome(lr, attr, outcome, true);
}

/** The delivery's variables for a command (local/command.c), passed through command_expansion_filter. */
export function deliveryVariables(lr: LocalRequest, attr: DeliverAttr, usr: UserAttr): Record<string, string> {
  const req = lr.req;
  const vars: Array<[string, string | undefined]> = [
    ['HOME', usr.home],
    ['LOGNAME', attr.user],
    ['USER', attr.user],
    ['SENDER', attr.sender],
    ['RECIPIENT', attr.rcpt.address],
    ['LOCAL', attr.local],
    ['SHELL', usr.shell],
    ['DOMAIN', attr.domain === '' ? undefined : attr.domain],
    ['EXTENSION', attr.extension ?? undefined],
    ['ORIGINAL_RECIPIENT', attr.rcpt.orcpt === '' ? undefined : attr.rcpt.orcpt],
    ['CLIENT_HOSTNAME', req.clientName || undefined],
    ['CLIENT_ADDRESS', req.clientAddr || undefined],
    ['CLIENT_HELO', req.clientHelo || undefined],
    ['CLIENT_PROTOCOL', req.clientProto || undefined],
    ['SASL_METHOD', req.saslMethod || undefined],
    ['SASL_SENDER', req.saslSender || undefined],
    ['SASL_USERNAME', req.saslUsername || undefined],
  ];
  const filter = lr.settings.commandExpansionFilter;
  const env: Record<string, string> = {};
  for (const [name, value] of vars) {
    if (value === undefined) continue;
    let clean = '';
    for (const ch of value) clean += filter.includes(ch) ? ch : '_';
    env[name] = clean;
  }
  return env;
}

/** deliver_command: "|command" from an expansion, or mailbox_command(_maps). */
export async function deliverCommandLeaf(lr: LocalRequest, attr0: DeliverAttr, usr0: UserAttr, command: string): Promise<Status> {
  const attr = deeper(attr0);
  const s = lr.settings;
  if (lr.dup.check(`command ${attr.user}:${usr0.uid} ${command}`)) return 0;
  if (lr.req.flags & DEL_REQ_TRACE_ONLY_MASK) return lr.sent(attr, { status: '2.0.0', reason: `delivers to command: ${command}` });
  const usr = unprivileged(lr, usr0);
  let copyFlags = MAIL_COPY_FROM | MAIL_COPY_RETURN | MAIL_COPY_ORIG_RCPT;
  if (s.deliverHdrMask & DELIVER_HDR_CMD) copyFlags |= MAIL_COPY_DELIVERED;
  const env = deliveryVariables(lr, attr, usr);
  const dir = localExpand(s.execDirectory, attr, usr, s.recipientDelimiter, s.execExpansionFilter, (t) => lr.log.warning(t));
  if (dir.status & MAC_PARSE_ERROR) {
    lr.log.warning(`bad parameter value syntax for command_execution_directory: ${s.execDirectory}`);
    return lr.bounceWorkaround(attr, { status: '4.3.5', reason: 'mail system configuration error' });
  }
  const outcome = await deliverCommand(command, runAs(usr, attr), {
    source: lr.copySource(attr), copyFlags, env, cwd: dir.result !== '' ? dir.result : lr.env.queueDir,
    shell: s.commandShell, timeLimit: s.commandTimeLimit, orcptForReason: attr.rcpt.orcpt, exportEnv: lr.env.exportEnv,
    utf8: s.utf8, warn: lr.warn,
  });
  if (outcome.ok) return lr.sent(attr, { status: '2.0.0', reason: `delivered to command: ${command}` });
  if (outcome.corrupt) return 1;
  return lr.bounceWorkaround(attr, outcomeDsn(outcome));
}
