// Replays the pickup half of the submission fixtures: each maildrop file
// this project's sendmail writes for a recorded case is taken by this
// project's pickup into the in-process cleanup service, and the queue file
// in incoming/ (postcat's view, queue IDs and times normalized) and the
// pickup and cleanup log lines must be those Postfix 3.7.11's pickup and
// cleanup produced from Postfix's own maildrop file. Recorded as root.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AddressResolver } from '../../src/address/resolve.js';
import { TableCache } from '../../src/address/maps.js';
import { createCleanupService } from '../../src/cleanup/service.js';
import { Config } from '../../src/config/config.js';
import { createLogger, memorySink } from '../../src/log/logger.js';
import { layoutFromConfig, DEFAULT_LAYOUT } from '../../src/queue/layout.js';
import { Pickup, pickupCleanupFlags } from '../../src/pickup/pickup.js';
import { SUBMISSION_CASES } from './submission-cases.js';
import { normalizePostcat } from './submission-normalize.js';
import { loadRecorded, makeSpool, runCommand, runSubmission, submissionEnv, type Spool } from './submission-run.js';

const recorded = loadRecorded();
const asRoot = process.getuid?.() === 0;

async function startPickup(spool: Spool, lines: string[]) {
  const config = Config.load(spool.conf);
  const sink = memorySink(lines);
  const cleanupLog = createLogger(sink, 'postfix/cleanup', 1);
  const resolver = new AddressResolver(config, { cache: new TableCache(cleanupLog), log: cleanupLog });
  const cleanup = createCleanupService({ config, resolver, logger: cleanupLog });
  await Promise.all([cleanup.ready, resolver.ready()]);
  const layout = layoutFromConfig(config);
  const flags = pickupCleanupFlags('', false, 'sendmail, verify');
  const pickup = new Pickup({
    queueDir: spool.queueDir,
    layout: 'error' in layout ? DEFAULT_LAYOUT : layout,
    cleanup,
    log: createLogger(sink, 'postfix/pickup', 1),
    myhostname: config.get('myhostname'),
    mailName: 'Postfix',
    contentFilter: '',
    ownerUid: -1,
    cleanupFlags: flags.normal,
    requeueFlags: flags.requeue,
    lineLimit: 2048,
  });
  return {
    pickup,
    async stop() {
      await pickup.close();
      await cleanup.close();
      await resolver.close();
    },
  };
}

test('pickup of submission fixtures', { skip: asRoot ? false : 'recorded as root' }, async (t) => {
  const spool = makeSpool();
  const lines: string[] = [];
  const stack = await startPickup(spool, lines);
  try {
    for (const c of SUBMISSION_CASES) {
      const want = recorded.get(c.name);
      if (!want || want.queue === undefined) continue;
      await t.test(c.name, async () => {
        const got = await runSubmission(c, spool);
        const mid = got.ids[0];
        assert.ok(mid, 'maildrop file written');
        lines.length = 0;
        await stack.pickup.wakeup();
        assert.deepEqual(fs.readdirSync(path.join(spool.queueDir, 'maildrop')), [], 'maildrop emptied');
        const incoming = fs.readdirSync(path.join(spool.queueDir, 'incoming'));
        const qid = incoming[0];
        const labels: Array<[string, string]> = [[mid, 'MAILDROP_ID']];
        if (qid) labels.unshift([qid, 'QUEUE_ID']);
        const shown = qid ? normalizePostcat((await runCommand('postcat', ['-q', qid], '', submissionEnv(spool))).stdout, labels) : null;
        for (const f of incoming) fs.rmSync(path.join(spool.queueDir, 'incoming', f));
        assert.equal(shown, want.queue);
        const log = lines
          .filter((l) => !l.includes('public/qmgr'))
          .map((l) => normalizePostcat(l.replace(/^(postfix\/\w+)\[\d+\]: /, '$1: '), labels));
        assert.deepEqual(log, want.log);
      });
    }
  } finally {
    await stack.stop();
  }
});
