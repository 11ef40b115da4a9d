// Mirrors Postfix's cleanup/cleanup.c (cleanup_service), cleanup_api.c
// (cleanup_open, cleanup_control, cleanup_flush) and cleanup_final.c: one
// message from open to status. Records arrive through a synchronous
// record() call and are processed strictly in order by one asynchronous
// pump (table lookups are asynchronous); after an error the remaining
// records are read and dropped, as Postfix does. finish() drains the pump,
// writes the final SIZE record, moves a held message to hold/, and resolves
// only once the file is marked complete (mode 0700) and fsynced, or
// removed. Touches only its own queue file.
import type { FsFailure } from '../queue/layout.js';
import { MAIL_QUEUE_HOLD, MAIL_QUEUE_INCOMING } from '../queue/layout.js';
import type { QueueFile } from '../queue/queue-file.js';
import {
  CLEANUP_FLAG_BOUNCE, CLEANUP_FLAG_DISCARD, CLEANUP_FLAG_HOLD, CLEANUP_FLAG_SMTPUTF8, CLEANUP_STAT_BAD,
  CLEANUP_STAT_RCPT, CLEANUP_STAT_SIZE, CLEANUP_STAT_WRITE, type CleanupResult, type CleanupSession,
} from './api.js';
import { cleanupEnvelope, cleanupEnvelopeProcess, sizeRecord } from './envelope.js';
import { cleanupExtracted, cleanupExtractedProcess } from './extracted.js';
import { cleanupMessage, cleanupMessageHeaderBody } from './message.js';
import { noteWriteError, QueueOutput } from './out.js';
import { encodeRecord } from '../queue/record.js';
import { CLEANUP_FLAG_END_SEEN, CleanupState, SMTPUTF8_FLAG_REQUESTED, type CleanupContext } from './state.js';
import { errnoFailureText } from './text.js';
import { removeTrace, syncTrace } from './trace.js';

/** CLEANUP_STAT_MASK_INCOMPLETE: the errors that stop a bouncing client's message. */
const CLEANUP_STAT_MASK_INCOMPLETE = CLEANUP_STAT_BAD | CLEANUP_STAT_WRITE | CLEANUP_STAT_SIZE | (1 << 8);

/** What the service lends a session: the fsync batcher and the queue wakeup. */
export interface SessionHooks {
  commit(file: QueueFile): Promise<FsFailure | null>;
  queued(queue: string, id: string): void;
}

/** Dispatches a record to the routine the state says is next (state->action). */
function dispatch(state: CleanupState, type: string, buf: string): Promise<void> | void {
  switch (state.action) {
    case 'envelope': return cleanupEnvelope(state, type, buf);
    case 'envelope_process': return cleanupEnvelopeProcess(state, type, buf);
    case 'message': return cleanupMessage(state, type, buf);
    case 'headerbody': return cleanupMessageHeaderBody(state, type, buf);
    case 'extracted': return cleanupExtracted(state, type, buf);
    case 'extracted_process': return cleanupExtractedProcess(state, type, buf);
  }
}

export class Session implements CleanupSession {
  private readonly state: CleanupState;
  private readonly queue: Array<[string, string]> = [];
  private head = 0;
  private pump: Promise<void> = Promise.resolve();
  private running = false;
  private ended = false;
  private closed = false;
  private size = 0;

  constructor(ctx: CleanupContext, private readonly file: QueueFile, flags: number, private readonly hooks: SessionHooks) {
    this.state = new CleanupState(ctx, file, new QueueOutput(file, ctx.params.messageLimit));
    // cleanup_control()
    this.state.flags = flags;
    this.state.errMask = flags & CLEANUP_FLAG_BOUNCE ? CLEANUP_STAT_MASK_INCOMPLETE : ~0;
    if (flags & CLEANUP_FLAG_SMTPUTF8) this.state.smtputf8 = SMTPUTF8_FLAG_REQUESTED;
  }

  get queueId(): string {
    return this.file.id;
  }

  get contentSize(): number {
    return this.size;
  }

