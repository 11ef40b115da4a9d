// Mirrors Postfix's cleanup/cleanup.h and cleanup_state.c: the variables of
// one message in progress (sender, recipients, header flags, offsets, error
// bits) and the per-service context they share (parameters, open tables,
// the logger). Only data and tiny helpers live here.
import type { AddressResolver } from '../address/resolve.js';
import type { CleanupAddressRules } from '../address/canonical.js';
import type { VirtualAliasExpander } from '../address/virtual.js';
import { DuplicateFilter } from '../address/virtual.js';
import type { Maps } from '../address/maps.js';
import type { MailLogger } from '../log/logger.js';
import type { QueueFile } from '../queue/queue-file.js';
import type { QueueLayout } from '../queue/layout.js';
import type { HeaderOptsTable } from '../mail/header-opts.js';
import type { MimeState } from '../mail/mime-state.js';
import type { CleanupParams } from './params.js';
import type { QueueOutput } from './out.js';

/** Status flags of cleanup.h; bits 0-15 are the CLEANUP_FLAG_* of api.ts. */
export const CLEANUP_FLAG_INRCPT = 1 << 16;
export const CLEANUP_FLAG_WARN_SEEN = 1 << 17;
export const CLEANUP_FLAG_END_SEEN = 1 << 18;

export const SMTPUTF8_FLAG_REQUESTED = 1 << 0;
export const SMTPUTF8_FLAG_HEADER = 1 << 1;
export const SMTPUTF8_FLAG_SENDER = 1 << 2;

/** What every session of one service shares. */
export interface CleanupContext {
  params: CleanupParams;
  /** queue_directory and its layout (for the trace log). */
  queueDir: string;
  layout: QueueLayout;
  resolver: AddressResolver;
  log: MailLogger;
  rules: CleanupAddressRules;
  virtual: VirtualAliasExpander;
  headerOpts: HeaderOptsTable;
  headerChecks?: Maps;
  mimeHeaderChecks?: Maps;
  nestedHeaderChecks?: Maps;
  bodyChecks?: Maps;
  senderBcc?: Maps;
  recipientBcc?: Maps;
}

/** Which routine the next record goes to (state->action). */
export type CleanupAction = 'envelope' | 'envelope_process' | 'message' | 'headerbody' | 'extracted' | 'extracted_process';

export class CleanupState {
  action: CleanupAction = 'envelope';
  flags = 0;
  errs = 0;
  /** Errors that stop processing: all, or only the incomplete-file ones when bouncing. */
  errMask = ~0;
  qmgrOpts = 0;
  smtputf8 = 0;
  arrivalSec = 0;
  arrivalUsec = 0;
  fullname: string | null = null;
  sender: string | null = null;
  recip: string | null = null;
  origRcpt: string | null = null;
  dsnOrcpt: string | null = null;
  dsnNotify = 0;
  dsnEnvid: string | null = null;
  dsnRet = 0;
  verpDelims: string | null = null;
  reason: string | null = null;
  filter: string | null = null;
  redirect: string | null = null;
  /** header/body_checks BCC addresses, added at the end of the extracted segment. */
  hbcRcpt: string[] | null = null;
  /** The named attributes seen (nvtable): name to value. */
  readonly attr = new Map<string, string>();
  /** 'local', 'remote', or null when headers are not rewritten. */
  hdrRewriteContext: 'local' | 'remote' | null = 'local';
  headersSeen = 0;
  hopCount = 0;
  /** "Resent-" once a Resent- header was seen, else "". */
  resent = '';
  rcptCount = 0;
  dataOffset = -1;
  xtraOffset = -1;
  contLength = 0;
  mime: MimeState | null = null;
  mimeErrs = 0;
  /** A trace log (trace/QUEUEID) was written for this message. */
  traceWritten = false;
  readonly dups: DuplicateFilter;

  constructor(
    readonly ctx: CleanupContext,
    readonly file: QueueFile,
    readonly out: QueueOutput,
  ) {
    this.dups = new DuplicateFilter(ctx.params.dupFilterLimit, ctx.params.smtputf8Enable);
  }

  get queueId(): string {
    return this.file.id;
  }

  /** CLEANUP_OUT_OK(): no error that stops output, and not being discarded. */
  outOk(): boolean {
    return (this.errs & this.errMask) === 0 && (this.flags & 8 /* CLEANUP_FLAG_DISCARD */) === 0;
  }
}
