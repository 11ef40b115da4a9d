// Mirrors the newaliases mode of Postfix's sendmail/sendmail.c: rebuild
// every table listed in alias_database (or given with -oA) by running
// postalias on them, whose messages then carry its name, as when sendmail
// execs postalias. Accepts sendmail's options and ignores those that do not
// apply. Reads main.cf; the tables are written by postalias.
import { statSync } from 'node:fs';
import { dirname } from 'node:path';
import { Getopt } from '../util/getopt.js';
import { runMain } from '../util/main.js';
import { msgFatal, setProgName } from '../util/msg.js';
import { readToolConfig } from './table-tool.js';

/** sendmail's option letters (GETOPT_LIST in sendmail.c); those with ':' take an argument. */
const SENDMAIL_OPTS = 'A:B:C:F:GIL:N:O:R:UV:X:b:ce:f:h:imno:p:r:q:tvx';

/** The EX_TEMPFAIL status sendmail's fatal errors end with. */
const EX_TEMPFAIL = 75;

async function newaliasesMain(argv: string[]): Promise<number> {
  let verbose = 0;
  let aliasMaps: string | undefined;
  const g = new Getopt(argv, SENDMAIL_OPTS);
  for (const { opt, arg } of g) {
    switch (opt) {
      case 'C': {
        let dir = arg!;
        try {
          if (!statSync(dir).isDirectory()) dir = dirname(dir);
        } catch {
          dir = dirname(dir);
        }
        process.env.MAIL_CONFIG = dir;
        break;
      }
      case 'o':
        if (arg!.startsWith('A')) aliasMaps = arg!.slice(1);
        break;
      case 'v':
        verbose++;
        break;
      case '?':
        msgFatal('usage: newaliases [options]', EX_TEMPFAIL);
        break;
      default:
        break;
    }
  }
  const cfg = readToolConfig(undefined);
  if (argv.length > g.optind) msgFatal('alias initialization mode requires no recipient', EX_TEMPFAIL);
  const maps = aliasMaps ?? cfg.config.get('alias_database');
  const list = aliasMaps !== undefined ? [aliasMaps] : maps.split(/[, \t\r\n]+/).filter((w: string) => w !== '');
  if (list.length === 0) return 0;
  (globalThis as { __postfixTsNoMain?: boolean }).__postfixTsNoMain = true;
  const { postaliasMain } = await import('./postalias.js');
  setProgName('postalias');
  const args: string[] = [];
  for (let i = 0; i < verbose; i++) args.push('-v');
  args.push('--', ...list);
  return postaliasMain(args);
}

void runMain('newaliases', newaliasesMain);
