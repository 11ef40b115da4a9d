// The content checks of smtp(8)/lmtp(8) on the way out (Postfix's
// global/header_body_checks.c as smtp/smtp_proto.c uses it):
// smtp_header_checks, smtp_mime_header_checks, smtp_nested_header_checks
// and smtp_body_checks. Only actions that leave the delivery alone are
// honoured: REPLACE, PREPEND, STRIP and IGNORE change the output, WARN and
// INFO log, DUNNO and OK do nothing; any other action is logged as
// unsupported and the line goes out unchanged. Each action that is logged
// leaves "QID: action: header|body TEXT: comment". Works on byte strings
// (one character per byte); tables see text. Reads tables only.
import type { MailLogger } from '../../log/logger.js';
import { DICT_FLAG_LOCK } from '../../dict/dict.js';
import { Maps, type TableCache } from '../../address/maps.js';
import { isHeader } from '../../mail/header.js';
import { HDR_OPT_MIME, type HeaderOpts } from '../../mail/header-opts.js';
import { MIME_HDR_MULTIPART, MIME_HDR_NESTED, MIME_HDR_PRIMARY } from '../../mail/mime-state.js';
import { toBytes, toText } from '../../util/bytes.js';

/** What a check decided: the line to send (maybe replaced), nothing (IGNORE, STRIP), or a table failure. */
export type CheckResult = { kind: 'line'; text: string } | { kind: 'ignore' } | { kind: 'error' };

/** Where an action's side effects go: its log lines and PREPEND output. */
export interface CheckContext {
  queueId: string;
  log: MailLogger;
  /** Writes one prepended line before the current one. */
  prepend(text: string): void;
}

interface MapInfo {
  title: string;
  maps: Maps;
}

const isSpace = (c: string | undefined): boolean => c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\v' || c === '\f';

/** "%.60s" of a byte string, as text for the log. */
const shown = (bytes: string): string => toText(bytes.length > 60 ? bytes.slice(0, 60) : bytes);

/** The header and body tables of one smtp or lmtp client. */
export class ContentChecks {
  private constructor(
    /** Indexed by MIME_HDR_PRIMARY, _MULTIPART, _NESTED. */
    private readonly headers: Array<MapInfo | undefined>,
    private readonly body: MapInfo | undefined,
  ) {}

  /** Opens the tables named by the PREFIX_*_checks parameters (empty: none). */
  static async create(get: (name: string) => string, prefix: string, cache: TableCache): Promise<ContentChecks> {
    const open = async (name: string): Promise<MapInfo | undefined> => {
      const title = `${prefix}_${name}`;
      const value = get(title);
      return value === '' ? undefined : { title, maps: await Maps.create(title, value, DICT_FLAG_LOCK, cache) };
    };
    const headers: Array<MapInfo | undefined> = [];
    headers[MIME_HDR_PRIMARY] = await open('header_checks');
    headers[MIME_HDR_MULTIPART] = await open('mime_header_checks');
    headers[MIME_HDR_NESTED] = await open('nested_header_checks');
    return new ContentChecks(headers, await open('body_checks'));
  }

  get hasHeaderChecks(): boolean {
    return this.headers.some((m) => m !== undefined);
  }

  get hasBodyChecks(): boolean {
    return this.body !== undefined;
  }

  /** hbc_header_checks(): one complete header (folded lines joined with newlines). */
  async header(ctx: CheckContext, headerClass: number, info: HeaderOpts | null, header: string): Promise<CheckResult> {
    // MIME headers of the primary header block count as MIME headers, as cleanup(8) has it.
    const cls = info && info.flags & HDR_OPT_MIME ? MIME_HDR_MULTIPART : headerClass;
    const mp = this.headers[cls];
    if (!mp) return { kind: 'line', text: header };
    return this.check(ctx, mp, 'header', header);
  }

  /** hbc_body_checks(): one body record. */
  async bodyLine(ctx: CheckContext, line: string): Promise<CheckResult> {
    if (!this.body) return { kind: 'line', text: line };
    return this.check(ctx, this.body, 'body', line);
  }

  private async check(ctx: CheckContext, mp: MapInfo, where: 'header' | 'body', line: string): Promise<CheckResult> {
    const r = await mp.maps.find(toText(line));
    if (r.status === 'error') return { kind: 'error' };
    if (r.status !== 'found') return { kind: 'line', text: line };
    return action(ctx, mp.title, where, toBytes(r.value), line);
  }
}

/** hbc_action(): what one matching entry does. */
function action(ctx: CheckContext, title: string, where: 'header' | 'body', cmd: string, line: string): CheckResult {
  let cmdLen = 0;
  while (cmdLen < cmd.length && cmd[cmdLen] !== ' ' && cmd[cmdLen] !== '\t') cmdLen++;
  let a = cmdLen;
  while (a < cmd.length && isSpace(cmd[a])) a++;
  const verb = cmd.slice(0, cmdLen).toUpperCase();
  const args = cmd.slice(a);
  const logged = (what: string): void => {
    ctx.log.info(args !== '' ? `${ctx.queueId}: ${what}: ${where} ${shown(line)}: ${toText(args)}` : `${ctx.queueId}: ${what}: ${where} ${shown(line)}`);
  };
  const keep: CheckResult = { kind: 'line', text: line };
  switch (verb) {
    case 'WARN':
      logged('warning');
      return keep;
    case 'INFO':
      logged('info');
      return keep;
    case 'REPLACE':
      if (args === '') {
        ctx.log.warning(`REPLACE action without text in ${title} map`);
        return keep;
      }
      if (where === 'header' && !isHeader(args)) {
        ctx.log.warning(`bad REPLACE header text "${toText(args)}" in ${title} map -- need "headername: headervalue"`);
        return keep;
      }
      logged('replace');
      return { kind: 'line', text: args };
    case 'PREPEND':
      if (args === '') ctx.log.warning(`PREPEND action without text in ${title} map`);
      else if (where === 'header' && !isHeader(args)) {
        ctx.log.warning(`bad PREPEND header text "${toText(args)}" in ${title} map -- need "headername: headervalue"`);
      } else {
        logged('prepend');
        ctx.prepend(args);
      }
      return keep;
    case 'STRIP':
      logged('strip');
      return { kind: 'ignore' };
    case 'IGNORE':
      // Not logged, as in cleanup(8).
      return { kind: 'ignore' };
    case 'DUNNO':
    case 'OK':
      return keep;
    default:
      ctx.log.warning(`unsupported command in ${title} map: ${toText(cmd)}`);
      return keep;
  }
}
