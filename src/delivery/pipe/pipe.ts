// Mirrors deliver_message() and eval_command_status() of Postfix's
// pipe/pipe.c: one request of a master.cf pipe service. The request is
// refused as a whole before anything runs when the D or O flag meets more
// than one recipient (deferred, configuration error), when it is larger
// than size=, or when the Delivered-To: headers show a loop (D flag); a
// trace-only request is reported without running anything. Otherwise the
// argv= words are expanded, the message (with the From_, Return-Path:,
// X-Original-To: and Delivered-To: lines the flags ask for, dot escaping,
// ">From " quoting, eol= line ends) goes to the command's standard input,
// and the command's outcome applies to every recipient of the request:
// sent with "delivered via SERVICE service (output)", bounced or deferred
// with the sysexits text or the command's own "D.S.N text". The relay in
// the log lines is the service name. Touches the queue file (read, done
// marks), the status logs, and the command it starts.
import * as fs from 'node:fs';
import type { SplitAddrOptions } from '../../address/split.js';
import { quote822Local } from '../../address/quote.js';
import { type RcptDsn, bounceRecipient, deferRecipient, sentRecipient } from '../../queue/delivery-status.js';
import { FileInput } from '../../queue/record.js';
import { DEL_REQ_TRACE_ONLY_MASK, DEL_STAT_DEFER, DEL_STAT_FINAL, type DeliveryReply, type DeliveryRequest } from '../api.js';
import { type AgentDelivery, type AgentHandler, checkTrivialRequest } from '../agent.js';
import { type CommandStatus, commandEnvironment, commandStatus, runCommand, type RunResult } from '../command-run.js';
import { DeliveredHeaders } from '../local/delivered.js';
import { MAIL_COPY_DELIVERED, MAIL_COPY_ORIG_RCPT, buildMessageCopy, corruptOutcome } from '../local/mail-copy.js';
import { errText } from '../local/outcome.js';
import { PIPE_OPT_FINAL_DELIVERY, PIPE_OPT_FOLD_HOST, PIPE_OPT_QUOTE_LOCAL, type PipeAttr } from './attr.js';
import { expandArgv, foldBytes } from './argv.js';

/** <sysexits.h> EX_TEMPFAIL: how Postfix's processes end after a fatal error in a delivery agent's child. */
const EX_TEMPFAIL = 75;

/** What every request of one pipe service shares. */
export interface PipeService {
  /** The master.cf service name: the relay of the log lines and the TRANSPORT of TRANSPORT_time_limit. */
  service: string;
  attr: PipeAttr;
  /** TRANSPORT_time_limit, seconds. */
  timeLimit: number;
  /** export_environment, with MAIL_CONFIG resolved. */
  exportEnv: string[];
  /** The working directory without directory= (queue_directory, where Postfix's daemons run). */
  queueDir: string;
  /** $config_directory/master.cf, for the unknown-macro warning. */
  masterCf: string;
  /** recipient_delimiter. */
  delimiter: string;
  split: SplitAddrOptions;
  /** smtputf8_enable. */
  utf8: boolean;
}

/** One outcome for every recipient of the request; warning: logged after the recipients. */
interface Verdict {
  kind: 'sent' | 'bounce' | 'defer';
  dsn: RcptDsn;
  warning?: string;
}

const simple = (kind: 'bounce' | 'defer', status: string, reason: string): Verdict => ({ kind, dsn: { status, reason } });
const CONFIG_ERROR = simple('defer', '4.3.5', 'mail system configuration error');

/** Applies the verdict to each recipient, as eval_command_status() does. */
async function report(delivery: AgentDelivery, svc: PipeService, v: Verdict): Promise<DeliveryReply> {
  let status = DEL_STAT_FINAL;
  for (const rcpt of delivery.request.recipients) {
    if (v.kind === 'sent') status |= await sentRecipient(delivery.status, rcpt, svc.service, v.dsn);
    else if (v.dsn.status.startsWith('4')) status |= await deferRecipient(delivery.status, rcpt, svc.service, v.dsn);
    else status |= await bounceRecipient(delivery.status, rcpt, svc.service, v.dsn);
  }
  return { status: status === DEL_STAT_FINAL ? DEL_STAT_FINAL : DEL_STAT_DEFER };
}

/** The macro values that do not depend on the recipient. */
function requestValues(req: DeliveryRequest, svc: PipeService, sender: string): Record<string, string> {
  const { flags } = svc.attr;
  return {
    sender: sender !== '' && flags & PIPE_OPT_QUOTE_LOCAL ? quote822Local(sender) : sender,
    nexthop: flags & PIPE_OPT_FOLD_HOST ? foldBytes(req.nexthop, svc.utf8) : req.nexthop,
    size: String(req.dataSize),
    client_address: req.clientAddr,
    client_helo: req.clientHelo,
    client_hostname: req.clientName,
    client_port: req.clientPort,
    client_protocol: req.clientProto,
    sasl_method: req.saslMethod,
    sasl_username: req.saslUsername,
    sasl_sender: req.saslSender,
    queue_id: req.queueId,
  };
}

