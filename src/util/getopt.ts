// POSIX getopt(3) as glibc does it with a leading "+" (Postfix's GETOPT on
// Linux): options end at the first operand or at "--", short flags combine
// ("-nf"), an option argument may be attached ("-c/dir") or separate
// ("-c /dir"), and errors are printed with glibc's exact wording. Postfix
// commands act on each option as it is seen (e.g. "specify one of -b and -t"
// on the second of them), so this yields options in order rather than
// returning a parsed object.
import { getProgName } from './msg.js';

export interface GetoptItem {
  /** The option character, or '?' after a reported error. */
  opt: string;
  arg?: string;
}

export class Getopt {
  /** Index of the first operand once iteration is done. */
  optind = 0;

  constructor(private readonly argv: readonly string[], private readonly optstring: string) {}

  *[Symbol.iterator](): Generator<GetoptItem> {
    const argv = this.argv;
    let i = 0;
    while (i < argv.length) {
      const word = argv[i]!;
      if (word === '--') {
        i++;
        break;
      }
      if (word.length < 2 || word[0] !== '-') break;
      i++;
      for (let j = 1; j < word.length; j++) {
        const c = word[j]!;
        const at = c === ':' ? -1 : this.optstring.indexOf(c);
        if (at < 0) {
          process.stderr.write(`${getProgName()}: invalid option -- '${c}'\n`);
          this.optind = i;
          yield { opt: '?' };
          continue;
        }
        if (this.optstring[at + 1] !== ':') {
          yield { opt: c };
          continue;
        }
        let arg: string | undefined;
        if (j + 1 < word.length) arg = word.slice(j + 1);
        else if (i < argv.length) arg = argv[i++];
        if (arg === undefined) {
          process.stderr.write(`${getProgName()}: option requires an argument -- '${c}'\n`);
          this.optind = i;
          yield { opt: '?' };
          break;
        }
        this.optind = i;
        yield { opt: c, arg };
        break;
      }
      this.optind = i;
    }
    this.optind = i;
  }
}
