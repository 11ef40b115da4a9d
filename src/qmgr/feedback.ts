// Mirrors Postfix's qmgr/qmgr_feedback.c: a concurrency feedback setting
// ("1/concurrency", "1/8", "0.125", "1/sqrt_concurrency") becomes a base and
// an index; the value at a window is base, base/window or base/sqrt(window).
// Pure computation; a malformed setting is warned about and becomes 1.
import type { MailLogger } from '../log/logger.js';

export type FeedbackIndex = 'none' | 'window' | 'sqrt_window';

export interface Feedback {
  base: number;
  index: FeedbackIndex;
}

const DENOMINATORS: Record<string, FeedbackIndex> = { concurrency: 'window', sqrt_concurrency: 'sqrt_window' };

function parse(text: string): Feedback | null {
  const m = /^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(?:\/\s*(\S{1,30}))?\s*$/.exec(text);
  if (!m) return null;
  const num = Number(m[1]);
  const denom = m[2];
  if (denom === undefined) return { base: num, index: 'none' };
  const index = DENOMINATORS[denom];
  if (index !== undefined) return { base: num, index };
  if (!/^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$/.test(denom)) return null;
  const d = Number(denom);
  if (num < 0 || num > 0x7fffffff || d < 1 / 0x7fffffff || d > 0x7fffffff) return null;
  return { base: num / d, index: 'none' };
}

/** qmgr_feedback_init(); name: the parameter named in the warning. */
export function parseFeedback(text: string, name: string, log: MailLogger): Feedback {
  const fb = parse(text);
  if (fb === null || !(fb.base >= 0 && fb.base <= 1)) {
    log.warning(`${name}: ignoring malformed or unreasonable feedback: ${text}`);
    return { base: 1, index: 'none' };
  }
  return fb;
}

/** QMGR_FEEDBACK_VAL(). */
export function feedbackValue(fb: Feedback, window: number): number {
  if (fb.index === 'none') return fb.base;
  if (fb.index === 'window') return fb.base / window;
  return fb.base / Math.sqrt(window);
}
