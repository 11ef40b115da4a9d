// Mirrors Postfix's local/local_expand.c: $name expansion of forward_path,
// luser_relay, mailbox_command's directory (command_execution_directory)
// with the delivery's attributes ($user, $home, $shell, $domain, $local,
// $mailbox, $recipient, $extension, $recipient_delimiter). Characters of a
// substituted value outside the filter become '_'. Reports whether
// $extension was used, which decides whether an unmatched extension is
// still propagated. Pure.
import { macExpand, MAC_EXP_MODE_USE } from '../../config/expand.js';
import type { DeliverAttr, UserAttr } from './attr.js';

/** Set in the status when $extension (or ${extension...}) was expanded. */
export const LOCAL_EXP_EXTENSION_MATCHED = 1 << 8;

export interface LocalExpansion {
  result: string;
  /** MAC_PARSE_ERROR, MAC_PARSE_UNDEF and LOCAL_EXP_EXTENSION_MATCHED bits. */
  status: number;
}

function filtered(value: string, filter: string | undefined): string {
  if (filter === undefined) return value;
  let out = '';
  for (const ch of value) out += filter.includes(ch) ? ch : '_';
  return out;
}

export function localExpand(pattern: string, attr: DeliverAttr, usr: UserAttr, recipientDelimiter: string,
  filter?: string, warn: (text: string) => void = () => undefined): LocalExpansion {
  let status = 0;
  const lookup = (name: string, mode: number): string | undefined => {
    switch (name) {
      case 'user': return attr.user;
      case 'home': return usr.home;
      case 'shell': return usr.shell;
      case 'domain': return attr.domain === '' ? undefined : attr.domain;
      case 'local':
      case 'mailbox': return attr.local;
      case 'recipient': return attr.rcpt.address;
      case 'extension':
        if (mode === MAC_EXP_MODE_USE) status |= LOCAL_EXP_EXTENSION_MATCHED;
        return attr.extension ?? undefined;
      case 'recipient_delimiter': {
        const d = attr.local[attr.user.length] ?? recipientDelimiter[0];
        return d === undefined || d === '' ? undefined : d;
      }
      default: return undefined;
    }
  };
  const r = macExpand(pattern, (name, mode) => {
    const v = lookup(name, mode);
    return v === undefined ? undefined : filtered(v, filter);
  }, 0, warn);
  return { result: r.result, status: r.status | status };
}
