// process_limit shared by a service's processes (src/master/slot-pool.ts,
// the master's side, and src/master/slots.ts, a worker's side, wired to
// each other in memory here), and the removal of a dead process's
// unfinished queue files (src/master/orphans.ts).
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EventEmitter } from 'node:events';
import type * as net from 'node:net';
import { test } from 'node:test';
import { removeOrphanQueueFiles } from '../../src/master/orphans.js';
import type { MasterMessage, WorkerMessage } from '../../src/master/protocol.js';
import { SlotPool } from '../../src/master/slot-pool.js';
import { SessionSlots } from '../../src/master/slots.js';
import { tempDir } from '../lib/tmp.js';

/** A stand-in socket: only 'close' matters to the slots. */
function fakeSocket(): net.Socket & { end(): void } {
  const e = new EventEmitter() as unknown as net.Socket;
  (e as unknown as { end(): void }).end = () => e.emit('close');
  return e as net.Socket & { end(): void };
}

/** A pool and n workers talking through queued messages, delivered by flush(). */
function service(total: number, shares: number[]) {
  const queue: Array<() => void> = [];
  let atLimit = 0;
  const workers = new Map<number, SessionSlots>();
  const pool = new SlotPool(total, {
    send: (pid, msg: MasterMessage) =>
      queue.push(() => {
        const w = workers.get(pid)!;
        if (msg.type === 'slot-grant') w.granted(msg.count);
        if (msg.type === 'slot-lend') w.lend(msg.on);
      }),
    atLimit: () => atLimit++,
  });
  shares.forEach((share, i) => {
    const pid = i + 1;
    const initial = pool.initial(share);
    pool.join(pid, initial);
    const send = (m: WorkerMessage) =>
      queue.push(() => {
        if (m.type === 'slot-want') pool.want(pid);
        if (m.type === 'slot-return') pool.returned(pid, m.count, m.answer);
      });
    workers.set(pid, new SessionSlots(true, initial, send));
  });
  const flush = () => {
    while (queue.length) queue.shift()!();
  };
  return { pool, workers, flush, atLimit: () => atLimit };
}

function connectN(w: SessionSlots, n: number, started: net.Socket[]): Array<net.Socket & { end(): void }> {
  const out = Array.from({ length: n }, () => fakeSocket());
  for (const s of out) w.admit(s, () => started.push(s));
  return out;
}

test('the service limit holds whichever process the clients reach: 150 clients, 100 slots, 2 processes', () => {
  const svc = service(100, [50, 50]);
  const started: net.Socket[] = [];
  const a = connectN(svc.workers.get(1)!, 110, started);
  connectN(svc.workers.get(2)!, 40, started);
  svc.flush();
  assert.equal(started.length, 100);
  assert.equal(svc.pool.free, 0);
  assert.ok(svc.atLimit() >= 1);
  // One session ends: one waiting client starts, the total stays at the limit.
  a[0]!.end();
  svc.flush();
  assert.equal(started.length, 101);
});

test('all slots reach the one process that has clients', () => {
  const svc = service(100, [50, 50]);
  const started: net.Socket[] = [];
  connectN(svc.workers.get(1)!, 100, started);
  svc.flush();
  assert.equal(started.length, 100);
  assert.equal(svc.atLimit(), 0);
});

test('a process that leaves gives its slots back to the one whose clients wait', () => {
  const svc = service(10, [5, 5]);
  const started: net.Socket[] = [];
  connectN(svc.workers.get(1)!, 5, started);
  connectN(svc.workers.get(2)!, 8, started);
  svc.flush();
  assert.equal(started.length, 10);
  svc.workers.delete(1);
  svc.pool.leave(1);
  svc.flush();
  assert.equal(started.length, 13);
});

test('a retiring process returns its slots as its sessions end', () => {
  const svc = service(4, [2, 2]);
  const started: net.Socket[] = [];
  const old = connectN(svc.workers.get(1)!, 2, started);
  svc.workers.get(1)!.retire();
  connectN(svc.workers.get(2)!, 4, started);
  svc.flush();
  assert.equal(started.length, 4);
  old[0]!.end();
  old[1]!.end();
  svc.flush();
  assert.equal(started.length, 6);
  assert.equal(svc.pool.free, 0);
});

test('without a limit every connection starts at once', () => {
  const started: net.Socket[] = [];
  const w = new SessionSlots(false, 0, () => assert.fail('no message expected'));
  for (let i = 0; i < 1000; i++) w.admit(fakeSocket(), () => started.push(fakeSocket()));
  assert.equal(started.length, 1000);
});

test('a dead process\'s unfinished queue files go, complete and open ones stay', () => {
  const q = tempDir('orphans-');
  for (const d of ['incoming', 'hold', 'active']) fs.mkdirSync(path.join(q, d));
  const file = (rel: string, mode: number) => {
    fs.writeFileSync(path.join(q, rel), 'x');
    fs.chmodSync(path.join(q, rel), mode);
  };
  file('incoming/AAAA', 0o600);
  file('incoming/BBBB', 0o700);
  file('hold/CCCC', 0o600);
  file('active/DDDD', 0o600);
  file('incoming/EEEE', 0o600);
  const fd = fs.openSync(path.join(q, 'incoming/EEEE'), 'r+');
  try {
    assert.deepEqual(removeOrphanQueueFiles(q).sort(), ['hold/CCCC', 'incoming/AAAA']);
  } finally {
    fs.closeSync(fd);
  }
  assert.deepEqual(fs.readdirSync(path.join(q, 'incoming')).sort(), ['BBBB', 'EEEE']);
  assert.deepEqual(fs.readdirSync(path.join(q, 'active')), ['DDDD']);
});
