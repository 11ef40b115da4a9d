// A configuration that cannot be used (main.cf unreadable, a bad value, a
// default that cannot be computed). Code below the program edge returns or
// throws it, never exits; the edge (util/main.ts for commands, master/ for
// the daemon) words it as Postfix's "fatal: ..." line and exit status.
import { FatalError } from '../util/msg.js';

export class ConfigError extends FatalError {}
