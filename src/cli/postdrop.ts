// The postdrop command (Postfix's postdrop/postdrop.c): reads a submission
// as queue file records on standard input (what sendmail writes), stores it
// in maildrop/ through src/pickup/maildrop.ts, and talks to its caller in
// Postfix's attribute protocol on standard output (attr_print0: the queue
// ID first, then the status and reason). Refuses users that
// authorized_submit_users does not list. Options: -c config_dir, -r
// (accepted for compatibility), -v (only for root).
import { loadConfigOr } from './load-config.js';
import { CONF_ENV_PATH } from '../config/config.js';
import { layoutFromConfig } from '../queue/layout.js';
import { inputFromFd } from '../queue/record.js';
import { writeMaildrop } from '../pickup/maildrop.js';
import { checkUserAclByUid } from '../pickup/user-acl.js';
import { Getopt } from '../util/getopt.js';
import { runMain } from '../util/main.js';
import { msgFatal, setProgName, setVerbose, stderrLog } from '../util/msg.js';

/** attr_print0(): name NUL value NUL, ..., NUL. */
function attrPrint(pairs: Array<[string, string]>): void {
  const parts = pairs.map(([n, v]) => `${n}\0${v}\0`).join('') + '\0';
  process.stdout.write(Buffer.from(parts, 'latin1'));
}

async function postdropMain(argv: string[]): Promise<number> {
  // The process name comes from the user; it is not trusted.
  setProgName('postdrop');
  let verbose = 0;
  for (const { opt, arg } of new Getopt(argv, 'c:rv')) {
    if (opt === 'c') process.env[CONF_ENV_PATH] = arg!;
    else if (opt === 'r') continue;
    else if (opt === 'v') {
      if (process.geteuid?.() === 0) verbose++;
    } else msgFatal('usage: postdrop [-c config_dir] [-v]');
  }
  setVerbose(verbose);
  const config = loadConfigOr(msgFatal);
  const uid = process.getuid?.() ?? 0;
  const refused = await checkUserAclByUid('authorized_submit_users', config.get('authorized_submit_users'), uid);
  if (refused !== null) msgFatal(`User ${refused}(${uid}) is not allowed to submit mail`);
  const layout = layoutFromConfig(config);
  if ('error' in layout) msgFatal(layout.error);
  const lineLimit = config.getInt('line_length_limit');
  const result = await writeMaildrop(
    inputFromFd(0, 'stdin'),
    {
      queueDir: config.get('queue_directory'),
      layout,
      longIds: config.getBool('enable_long_queue_ids'),
      uid,
      lineLimit,
      log: stderrLog,
      pickupService: config.get('pickup_service_name'),
      triggerTimeoutMs: config.getTime('trigger_timeout', 's') * 1000,
    messageSizeLimit: config.getInt('message_size_limit'),
    },
    (id) => attrPrint([['protocol', 'postdrop_protocol'], ['queue_id', id]]),
  );
  if (result.kind === 'fatal') msgFatal(result.text);
  if (result.kind === 'canceled') return 0;
  attrPrint([['status', String(result.status)], ['reason', result.status !== 0 ? result.reason : '']]);
  return result.status;
}

void runMain('postdrop', postdropMain);
