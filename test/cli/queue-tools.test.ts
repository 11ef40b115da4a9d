// Replays the queue-tool fixtures (fixtures/queue-tools/cases.json, recorded
// from Postfix 3.7.11 by tools/record-queue-tools.ts) against this
// project's mailq, postqueue, postsuper and qshape: each case on a fresh
// copy of the recorded queue tree (short or long queue IDs), comparing
// standard output, standard error, exit status and, for commands that
// change the queue, the queue tree afterwards. Listings follow the file
// system's directory order, as Postfix's do, so messages are compared as
// blocks in any order; qshape rows with equal counts come in Perl's hash
// order, so its rows are compared as a set. Needs root (postsuper refuses
// to run otherwise, and postqueue reads a stopped queue only as root).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { makeTempDir, repoRoot } from '../lib/cases.js';
import { runInProcess } from '../lib/inproc.js';
import {
  type QueueCase, anonymousListing, bigQueue, maillogSettings, normalizeLog, outputDigest, replayMainCf, treeListing,
} from '../../tools/record-queue-tools.js';

const root = repoRoot();
const fixtures = path.join(root, 'fixtures/queue-tools');
const recorded = JSON.parse(fs.readFileSync(path.join(fixtures, 'cases.json'), 'utf8')) as { now: number; cases: QueueCase[] };
const isRoot = process.getuid?.() === 0;

interface Result {
  stdout: string;
  stderr: string;
  status: number;
  after?: string;
  log?: string;
}

async function replay(c: QueueCase): Promise<Result> {
  const dir = makeTempDir();
  try {
    fs.mkdirSync(`${dir}/conf`);
    fs.mkdirSync(`${dir}/spool`);
    const tar = spawnSync('tar', ['-C', `${dir}/spool`, '-xpf', path.join(fixtures, `${c.tree}.tar`)]);
    assert.equal(tar.status, 0, tar.stderr.toString());
    fs.writeFileSync(`${dir}/conf/main.cf`, replayMainCf(dir, c.tree === 'long'));
    fs.writeFileSync(`${dir}/conf/master.cf`, '');
    if (c.big) bigQueue(`${dir}/spool`);
    if (c.setup === 'maillog') fs.appendFileSync(`${dir}/conf/main.cf`, maillogSettings(dir));
    if (c.setup === 'fifo') {
      fs.mkdirSync(`${dir}/spool/public`);
      assert.equal(spawnSync('mkfifo', [`${dir}/spool/public/qmgr`, `${dir}/spool/public/pickup`]).status, 0);
    }
    const sub = (s: string) => s.split('@DIR@').join(dir);
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '/usr/bin:/bin', TZ: 'UTC', LANG: 'C', MAIL_CONFIG: `${dir}/conf`, POSTFIX_TS_NOW: String(recorded.now),
    };
    const args = c.args.map(sub);
    const input = c.stdin === undefined ? '' : sub(c.stdin);
    const launcher = path.join(root, 'bin', c.cmd);
    const r = await runInProcess({ bundle: path.join(root, 'dist/bin', `${c.cmd}.cjs`), launcher, args, env, cwd: dir, input });
    let out: { stdout: Buffer; stderr: Buffer; status: number };
    if ('needsProcess' in r) {
      const p = spawnSync(launcher, args, { env, cwd: dir, input, argv0: c.cmd });
      out = { stdout: p.stdout, stderr: p.stderr, status: p.status ?? -1 };
    } else out = r;
    const unsub = (s: string) => s.split(dir).join('@DIR@');
    const result: Result = { stdout: unsub(out.stdout.toString('latin1')), stderr: unsub(out.stderr.toString('latin1')), status: out.status };
    if (c.after !== undefined) {
      const listing = treeListing(`${dir}/spool`);
      result.after = c.anonymous ? anonymousListing(listing) : c.big ? outputDigest('lines', listing) : listing;
    }
    if (c.setup === 'maillog') result.log = normalizeLog(fs.existsSync(`${dir}/maillog`) ? fs.readFileSync(`${dir}/maillog`, 'latin1') : '');
    return result;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** A mailq listing as heading, message blocks (sorted) and trailer. */
function listingShape(text: string): string[] {
  const blocks = text.split('\n\n');
  if (blocks.length < 2) return [text];
  const first = blocks[0]!;
  const nl = first.indexOf('\n');
  const heading = first.slice(0, nl);
  const body = [first.slice(nl + 1), ...blocks.slice(1, -1)].sort();
  return [heading, ...body, blocks[blocks.length - 1]!];
}

function normalized(c: QueueCase, text: string): string[] {
  if (c.big) return [text.startsWith('sha256:') ? text : outputDigest(c.cmd === 'qshape' ? 'table' : c.args.includes('-j') ? 'lines' : 'listing', text)];
  const listing = c.cmd === 'mailq' || (c.cmd === 'postqueue' && c.args.includes('-p'));
  if (listing) return listingShape(text);
  if (c.cmd === 'postqueue' && c.args.includes('-j')) return text.split('\n').sort();
  if (c.cmd === 'qshape') {
    const lines = text.split('\n');
    return [lines[0] ?? '', ...lines.slice(1).sort()];
  }
  return [text];
}

test('queue tools replay Postfix 3.7.11 recordings', { skip: isRoot ? false : 'needs root' }, async (t) => {
  for (const [i, c] of recorded.cases.entries()) {
    await t.test(`${i}: ${c.tree} ${c.cmd} ${c.args.join(' ')}`, async () => {
      const r = await replay(c);
      assert.deepEqual(normalized(c, r.stdout), normalized(c, c.stdout), 'stdout');
      assert.equal(r.stderr, c.stderr, 'stderr');
      assert.equal(r.status, c.status, 'status');
      if (c.after !== undefined) assert.equal(r.after, c.after, 'queue after the run');
      if (c.log !== undefined) assert.equal(r.log, c.log, 'maillog');
    });
  }
});
