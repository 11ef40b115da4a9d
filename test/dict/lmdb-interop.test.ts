// lmdb: tables are interchangeable with Postfix 3.7's in both directions: a
// table built by this project's postmap/postalias is read by Postfix's, and
// one built by Postfix's is read, updated and deleted from by ours. The
// reference is always Postfix reading its own table. Skipped when Postfix's
// programs are not installed.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { oursBinary, realBinary } from '../lib/cases.js';

const ours = oursBinary();
const skip = fs.existsSync(realBinary('postmap')) && fs.existsSync(realBinary('postalias'))
  ? false
  : 'Postfix is not installed (/usr/sbin/postmap, /usr/sbin/postalias): lmdb interoperability not checked';

type Bin = (cmd: string) => string;

interface Run {
  stdout: string;
  stderr: string;
  status: number | null;
}

let dir = '';

/** Run a program in a table's own directory, so that messages name the same file on both sides. */
function run(bin: Bin, cmd: string, args: string[], input = ''): Run {
  const table = args[args.length - 1]!;
  const r = spawnSync(bin(cmd), ['-c', dir, ...args.slice(0, -1), table.replace(/^(\w+:).*\//, '$1')], {
    cwd: path.join(dir, path.dirname(table.replace(/^\w+:/, ''))),
    input,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', TZ: 'UTC', LANG: 'C' },
    maxBuffer: 64 * 1024 * 1024,
  });
  return { stdout: r.stdout?.toString('latin1') ?? '', stderr: (r.stderr?.toString('latin1') ?? '') + (r.error ? String(r.error) : ''), status: r.status };
}

function sorted(text: string): string {
  return text.split('\n').filter(Boolean).sort().join('\n');
}

/** A fresh copy of a source file in its own directory: "sub/from". */
function source(sub: string, from: string): string {
  fs.mkdirSync(path.join(dir, sub));
  fs.copyFileSync(path.join(dir, from), path.join(dir, sub, from));
  return `${sub}/${from}`;
}

function build(bin: Bin, cmd: string, table: string, flags: string[] = []): void {
  const r = run(bin, cmd, [...flags, table]);
  assert.equal(r.status, 0, `${bin === ours ? 'our' : "Postfix's"} ${cmd} ${[...flags, table].join(' ')} failed: ${r.stderr}`);
}

const VIRTUAL = [
  '# lmdb interoperability source',
  'postmaster@example.net   postmaster@example.com',
  'Sales@Example.NET        alice@example.com, bob@example.com',
  'example.org              virtual-domain',
  '@example.org             catchall@example.com',
  '"quoted key"             quoted value',
  'long                     ' + Array.from({ length: 300 }, (_, i) => `user${i}@example.com`).join(','),
  ...Array.from({ length: 2000 }, (_, i) => `bulk${i}@example.com  target${i}@example.net`),
  '',
].join('\n');

const KEYS = ['postmaster@example.net', 'SALES@example.net', 'example.org', '@example.org', '"quoted key"', 'long',
  'bulk0@example.com', 'bulk1999@example.com', 'nosuch@example.com'].join('\n') + '\n';

const ALIASES = ['root: admin@example.com, \\root', 'Admin: alice, bob', 'pipe: "|/usr/bin/procmail"', 'inc: :include:/etc/lists', ''].join('\n');

describe('lmdb tables shared with Postfix 3.7.11', { skip }, () => {
  before(() => {
    dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'lmdb-interop-')));
    fs.writeFileSync(path.join(dir, 'main.cf'), 'myhostname = mail.example.com\n');
    fs.writeFileSync(path.join(dir, 'virtual'), VIRTUAL);
    fs.writeFileSync(path.join(dir, 'aliases'), ALIASES);
  });

  after(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  for (const flags of [[], ['-N'], ['-n'], ['-f']]) {
    const tag = flags.join('') || 'default';

    test(`ours builds lmdb: (${tag}), Postfix reads it`, () => {
      const ref = `lmdb:${source(`ref-a${tag}`, 'virtual')}`;
      const mine = `lmdb:${source(`ours-a${tag}`, 'virtual')}`;
      build(realBinary, 'postmap', ref, flags);
      build(ours, 'postmap', mine, flags);
      for (const q of [['-q', '-'], ['-Nq', '-'], ['-nq', '-'], ['-fq', '-']]) {
        const want = run(realBinary, 'postmap', [...q, ref], KEYS);
        const got = run(realBinary, 'postmap', [...q, mine], KEYS);
        assert.deepEqual(got, want, `postmap ${q.join(' ')} on our table`);
      }
      const want = run(realBinary, 'postmap', ['-s', ref]);
      const got = run(realBinary, 'postmap', ['-s', mine]);
      assert.equal(got.status, want.status);
      assert.equal(got.stderr, want.stderr);
      assert.equal(sorted(got.stdout), sorted(want.stdout), 'postmap -s on our table');
    });

    test(`Postfix builds lmdb: (${tag}), ours reads it`, () => {
      const ref = `lmdb:${source(`ref-b${tag}`, 'virtual')}`;
      build(realBinary, 'postmap', ref, flags);
      for (const q of [['-q', '-'], ['-Nq', '-'], ['-nq', '-'], ['-fq', '-']]) {
        const want = run(realBinary, 'postmap', [...q, ref], KEYS);
        const got = run(ours, 'postmap', [...q, ref], KEYS);
        assert.deepEqual(got, want, `our postmap ${q.join(' ')} on Postfix's table`);
      }
      const want = run(realBinary, 'postmap', ['-s', ref]);
      const got = run(ours, 'postmap', ['-s', ref]);
      assert.equal(got.status, want.status);
      assert.equal(got.stderr, want.stderr);
      assert.equal(sorted(got.stdout), sorted(want.stdout), "our postmap -s on Postfix's table");
    });
  }

  test("ours updates (-i) and deletes (-d) in Postfix's table, Postfix reads the result", () => {
    const ref = `lmdb:${source('ref-c', 'virtual')}`;
    const mixed = `lmdb:${source('mixed-c', 'virtual')}`;
    build(realBinary, 'postmap', ref);
    build(realBinary, 'postmap', mixed);
    const updates = 'new@example.net  new-value\npostmaster@example.net  replaced\n';
    for (const [bin, table] of [[realBinary, ref], [ours, mixed]] as const) {
      assert.equal(run(bin, 'postmap', ['-ri', table], updates).status, 0);
      assert.equal(run(bin, 'postmap', ['-d', 'example.org', table]).status, 0);
      assert.equal(run(bin, 'postmap', ['-d', '-', table], 'bulk5@example.com\nbulk6@example.com\n').status, 0);
    }
    const want = run(realBinary, 'postmap', ['-s', ref]);
    const got = run(realBinary, 'postmap', ['-s', mixed]);
    assert.equal(got.stderr, want.stderr);
    assert.equal(sorted(got.stdout), sorted(want.stdout));
  });

  test("Postfix updates (-i) and deletes (-d) in our table, ours reads the result", () => {
    const ref = `lmdb:${source('ref-d', 'virtual')}`;
    const mixed = `lmdb:${source('mixed-d', 'virtual')}`;
    build(realBinary, 'postmap', ref);
    build(ours, 'postmap', mixed);
    const updates = 'new@example.net  new-value\npostmaster@example.net  replaced\n';
    for (const table of [ref, mixed]) {
      assert.equal(run(realBinary, 'postmap', ['-ri', table], updates).status, 0);
      assert.equal(run(realBinary, 'postmap', ['-d', 'example.org', table]).status, 0);
    }
    const want = run(realBinary, 'postmap', ['-s', ref]);
    const got = run(ours, 'postmap', ['-s', mixed]);
    assert.equal(got.stderr, want.stderr);
    assert.equal(sorted(got.stdout), sorted(want.stdout));
    assert.deepEqual(run(ours, 'postmap', ['-q', '-', mixed], KEYS), run(realBinary, 'postmap', ['-q', '-', ref], KEYS));
  });

  test('postalias lmdb: tables in both directions', () => {
    const ref = `lmdb:${source('ref-e', 'aliases')}`;
    const mine = `lmdb:${source('ours-e', 'aliases')}`;
    build(realBinary, 'postalias', ref);
    build(ours, 'postalias', mine);
    const keys = 'root\nadmin\npipe\ninc\n@\nnosuch\n';
    const want = run(realBinary, 'postalias', ['-q', '-', ref], keys);
    assert.deepEqual(run(realBinary, 'postalias', ['-q', '-', mine], keys), want, 'Postfix reading our alias table');
    assert.deepEqual(run(ours, 'postalias', ['-q', '-', ref], keys), want, "ours reading Postfix's alias table");
    assert.deepEqual(run(realBinary, 'postalias', ['-fq', 'YP_MASTER_NAME', mine]), run(realBinary, 'postalias', ['-fq', 'YP_MASTER_NAME', ref]));
    const stamp = /^YP_LAST_MODIFIED:\t\d{10}$/m;
    assert.match(run(realBinary, 'postalias', ['-s', mine]).stdout, stamp);
    assert.match(run(ours, 'postalias', ['-s', ref]).stdout, stamp);
  });
});
