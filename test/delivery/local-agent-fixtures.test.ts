// local(8)'s share of the recorded delivery fixtures (fixtures/delivery):
// each message sent by SMTP is queued through cleanup and delivered by the
// agent, and so are the copies it forwards (their local recipients only).
// The postfix/local lines, notices aside, must be Postfix's, and files
// written through aliases, .forward and :include: must be byte for byte
// the recorded ones (times and queue IDs aside). User names get this
// process's prefix (pfalice -> lu<pid>alice) so that runs and the e2e
// replay never share accounts; tables become texthash: files. Root only.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { mailDate } from '../../src/mail/mail-date.js';
import { Harness, Users, isRoot, makeRoot, normMbox } from './local-agent-harness.js';

const FIXTURES = path.resolve(import.meta.dirname, '../../../fixtures/delivery');
const REPLAYED = ['01-aliases', '02-forward', '03-mbox', '04-maildir', '05-mailbox-command', '07-extensions', '08-full-mailbox', '09-soft-bounce', '10-loops-refusals'];

interface FixtureMessage { name: string; from: string; to: string[]; text: string; via?: string; mailParams?: string; rcptParams?: string }

/** Postfix's local lines of each message section, notices' deliveries left out, queue IDs renumbered in order of appearance. */
function expectedLocalLines(maillog: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let name = '';
  let section: string[] = [];
  const flush = () => {
    if (name === '') return;
    const notices = new Set(section.filter((l) => /^postfix\/bounce\[.*notification: @QID\d+@$/.test(l)).map((l) => /(@QID\d+@)$/.exec(l)![1]!));
    const local = section.filter((l) => l.startsWith('postfix/local[') && !notices.has(/@QID\d+@/.exec(l)?.[0] ?? ''));
    out.set(name, renumber(local, /@QID\d+@/g));
  };
  for (const l of maillog.split('\n')) {
    const m = /^=== message \d+: (.*)$/.exec(l);
    if (m) {
      flush();
      name = m[1]!;
      section = [];
    } else if (l !== '') {
      section.push(l);
    }
  }
  flush();
  return out;
}

/** Queue IDs matched by re replaced by @Q1@, @Q2@... in order of first appearance; then sorted. */
function renumber(lines: string[], re: RegExp): string[] {
  const ids = new Map<string, string>();
  return lines.map((l) => l.replace(re, (id) => {
    if (!ids.has(id)) ids.set(id, `@Q${ids.size + 1}@`);
    return ids.get(id)!;
  })).sort();
}

function readMainCf(file: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const l of fs.readFileSync(file, 'utf8').split('\n')) {
    const m = /^([a-z_0-9]+)\s*=\s*(.*)$/.exec(l);
    if (m) out.push([m[1]!, m[2]!]);
  }
  return out;
}

