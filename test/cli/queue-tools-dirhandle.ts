// A shim for the in-process runner (test/lib/inproc.ts): the queue commands
// read directories with fs.opendirSync (readdir order, as Postfix's
// scan_dir; fs.readdirSync sorts), and a Dir's native handle counts as an
// open resource until it is garbage-collected, so the runner would wait
// for it and then fall back to a process. A directory handle never keeps a
// process alive; this marks it so (hasRef() false) for the runs of these
// tests. Imported for its effect.
import fs from 'node:fs';

const original = fs.opendirSync;
fs.opendirSync = function opendirSync(...args: Parameters<typeof fs.opendirSync>): fs.Dir {
  const dir = original(...args);
  for (const sym of Object.getOwnPropertySymbols(dir)) {
    const v = (dir as unknown as Record<symbol, unknown>)[sym];
    if (v && typeof v === 'object' && v.constructor?.name === 'DirHandle') (v as { hasRef?: () => boolean }).hasRef = () => false;
  }
  return dir;
};
