// Mirrors check_policy_service() of Postfix's smtpd/smtpd_check.c: the
// session's attributes sent to a policy server, whose "action=" answer is
// then judged like an access table result (check_table_result). When the
// server cannot be reached the policy's default_action is used instead,
// and a default action that itself needs the server falls back to
// Postfix's built-in one.
import type { SmtpdState } from '../state.js';
import type { SmtpdContext } from '../context.js';
import { toBytes, toText, validUtf8Bytes } from '../text.js';
import { checkTableResult } from './access.js';
import { rejectServerError } from './reject.js';

const DEF_POLICY_ACTION = '451 4.3.5 Server configuration problem';

/** The request attributes, in Postfix's order. */
function requestAttrs(state: SmtpdState, context: string): Array<[string, string]> {
  const w = state.where;
  const inData = w.toUpperCase() === 'DATA' || w.toUpperCase() === 'BDAT' || w.toUpperCase() === 'END-OF-MESSAGE';
  const size = state.actSize > 0 ? state.actSize : state.msgSize;
  return [
    ['request', 'smtpd_access_policy'],
    ['protocol_state', w === 'BDAT' ? 'DATA' : w],
    ['protocol_name', state.protocol],
    ['client_address', state.addr],
    ['client_name', state.name],
    ['client_port', state.port],
    ['reverse_client_name', state.reverseName],
    ['server_address', state.destAddr],
    ['server_port', state.destPort],
    ['helo_name', state.heloName ?? ''],
    ['sender', state.sender ?? ''],
    ['recipient', state.recipient ?? ''],
    ['recipient_count', String(inData ? state.rcptCount : 0)],
    ['queue_id', state.queueId ?? ''],
    ['instance', state.instance],
    ['size', String(size)],
    ['etrn_domain', state.etrnName ?? ''],
    ['stress', ''],
    ['sasl_method', state.saslMethod ?? ''],
    ['sasl_username', state.saslUsername ?? ''],
    ['sasl_sender', state.saslSender ?? ''],
    ['ccert_subject', ''],
    ['ccert_issuer', ''],
    ['ccert_fingerprint', ''],
    ['ccert_pubkey_fingerprint', ''],
    ['encryption_protocol', ''],
    ['encryption_cipher', ''],
    ['encryption_keysize', '0'],
    ['policy_context', context],
  ];
}

export async function checkPolicyService(
  ctx: SmtpdContext, state: SmtpdState, server: string, replyName: string, replyClass: string, defAcl: string | null,
): Promise<number> {
  const client = ctx.policyClients.get(server);
  if (!client) rejectServerError(ctx, state);
  const action = await client.request(requestAttrs(state, client.settings.context));
  if (action !== null && (!ctx.params.smtputf8Enable || validUtf8Bytes(action))) {
    return checkTableResult(ctx, state, server, action, 'policy query', replyName, replyClass, defAcl);
  }
  if (action !== null) ctx.log.warning(toText(`malformed UTF-8 in policy server ${server} response: "${action}"`));
  // Counted on the session: other sessions of this process run while this one awaits.
  state.policyNesting++;
  try {
    const def = state.policyNesting === 1 ? client.settings.defaultAction : DEF_POLICY_ACTION;
    return await checkTableResult(ctx, state, server, toBytes(def), 'policy query', replyName, replyClass, defAcl);
  } finally {
    state.policyNesting--;
  }
}
