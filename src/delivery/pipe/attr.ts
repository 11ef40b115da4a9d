// Mirrors get_service_attr() of Postfix's pipe/pipe.c: the attributes that
// follow "pipe" in a master.cf entry (flags=, user=, directory=, chroot=,
// eol=, null_sender=, size=, argv=...), with Postfix's checks and fatal
// texts: user= is required and may not be root, the mail system owner, or
// a privileged or mail-system group. The uid/gid lookups are the caller's
// (getpwnam and getgrnam). No I/O here.
import {
  MAIL_COPY_BLANK, MAIL_COPY_DELIVERED, MAIL_COPY_DOT, MAIL_COPY_FROM, MAIL_COPY_ORIG_RCPT, MAIL_COPY_QUOTE,
  MAIL_COPY_RETURN_PATH, MAIL_ADDR_MAIL_DAEMON,
} from '../local/mail-copy.js';

/** pipe's own flags, beside the mail_copy() ones. */
export const PIPE_OPT_FOLD_USER = 1 << 16;
export const PIPE_OPT_FOLD_HOST = 1 << 17;
export const PIPE_OPT_QUOTE_LOCAL = 1 << 18;
export const PIPE_OPT_FINAL_DELIVERY = 1 << 19;
export const PIPE_OPT_FOLD_ALL = PIPE_OPT_FOLD_USER | PIPE_OPT_FOLD_HOST;

const FLAG_LETTERS: Record<string, number> = {
  B: MAIL_COPY_BLANK,
  D: MAIL_COPY_DELIVERED,
  F: MAIL_COPY_FROM,
  O: MAIL_COPY_ORIG_RCPT,
  R: MAIL_COPY_RETURN_PATH,
  X: PIPE_OPT_FINAL_DELIVERY,
  '.': MAIL_COPY_DOT,
  '>': MAIL_COPY_QUOTE,
  h: PIPE_OPT_FOLD_HOST,
  q: PIPE_OPT_QUOTE_LOCAL,
  u: PIPE_OPT_FOLD_USER,
};

/** A pipe service's attributes. */
export interface PipeAttr {
  /** The argv= words, the first one without "argv=". */
  command: string[];
  uid: number;
  gid: number;
  /** The user= name (without :group). */
  user: string;
  /** MAIL_COPY_* | PIPE_OPT_*. */
  flags: number;
  /** directory=; undefined: the daemon's working directory (queue_directory). */
  execDir?: string;
  /** chroot= (refused: see parsePipeAttr). */
  chrootDir?: string;
  /** eol=, unescaped (default "\n"). */
  eol: string;
  /** null_sender= (default MAILER-DAEMON). */
  nullSender: string;
  /** size=, bytes; 0: no limit. */
  sizeLimit: number;
}

/** What the checks need to know about the system. */
export interface AttrLookups {
  user(name: string): { uid: number; gid: number } | null;
  group(name: string): number | null;
  /** mail_owner, its uid and gid; setgid_group and its gid. */
  mailOwner: string;
  ownerUid: number;
  ownerGid: number;
  sgidGroup: string;
  sgidGid: number;
}

const ESCAPES: Record<string, string> = { a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v' };

/** unescape(): C escapes, \ooo octal; an unknown escape stands for itself. */
export function unescape(text: string): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (ch !== '\\') {
      out += ch;
      continue;
    }
    if (i + 1 >= text.length) break;
    const next = text[++i]!;
    if (next in ESCAPES) {
      out += ESCAPES[next];
    } else if (/[0-7]/.test(next)) {
      let oct = next;
      while (oct.length < 3 && /[0-7]/.test(text[i + 1] ?? '')) oct += text[++i];
      out += String.fromCharCode(parseInt(oct, 8) & 0xff);
    } else {
      out += next;
    }
  }
  return out;
}

/** off_cvt_string(): decimal digits only; -1 when not a size. */
function offCvt(text: string): number {
  if (!/^[0-9]+$/.test(text)) return -1;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : -1;
}

function has(arg: string, name: string): boolean {
  return arg.slice(0, name.length).toLowerCase() === name;
}

/** Parses the attributes; the error is Postfix's fatal text. */
export function parsePipeAttr(args: readonly string[], lookups: AttrLookups): PipeAttr | { error: string } {
  let user: string | undefined;
  let uid = -1;
  let gid = -1;
  let command: string[] | undefined;
  const attr: Omit<PipeAttr, 'command' | 'uid' | 'gid' | 'user'> = { flags: 0, eol: '\n', nullSender: MAIL_ADDR_MAIL_DAEMON, sizeLimit: 0 };
  for (let i = 0; i < args.length && command === undefined; i++) {
    const arg = args[i]!;
    if (has(arg, 'flags=')) {
      for (const ch of arg.slice(6)) {
        const bit = FLAG_LETTERS[ch];
        if (bit === undefined) return { error: `unknown flag: ${ch} (ignored)` };
        attr.flags |= bit;
      }
    } else if (has(arg, 'user=')) {
      const value = arg.slice(5);
      const colon = value.indexOf(':');
      user = colon < 0 ? value : value.slice(0, colon);
      const group = colon < 0 || colon === value.length - 1 ? undefined : value.slice(colon + 1);
      const pw = lookups.user(user);
      if (pw === null) return { error: `get_service_attr: unknown username: ${user}` };
      uid = pw.uid;
      if (group !== undefined) {
        const g = lookups.group(group);
        if (g === null) return { error: `get_service_attr: unknown group: ${group}` };
        gid = g;
      } else {
        gid = pw.gid;
      }
    } else if (has(arg, 'directory=')) {
      attr.execDir = arg.slice(10);
    } else if (has(arg, 'chroot=')) {
      attr.chrootDir = arg.slice(7);
    } else if (has(arg, 'eol=')) {
      attr.eol = unescape(arg.slice(4));
    } else if (has(arg, 'null_sender=')) {
      attr.nullSender = arg.slice(12);
    } else if (has(arg, 'size=')) {
      const size = arg.slice(5);
      attr.sizeLimit = offCvt(size);
      if (attr.sizeLimit < 0) return { error: `get_service_attr: bad size= value: ${size}` };
    } else if (has(arg, 'argv=')) {
      command = [arg.slice(5), ...args.slice(i + 1)];
    } else {
      return { error: `unknown attribute name: ${arg}` };
    }
  }
  if (user === undefined) return { error: 'missing user= command-line attribute' };
  if (command === undefined) return { error: 'missing argv= command-line attribute' };
  if (uid === 0) return { error: 'user= command-line attribute specifies root privileges' };
  if (uid === lookups.ownerUid) return { error: `user= command-line attribute specifies mail system owner ${lookups.mailOwner}` };
  if (gid === 0) return { error: 'user= command-line attribute specifies privileged group id 0' };
  if (gid === lookups.ownerGid) {
    return { error: `user= command-line attribute specifies mail system owner ${lookups.mailOwner} group id ${gid}` };
  }
  if (gid === lookups.sgidGid) return { error: `user= command-line attribute specifies mail system ${lookups.sgidGroup} group id ${gid}` };
  // Node cannot chroot() a child between fork and exec: refused rather than ignored.
  if (attr.chrootDir !== undefined) return { error: `chroot=${attr.chrootDir}: the chroot= command-line attribute is not supported by this Postfix replacement` };
  return { ...attr, command, uid, gid, user };
}
