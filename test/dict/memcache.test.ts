// Tests of memcache: tables (src/dict/memcache.ts and its helpers): the
// cfg_parser settings, key templates, and the memcache protocol as Postfix
// speaks it, against the fake server of test/lib/fake-memcached.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CfgError, CfgParser, setDictMainConfig } from '../../src/dict/cfg-parser.js';
import { expandKey, parseKeyTemplate } from '../../src/dict/db-common.js';
import { open, readSettings, parseService, setRetryPauseScale } from '../../src/dict/memcache.js';
import { O_RDONLY, O_RDWR, isSurrogate, type Dict } from '../../src/dict/dict.js';
import { Config } from '../../src/config/config.js';
import { startFakeMemcached, type FakeMemcached } from '../lib/fake-memcached.js';
import { captured, tableFile } from './testutil.js';

setRetryPauseScale(1);

test('cfg parser: defaults, file settings and Postfix complaints', () => {
  const path = tableFile('memcache = inet:127.0.0.1:1\nttl = 60\nmax_try=0\nflags = x\n', 'mc.cf');
  const p = CfgParser.open(path);
  assert.ok(!('error' in p));
  assert.equal(p.getStr('memcache', 'inet:localhost:11211'), 'inet:127.0.0.1:1');
  assert.equal(p.getStr('backup', null), null);
  assert.equal(p.getInt('ttl', 3600), 60);
  assert.equal(p.getInt('timeout', 2), 2);
  assert.throws(() => p.getInt('max_try', 2, 1), new CfgError(`${path}: invalid max_try parameter value 0 < 1`));
  assert.throws(() => p.getInt('flags', 0), new CfgError(`${path}: bad numerical configuration: flags = x`));
  assert.deepEqual(CfgParser.open('/no/such/file.cf'), { error: 'No such file or directory' });
});

test('cfg parser: a name without a leading / or . reads NAME_setting from main.cf', () => {
  setDictMainConfig(Config.fromEntries('/nonexistent', [['mc_memcache', 'unix:/x'], ['mc_ttl', 'abc']]));
  try {
    const p = CfgParser.open('mc');
    assert.ok(!('error' in p));
    assert.equal(p.getStr('memcache', 'inet:localhost:11211'), 'unix:/x');
    assert.equal(p.getStr('key_format', '%s'), '%s');
    assert.throws(() => p.getInt('ttl', 3600), new CfgError('bad numerical configuration: mc_ttl = abc'));
  } finally {
    setDictMainConfig(undefined);
  }
});

test('settings: Postfix defaults, and the service check of auto_clnt_create', () => {
  const p = CfgParser.open(tableFile('', 'empty.cf'));
  assert.ok(!('error' in p));
  const s = readSettings(p);
  assert.deepEqual(
    [s.keyFormat, s.timeout, s.ttl, s.flags, s.retryPause, s.maxTry, s.lineSizeLimit, s.dataSizeLimit, s.memcache],
    ['%s', 2, 3600, 0, 1, 2, 1024, 10240, 'inet:localhost:11211'],
  );
  assert.deepEqual(parseService('unix:/run/mc.sock'), { transport: 'unix', endpoint: '/run/mc.sock' });
  assert.throws(() => parseService('inet:'), new CfgError('need service transport:endpoint instead of "inet:"'));
  assert.throws(() => parseService('udp:h:1'), new CfgError('invalid transport name: udp in service: udp:h:1'));
});

test('key templates: %s %u %d %[1-9] %%, and keys that cannot fill them', () => {
  const t = parseKeyTemplate('x', 'k-%u-%d-%1-%2-%%');
  assert.equal(expandKey(t, 'joe@mail.example.com'), 'k-joe-mail.example.com-com-example-%');
  assert.equal(expandKey(t, 'joe'), null);
  assert.equal(expandKey(t, '@example.com'), null);
  assert.equal(expandKey(t, 'joe@com'), null);
  assert.equal(expandKey(parseKeyTemplate('x', '%u'), 'joe'), 'joe');
  assert.throws(() => parseKeyTemplate('/t.cf', '%s%q'), new CfgError('db_common_parse: /t.cf: Invalid query template: %s%q'));
});

async function withServer(body: (srv: FakeMemcached) => Promise<void>): Promise<void> {
  const srv = await startFakeMemcached(0);
  try {
    await body(srv);
  } finally {
    await srv.close();
  }
}

async function openTable(settings: string, mode = O_RDONLY): Promise<Dict> {
  const d = await open(tableFile(settings, 'mc.cf'), mode, 0);
  assert.ok(!isSurrogate(d), isSurrogate(d) ? d.openError : '');
  return d;
}

