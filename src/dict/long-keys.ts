// Keys longer than LMDB allows, for hash: and btree: tables only. Postfix's
// Berkeley DB tables take keys of any length (a 4000-byte key is legal);
// LMDB nodes cannot, so such a key is stored under a stand-in: its first
// bytes, a NUL and 0xff (which no real key contains: keys end at their only
// NUL), and its SHA-256. The record's value then starts with the real key,
// so that postmap -s still prints it. lmdb: tables keep Postfix's limit.
import { createHash } from 'node:crypto';
import { LMDBJS_MAX_KEY } from './lmdb-format.js';

const HEAD = 1900;

/** True when key bytes (as stored, NUL included) need a stand-in. */
export function needsStandIn(len: number): boolean {
  return len > LMDBJS_MAX_KEY;
}

/** The stand-in key for a long key. */
export function standInKey(key: Uint8Array): Buffer {
  const digest = createHash('sha256').update(key).digest();
  return Buffer.concat([Buffer.from(key.subarray(0, HEAD)), Buffer.from([0, 0xff]), digest]);
}

/** The stored value of a long-key record: 4-byte key length, the key, the value. */
export function wrapValue(key: Uint8Array, value: Uint8Array): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32LE(key.length);
  return Buffer.concat([len, key, value]);
}

/** True when stored key bytes are a stand-in. */
export function isStandIn(stored: Uint8Array): boolean {
  const n = stored.length;
  if (n <= HEAD + 1) return false;
  return stored[HEAD] === 0 && stored[HEAD + 1] === 0xff;
}

/** The real key and value of a long-key record's stored value. */
export function unwrapValue(stored: Buffer): { key: Buffer; value: Buffer } | undefined {
  if (stored.length < 4) return undefined;
  const klen = stored.readUInt32LE(0);
  if (4 + klen > stored.length) return undefined;
  return { key: stored.subarray(4, 4 + klen), value: stored.subarray(4 + klen) };
}
