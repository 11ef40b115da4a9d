// Replays Postfix 3.7.11's smtpd_token test data through
// src/address/smtp-token.ts, printing as the C test program
// (smtpd/smtpd_token.c, TEST) does, and checks the address extraction that
// smtpd.c's extract_addr() performs on MAIL FROM and RCPT TO arguments.
import test from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { extractEnvelopeAddress, smtpdToken, SMTPD_TOK_ERROR, SMTPD_TOK_OTHER } from '../../src/address/smtp-token.js';

const fixtures = fileURLToPath(new URL('../../../fixtures/address/', import.meta.url));

function drive(input: string): string {
  const lines = input.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  let out = '';
  for (const line of lines) {
    if (line.startsWith('#')) continue;
    out += `${line}\n`;
    for (const t of smtpdToken(line)) {
      const type = t.tokval === SMTPD_TOK_OTHER ? 'other' : t.tokval === SMTPD_TOK_ERROR ? 'error' : 'unknown';
      out += `Token type:  ${type}\nToken value: ${t.strval}\n`;
    }
  }
  return out;
}

for (const name of ['smtpd_token', 'smtpd_token_extra']) {
  test(`${name}.in gives ${name}.ref`, () => {
    const input = readFileSync(fixtures + `${name}.in`, 'latin1');
    const expected = readFileSync(fixtures + `${name}.ref`, 'latin1');
    assert.equal(drive(input), expected);
  });
}

test('words: to:/from: split only as the whole word, quotes and brackets nest', () => {
  const words = (s: string) => smtpdToken(s).map((t) => t.strval);
  assert.deepEqual(words('RCPT TO:<a@b> NOTIFY=NEVER'), ['RCPT', 'TO:', '<a@b>', 'NOTIFY=NEVER']);
  assert.deepEqual(words('MAIL FROM: <a@b>'), ['MAIL', 'FROM:', '<a@b>']);
  assert.deepEqual(words('XFOO:bar'), ['XFOO:bar']);
  assert.deepEqual(words('mail from:<a <b> "c>" d>x y'), ['mail', 'from:', '<a <b> "c>" d>x', 'y']);
  assert.deepEqual(words('  '), []);
  assert.equal(smtpdToken('rcpt to:<a "b>')[2]!.tokval, SMTPD_TOK_ERROR);
});

test('extract_addr: the address, and the syntax verdicts', () => {
  assert.deepEqual(extractEnvelopeAddress('<"a b"@c>', false, false), { addr: 'a b@c', naddr: 1, nonAddr: 0, syntaxError: false });
  assert.equal(extractEnvelopeAddress('<@r1,@r2:u@d>', false, false).addr, 'u@d');
  assert.equal(extractEnvelopeAddress('<>', true, false).syntaxError, false);
  assert.equal(extractEnvelopeAddress('<>', false, false).syntaxError, true);
  assert.equal(extractEnvelopeAddress('<a@b c@d>', false, false).syntaxError, true);
  assert.deepEqual(extractEnvelopeAddress('a@b', false, false), { addr: 'a@b', naddr: 1, nonAddr: 0, syntaxError: false });
  assert.equal(extractEnvelopeAddress('a@b', false, true).syntaxError, true);
  assert.equal(extractEnvelopeAddress('<Name <a@b>>', false, false).addr, 'a@b');
  assert.equal(extractEnvelopeAddress('<Name <a@b>>', false, true).syntaxError, true);
});