describe('local(8) on the delivery fixtures', { skip: !isRoot && 'needs root (useradd, deliveries as other users)' }, () => {
  const users = new Users();
  const prefix = `lu${process.pid % 100000}`;
  const rename = (text: string) => text.replace(/\bpf([a-z0-9]+)/gi, (_m, rest: string) => `${prefix}${rest.toLowerCase()}`);
  const harnesses: Harness[] = [];

  after(async () => {
    for (const h of harnesses) await h.stop();
    users.removeAll();
  });

  for (const fixture of REPLAYED) {
    it(`replays ${fixture}`, async () => {
      const dir = path.join(FIXTURES, fixture);
      const root = makeRoot('local-fixture-', ['mail', 'out']);
      const sub = (text: string) => rename(text).split('@ROOT@').join(root);
      fs.mkdirSync(path.join(root, 'conf'));
      const accounts = (JSON.parse(fs.readFileSync(path.join(dir, 'users.json'), 'utf8')) as Array<{ name: string }>)
        .map((u) => users.add(rename(u.name), path.join(root, 'home', rename(u.name))));
      const copyTree = (from: string, to: string) => {
        if (!fs.existsSync(from)) return;
        for (const e of fs.readdirSync(from, { withFileTypes: true })) {
          const src = path.join(from, e.name);
          const dst = path.join(to, rename(e.name));
          if (e.isDirectory()) {
            fs.mkdirSync(dst, { recursive: true, mode: 0o755 });
            copyTree(src, dst);
          } else {
            fs.writeFileSync(dst, sub(fs.readFileSync(src, 'utf8')), { mode: fs.statSync(src).mode & 0o111 ? 0o755 : 0o644 });
            const owner = accounts.find((a) => dst.startsWith(`${a.home}/`));
            if (owner) fs.chownSync(dst, owner.uid, owner.gid);
          }
        }
      };
      copyTree(path.join(dir, 'root'), root);
      const settings: Record<string, string> = {};
      for (const [k, v] of readMainCf(path.join(dir, 'main.cf'))) settings[k] = sub(v);
      for (const table of ['aliases', 'transport']) {
        const src = path.join(dir, table);
        if (!fs.existsSync(src)) continue;
        const text = sub(fs.readFileSync(src, 'utf8'));
        fs.writeFileSync(path.join(root, 'conf', table), table === 'aliases' ? text.replace(/^([^#\s][^:\s]*):/gm, '$1') : text);
      }
      for (const [k, v] of Object.entries(settings)) {
        settings[k] = v.replace(/\bhash:\$config_directory\/([a-z]+)/g, `texthash:${root}/conf/$1`);
      }
      const h = new Harness(root, settings);
      await h.start();
      harnesses.push(h);
      const expected = expectedLocalLines(sub(fs.readFileSync(path.join(dir, 'expected', 'maillog'), 'utf8')));
      const messages = JSON.parse(fs.readFileSync(path.join(dir, 'messages.json'), 'utf8')) as FixtureMessage[];
      const problems: string[] = [];
      const allIds: string[] = [];
      for (const msg of messages) {
        if ((msg.via ?? 'smtp') !== 'smtp' || msg.mailParams || msg.rcptParams) continue;
        const mark = h.lines.length;
        const known = h.newIds([]);
        const to = msg.to.map(sub);
        const first = await h.inject(sub(msg.from), to, sub(msg.text), [], (qid) => [
          'Received: from client.example.com (localhost [127.0.0.1])',
          `\tby host.example.com (Postfix) with ESMTP id ${qid}${to.length === 1 ? '' : `; ${mailDate(Math.floor(Date.now() / 1000))}`}`,
          ...(to.length === 1 ? [`\tfor <${to[0]}>; ${mailDate(Math.floor(Date.now() / 1000))}`] : []),
        ]);
        allIds.push(first);
        const todo = [first];
        const seen = [...known, first];
        const ids: string[] = [];
        for (let id = todo.shift(); id !== undefined; id = todo.shift()) {
          ids.push(id);
          if (id !== first) allIds.push(id);
          await h.deliverLocal(id);
          for (const n of h.newIds(seen)) {
            seen.push(n);
            todo.push(n);
          }
        }
        const ours = renumber(h.lines.slice(mark).filter((l) => l.startsWith('postfix/local[')).map((l) =>
          l.replace(/delay=[0-9.]+, delays=[0-9.]+\/[0-9.]+\/[0-9.]+\/[0-9.]+/, 'delay=@D@, delays=@D@/@D@/@D@/@D@').replace('[1]', '[@PID@]')),
        new RegExp(ids.join('|') || 'x', 'g'));
        const want = renumber(expected.get(msg.name) ?? [], /@Q\d+@/g);
        if (JSON.stringify(ours) !== JSON.stringify(want)) {
          problems.push(`message ${msg.name}:\n  ours:\n    ${ours.join('\n    ')}\n  postfix:\n    ${want.join('\n    ')}`);
        }
      }
      // Files written through aliases, .forward and :include: (mbox form): byte for byte, times and IDs aside,
      // where every message that reaches them came by SMTP (01-aliases: its one sendmail message goes to mailboxes).
      const compared: string[] = [];
      const onlySmtp = messages.every((m) => (m.via ?? 'smtp') === 'smtp' && !m.mailParams && !m.rcptParams);
      const outDir = path.join(dir, 'expected', 'files', 'out');
      if ((onlySmtp || fixture === '01-aliases') && fs.existsSync(outDir)) {
        const norm = (text: string, ids: string[]) => {
          let t = normMbox(text, root, []);
          for (const id of ids) t = t.split(id).join('@QID@');
          return t.replace(/@QID\d+@/g, '@QID@');
        };
        for (const name of fs.readdirSync(outDir).filter((n) => n.endsWith('.mbox'))) {
          const want = norm(sub(fs.readFileSync(path.join(outDir, name), 'utf8')), []);
          const oursFile = path.join(root, 'out', rename(name));
          const ours = fs.existsSync(oursFile) ? norm(fs.readFileSync(oursFile, 'latin1'), allIds) : '(missing)';
          if (ours !== want) problems.push(`out/${name}:\n--- ours\n${ours}\n--- postfix\n${want}`);
          compared.push(name);
        }
      }
      assert.deepEqual(problems, []);
      if (['01-aliases', '07-extensions', '08-full-mailbox', '10-loops-refusals'].includes(fixture)) assert.ok(compared.length > 0);
    });
  }
});
