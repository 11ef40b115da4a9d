// The 8bit to 7bit conversion of the MIME parser (MIME_OPT_DOWNGRADE), as
// smtp(8) runs it, checked without a daemon against the message bodies
// Postfix 3.7.11 sent in the recorded smtp fixtures (fixtures/smtp/62-64):
// the scenario's message text goes through the parser line by line, and
// what comes out after the primary headers must equal the body the peer
// received. The primary headers are checked apart: the 8bit
// Content-Transfer-Encoding is held back and a new one ends the block.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { HeaderOptsTable } from '../../src/mail/header-opts.js';
import { MIME_ERR_NESTING, MIME_HDR_PRIMARY, MIME_OPT_DOWNGRADE, MIME_OPT_REPORT_NESTING, MimeState } from '../../src/mail/mime-state.js';
import { repoRoot } from '../lib/cases.js';

interface Scenario {
  messages: Array<{ text: string; latin1?: boolean }>;
}

/** Runs the lines of a message through the parser; primary headers and the rest apart. */
async function downgrade(text: string): Promise<{ headers: string[]; rest: string[]; errs: number }> {
  const headers: string[] = [];
  const rest: string[] = [];
  let inPrimary = true;
  const m = new MimeState(MIME_OPT_DOWNGRADE | MIME_OPT_REPORT_NESTING, new HeaderOptsTable(''), { headerLimit: 102400, boundLimit: 2048, maxDepth: 100 }, {
    headOut: async (cls, _info, h) => {
      (cls === MIME_HDR_PRIMARY && inPrimary ? headers : rest).push(...h.split('\n'));
    },
    headEnd: async () => {
      inPrimary = false;
    },
    bodyOut: async (_type, line) => {
      rest.push(line);
    },
    error: () => undefined,
  });
  let errs = 0;
  for (const line of text.replace(/\n$/, '').split('\n')) errs |= await m.update('N', line);
  errs |= await m.update('X', '');
  return { headers, rest, errs };
}

/** The message bytes the peer received, after the primary headers, as lines. */
function receivedBody(fixture: string, index: number): string[] {
  const sessions = JSON.parse(fs.readFileSync(path.join(fixture, 'expected', 'peer.json'), 'latin1')) as Array<{ messages: string[] }>;
  const msg = sessions[index]!.messages[0]!;
  const body = msg.slice(msg.indexOf('\r\n\r\n') + 4);
  // Dot-stuffing belongs to the SMTP output, not to the conversion.
  return body.replace(/\r\n$/, '').split('\r\n').map((l) => (l.startsWith('..') ? l.slice(1) : l));
}

function scenario(fixture: string): Scenario {
  return JSON.parse(fs.readFileSync(path.join(fixture, 'scenario.json'), 'utf8')) as Scenario;
}

const fixtures = path.join(repoRoot(), 'fixtures', 'smtp');

for (const [name, index] of [['62-8bit-downgrade-text', 0], ['62-8bit-downgrade-text', 1], ['63-8bit-downgrade-multipart', 0], ['64-8bit-downgrade-rfc822', 0], ['64-8bit-downgrade-rfc822', 1]] as const) {
  test(`downgrade: ${name} message ${index + 1} converts as Postfix did`, async () => {
    const dir = path.join(fixtures, name);
    const m = scenario(dir).messages[index]!;
    const bytes = m.latin1 ? m.text : Buffer.from(m.text, 'utf8').toString('latin1');
    const got = await downgrade(bytes);
    assert.equal(got.errs, 0);
    // The primary header block ends the parser's header output with the empty line.
    assert.deepEqual(got.rest.slice(1), receivedBody(dir, index));
  });
}

test('downgrade: an 8bit Content-Transfer-Encoding gives way to quoted-printable at the end of the headers', async () => {
  const got = await downgrade('Content-Transfer-Encoding: 8bit\nContent-Type: text/plain\nSubject: x\n\n\xe9 =\n');
  assert.deepEqual(got.headers, ['Content-Type: text/plain', 'Subject: x', 'Content-Transfer-Encoding: quoted-printable']);
  assert.deepEqual(got.rest, ['', '=E9 =3D']);
});

test('downgrade: multipart nesting deeper than mime_nesting_limit is reported', async () => {
  const headers = new HeaderOptsTable('');
  const m = new MimeState(MIME_OPT_DOWNGRADE | MIME_OPT_REPORT_NESTING, headers, { headerLimit: 102400, boundLimit: 2048, maxDepth: 0 }, {
    headOut: async () => undefined, headEnd: async () => undefined, bodyOut: async () => undefined, error: () => undefined,
  });
  let errs = 0;
  const lines = ['Content-Type: multipart/mixed; boundary=a', '', '--a', 'Content-Type: multipart/mixed; boundary=b', '', '--b'];
  for (const line of lines) errs |= await m.update('N', line);
  assert.equal(errs, 0);
  for (const line of ['Content-Type: multipart/mixed; boundary=c', '']) errs |= await m.update('N', line);
  assert.equal(errs, MIME_ERR_NESTING);
});
