// socketmap: and tcp: clients against small servers on 127.0.0.1.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type AddressInfo } from 'node:net';
import { setProgName } from '../../src/util/msg.js';
import { O_RDONLY, DICT_FLAG_NO_UNAUTH, isSurrogate } from '../../src/dict/dict.js';
import { open as openSocketmap } from '../../src/dict/socketmap.js';
import { open as openTcp, setRetryDelay, hexQuote, hexUnquote } from '../../src/dict/tcp.js';
import { captured } from './testutil.js';

setProgName('postmap');

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

function socketmapServer(queries: string[]): Server {
  return createServer((s) => {
    let buf = Buffer.alloc(0);
    s.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        const c = buf.indexOf(':');
        if (c < 0) return;
        const n = Number(buf.subarray(0, c).toString());
        if (buf.length < c + n + 2) return;
        const q = buf.subarray(c + 1, c + 1 + n).toString();
        buf = buf.subarray(c + n + 2);
        queries.push(q);
        const key = q.slice(q.indexOf(' ') + 1);
        const reply = key === 'alice' ? 'OK alice@example.com' : key === 'busy' ? 'TEMP  try later' : key === 'perm' ? 'PERM' : 'NOTFOUND ';
        s.write(`${Buffer.byteLength(reply)}:${reply},`);
      }
    });
  });
}

test('socketmap: protocol, replies and warnings', async () => {
  const queries: string[] = [];
  const server = socketmapServer(queries);
  const port = await listen(server);
  const name = `inet:127.0.0.1:${port}:users`;
  const dict = await openSocketmap(name, O_RDONLY, 0);
  assert.deepEqual(await dict.lookup('alice'), { status: 'found', value: 'alice@example.com' });
  assert.deepEqual(await dict.lookup('bob'), { status: 'notfound' });
  const busy = await captured(() => Promise.resolve(dict.lookup('busy')));
  assert.equal(busy.value.status, 'error');
  assert.equal(busy.stderr, `postmap: warning: socketmap:${name} socketmap server temporary error: try later\n`);
  const perm = await captured(() => Promise.resolve(dict.lookup('perm')));
  assert.deepEqual(perm.value, { status: 'error', error: 'config', reason: undefined });
  assert.equal(perm.stderr, `postmap: warning: socketmap:${name} socketmap server permanent error\n`);
  assert.deepEqual(queries, ['users alice', 'users bob', 'users busy', 'users perm']);
  await dict.close();
  server.close();
});

test('socketmap: connection refused and open-time errors', async () => {
  const server = createServer();
  const port = await listen(server);
  server.close();
  const name = `inet:127.0.0.1:${port}:m`;
  const dict = await openSocketmap(name, O_RDONLY, 0);
  const r = await captured(() => Promise.resolve(dict.lookup('x')));
  assert.equal(r.value.status, 'error');
  assert.equal(r.stderr, `postmap: warning: connect to 127.0.0.1:${port}: Connection refused\npostmap: warning: table socketmap:${name} lookup error: Connection refused\n`);
  const bad = await openSocketmap('foo', O_RDONLY, 0);
  assert.ok(isSurrogate(bad) && bad.openError === 'socketmap requires server:socketmap argument');
  const paranoid = await openSocketmap('inet:h:1:m', O_RDONLY, DICT_FLAG_NO_UNAUTH);
  assert.ok(isSurrogate(paranoid) && paranoid.openError === 'socketmap:inet:h:1:m map is not allowed for security-sensitive data');
});

test('tcp: get/200/500/400 and malformed replies', async () => {
  const lines: string[] = [];
  const server = createServer((s) => {
    let buf = '';
    s.on('data', (d) => {
      buf += d.toString('latin1');
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        lines.push(line);
        const key = line.slice(4);
        if (key === 'a%20b') s.write('200 value%20with%25\n');
        else if (key === 'later') s.write('400 busy\n');
        else if (key === 'junk') s.write('hello\n');
        else s.write('500 no\n');
      }
    });
  });
  const port = await listen(server);
  setRetryDelay(1);
  const name = `127.0.0.1:${port}`;
  const dict = await openTcp(name, O_RDONLY, 0);
  assert.deepEqual(await dict.lookup('a b'), { status: 'found', value: 'value with%' });
  assert.deepEqual(await dict.lookup('nope'), { status: 'notfound' });
  assert.equal((await dict.lookup('later')).status, 'error');
  const junk = await captured(() => Promise.resolve(dict.lookup('junk')));
  assert.equal(junk.value.status, 'error');
  assert.equal(junk.stderr, `postmap: warning: read TCP map reply from ${name}: malformed reply: hello\n`);
  assert.deepEqual(lines, ['get a%20b', 'get nope', 'get later', 'get junk']);
  await dict.close();
  server.close();
  const paranoid = await openTcp('h:1', O_RDONLY, DICT_FLAG_NO_UNAUTH);
  assert.ok(isSurrogate(paranoid) && paranoid.openError === 'tcp:h:1 map is not allowed for security sensitive data');
});

test('tcp: %XX quoting both ways', () => {
  assert.equal(hexQuote('a b%c\u0001'), 'a%20b%25c%01');
  assert.equal(hexUnquote('x%41%6a'), 'xAj');
  assert.equal(hexUnquote('bad%4'), null);
});
