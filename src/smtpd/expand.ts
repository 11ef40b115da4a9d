// Mirrors Postfix's smtpd/smtpd_expand.c: the $name macros that reply
// templates (default_rbl_reply, smtpd_reject_footer) may use, limited to
// client and envelope information so that replies reveal nothing of the
// configuration; values are filtered through smtpd_expansion_filter.
import type { SmtpdState } from './state.js';
import type { SmtpdContext } from './context.js';
import { toText } from './text.js';

/** smtpd_expand_addr(): sender, sender_name, sender_domain (likewise recipient). */
function expandAddr(addr: string | null, suffix: string): string | undefined {
  if (addr === null) return '';
  const at = addr.lastIndexOf('@');
  if (suffix === '') return addr !== '' ? addr : '<>';
  if (suffix === '_name') return addr === '' ? '<>' : at >= 0 ? addr.slice(0, at) : addr;
  if (suffix === '_domain') return addr === '' || at < 0 ? '' : addr.slice(at + 1);
  return undefined;
}

/** Characters outside smtpd_expansion_filter become underscores (mac_expand's filter). */
function filter(ctx: SmtpdContext, value: string): string {
  const allowed = ctx.expansionFilter;
  let out = '';
  for (const ch of value) out += allowed.has(ch) ? ch : '_';
  return out;
}

/** smtpd_expand_lookup(): the value of a macro, or undefined (with a warning) for an unknown name. */
export function expandLookup(ctx: SmtpdContext, state: SmtpdState, name: string): string | undefined {
  let v: string | undefined;
  if (name === 'server_name') v = ctx.params.myhostname;
  else if (name === 'client') v = state.namaddr;
  else if (name === 'client_port') v = state.port;
  else if (name === 'client_address') v = state.addr;
  else if (name === 'client_name') v = state.name;
  else if (name === 'reverse_client_name') v = state.reverseName;
  else if (name === 'helo_name') v = state.heloName ?? '';
  else if (name.startsWith('sender')) v = expandAddr(state.sender, name.slice(6));
  else if (name.startsWith('recipient')) v = expandAddr(state.recipient, name.slice(9));
  else if (name === 'localtime') v = localtime();
  if (v === undefined) {
    ctx.log.warning(`unknown macro name "${name}" in expansion request`);
    return undefined;
  }
  return filter(ctx, toText(v));
}

/** strftime("%b %d %H:%M:%S") in local time. */
function localtime(): string {
  const d = new Date();
  const mon = d.toLocaleString('en-US', { month: 'short' });
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${mon} ${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}
