// Issue 12, Done-when 3: every command's input parsing under mutated
// input -- main.cf and master.cf (postconf), table sources (postmap for
// hash:, texthash:, regexp:, pcre:, cidr:; postalias for aliases) and
// queue files (postcat). Whatever the bytes, a command prints
// Postfix-format messages only (never a stack trace) and exits with one of
// the statuses Postfix uses for it. Seeded: the same inputs every run.
// FUZZ_COMMANDS (cases per input kind) and FUZZ_SEED override the run;
// FUZZ_KEEP=DIR keeps the inputs that failed there.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { oursBinary, oursInProcess, repoRoot, runCaseAsync, type Case } from '../lib/cases.js';
import { tempDir } from '../lib/tmp.js';
import { Gen } from './smtp-gen.js';

const PER_KIND = Number(process.env.FUZZ_COMMANDS ?? 25);
const SEED = Number(process.env.FUZZ_SEED ?? 12);
const root = repoRoot();
const fixture = (...p: string[]) => fs.readFileSync(path.join(root, 'fixtures', ...p), 'latin1');

interface Kind {
  name: string;
  /** The file the mutated text goes to, and the seed text. */
  file: string;
  seed: string;
  cmd: string;
  args: string[];
  /** Exit statuses Postfix gives this command. */
  statuses: number[];
}

const MAIN_CF = 'myhostname = mx.example.com\nmydomain = example.com\nmynetworks = 127.0.0.0/8, [::1]/128\n'
  + 'smtpd_recipient_restrictions = permit_mynetworks,\n  reject_unauth_destination\nmessage_size_limit = 10240000\n'
  + 'virtual_alias_maps = hash:$config_directory/virtual\nx = ${myhostname?{$mydomain}:foo} $(y) ${z:bar}\n';

const KINDS: Kind[] = [
  { name: 'main.cf', file: 'main.cf', seed: MAIN_CF, cmd: 'postconf', args: ['-c', '@DIR@'], statuses: [0, 1] },
  { name: 'main.cf -n', file: 'main.cf', seed: MAIN_CF, cmd: 'postconf', args: ['-c', '@DIR@', '-n'], statuses: [0, 1] },
  { name: 'master.cf', file: 'master.cf', seed: fixture('postconf-master', '04-edits', 'master.cf'), cmd: 'postconf', args: ['-c', '@DIR@', '-M'], statuses: [0, 1] },
  { name: 'hash source', file: 't', seed: fixture('postmap', 'build', 'access.client'), cmd: 'postmap', args: ['-c', '@DIR@', 'hash:t'], statuses: [0, 1] },
  { name: 'texthash', file: 't', seed: fixture('postmap', 'build', 'access.client'), cmd: 'postmap', args: ['-c', '@DIR@', '-q', 'example.com', 'texthash:t'], statuses: [0, 1] },
  { name: 'regexp', file: 't', seed: fixture('postmap', 'patterns', 'header_checks.regexp'), cmd: 'postmap', args: ['-c', '@DIR@', '-q', 'Subject: hello', 'regexp:t'], statuses: [0, 1] },
  { name: 'pcre', file: 't', seed: fixture('postmap', 'patterns', 'header_checks.pcre'), cmd: 'postmap', args: ['-c', '@DIR@', '-q', 'Subject: hello', 'pcre:t'], statuses: [0, 1] },
  { name: 'cidr', file: 't', seed: fixture('postmap', 'patterns', 'client.cidr'), cmd: 'postmap', args: ['-c', '@DIR@', '-q', '192.168.1.1', 'cidr:t'], statuses: [0, 1] },
  { name: 'aliases', file: 't', seed: fixture('postalias', 'build', 'aliases'), cmd: 'postalias', args: ['-c', '@DIR@', 'hash:t'], statuses: [0, 1] },
  { name: 'queue file', file: 'qf', seed: fixture('postcat', 'errors', 'good.qf'), cmd: 'postcat', args: ['-c', '@DIR@', 'qf'], statuses: [0, 1] },
];

const SPECIAL = ['\0', '\r', '\n', '\t', ' ', '\\', '"', '$', '{', '}', '(', ')', '[', ']', '/', '!', '=', ',', ':', '#', '\xff', '\x80'];

/** One mutation of text: byte flips, inserted specials, deleted or repeated ranges, truncation, a huge line. */
function mutate(g: Gen, text: string): string {
  let t = text;
  const rounds = 1 + g.int(4);
  for (let i = 0; i < rounds; i++) {
    const at = g.int(t.length + 1);
    switch (g.int(7)) {
      case 0:
        t = t.slice(0, at) + g.bytes(1 + g.int(8)) + t.slice(at + 1);
        break;
      case 1:
        t = t.slice(0, at) + g.pick(SPECIAL).repeat(1 + g.int(3)) + t.slice(at);
        break;
      case 2:
        t = t.slice(0, at) + t.slice(at + g.int(200));
        break;
      case 3:
        t = t.slice(0, at) + t.slice(at, at + g.int(300)).repeat(2 + g.int(3)) + t.slice(at);
        break;
      case 4:
        t = t.slice(0, at);
        break;
      case 5:
        t = t.slice(0, at) + g.pick(['x', '{', '/', '1']).repeat(5000 + g.int(20000)) + t.slice(at);
        break;
      default:
        t = t.slice(0, at) + '\n' + g.pick([' continued', '#', '=', 'key', '/(/ x', '10.0.0.0/33 x', 'a:b:c', 'if /x/', 'endif']) + t.slice(at);
    }
  }
  return t;
}

/** Signs that a JavaScript error reached the user. */
const STACK = /^\s+at \S.*\(?[^\s()]+:\d+:\d+\)?$|^(?:\w*Error|node:internal)\b|Uncaught|\[object Object\]/m;

test(`commands parse ${PER_KIND} mutated inputs per kind without a stack trace (seed ${SEED})`, { timeout: 900000 }, async () => {
  const g = new Gen(SEED);
  const binary = oursBinary();
  const inProcess = oursInProcess();
  const problems: string[] = [];
  for (const kind of KINDS) {
    for (let i = 0; i < PER_KIND; i++) {
      const dir = tempDir('fuzz-cmd-');
      if (kind.file !== 'main.cf') fs.writeFileSync(path.join(dir, 'main.cf'), '');
      const input = Buffer.from(mutate(g, kind.seed), 'latin1');
      fs.writeFileSync(path.join(dir, kind.file), input);
      const c: Case = { cmd: kind.cmd, args: kind.args, stdout: '', stderr: '', status: 0 };
      const r = await runCaseAsync(c, { binary, suiteDir: dir, inProcess, timeoutMs: 30000 });
      fs.rmSync(dir, { recursive: true, force: true });
      if (STACK.test(r.stderr) || !kind.statuses.includes(r.status)) {
        if (process.env.FUZZ_KEEP) fs.writeFileSync(path.join(process.env.FUZZ_KEEP, `${kind.name.replace(/\W+/g, '-')}-${i}`), input);
        { const m = STACK.exec(r.stderr); problems.push(`${kind.name} #${i}: status ${r.status}${m ? `, "${m[0].slice(0, 200)}"` : ""}\n${r.stderr.slice(0, 300)}`); }
      }
    }
  }
  assert.deepEqual(problems, [], problems.join('\n\n'));
});
