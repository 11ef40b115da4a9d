// Mirrors Postfix's global/user_acl.c: may this uid submit mail
// (authorized_submit_users), flush the queue (authorized_flush_users) or
// list it (authorized_mailq_users)? A "static:" list admits everyone
// without a lookup; otherwise the user's login name ("unknown" for a uid
// without a passwd entry) is matched as a string list. Opens the tables the
// list names; writes nothing.
import { MatchList, MATCH_FLAG_NONE } from '../address/match-list.js';
import type { MsgLog } from '../util/msg.js';
import { getpwuid } from './passwd.js';

/** null when the user is allowed; else the name that was refused. Throws ConfigError on a bad list or a failed table. */
export async function checkUserAclByUid(pname: string, acl: string, uid: number, log?: MsgLog, passwd?: string): Promise<string | null> {
  if (acl.startsWith('static:')) return null;
  const name = getpwuid(uid, passwd)?.name ?? 'unknown';
  const list = await MatchList.stringList(pname, MATCH_FLAG_NONE, acl, log ? { log } : {});
  return (await list.match(name)) === 'match' ? null : name;
}
