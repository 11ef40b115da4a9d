// Mirrors Postfix's global/been_here.c as local(8) uses it: a per-recipient
// memory of what has been done already ("mailbox pfalice", "file 65534
// /out/x"), so that an alias list naming the same destination twice, or a
// .forward that loops back, delivers once. Keys are case-folded
// (BH_FLAG_FOLD); at most duplicate_filter_limit keys are remembered
// (0: no limit), further ones are forgotten as Postfix's are.
import { lowercaseAscii } from '../../dict/utf8.js';

export class DuplicateFilter {
  private readonly seen = new Set<string>();

  constructor(private readonly limit: number) {}

  /** been_here(): true when the key was seen; otherwise remembers it (while there is room) and returns false. */
  check(key: string): boolean {
    const k = lowercaseAscii(key);
    if (this.seen.has(k)) return true;
    if (this.limit <= 0 || this.seen.size < this.limit) this.seen.add(k);
    return false;
  }

  /** been_here_check(): true when the key was seen; remembers nothing. */
  peek(key: string): boolean {
    return this.seen.has(lowercaseAscii(key));
  }
}