  record(type: string, data: string | Buffer): void {
    if (this.ended || this.closed) return;
    const buf = typeof data === 'string' ? data : data.toString('latin1');
    if (type === 'N' || type === 'L') this.size += buf.length;
    if (type === 'E') this.ended = true;
    this.queue.push([type, buf]);
    if (!this.running) this.pump = this.run();
  }

  /** Processes queued records in order until none are left. */
  private async run(): Promise<void> {
    const state = this.state;
    this.running = true;
    while (this.head < this.queue.length && !this.closed) {
      const [type, buf] = this.queue[this.head]!;
      this.queue[this.head++] = undefined as unknown as [string, string];
      if (!state.outOk()) continue; // keep reading until the end, dropping records
      try {
        await dispatch(state, type, buf);
      } catch (e) {
        state.ctx.log.warning(`${state.queueId}: cleanup: ${(e as Error).stack ?? String(e)}`);
        state.errs |= CLEANUP_STAT_BAD;
      }
    }
    this.queue.length = 0;
    this.head = 0;
    this.running = false;
  }

  /** Waits until every record received so far has been processed. */
  private async drain(): Promise<void> {
    while (this.running) await this.pump;
  }

  async finish(): Promise<CleanupResult> {
    await this.drain();
    if (this.closed) return { status: CLEANUP_STAT_WRITE, reason: '' };
    this.closed = true;
    const state = this.state;
    const status = await this.flush();
    return { status, reason: state.reason ?? '' };
  }

  async abandon(): Promise<void> {
    await this.drain();
    await this.abort();
  }

  async abort(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.drain();
    removeTrace(this.state);
    this.file.abort();
  }

  /** cleanup_final(): the real SIZE record over the preliminary one, and everything written out. */
  private final(): void {
    const state = this.state;
    const fields = [state.xtraOffset - state.dataOffset, state.dataOffset, state.rcptCount, state.qmgrOpts, state.contLength, state.smtputf8];
    const f = state.out.finish(0, encodeRecord(0x43, sizeRecord(fields)));
    if (f) noteWriteError(state, f);
  }

  /** cleanup_flush(): status checks, the final record, hold, durable commit or removal. */
  private async flush(): Promise<number> {
    const state = this.state;
    if (state.outOk()) {
      if (state.recip === null) state.errs |= CLEANUP_STAT_RCPT;
      if (!(state.flags & CLEANUP_FLAG_END_SEEN)) state.errs |= CLEANUP_STAT_BAD;
    }
    // An access rule's DISCARD always reports success.
    if (state.flags & CLEANUP_FLAG_DISCARD) state.errs = 0;
    if (state.outOk()) this.final();
    // CLEANUP_FLAG_BOUNCE (pickup, local forwarding) would bounce the message here: not yet supported.
    if (state.errs === 0 && !(state.flags & CLEANUP_FLAG_DISCARD)) {
      if (state.flags & CLEANUP_FLAG_HOLD) {
        const m = this.file.moveTo(MAIL_QUEUE_HOLD);
        if (m) {
          state.ctx.log.warning(`${state.queueId}: rename to ${MAIL_QUEUE_HOLD}: ${errnoFailureText(m)}`);
          state.errs |= CLEANUP_STAT_WRITE;
        }
      }
      if (state.errs === 0) {
        if (!(await syncTrace(state))) {
          state.ctx.log.warning(`${state.queueId}: trace logfile update error`);
          state.errs |= CLEANUP_STAT_WRITE;
        }
      }
      if (state.errs === 0) {
        const c = await this.hooks.commit(this.file);
        if (c) state.errs = c.code === 'EFBIG' ? CLEANUP_STAT_SIZE : CLEANUP_STAT_WRITE;
        else if (this.file.queue === MAIL_QUEUE_INCOMING) this.hooks.queued(this.file.queue, this.file.id);
      }
    }
    if (state.errs !== 0 || state.flags & CLEANUP_FLAG_DISCARD) {
      // mail_stream_cleanup(): closing flushes what is buffered, and fails after a write error.
      if (state.out.closeFails()) state.ctx.log.warning('mail_stream_cleanup: close error');
      removeTrace(state);
      this.file.abort();
    }
    return state.errs;
  }
}