test('protocol: get, a backup refreshing memcache with set FLAGS TTL LEN, delete', async () => {
  await withServer(async (srv) => {
    const d = await openTable(`memcache = inet:${srv.address}\nbackup = inline:{k1=v1}\nkey_format = t-%s\nttl = 77\nflags = 5\n`);
    assert.deepEqual(await d.lookup('nope'), { status: 'notfound' });
    assert.deepEqual(await d.lookup('k1'), { status: 'found', value: 'v1' });
    assert.deepEqual(srv.commands, ['get t-nope', 'get t-k1', 'set t-k1 5 77 2']);
    assert.equal(srv.items.get('t-k1')?.data.toString(), 'v1');
    const direct = await openTable(`memcache = inet:${srv.address}\nkey_format = t-%s\n`, O_RDWR);
    assert.deepEqual(await direct.lookup('k1'), { status: 'found', value: 'v1' });
    assert.deepEqual(await direct.delete!('k1'), { status: 'ok' });
    assert.deepEqual(await direct.delete!('k1'), { status: 'notfound' });
    assert.deepEqual(await direct.update!('k2', 'two'), { status: 'ok' });
    assert.deepEqual(await direct.lookup('k2'), { status: 'found', value: 'two' });
    await d.close();
    await direct.close();
  });
});

test('protocol: skipped keys send nothing; only update complains', async () => {
  await withServer(async (srv) => {
    const d = await openTable(`memcache = inet:${srv.address}\ndomain = example.com\n`, O_RDWR);
    const { value, stderr } = await captured(async () => [
      await d.lookup('joe'), await d.lookup('joe@other.org'), await d.lookup('a b@example.com'), await d.update!('joe', 'x'),
    ]);
    assert.deepEqual(value.map((r) => r.status), ['notfound', 'notfound', 'notfound', 'notfound']);
    assert.deepEqual(srv.commands, []);
    assert.match(stderr, /warning: .*mc\.cf: skipping update for name "joe": domain mismatch\n$/);
    await d.close();
  });
});

test('protocol: a CR cut off by line_size_limit is repaired when LF follows', async () => {
  await withServer(async (srv) => {
    srv.script = (line, sock) => {
      if (line === 'get k') sock.write('END\r\n');
      return line === 'get k';
    };
    // "END\r\n" is 5 bytes: a bound of 4 stops between CR and LF.
    const d = await openTable(`memcache = inet:${srv.address}\nline_size_limit = 4\n`);
    assert.deepEqual(await d.lookup('k'), { status: 'notfound' });
    await d.close();
  });
});

test('protocol: a value without END still answers, then the connection is dropped', async () => {
  await withServer(async (srv) => {
    srv.script = (line, sock) => {
      if (line === 'get k') sock.write('VALUE k 0 3\r\nabc\r\nXXX\r\n');
      return line === 'get k';
    };
    const d = await openTable(`memcache = inet:${srv.address}\n`);
    assert.deepEqual(await d.lookup('k'), { status: 'found', value: 'abc' });
    await d.close();
  });
});

test('protocol: failures are retried max_try times and only later ones are reported', async () => {
  await withServer(async (srv) => {
    srv.script = (_line, sock) => {
      sock.write('SERVER_ERROR out of memory storing object\r\n');
      return true;
    };
    const d = await openTable(`memcache = inet:${srv.address}\nmax_try = 3\n`, O_RDWR);
    const { value, stderr } = await captured(async () => [await d.lookup('k'), await d.delete!('k'), await d.update!('k', 'v')]);
    assert.deepEqual(value.map((r) => r.status), ['error', 'error', 'error']);
    // three tries each; the script also sees each set's data line
    assert.equal(srv.commands.length, 12);
    const name = (d as Dict).name;
    assert.equal(
      stderr.split('\n').filter((l) => l).map((l) => l.replace(/^[^:]*: /, '')).join('\n'),
      [
        `warning: ${name}: unexpected memcache server reply: SERVER_ERROR out of memory sto`,
        `warning: ${name}: unexpected memcache server reply: SERVER_ERROR out of memory sto`,
        `warning: database memcache:${name}: delete failed: SERVER_ERROR out of memory sto`,
        `warning: database memcache:${name}: delete failed: SERVER_ERROR out of memory sto`,
        `warning: database memcache:${name}: update failed: SERVER_ERROR out of memory sto`,
        `warning: database memcache:${name}: update failed: SERVER_ERROR out of memory sto`,
      ].join('\n'),
    );
    await d.close();
  });
});

test('protocol: unix: sockets, and a value over data_size_limit is not stored', async () => {
  const sock = tableFile('', 'x') + '.sock';
  const srv = await startFakeMemcached(sock);
  try {
    const d = await openTable(`memcache = unix:${sock}\nbackup = inline:{big=0123456789}\ndata_size_limit = 4\n`);
    const { value, stderr } = await captured(() => d.lookup('big'));
    assert.deepEqual(value, { status: 'found', value: '0123456789' });
    assert.match(stderr, /data for key big is too long \(data_size_limit=4\) -- not stored/);
    assert.deepEqual(srv.commands, ['get big']);
    await d.close();
  } finally {
    await srv.close();
  }
});

test('open: security-sensitive use and write-only modes get a surrogate table', async () => {
  const d = await open('/x.cf', O_RDONLY, 1 << 13);
  assert.ok(isSurrogate(d) && d.openError === 'memcache:/x.cf map is not allowed for security-sensitive data');
  const w = await open('/x.cf', 1, 0);
  assert.ok(isSurrogate(w) && w.openError === 'memcache:/x.cf map requires O_RDONLY or O_RDWR access mode');
});
