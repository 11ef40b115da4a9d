// The message content of smtp(8)/lmtp(8) when it is rewritten on the way
// out (Postfix's smtp/smtp_proto.c: smtp_header_rewrite, smtp_header_out,
// smtp_body_rewrite and the mime_state set-up of smtp_loop). The records
// go through the MIME parser (src/mail/mime-state.ts): with 8bit to 7bit
// conversion it parses MIME and converts; with only generic maps it keeps
// to the primary header block; headers then meet the header checks and
// have the addresses of sender and recipient headers rewritten by the
// generic maps, body lines meet the body checks. Output goes into the
// TextOut of ./content.ts (dot-stuffing and line folding as for any
// content). Byte strings throughout; logs through the request's logger.
import type { MailLogger } from '../../log/logger.js';
import { TOK822_ADDR, tok822Grep, tok822Parse } from '../../address/tok822.js';
import { tok822Externalize, TOK822_STR_HEAD } from '../../address/tok822-format.js';
import { HDR_OPT_RECIP, HDR_OPT_SENDER, type HeaderOpts, type HeaderOptsTable } from '../../mail/header-opts.js';
import {
  MIME_HDR_PRIMARY, MIME_OPT_DISABLE_MIME, MIME_OPT_DOWNGRADE, MIME_OPT_REPORT_NESTING, MimeState,
} from '../../mail/mime-state.js';
import { toBytes, toText } from '../../util/bytes.js';
import { ContentDataError, type ContentFilter, type TextOut } from './content.js';
import { GenericLookupError, type GenericMaps } from './generic.js';
import type { CheckContext, ContentChecks } from './hbc.js';

/** What the output rewriting of one client needs. */
export interface ContentRules {
  generic: GenericMaps | undefined;
  checks: ContentChecks;
  headerOpts: HeaderOptsTable;
  /** header_size_limit, mime_boundary_length_limit, mime_nesting_limit. */
  limits: { headerLimit: number; boundLimit: number; maxDepth: number };
}

const isSpaceTab = (c: string | undefined): boolean => c === ' ' || c === '\t';

/** Whether the content goes through the MIME parser at all. */
export function needsFilter(rules: ContentRules, downgrading: boolean): boolean {
  return downgrading || rules.generic !== undefined || rules.checks.hasHeaderChecks || rules.checks.hasBodyChecks;
}

/** The filter of one message, writing into `out`. */
export function contentFilter(rules: ContentRules, downgrading: boolean, queueId: string, log: MailLogger, out: TextOut): ContentFilter {
  const checks = rules.checks;
  const anyChecks = checks.hasHeaderChecks || checks.hasBodyChecks;
  const ctx: CheckContext = { queueId, log, prepend: (text) => out.text('N', text) };
  const rewriteHeaders = rules.generic !== undefined || checks.hasHeaderChecks;
  const flags = downgrading ? MIME_OPT_DOWNGRADE | MIME_OPT_REPORT_NESTING : anyChecks ? 0 : MIME_OPT_DISABLE_MIME;
  const mime = new MimeState(flags, rules.headerOpts, rules.limits, {
    headOut: async (cls, info, header) => {
      if (rewriteHeaders) await headerRewrite(rules, ctx, out, cls, info, header);
      else headerOut(out, header);
    },
    headEnd: async () => undefined,
    bodyOut: async (type, text) => {
      if (!checks.hasBodyChecks) {
        out.text(type, text);
        return;
      }
      const r = await checks.bodyLine(ctx, text);
      if (r.kind === 'error') {
        log.warning(`${queueId}: smtp body checks lookup error`);
        throw new ContentDataError();
      }
      if (r.kind === 'line') out.text(type, r.text);
    },
    error: () => undefined,
  });
  return { update: (type, text) => mime.update(type, text) };
}

/** smtp_header_out(): a header as it is, one output line per line of it. */
function headerOut(out: TextOut, header: string): void {
  for (const line of header.split('\n')) out.text('N', line);
}

/** smtp_header_rewrite(): header checks, then generic maps on the primary sender and recipient headers. */
async function headerRewrite(
  rules: ContentRules, ctx: CheckContext, out: TextOut, headerClass: number, info: HeaderOpts | null, headerIn: string,
): Promise<void> {
  let header = headerIn;
  if (rules.checks.hasHeaderChecks) {
    const r = await rules.checks.header(ctx, headerClass, info, header);
    if (r.kind === 'ignore') return;
    if (r.kind === 'error') {
      ctx.log.warning(`${ctx.queueId}: smtp header checks lookup error`);
      throw new ContentDataError();
    }
    header = r.text;
  }
  let rewritten = false;
  // The header's name is the one the parser saw, even after a REPLACE, as in Postfix.
  if (rules.generic && info && headerClass === MIME_HDR_PRIMARY && info.flags & (HDR_OPT_SENDER | HDR_OPT_RECIP)) {
    const tree = tok822Parse(toText(header.slice(info.name.length + 1)));
    for (const node of tok822Grep(tree, TOK822_ADDR)) {
      try {
        if (await rules.generic.tree(node)) rewritten = true;
      } catch (e) {
        if (!(e instanceof GenericLookupError)) throw e;
        ctx.log.warning(e.message);
        throw new ContentDataError();
      }
    }
    if (rewritten) {
      header = `${header.slice(0, info.name.length)}: ${toBytes(tok822Externalize(tree, TOK822_STR_HEAD, (t) => ctx.log.warning(t)))}`;
    }
  }
  if (!rewritten) {
    headerOut(out, header);
    return;
  }
  // One address per line: join lines while they fit in 70 columns, then indent the continuation lines.
  const lines = header.split('\n');
  const joined: string[] = [];
  let current = lines[0]!;
  for (const line of lines.slice(1)) {
    if (current.length + 1 + line.length < 70) current += ` ${line}`;
    else {
      joined.push(current);
      current = line;
    }
  }
  joined.push(current);
  joined.forEach((line, i) => out.text('N', i === 0 || isSpaceTab(line[0]) ? line : `\t${line}`));
}