/** The checks that refuse a request before the command runs; null when it may run. */
function refusal(delivery: AgentDelivery, svc: PipeService): Verdict | null {
  const { request: req } = delivery;
  const { attr } = svc;
  const many = req.recipients.length > 1;
  for (const [bit, letter] of [[MAIL_COPY_DELIVERED, 'D'], [MAIL_COPY_ORIG_RCPT, 'O']] as const) {
    if (attr.flags & bit && many) {
      return { ...CONFIG_ERROR, warning: `pipe flag \`${letter}' requires ${svc.service}_destination_recipient_limit = 1` };
    }
  }
  if (attr.sizeLimit !== 0 && req.dataSize > attr.sizeLimit) return simple('bounce', '5.2.3', 'message too large');
  if (req.flags & DEL_REQ_TRACE_ONLY_MASK) return { kind: 'sent', dsn: { status: '2.0.0', reason: `delivers to command: ${attr.command[0]}` } };
  if (attr.flags & MAIL_COPY_DELIVERED) {
    const rcpt = req.recipients[0]!;
    const seen = DeliveredHeaders.read(new FileInput(delivery.fh.fd, req.queueId), req.dataOffset);
    if (seen.has(rcpt.address)) return simple('bounce', '5.4.6', `mail forwarding loop for ${rcpt.address}`);
  }
  return null;
}

/**
 * A command that cannot start: Postfix's child logs the fatal error (after a
 * failed execvp() also on the output it shares with the command; a failed
 * chdir() comes before that) and exits with EX_TEMPFAIL.
 */
function startFailure(fatal: string, onOutput: boolean, log: AgentDelivery['log']): RunResult {
  log.fatal(fatal);
  return { output: onOutput ? `pipe: fatal: ${fatal}\n` : '', timedOut: false, code: EX_TEMPFAIL, signal: null, spawnError: null, writeError: null };
}

/** The error of a directory= the command cannot run in, or null. */
function badDirectory(dir: string): NodeJS.ErrnoException | null {
  try {
    return fs.statSync(dir).isDirectory() ? null : Object.assign(new Error('Not a directory'), { code: 'ENOTDIR' });
  } catch (e) {
    return e as NodeJS.ErrnoException;
  }
}

async function runPipe(delivery: AgentDelivery, svc: PipeService, argv: string[], sender: string): Promise<Verdict | 'corrupt'> {
  const { request: req, fh, log } = delivery;
  const { attr } = svc;
  const first = req.recipients[0]!;
  const source = { fd: fh.fd, dataOffset: req.dataOffset, sender, deliveredTo: first.address, origRcpt: first.orcpt, path: `${req.queueName}/${req.queueId}` };
  const copy = buildMessageCopy(source, attr.flags & 0xffff, attr.eol);
  if (!copy.ok && copy.corrupt) {
    corruptOutcome(source, copy.warning, (t) => log.warning(t));
    return 'corrupt';
  }
  if (!copy.ok) {
    return { kind: 'bounce', dsn: { status: '5.3.0', reason: `Command failed: error reading message: ${errText(copy.readError)}: "${argv[0]}"` } };
  }
  const file = argv[0]!;
  const cwd = attr.execDir ?? svc.queueDir;
  const dirError = attr.execDir === undefined ? null : badDirectory(cwd);
  let r: RunResult;
  if (dirError !== null) {
    r = startFailure(`cannot change directory to "${cwd}" for uid=${attr.uid} gid=${attr.gid}: ${errText(dirError)}`, false, log);
  } else {
    r = await runCommand({
      file, args: argv.slice(1), uid: attr.uid, gid: attr.gid, env: commandEnvironment(svc.exportEnv, {}), cwd, input: copy.data, timeLimit: svc.timeLimit,
    });
    if (r.spawnError) r = startFailure(`pipe_command: execvp ${file}: ${errText(r.spawnError)}`, true, log);
  }
  const st: CommandStatus = commandStatus(r, file, svc.utf8, (t) => log.warning(t));
  if (!st.ok) return { kind: st.dsn.startsWith('4') ? 'defer' : 'bounce', dsn: { status: st.dsn, reason: st.reason, dtype: 'x-unix', dtext: st.dtext } };
  if (r.writeError) {
    return { kind: 'bounce', dsn: { status: '5.3.0', reason: `Command failed: error writing message: ${errText(r.writeError)}: "${file}"` } };
  }
  const output = st.output.replace(/[ \t\r\n]+$/, '');
  const said = output === '' ? '' : ` (${output.slice(0, 100)})`;
  const action = attr.flags & PIPE_OPT_FINAL_DELIVERY ? 'delivered' : 'relayed';
  return { kind: 'sent', dsn: { status: '2.0.0', reason: `delivered via ${svc.service} service${said}`, action } };
}

/** The agent handler of one pipe service. */
export function pipeAgent(svc: PipeService): AgentHandler {
  return async (delivery) => {
    const { request: req, log } = delivery;
    const refused = checkTrivialRequest(delivery);
    if (refused !== null) {
      log.warning(`${req.queueId}: ${refused}`);
      return { status: DEL_STAT_DEFER };
    }
    const early = refusal(delivery, svc);
    if (early !== null) {
      const reply = await report(delivery, svc, early);
      if (early.warning !== undefined) log.warning(early.warning);
      return reply;
    }
    const sender = req.sender !== '' ? req.sender : svc.attr.nullSender;
    const argv = expandArgv(svc.attr.command, req.recipients, {
      service: svc.service, masterCf: svc.masterCf, values: requestValues(req, svc, sender), flags: svc.attr.flags,
      delimiter: svc.delimiter, split: svc.split, utf8: svc.utf8, warn: (t) => log.warning(t),
    });
    if (argv === null || argv.length === 0) return report(delivery, svc, CONFIG_ERROR);
    const verdict = await runPipe(delivery, svc, argv, sender);
    if (verdict === 'corrupt') return { status: DEL_STAT_DEFER };
    return report(delivery, svc, verdict);
  };
}
